"""`pinterest-etl`: the command line of the Pinterest analytics ETL."""

from __future__ import annotations

import argparse
import atexit
import gc
import sys
import traceback

from pipelines import heap
from pipelines.commands import auth, dictionary, failure, probe, report, run, sandbox, sql, ui, verify

# Exiting, the interpreter tears its modules down with garbage collections that each walk every object of Dagster,
# pyarrow and pandas: about a second after every command (1.0-1.7 s after a run at S). Frozen at exit, they are
# freed by reference counting as before and never walked; nothing left at exit needs a collection (every command
# has closed its files and connections; exit handlers still run).
atexit.register(gc.freeze)
heap.return_large_blocks()

DEBUG_HELP = "show the traceback of every error, and Dagster's own log of a failed step"
UNEXPECTED = ("pinterest-etl {command}: the error above is unexpected: please report it with the command you ran and "
              "this output.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinterest-etl",
        description="Pinterest API v5 analytics ETL: extract analytics by UTC date, keep every raw answer, load tidy "
                    "tables into DuckDB and Parquet.",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.add_parser(commands)
    run.add_load_parser(commands)
    verify.add_parser(commands)
    sql.add_parser(commands)
    report.add_parser(commands)
    dictionary.add_parser(commands)
    ui.add_parser(commands)
    auth.add_parser(commands)
    probe.add_parser(commands)
    sandbox.add_parser(commands)
    for command in commands.choices.values():
        _accept_debug(command)
    return parser


def _accept_debug(command: argparse.ArgumentParser) -> None:
    """--debug after a command's name too (`auth status --debug`); SUPPRESS keeps the value given before it."""
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    for action in command._actions:  # argparse lists a command's own subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            for subcommand in action.choices.values():
                _accept_debug(subcommand)


def main(argv: list[str] | None = None) -> int:
    """Run the command; a setting or credential error any command meets outside its own checks (a malformed
    `.env`, say) is one line and exit code 2, its traceback only with --debug. Any other error keeps its
    traceback and says how to report it (exit code 1)."""
    args = build_parser().parse_args(argv)
    failure.show_tracebacks(args.debug)
    code = _run(args)
    if "pipelines.object_store" in sys.modules:
        sys.modules["pipelines.object_store"].exit_now(code)  # a store request given up at its deadline
    return code


def _run(args) -> int:
    from pipelines.pinterest.credentials import CredentialsError
    from pipelines.pinterest.errors import UnsafeUrlError
    from pipelines.settings import SettingsError

    try:
        return args.handler(args)
    except BrokenPipeError:
        return failure.reader_gone()
    except (SettingsError, CredentialsError, UnsafeUrlError) as error:
        if args.debug:
            traceback.print_exc()
        print(f"pinterest-etl {args.command}: error: {error}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print(UNEXPECTED.format(command=args.command), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
