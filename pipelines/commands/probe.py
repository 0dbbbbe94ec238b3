"""`pinterest-etl probe`: check this project's assumptions about the Pinterest API live, in at most 20 calls."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Mapping

from pipelines import settings
from pipelines.commands.failure import fail

DESCRIPTION = """\
Makes at most 20 API calls with the configured token against the configured API (PINTEREST_API_BASE_URL and
the credentials exactly as `pinterest-etl run` uses them; without credentials, the embedded simulator) and
prints a table of each assumption this project makes about the API, what the API answered, and whether it
holds: the token and its scopes, the readable ad accounts, both id-list encodings (comma-joined, which the
pipeline sends, and repeated keys), bulk pin analytics, content_type on user-account totals (only the
values of PINTEREST_CONTENT_TYPES), metrics_ready_state for yesterday, a week ago and the newest date past
the attribution window, the answers' shapes, and the rate-limit headers seen (a 429 is reported, never
waited for beyond 30 s; a category the server paces slower than 30 s of waiting in all is reported
"paced to N/minute" and not asked further), and whether every call was answered within the time bounds
(PINTEREST_HTTP_TIMEOUT_SECONDS, PINTEREST_HTTP_CALL_TIMEOUT_SECONDS): a call that was not is that step's
failure, the checks already made are kept, and the later steps are reported "not asked: the API stopped
answering after <step>". The same results go to PINTEREST_ETL_HOME/probe.json (probe.<account>.json for
an account of the accounts file, so each account keeps its own).
Every request is counted as it is sent (retries and token refreshes too, answered or not; at most one
refresh per request) and none is sent past the 20th. No token or secret is printed or written, even
when the server echoes one.

Statuses: OK (holds), WARNING (does not hold, the pipeline copes: e.g. no bulk pin analytics means one call
per pin), FAILED, UNKNOWN (could not be checked, with the reason).

Exit codes: 0 when every assumption the pipeline depends on that could be checked holds (warnings and
unknowns allowed); 1 when one does not (FAILED): the token is refused, the API unreachable, or its first
call (user_account/get) answered by something else than the Pinterest API (an HTML page, a 404 of a
base URL without /v5, a 5xx: one line naming PINTEREST_API_BASE_URL), a scope
the pipeline reads with is missing (the API answered 401 code 3: user_accounts:read, boards:read, pins:read,
ads:read; a 5xx or no answer leaves a scope unknown), a call the pipeline makes is refused with 403 (a
permission or Business Access role the user lacks), a call got no answer within its time bound, comma-joined
id lists lose ids, content_type is refused, metrics_ready_state is not two booleans or readiness falls
with age, or an answer's shape is not what the pipeline parses; also 1 when probe.json cannot be written
(the table and the verdict are printed, then one line naming the file and the cause); 2 when a setting or
the credentials cannot be used (nothing is called). A refused token's message names the account's login
command and token variable (`pinterest-etl auth login --account NAME`, its access_token_env)."""


def add_parser(commands) -> None:
    p = commands.add_parser("probe", help="check this project's assumptions about the Pinterest API live "
                                          "(at most 20 calls; a table and probe.json)",
                            description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--account", metavar="NAME",
                   help="probe with this account of the accounts file (PINTEREST_ACCOUNTS_FILE or PINTEREST_ETL_HOME/"
                        "accounts.toml; default: its first account, or the environment's credentials without one)")
    p.set_defaults(handler=_probe)


def _fail(message: str, code: int) -> int:
    return fail("probe", message, code)


def _account_environment(name: str | None, env: Mapping[str, str]):
    """The environment the probe's client is built from, and the account it is of (an `accounts.Account`): the
    named account of the accounts file, else its first one, else (no accounts file, account None) `env`."""
    from pipelines.accounts import load_accounts
    from pipelines.pinterest.credentials import CredentialsError

    if name is None and settings.accounts_file(env) is None:
        return dict(env), None
    accounts = load_accounts(env)
    chosen = accounts[0] if name is None else next((a for a in accounts if a.name == name), None)
    if chosen is None:
        raise CredentialsError(f"--account {name}: no such account in the accounts file (accounts: "
                               f"{', '.join(a.name for a in accounts) or 'none'})")
    return chosen.environment(env), chosen


def _probe(args: argparse.Namespace) -> int:
    from pipelines.atomic_files import DataWriteError
    from pipelines.clients import check_client_settings
    from pipelines.embedded import embedded_simulator_if_needed
    from pipelines.pinterest.credentials import CredentialsError
    from pipelines.pinterest.urls import BaseUrlError
    from pipelines.probe import (
        PROBED_SETTINGS,
        probe_configured_api,
        probe_file_name,
        render_table,
        verdict,
        write_probe_file,
    )

    settings.load_dotenv()
    try:
        with embedded_simulator_if_needed(os.environ) as simulator:
            env, account = _account_environment(args.account, {**os.environ, **simulator.environment()} if simulator
                                                 else os.environ)
            with account.errors_named() if account else contextlib.nullcontext():
                check_client_settings(env, also=PROBED_SETTINGS)
            name = account.name if account else None
            report = probe_configured_api(env, embedded=simulator is not None, account=name,
                                          token_variable=account.access_token_env if account else "PINTEREST_ACCESS_TOKEN")
            target = settings.etl_home(env) / probe_file_name(name)
    except (settings.SettingsError, CredentialsError, BaseUrlError) as error:
        return _fail(str(error), 2)
    if not report.stopped:
        print(render_table(report))
    try:
        write_probe_file(report, target)
    except DataWriteError as error:
        # The verdict is shown (the table holds the results); the exit code is 1: probe.json, which scripts
        # read, is missing or stale.
        if report.stopped:
            _fail(report.stopped, 1)
        else:
            print(f"\n{verdict(report)}.")
        return _fail(str(error), 1)
    if report.stopped:
        return _fail(f"{report.stopped} (details in {target})", 1)
    print(f"\n{verdict(report)}. Written to {target}.")
    return 1 if report.broken else 0
