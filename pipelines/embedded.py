"""The embedded simulator: used by `pinterest-etl run` when no Pinterest credentials are configured."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from pipelines import settings

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EmbeddedSimulator:
    """A running simulator and the development tokens it accepts (its own, public: no real credential)."""

    base_url: str
    access_token: str
    refresh_token: str

    def environment(self) -> dict[str, str]:
        """The variables that point a client at it, for what is configured through an environment (a probe's
        client, the processes `dagster dev` starts)."""
        return {"PINTEREST_API_BASE_URL": self.base_url, "PINTEREST_ACCESS_TOKEN": self.access_token,
                "PINTEREST_REFRESH_TOKEN": self.refresh_token}


def real_credentials(env: Mapping[str, str] = os.environ) -> list[str]:
    """The real Pinterest credentials `env` configures, each named as the user set it: token variables holding
    other tokens than the simulator's development ones, an accounts file, a token file holding other tokens. The
    embedded simulator is refused while there is any (`refuse_with_real_credentials`)."""
    from pipelines.pinterest.credentials import TokenFile
    from pipelines.sandbox.auth import DEV_ACCESS_TOKEN, DEV_REFRESH_TOKEN

    development = {DEV_ACCESS_TOKEN, DEV_REFRESH_TOKEN}
    found = [name for name in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN")
             if (env.get(name) or "").strip() not in {"", *development}]
    accounts = settings.accounts_file(env)
    if accounts is not None:
        found.append(f"the accounts file {accounts}")
    token_file = TokenFile(settings.token_file_path(env))
    if token_file.exists() and token_file.read().access_token.reveal() not in development:
        found.append(f"the token file {token_file.path}")
    return found


def refuse_with_real_credentials(env: Mapping[str, str] = os.environ) -> None:
    """SettingsError naming the real credentials `env` configures, if any: the simulator's made-up data must
    never go into a home meant for their data (nor their tokens to the simulator)."""
    found = real_credentials(env)
    if found:
        raise settings.SettingsError(f"embedded_simulator is set, but real Pinterest credentials are configured "
                                     f"({', '.join(found)}): the simulator's made-up data would go where theirs goes; "
                                     "unset embedded_simulator to use them, or remove them to use the simulator")


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
def embedded_simulator_if_needed(env: Mapping[str, str] = os.environ) -> Iterator[EmbeddedSimulator | None]:
    """When no credentials are configured, start the simulator for the duration and yield it (None when real
    credentials are used). `env` is only read: the caller hands the simulator to what calls the API."""
    if settings.credentials_configured(env):
        yield None
        return
    from pipelines.sandbox import SandboxConfig, running_sandbox
    from pipelines.sandbox.auth import DEV_ACCESS_TOKEN, DEV_REFRESH_TOKEN

    today = settings.today(env)
    config = SandboxConfig(today=today, epoch=simulator_epoch(settings.etl_home(env), today))
    with running_sandbox(config) as server:
        log.info("no Pinterest credentials configured: using the embedded simulator at %s", server.base_url)
        yield EmbeddedSimulator(server.base_url, DEV_ACCESS_TOKEN, DEV_REFRESH_TOKEN)
