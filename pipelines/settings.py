"""Settings read from the environment (and `.env`): data directory, API base URL, token file, today."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_API_BASE_URL = "https://api.pinterest.com/v5"


class SettingsError(ValueError):
    """An environment setting is invalid; the message names the variable and the expected form."""


def etl_home(env: Mapping[str, str] = os.environ) -> Path:
    """PINTEREST_ETL_HOME: where raw/, lake/, warehouse.duckdb and the token file live (default ./data)."""
    return Path(env.get("PINTEREST_ETL_HOME") or "data")


def token_file_path(env: Mapping[str, str] = os.environ) -> Path:
    """PINTEREST_TOKEN_FILE, default PINTEREST_ETL_HOME/credentials/pinterest-token.json."""
    explicit = env.get("PINTEREST_TOKEN_FILE")
    return Path(explicit) if explicit else etl_home(env) / "credentials" / "pinterest-token.json"


def api_base_url(env: Mapping[str, str] = os.environ) -> str:
    return (env.get("PINTEREST_API_BASE_URL") or DEFAULT_API_BASE_URL).rstrip("/")


def today(env: Mapping[str, str] = os.environ) -> dt.date:
    """PINTEREST_ETL_TODAY (YYYY-MM-DD) or the real UTC date."""
    text = env.get("PINTEREST_ETL_TODAY")
    if not text:
        return dt.datetime.now(dt.timezone.utc).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"PINTEREST_ETL_TODAY must be a date as YYYY-MM-DD (got {text!r})") from None


def load_dotenv(path: Path = Path(".env"), env: dict[str, str] | None = None) -> None:
    """Fill unset variables from a `.env` file of KEY=VALUE lines (the environment wins)."""
    target = os.environ if env is None else env
    if not path.exists():
        return
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE")
        target.setdefault(key.strip().removeprefix("export ").strip(), value.strip().strip("'\""))
