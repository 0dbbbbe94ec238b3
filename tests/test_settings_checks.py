"""Every PINTEREST_* variable the pipeline reads is in settings.SETTINGS, so `check_all` (run by `run`, `load` and
`ui` before anything is called or written) checks it: a new setting cannot be forgotten there."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines import settings
from pipelines.faults import CRASH_AT
from pipelines.run_settings import check_all

ROOT = Path(__file__).resolve().parents[1]
# A string that is exactly a variable name: what `env.get(...)`, `os.environ[...]` and the settings' tables hold.
VARIABLE = re.compile(r"""["'](PINTEREST_[A-Z0-9_]*[A-Z0-9])["']""")
# Not settings: the crash-injection hook of the crash tests; the simulator's and the API's own names.
NOT_SETTINGS = {CRASH_AT}


def variables_the_code_reads() -> dict[str, str]:
    found = {}
    for path in sorted([*(ROOT / "pipelines").rglob("*.py"), *(ROOT / "assets").rglob("*.py")]):
        relative = path.relative_to(ROOT)
        if relative.parts[:2] == ("pipelines", "sandbox") or relative.name == "api_enums.py":
            continue
        for name in VARIABLE.findall(path.read_text()):
            found.setdefault(name, str(relative))
    return found


def test_every_variable_the_code_reads_is_checked_by_check_all():
    unchecked = {name: where for name, where in variables_the_code_reads().items()
                 if name not in settings.SETTINGS and name not in NOT_SETTINGS}
    assert unchecked == {}, "add these to settings.SETTINGS with the function that parses them"


def test_check_all_writes_nothing_and_accepts_the_defaults(tmp_path):
    home = tmp_path / "home"
    check_all({"PINTEREST_ETL_HOME": str(home)})
    assert not home.exists()
