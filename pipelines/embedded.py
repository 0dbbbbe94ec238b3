"""The embedded simulator: used by `pinterest-etl run` when no Pinterest credentials are configured."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

from pipelines import settings
from pipelines.pinterest.credentials import TokenFile, tokens_from_env

log = logging.getLogger(__name__)


def credentials_configured(env: Mapping[str, str]) -> bool:
    """Whether real credentials are configured. A token file set explicitly (PINTEREST_TOKEN_FILE) that does not
    exist, with no tokens in the environment, is an error (SettingsError), not a reason to use the simulator:
    simulated data must never land in a warehouse meant for real data."""
    from pipelines.accounts import accounts_file

    if tokens_from_env(env) is not None or accounts_file(env) is not None:
        return True
    if TokenFile(settings.token_file_path(env)).exists():
        return True
    if env.get("PINTEREST_TOKEN_FILE"):
        raise settings.SettingsError(f"PINTEREST_TOKEN_FILE={env['PINTEREST_TOKEN_FILE']}: no such file; create it "
                                     "with `pinterest-etl auth login`, or unset the variable")
    return False


def simulator_epoch(home: Path, today: dt.date) -> dt.date:
    """The embedded world's epoch, chosen on first use and kept, so later runs see the same world age."""
    path = home / "sandbox_epoch"
    if path.exists():
        epoch = dt.date.fromisoformat(path.read_text().strip())
        return min(epoch, today)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(today.isoformat() + "\n")
    return today


@contextlib.contextmanager
def embedded_simulator_if_needed(env: MutableMapping[str, str] = os.environ) -> Iterator[str | None]:
    """When no credentials are configured, start the simulator and point the environment at it for the
    duration; yields its base URL (None when real credentials are used)."""
    if credentials_configured(env):
        yield None
        return
    from pipelines.sandbox import SandboxConfig, running_sandbox
    from pipelines.sandbox.auth import DEV_ACCESS_TOKEN, DEV_REFRESH_TOKEN

    today = settings.today(env)
    config = SandboxConfig(today=today, epoch=simulator_epoch(settings.etl_home(env), today))
    with running_sandbox(config) as server:
        saved = {k: env.get(k) for k in ("PINTEREST_API_BASE_URL", "PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN")}
        env.update(PINTEREST_API_BASE_URL=server.base_url, PINTEREST_ACCESS_TOKEN=DEV_ACCESS_TOKEN,
                   PINTEREST_REFRESH_TOKEN=DEV_REFRESH_TOKEN)
        log.info("no Pinterest credentials configured: using the embedded simulator at %s", server.base_url)
        try:
            yield server.base_url
        finally:
            for key, value in saved.items():
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = value
