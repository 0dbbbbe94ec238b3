"""`pinterest-etl ui`: the Dagster UI (`dagster dev`) on 127.0.0.1 for this project's code location, with the
embedded simulator when no Pinterest credentials are configured."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from pipelines import settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster"
# How often the UI looks for runs whose processes died (their pool claims would block every later run).
DEAD_RUN_CHECK_SECONDS = 10.0


def add_parser(commands) -> None:
    p = commands.add_parser(
        "ui", help="start the Dagster UI on 127.0.0.1 (runs, assets, checks, schedules, backfills)",
        description="Runs `dagster dev` on 127.0.0.1 with the project's workspace.yaml and DAGSTER_HOME (default "
                    "./.dagster, whose dagster.yaml runs one run at a time and serializes warehouse writers). Without "
                    "Pinterest credentials the embedded simulator is started first and runs launched from the UI use "
                    "it. Stop with Ctrl+C.")
    p.add_argument("--port", type=int, default=3000, help="port of the UI (default: 3000)")
    p.set_defaults(handler=_ui)


def dagster_dev_command(port: int) -> list[str]:
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    return [dagster, "dev", "--host", "127.0.0.1", "--port", str(port),
            "--workspace", str(PROJECT_ROOT / "workspace.yaml")]


def _ui(args: argparse.Namespace) -> int:
    # A SIGTERM to this command (a supervisor, `kill`) stops the UI too, as Ctrl+C does: before `dagster dev` runs,
    # as a KeyboardInterrupt; after, by stopping it. Both handlers are set first, so that `dagster dev` starts with
    # both signals at their defaults: a command started with SIGINT ignored (a background job of a script, nohup)
    # would otherwise pass that on, and Dagster maps SIGTERM to SIGINT's handler, so the UI would never stop.
    started: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, lambda *_: _stop(started))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _serve(args, started)
    except KeyboardInterrupt:
        return 130


def _stop(started: list[subprocess.Popen]) -> None:
    if not started:
        raise KeyboardInterrupt
    for process in started:
        process.terminate()


def _serve(args: argparse.Namespace, started: list[subprocess.Popen]) -> int:
    import dagster as dg

    from pipelines.dagster_instance import free_dead_runs, free_dead_runs_until
    from pipelines.embedded import embedded_simulator_if_needed

    settings.load_dotenv()
    settings.check_all()  # the UI's runs read them: refused here, not as a traceback in the code server
    os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME))
    os.environ["PINTEREST_ETL_HOME"] = str(settings.etl_home().resolve())  # the same data whatever the cwd
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.get() as instance:
        free_dead_runs(instance, report=_say, launches_runs=True)
    stop_checks = threading.Event()
    threading.Thread(target=free_dead_runs_until, args=(stop_checks, DEAD_RUN_CHECK_SECONDS, _say),
                     name="dead-runs", daemon=True).start()
    with embedded_simulator_if_needed() as simulator:
        if simulator:
            print(f"No Pinterest credentials configured: runs launched from the UI use the embedded simulator ({simulator}).")
        print(f"Dagster UI: http://127.0.0.1:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']}, "
              f"data in {settings.etl_home().resolve()})", flush=True)
        # The UI's code server and run workers inherit this environment (simulator URL, data directory).
        process = subprocess.Popen(dagster_dev_command(args.port), cwd=PROJECT_ROOT, env=os.environ.copy())
        started.append(process)
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.terminate()
            return 0
        finally:
            stop_checks.set()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _say(line: str) -> None:
    print(f"pinterest-etl ui: {line}", flush=True)
