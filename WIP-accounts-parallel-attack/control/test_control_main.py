import sys
sys.path.insert(0, "/tmp/attackpar")
import test_breaks as tb
from tests.conftest import make_sandbox  # noqa: F401
from tests.pipeline_support import run, query
from tests.test_accounts import WORLD, accounts_env


def test_main_extracts_all_three(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(**{**WORLD, "users": 3})
    accounts_env(monkeypatch, tmp_path / "home", server, tb.COLLIDING, T1="pina_SANDBOX", T2="pina_SANDBOX_2",
                 T3="pina_SANDBOX_3")
    code = run(tb.START, tb.END, only="organic")
    capsys.readouterr()
    assert (code, query(tmp_path / "home", "SELECT count(DISTINCT user_id) FROM user_account_daily")) == (0, [(3,)])
