"""`pinterest-etl`: the command line of the Pinterest analytics ETL."""

from __future__ import annotations

import argparse
import sys

from pipelines.commands import auth, sandbox


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinterest-etl",
        description="Pinterest API v5 analytics ETL. Commands so far: the local API simulator and OAuth "
                    "credentials; the pipeline commands (run, sql) arrive with their issues.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sandbox.add_parser(commands)
    auth.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
