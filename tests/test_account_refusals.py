"""An account of the accounts file that cannot work is refused before any account makes a call, and every refusal
names the account and where it sets what is wrong (its own variable, the accounts file's key), never the
PINTEREST_* variable the account's environment moved it to, in `run`, `auth` and `probe` alike."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.client_support import server_stats
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env
from tests.test_settings_object import TWO_ACCOUNTS, run_command

DAY = TODAY - dt.timedelta(days=2)


def _calls(server) -> int:
    requests = server_stats(server)["requests"]
    return sum(requests.values()) if requests else 0


def _two_accounts(monkeypatch, tmp_path, server, **extra):
    """brand-a (BRAND_A_ACCESS_TOKEN, the simulator's token) and brand-b (BRAND_B_ACCESS_TOKEN) in
    PINTEREST_ETL_HOME/accounts.toml; the environment's own token variables empty."""
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY, BRAND_A_ACCESS_TOKEN="pina_SANDBOX",
                 PINTEREST_ACCESS_TOKEN="", PINTEREST_REFRESH_TOKEN="", **extra)
    home.mkdir()
    (home / "accounts.toml").write_text(TWO_ACCOUNTS)
    return home


def _run_one_day(capsys):
    return run_command(capsys, "run", "--only", "organic", "--start", DAY.isoformat(), "--end", DAY.isoformat())


def test_an_account_whose_token_variable_holds_only_whitespace_is_refused_before_any_call(
        make_sandbox, monkeypatch, tmp_path, capsys):
    """BRAND_B_ACCESS_TOKEN='   ' (set, but blank) was stripped to an empty, expired token: brand-a spent its calls,
    then brand-b failed at its first. Refused up front, naming brand-b's own variable."""
    server = make_sandbox()
    _two_accounts(monkeypatch, tmp_path, server, BRAND_B_ACCESS_TOKEN="   ")
    code, printed = _run_one_day(capsys)
    assert code == 2 and "account 'brand-b': BRAND_B_ACCESS_TOKEN holds only whitespace" in printed, printed[-800:]
    assert "PINTEREST_ACCESS_TOKEN" not in printed and _calls(server) == 0


@pytest.mark.parametrize("content", [
    {"access_token": "pina_SANDBOX", "expires_at": "tomorrow"},
    {"access_token": "pina_SANDBOX", "issued_at": "today", "expires_at": 9999999999},
    {"access_token": "pina_SANDBOX", "refresh_token_expires_at": True},
    {"access_token": ""},
], ids=["expires_at-text", "issued_at-text", "refresh_token_expires_at-true", "empty-access-token"])
def test_an_accounts_token_file_that_cannot_work_is_refused_before_any_call(make_sandbox, monkeypatch, tmp_path,
                                                                            capsys, content):
    """brand-b's token file (credentials/brand-b.json, 0600) was read up front but its fields were not checked: a
    time that is not a number (a TypeError at the first call) or an empty access token passed, brand-a spent its
    calls and brand-b failed at its first. Refused up front, naming the account and the file."""
    server = make_sandbox()
    home = _two_accounts(monkeypatch, tmp_path, server)
    monkeypatch.delenv("BRAND_B_ACCESS_TOKEN", raising=False)
    token_file = home / "credentials" / "brand-b.json"
    token_file.parent.mkdir(mode=0o700)
    token_file.write_text(json.dumps(content))
    token_file.chmod(0o600)
    code, printed = _run_one_day(capsys)
    assert code == 2 and f"account 'brand-b': {token_file} is not a token file" in printed, printed[-800:]
    assert _calls(server) == 0


def test_an_accounts_token_file_that_is_a_directory_is_named_by_the_accounts_file_not_by_pinterest_token_file(
        make_sandbox, monkeypatch, tmp_path, capsys):
    """brand-b's token file (default credentials/brand-b.json) is a directory: the refusal told the user to 'point
    PINTEREST_TOKEN_FILE at a file', a variable that does not set brand-b's token file."""
    server = make_sandbox()
    home = _two_accounts(monkeypatch, tmp_path, server, BRAND_B_ACCESS_TOKEN="pina_SANDBOX")
    (home / "credentials" / "brand-b.json").mkdir(parents=True, mode=0o700)
    code, printed = _run_one_day(capsys)
    assert code == 2 and "account 'brand-b'" in printed and "the accounts file's token_file" in printed, printed[-800:]
    assert "PINTEREST_TOKEN_FILE" not in printed and _calls(server) == 0


def test_an_accounts_ad_account_id_of_non_ascii_digits_is_named_by_the_accounts_file(make_sandbox, monkeypatch,
                                                                                      tmp_path, capsys):
    """ad_account_ids = ["²"] passed the accounts file's own check (str.isdigit), then was refused as
    PINTEREST_AD_ACCOUNT_IDS, a variable the user did not set."""
    server = make_sandbox()
    home = _two_accounts(monkeypatch, tmp_path, server, BRAND_B_ACCESS_TOKEN="pina_SANDBOX")
    (home / "accounts.toml").write_text(TWO_ACCOUNTS + 'ad_account_ids = ["\u00b2"]\n')
    code, printed = _run_one_day(capsys)
    assert code == 2 and "(brand-b): 'ad_account_ids' must be a list of numeric ids" in printed, printed[-800:]
    assert "PINTEREST_AD_ACCOUNT_IDS" not in printed and _calls(server) == 0


def test_an_accounts_token_file_holding_a_nul_character_is_refused_naming_the_key(make_sandbox, monkeypatch, tmp_path,
                                                                                  capsys):
    """token_file = "credentials/brand\\u0000b.json" was accepted by the accounts file's check."""
    server = make_sandbox()
    home = _two_accounts(monkeypatch, tmp_path, server, BRAND_B_ACCESS_TOKEN="pina_SANDBOX")
    (home / "accounts.toml").write_text(TWO_ACCOUNTS + 'token_file = "credentials/brand\\u0000b.json"\n')
    code, printed = _run_one_day(capsys)
    assert code == 2 and "(brand-b): 'token_file' contains a NUL character" in printed, printed[-800:]
    assert _calls(server) == 0


def test_two_accounts_sharing_one_token_file_are_refused_before_any_call(make_sandbox, monkeypatch, tmp_path, capsys):
    """brand-a's token_file 'credentials/shared.json' and brand-b's './credentials/shared.json' are one file: the
    first refresh of either writes its tokens there, and the other then reads them (the token file wins over the
    variables). Nothing checked it up front: the run even succeeded while the file was absent, and failed later
    ('the same Pinterest user as brand-a') without naming the shared file."""
    server = make_sandbox(users=2)
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY, BRAND_A_ACCESS_TOKEN="pina_SANDBOX",
                 BRAND_B_ACCESS_TOKEN="pina_SANDBOX_2", PINTEREST_ACCESS_TOKEN="", PINTEREST_REFRESH_TOKEN="")
    home.mkdir()
    (home / "accounts.toml").write_text(
        '[[account]]\nname = "brand-a"\naccess_token_env = "BRAND_A_ACCESS_TOKEN"\ntoken_file = "credentials/shared.json"\n'
        '[[account]]\nname = "brand-b"\naccess_token_env = "BRAND_B_ACCESS_TOKEN"\n'
        'token_file = "./credentials/shared.json"\n')
    code, printed = _run_one_day(capsys)
    assert code == 2 and "account 'brand-a' and account 'brand-b' have one token file" in printed, printed[-400:]
    assert "shared.json" in printed and _calls(server) == 0


@pytest.mark.parametrize("command", [("auth", "status", "--account", "brand-b"),
                                     ("auth", "refresh", "--account", "brand-b"), ("probe", "--account", "brand-b")])
def test_an_accounts_bad_token_is_named_by_its_own_variable_in_auth_and_probe_too(make_sandbox, monkeypatch, tmp_path,
                                                                                   capsys, command):
    """`run` named brand-b's bad token by BRAND_B_ACCESS_TOKEN; `auth status/refresh --account brand-b` and `probe
    --account brand-b` named PINTEREST_ACCESS_TOKEN, which is unset here and is not what the user must fix."""
    server = make_sandbox()
    _two_accounts(monkeypatch, tmp_path, server, BRAND_B_ACCESS_TOKEN="pina two words")
    code, printed = run_command(capsys, *command)
    assert code != 0 and "account 'brand-b': BRAND_B_ACCESS_TOKEN contains a space" in printed, printed[-400:]
    assert "PINTEREST_ACCESS_TOKEN" not in printed and _calls(server) == 0


@pytest.mark.parametrize("where", ["PINTEREST_TOKEN_FILE", "accounts-file"])
def test_a_token_file_name_too_long_for_the_file_system_is_refused_naming_the_setting(make_sandbox, monkeypatch,
                                                                                      tmp_path, capsys, where):
    """A token file path with a component over 255 bytes (a token pasted instead of a path, say) made `run` end with
    a traceback showing the path, naming neither the variable nor the account. Refused naming them, the path not
    shown."""
    server = make_sandbox()
    long_name = "pina_" + "x" * 300
    if where == "PINTEREST_TOKEN_FILE":
        pipeline_env(monkeypatch, tmp_path / "home", server, TODAY, PINTEREST_TOKEN_FILE=str(tmp_path / long_name))
        expected = "point PINTEREST_TOKEN_FILE at a file"
    else:
        home = _two_accounts(monkeypatch, tmp_path, server, BRAND_B_ACCESS_TOKEN="pina_SANDBOX")
        (home / "accounts.toml").write_text(TWO_ACCOUNTS + f'token_file = "{long_name}"\n')
        expected = "account 'brand-b': the token file's path cannot be used"
    code, printed = _run_one_day(capsys)
    assert code == 2 and expected in printed, printed[-600:]
    assert "Traceback" not in printed and long_name not in printed and _calls(server) == 0


def test_whitespace_around_an_accounts_token_is_removed_with_a_warning_naming_its_own_variable(
        make_sandbox, monkeypatch, tmp_path, capsys, caplog):
    """BRAND_B_ACCESS_TOKEN with a trailing newline works; the warning that it was removed named
    PINTEREST_ACCESS_TOKEN, a variable the user did not set."""
    server = make_sandbox(users=2)
    _two_accounts(monkeypatch, tmp_path, server, BRAND_B_ACCESS_TOKEN="pina_SANDBOX_2\n")
    with caplog.at_level("WARNING", logger="pipelines.pinterest"):
        code, printed = _run_one_day(capsys)
    warnings = [record.getMessage() for record in caplog.records if "whitespace" in record.getMessage()]
    assert code == 0, printed[-800:]
    assert warnings and all(w.startswith("BRAND_B_ACCESS_TOKEN had whitespace around it") for w in warnings), warnings
