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
    ui = UiProcess()
    signal.signal(signal.SIGTERM, lambda *_: ui.stop())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _serve(args, ui)
    except KeyboardInterrupt:
        return 130


class UiProcess:
    """`dagster dev`, started once, and what a SIGTERM does to it: before it is started, stop the command (a
    KeyboardInterrupt); while it is being started, stop it as soon as it runs (raising in the middle of starting
    could leave it running with nobody to stop it); once started, stop it."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self._starting = False
        self._stop_when_started = False

    def start(self, command: list[str], popen=subprocess.Popen, **options) -> subprocess.Popen:
        self._starting = True
        process = popen(command, **options)
        self.process = process
        self._starting = False
        if self._stop_when_started:
            process.terminate()
        return process

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
        elif self._starting:
            self._stop_when_started = True
        else:
            raise KeyboardInterrupt


def _serve(args: argparse.Namespace, ui: UiProcess) -> int:
    import dagster as dg

    from pipelines.dagster_instance import free_dead_runs, free_dead_runs_until
    from pipelines.embedded import embedded_simulator_if_needed
    from pipelines.run_settings import check_all

    settings.load_dotenv()
    check_all()  # the UI's runs read them: refused here, not as a traceback in the code server
    os.environ.setdefault("DAGSTER_HOME", str(settings.DEFAULT_DAGSTER_HOME))
    os.environ["PINTEREST_ETL_HOME"] = str(settings.etl_home().resolve())  # the same data whatever the cwd
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.get() as instance:
        free_dead_runs(instance, report=_say, launches_runs=True)
    stop_checks = threading.Event()
    threading.Thread(target=free_dead_runs_until, args=(stop_checks, DEAD_RUN_CHECK_SECONDS, _say),
                     name="dead-runs", daemon=True).start()
    with embedded_simulator_if_needed() as simulator:
        if simulator:
            print("No Pinterest credentials configured: runs launched from the UI use the embedded simulator "
                  f"({simulator.base_url}).")
        print(f"Dagster UI: http://127.0.0.1:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']}, "
              f"data in {settings.etl_home().resolve()})", flush=True)
        # The UI's code server and run workers are other processes, which load the Dagster definitions themselves:
        # the environment is the one way to hand them the simulator (URL and development tokens) and the data
        # directory. Theirs only: this process's own environment is left as it is.
        simulator_environment = simulator.environment() if simulator else {}
        process = ui.start(dagster_dev_command(args.port), cwd=PROJECT_ROOT, env={**os.environ, **simulator_environment})
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
