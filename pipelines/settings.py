"""Settings read from the environment (and `.env`): one parser per variable, and `Settings`, every one of them
read and checked at once (pipelines/run_settings.py builds it for a run and each of its accounts)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import ssl
import types
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import api_enums
from pipelines.ads.attribution import Attribution
from pipelines.data_locations import DataLocations, data_locations
from pipelines.pinterest.credentials import AppCredentials, TokenFile, Tokens, app_credentials_from_env, tokens_from_env
from pipelines.pinterest.oauth import token_endpoint_url
from pipelines.pinterest.retries import RetryPolicy
from pipelines.pinterest.sessions import proxies_set_in
from pipelines.pinterest.transport import MB, HttpLimits
from pipelines.pinterest.urls import check_base_url
from pipelines.planning import SYNC_BACK_DAYS
from pipelines.setting_errors import SettingsError, looked_up  # noqa: F401 - SettingsError: settings.SettingsError

if TYPE_CHECKING:
    from pipelines.ads.reports import ReportPolling

DEFAULT_API_BASE_URL = "https://api.pinterest.com/v5"


def _whole_number(text: str) -> bool:
    """Only the digits 0-9 (str.isdigit also takes '²' and other digits int() cannot read)."""
    return text.isascii() and text.isdigit()


def _decimal_number(text: str) -> float | None:
    """`text` as a number written with the digits 0-9 and an optional point ('1.5', '60'), else None: float()
    also reads other scripts' digits ('٦٠'), underscores ('1_0'), exponents, 'inf' and 'nan'."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", text):
        return None
    return float(text)



def etl_home(env: Mapping[str, str] = os.environ) -> Path:
    """PINTEREST_ETL_HOME: where raw/, lake/, warehouse.duckdb and the token file live (default ./data).
    A path with a backslash is refused: DuckDB reads `\\` as `/`, so the warehouse (and the lake files it
    reads) would be another directory than the one the rest of the pipeline writes."""
    home = looked_up(Path(env.get("PINTEREST_ETL_HOME") or "data"), "PINTEREST_ETL_HOME")
    if "\\" in os.path.abspath(home):
        raise SettingsError(f"PINTEREST_ETL_HOME must not contain a backslash (it is {os.path.abspath(home)}): DuckDB "
                            "reads \\ as /, so the warehouse would go to another directory; choose one without")
    return home


def token_file_path(env: Mapping[str, str] = os.environ) -> Path:
    """PINTEREST_TOKEN_FILE, default PINTEREST_ETL_HOME/credentials/pinterest-token.json."""
    explicit = env.get("PINTEREST_TOKEN_FILE")
    return Path(explicit) if explicit else etl_home(env) / "credentials" / "pinterest-token.json"


def api_base_url(env: Mapping[str, str] = os.environ) -> str:
    return (env.get("PINTEREST_API_BASE_URL") or DEFAULT_API_BASE_URL).rstrip("/")


def fixed_today(env: Mapping[str, str] = os.environ) -> dt.date | None:
    """PINTEREST_ETL_TODAY (YYYY-MM-DD): the date the pipeline takes as today; None when unset."""
    text = env.get("PINTEREST_ETL_TODAY")
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"PINTEREST_ETL_TODAY must be a date as YYYY-MM-DD (got {text!r})") from None


def today(env: Mapping[str, str] = os.environ) -> dt.date:
    """PINTEREST_ETL_TODAY or the real UTC date."""
    return fixed_today(env) or utc_today()


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def start_date(env: Mapping[str, str] = os.environ, remember: bool = True) -> dt.date:
    """PINTEREST_START_DATE, the first daily partition. Default: 89 days before today (SYNC_BACK_DAYS, one day
    inside the API's 90-day window), so a fresh install's full backfill is inside it; chosen once and kept in
    PINTEREST_ETL_HOME/start_date so the partitions do not move from day to day (not kept when not `remember`)."""
    text = env.get("PINTEREST_START_DATE")
    if text:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise SettingsError(f"PINTEREST_START_DATE must be a date as YYYY-MM-DD (got {text!r})") from None
    remembered = etl_home(env) / "start_date"
    if remembered.exists():
        try:
            return dt.date.fromisoformat(remembered.read_text().strip())
        except ValueError:
            raise SettingsError(f"{remembered} does not hold a date as YYYY-MM-DD; fix or delete it") from None
    chosen = today(env) - dt.timedelta(days=SYNC_BACK_DAYS)
    if not remember:
        return chosen
    try:
        remembered.parent.mkdir(parents=True, exist_ok=True)
        remembered.write_text(chosen.isoformat() + "\n")
    except OSError:
        pass  # a read-only home: use the computed default for this process
    return chosen


def organic_splits(env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """PINTEREST_ORGANIC_SPLITS: split fields of user-account analytics besides the unsplit numbers
    (comma-separated; default APP_TYPE; empty for none)."""
    from pipelines.api_enums import USER_ACCOUNT_SPLIT_FIELDS

    text = env.get("PINTEREST_ORGANIC_SPLITS")
    if text is None:
        return ("APP_TYPE",)
    splits = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    allowed = [s for s in USER_ACCOUNT_SPLIT_FIELDS if s != "NO_SPLIT"]
    unknown = [s for s in splits if s not in allowed]
    if unknown:
        raise SettingsError(f"PINTEREST_ORGANIC_SPLITS: unknown split field(s) {', '.join(unknown)}; "
                            f"choose from {', '.join(allowed)}")
    return splits


CONTENT_TYPES_VARIABLE = "PINTEREST_CONTENT_TYPES"
DEFAULT_CONTENT_TYPES = ("ALL", "ORGANIC", "PAID")


def content_types(env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """PINTEREST_CONTENT_TYPES: the `content_type` values user-account analytics are fetched and stored for
    (comma-separated, each one call per window and split: ALL is paid and organic together, the API's default;
    default ALL,ORGANIC,PAID). ORGANIC or ALL is required: the organic totals are read from them."""
    from pipelines.api_enums import CONTENT_TYPES

    text = env.get(CONTENT_TYPES_VARIABLE)
    if text is None:
        return DEFAULT_CONTENT_TYPES
    chosen = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    unknown = [t for t in chosen if t not in CONTENT_TYPES]
    if unknown or not chosen:
        raise SettingsError(f"{CONTENT_TYPES_VARIABLE}: expected a comma-separated list of {', '.join(CONTENT_TYPES)} "
                            f"(got {text.strip()[:80]!r}); e.g. {','.join(DEFAULT_CONTENT_TYPES)}")
    if not {"ORGANIC", "ALL"} & set(chosen):
        raise SettingsError(f"{CONTENT_TYPES_VARIABLE}: {','.join(chosen)} leaves out both ORGANIC and ALL, which the "
                            "report, the pin-totals check and the example queries read the accounts' organic totals "
                            f"from; add ORGANIC (or ALL), e.g. {','.join(DEFAULT_CONTENT_TYPES)}")
    return chosen


def rate_budgets(env: Mapping[str, str] = os.environ) -> dict[str, int]:
    """PINTEREST_RATE_BUDGETS: calls per minute per rate-limit category, e.g. `org_analytics=300,ads_read=1000`
    (unset categories keep their defaults; see README)."""
    from pipelines.pinterest.budgets import DEFAULT_BUDGETS_PER_MINUTE

    budgets: dict[str, int] = {}
    for item in (env.get("PINTEREST_RATE_BUDGETS") or "").split(","):
        if not item.strip():
            continue
        category, _, number = item.partition("=")
        category = category.strip()
        if category not in DEFAULT_BUDGETS_PER_MINUTE or not _whole_number(number.strip()) or int(number) < 1:
            raise SettingsError(f"PINTEREST_RATE_BUDGETS: expected CATEGORY=CALLS_PER_MINUTE with CATEGORY one of "
                                f"{', '.join(DEFAULT_BUDGETS_PER_MINUTE)} (got {item.strip()!r})")
        budgets[category] = int(number)
    return budgets


def retry_policy(env: Mapping[str, str] = os.environ):
    """PINTEREST_RETRY_BACKOFF_SECONDS: the first wait before retrying a call the server gave no wait for
    (default 1 s, doubling up to 60 s; a server's Retry-After is honoured up to the next setting);
    PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS (900): the longest wait a server's hint may impose; a rate limit
    asking for longer (a daily quota) stops the call with a message saying when to run again."""
    longest = seconds("PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS", 900.0, env, maximum=86_400)
    if longest < 1:
        raise SettingsError(f"PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS must be at least 1 second (got {longest:g})")
    text = env.get("PINTEREST_RETRY_BACKOFF_SECONDS")
    if not text:
        return RetryPolicy(max_rate_limit_wait_seconds=longest)
    first = _decimal_number(text)
    if first is None:
        raise SettingsError(f"PINTEREST_RETRY_BACKOFF_SECONDS must be a number of seconds (got {text!r})")
    if not 0 < first <= 60:
        raise SettingsError(f"PINTEREST_RETRY_BACKOFF_SECONDS must be more than 0 and at most 60 (got {first})")
    return RetryPolicy(backoff_base_seconds=first, max_rate_limit_wait_seconds=longest)


def https_proxy(env: Mapping[str, str] = os.environ) -> str | None:
    """PINTEREST_HTTPS_PROXY: the proxy for https requests (http://HOST:PORT), which it reaches through a
    CONNECT tunnel, so the proxy never sees a header. Unset: direct connections; HTTPS_PROXY, HTTP_PROXY and
    ALL_PROXY are never used (a plain-http proxy would see the tokens)."""
    text = (env.get("PINTEREST_HTTPS_PROXY") or "").strip()
    if not text:
        return None
    try:
        parts = urllib.parse.urlsplit(text)
        valid = (parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port is not None
                 and parts.path in ("", "/") and not parts.query and not parts.fragment and text.isascii()
                 and not any(c.isspace() or c == "\\" for c in text))
    except ValueError:
        valid = False
    if not valid:  # the value may hold the proxy's password: not shown
        raise SettingsError("PINTEREST_HTTPS_PROXY must be a proxy URL such as http://proxy.example.com:3128 "
                            "(scheme, host and port, nothing after them; the value is not shown)")
    return text


def ca_bundle(env: Mapping[str, str] = os.environ) -> str | None:
    """PINTEREST_CA_BUNDLE: a PEM file (or a directory of hashed PEM files, as `c_rehash` makes) of the CAs to
    trust for https instead of the default ones (certifi's), for a network whose proxy inspects TLS with its own
    CA. REQUESTS_CA_BUNDLE is never used (the client's sessions ignore the environment), so this is the one way
    to name it. Checked up front: it exists, is readable, and a file parses as certificates."""
    text = env.get("PINTEREST_CA_BUNDLE")
    if not text:
        return None
    path = looked_up(Path(text), "PINTEREST_CA_BUNDLE")
    if not path.exists():
        raise SettingsError(f"PINTEREST_CA_BUNDLE names {text}, which does not exist; give a PEM file of CA "
                            "certificates or a directory of them")
    if not (path.is_file() or path.is_dir()):  # a named pipe would block the check until something writes to it
        raise SettingsError(f"PINTEREST_CA_BUNDLE names {text}, which is neither a regular file nor a directory (a "
                            "named pipe?); give a PEM file of CA certificates or a directory of them")
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise SettingsError(f"PINTEREST_CA_BUNDLE names {text}, which this user cannot read")
    if not path.is_dir():
        try:
            ssl.create_default_context(cafile=text)
        except (ssl.SSLError, OSError, ValueError) as error:
            raise SettingsError(f"PINTEREST_CA_BUNDLE names {text}, which is not a PEM file of CA certificates "
                                f"({error.__class__.__name__}: {getattr(error, 'reason', None) or error})") from None
    return text


def http_limits(env: Mapping[str, str] = os.environ):
    """How long and how much one API call may take:
    PINTEREST_HTTP_TIMEOUT_SECONDS (30): one attempt, from connecting to the last byte of the answer;
    PINTEREST_HTTP_CALL_TIMEOUT_SECONDS (60): one call's attempts that got no usable answer (none, or a 5xx)
    and the backoff between them, so a dead or stalling server ends a call in about a minute (rate-limit
    waits are not counted: they have their own cap);
    PINTEREST_HTTP_MAX_BODY_MB (256): one answer, decompressed;
    PINTEREST_MAX_PAGES (1000): pages of one listing (Pinterest caps an account at 200,000 pins, 800 pages)."""
    def whole(name: str, default: int) -> int:
        text = (env.get(name) or "").strip() or str(default)
        if not _whole_number(text) or not 1 <= int(text) <= 1_000_000:
            raise SettingsError(f"{name} must be a whole number from 1 to 1000000 (got {text!r})")
        return int(text)

    attempt = seconds("PINTEREST_HTTP_TIMEOUT_SECONDS", 30.0, env, maximum=3600)
    call = seconds("PINTEREST_HTTP_CALL_TIMEOUT_SECONDS", max(60.0, attempt), env, maximum=86_400)
    for name, value in (("PINTEREST_HTTP_TIMEOUT_SECONDS", attempt), ("PINTEREST_HTTP_CALL_TIMEOUT_SECONDS", call)):
        if value <= 0:
            raise SettingsError(f"{name} must be more than 0 seconds (got {value:g})")
    return HttpLimits(attempt_seconds=attempt, call_seconds=call, connect_seconds=min(10.0, attempt),
                      max_body_bytes=whole("PINTEREST_HTTP_MAX_BODY_MB", 256) * MB,
                      max_pages=whole("PINTEREST_MAX_PAGES", 1000))


def ad_account_allow_list(env: Mapping[str, str] = os.environ) -> frozenset[str] | None:
    """PINTEREST_AD_ACCOUNT_IDS: comma-separated ad account ids to extract (default: every one the token sees)."""
    text = env.get("PINTEREST_AD_ACCOUNT_IDS")
    if not text:
        return None
    ids = frozenset(i.strip() for i in text.split(",") if i.strip())
    if not ids:  # an empty allow-list would silently extract no ad account at all
        raise SettingsError(f"PINTEREST_AD_ACCOUNT_IDS lists no ad account id (got {text!r}): give ids separated by "
                            "commas, or unset it to extract every ad account the token sees")
    bad = sorted(i for i in ids if not _whole_number(i))
    if bad:
        raise SettingsError(f"PINTEREST_AD_ACCOUNT_IDS must list numeric ad account ids (got {bad[0]!r})")
    return ids


def ads_columns(env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """PINTEREST_ADS_COLUMNS: the ads analytics columns to extract (comma-separated; default: see README)."""
    from pipelines.ads.extract import DEFAULT_COLUMNS, validate_columns

    text = env.get("PINTEREST_ADS_COLUMNS")
    if not text:
        return DEFAULT_COLUMNS
    columns = tuple(c.strip() for c in text.split(",") if c.strip())
    if not columns:
        raise SettingsError(f"PINTEREST_ADS_COLUMNS: no column in {text!r}; name the columns (comma-separated), or "
                            "unset it for the default columns")
    try:
        return validate_columns(columns)
    except ValueError as error:
        raise SettingsError(f"PINTEREST_ADS_COLUMNS: {error}") from None


def ads_attribution(env: Mapping[str, str] = os.environ) -> Attribution:
    """PINTEREST_ADS_CLICK_WINDOW_DAYS (30), PINTEREST_ADS_ENGAGEMENT_WINDOW_DAYS (30),
    PINTEREST_ADS_VIEW_WINDOW_DAYS (1), PINTEREST_ADS_CONVERSION_REPORT_TIME (TIME_OF_AD_ACTION).
    Each is checked against its enum of the official description (ConversionAttributionWindowDays,
    ConversionReportTimeType). The description documents no constraint on their combinations (neither the
    analytics endpoints' query parameters nor AdsAnalyticsCreateAsyncRequest), so every combination is accepted."""
    windows = ", ".join(map(str, api_enums.ATTRIBUTION_WINDOW_DAYS))

    def days(name: str, default: int) -> int:
        text = (env.get(name) or "").strip()
        if not text:
            return default
        if not _whole_number(text) or int(text) not in api_enums.ATTRIBUTION_WINDOW_DAYS:
            raise SettingsError(f"{name} must be one of {windows} (days of the conversion attribution window; "
                                f"got {text!r})")
        return int(text)

    report_time = env.get("PINTEREST_ADS_CONVERSION_REPORT_TIME") or "TIME_OF_AD_ACTION"
    if report_time not in api_enums.CONVERSION_REPORT_TIMES:
        raise SettingsError(f"PINTEREST_ADS_CONVERSION_REPORT_TIME must be "
                            f"{' or '.join(api_enums.CONVERSION_REPORT_TIMES)} (got {report_time!r})")
    return Attribution(days("PINTEREST_ADS_CLICK_WINDOW_DAYS", 30), days("PINTEREST_ADS_ENGAGEMENT_WINDOW_DAYS", 30),
                       days("PINTEREST_ADS_VIEW_WINDOW_DAYS", 1), report_time)


def report_polling(env: Mapping[str, str] = os.environ):
    """PINTEREST_REPORT_POLL_SECONDS: the first wait between polls of an async report (doubling up to 10 s)."""
    from pipelines.ads.reports import ReportPolling

    text = env.get("PINTEREST_REPORT_POLL_SECONDS")
    if not text:
        return ReportPolling()
    first = _decimal_number(text)
    if first is None:
        raise SettingsError(f"PINTEREST_REPORT_POLL_SECONDS must be a number of seconds (got {text!r})")
    if not 0 < first <= 60:
        raise SettingsError(f"PINTEREST_REPORT_POLL_SECONDS must be between 0 and 60 (got {first})")
    return ReportPolling(first_wait_seconds=first)


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


REPULL_DAYS = {"organic": ("PINTEREST_ORGANIC_REPULL_DAYS", 5), "ads": ("PINTEREST_ADS_REPULL_DAYS", None)}
# Days past the attribution window a date is still re-pulled by default: its books may close
# (metrics_ready_state) a little after the window has passed, and it is final only when both hold.
READY_LAG_DAYS = 3


def repull_days(source: str, env: Mapping[str, str] = os.environ) -> int:
    """How many recent days the daily run pulls again for a source, because their numbers may still change:
    PINTEREST_ORGANIC_REPULL_DAYS (5: organic days stay PROCESSING/ESTIMATE a few days) and
    PINTEREST_ADS_REPULL_DAYS (default: the attribution window plus READY_LAG_DAYS, 33 with the default
    30-day windows, at most 89: an ads date is final only once its window has passed and metrics_ready_state
    says ready, so it must still be re-pulled then). A window of up to 89 days costs the same calls as one day."""
    name, default = REPULL_DAYS[source]
    text = (env.get(name) or "").strip()
    if not text:
        if default is not None:
            return default
        return min(ads_attribution(env).settle_days + READY_LAG_DAYS, SYNC_BACK_DAYS)
    if not _whole_number(text) or not 1 <= int(text) <= SYNC_BACK_DAYS:
        raise SettingsError(f"{name} must be a whole number of days from 1 to {SYNC_BACK_DAYS} (the days the sync "
                            f"endpoints serve, one inside the API's 90; got {text!r})")
    return int(text)


def freshness_deadline_hour(env: Mapping[str, str] = os.environ) -> int:
    """PINTEREST_FRESHNESS_DEADLINE_HOUR: the UTC hour by which yesterday's partition should be in the
    warehouse (default 9, three hours after the daily schedule's 06:00)."""
    text = env.get("PINTEREST_FRESHNESS_DEADLINE_HOUR") or "9"
    if not _whole_number(text) or not 0 <= int(text) <= 23:
        raise SettingsError(f"PINTEREST_FRESHNESS_DEADLINE_HOUR must be an hour from 0 to 23 (got {text!r})")
    return int(text)


def schedule_cron(env: Mapping[str, str] = os.environ) -> str:
    """PINTEREST_SCHEDULE_CRON: when the daily schedule runs (a five-field cron expression, UTC; default 06:00)."""
    from dagster._utils.schedules import is_valid_cron_string

    text = env.get("PINTEREST_SCHEDULE_CRON") or "0 6 * * *"
    if not is_valid_cron_string(text):
        raise SettingsError(f"PINTEREST_SCHEDULE_CRON must be a cron expression of five fields such as '0 6 * * *' "
                            f"(got {text!r})")
    return text


MAX_NORMALIZE_WORKERS = 16


def normalize_workers(env: Mapping[str, str] = os.environ) -> int:
    """PINTEREST_NORMALIZE_WORKERS: how many processes normalize raw answers beside the pipeline's own when a
    range's answers are large enough to repay starting them (0: none, every answer in the pipeline's process).
    Default: 2, or 0 on a machine with a single CPU (a worker there only takes turns with the pipeline)."""
    text = (env.get("PINTEREST_NORMALIZE_WORKERS") or "").strip()
    if not text:
        return 2 if len(os.sched_getaffinity(0)) > 1 else 0
    if not _whole_number(text) or int(text) > MAX_NORMALIZE_WORKERS:
        raise SettingsError(f"PINTEREST_NORMALIZE_WORKERS must be a whole number from 0 (normalize in the pipeline's "
                            f"process) to {MAX_NORMALIZE_WORKERS} (got {text!r})")
    return int(text)


# The Dagster instance when DAGSTER_HOME is not set: the project's .dagster/, whose dagster.yaml runs one run at a time.
DEFAULT_DAGSTER_HOME = Path(__file__).resolve().parents[1] / ".dagster"


def check_dagster_home(env: Mapping[str, str] = os.environ) -> None:
    """DAGSTER_HOME, when set, must be an existing directory (Dagster refuses anything else with a traceback)."""
    home = env.get("DAGSTER_HOME")
    if home and not Path(home).is_dir():
        raise SettingsError(f"DAGSTER_HOME={home!r} is not a directory; create it (`mkdir -p {home}`, and copy "
                            f".dagster/dagster.yaml into it for the project's instance settings) or unset DAGSTER_HOME")


def seconds(name: str, default: float, env: Mapping[str, str] = os.environ, maximum: float = 86_400) -> float:
    """A duration setting in seconds (0 allowed, up to `maximum`); unset: `default`."""
    text = env.get(name)
    if not text:
        return default
    value = _decimal_number(text)
    if value is None or not 0 <= value <= maximum:
        raise SettingsError(f"{name} must be a number of seconds between 0 and {maximum:g} (got {text!r})")
    return value



RUN_LOCK_WAIT_VARIABLE = "PINTEREST_RUN_LOCK_WAIT_SECONDS"
WAREHOUSE_LOCK_WAIT_VARIABLE = "PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS"


def run_lock_wait_seconds(env: Mapping[str, str] = os.environ) -> float:
    """PINTEREST_RUN_LOCK_WAIT_SECONDS: how long a run waits for another run of the same PINTEREST_ETL_HOME
    to finish (default 600; 0: give up at once)."""
    return seconds(RUN_LOCK_WAIT_VARIABLE, 600.0, env)


def warehouse_lock_wait_seconds(env: Mapping[str, str] = os.environ) -> float:
    """PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS: how long opening the warehouse waits, retrying with backoff, while
    another process (an analyst's read-write session) holds it (default 60; 0: fail at once)."""
    return seconds(WAREHOUSE_LOCK_WAIT_VARIABLE, 60.0, env)


def accounts_file(env: Mapping[str, str] = os.environ) -> Path | None:
    """PINTEREST_ACCOUNTS_FILE, else PINTEREST_ETL_HOME/accounts.toml if it exists; None: one account
    (pipelines/accounts.py reads the file)."""
    explicit = env.get("PINTEREST_ACCOUNTS_FILE")
    if explicit:
        path = looked_up(Path(explicit), "PINTEREST_ACCOUNTS_FILE")
        if not path.exists():
            raise SettingsError(f"PINTEREST_ACCOUNTS_FILE={explicit}: no such file; create it (see README, "
                                "'Several Pinterest accounts') or unset the variable")
        if not path.is_file():
            raise SettingsError(f"PINTEREST_ACCOUNTS_FILE={explicit} is not a regular file (a directory, a named "
                                "pipe?); point it at the accounts file, or unset the variable")
        return path
    default = etl_home(env) / "accounts.toml"
    if default.is_file():
        return default
    # Something else there (a link to a secrets mount that is not mounted ...) is not "no accounts file": the run
    # would find no credentials and load the simulator's made-up data into the home meant for the real accounts.
    if default.is_symlink() or default.exists():
        raise SettingsError(f"{default} is not a regular file (a broken symbolic link, a directory, a named pipe?): "
                            "PINTEREST_ETL_HOME/accounts.toml is read as the accounts file; make it one (mount the "
                            "volume it links to), or remove it to use the environment's one account")
    return None


def credentials_configured(env: Mapping[str, str]) -> bool:
    """Whether real credentials are configured. A token file set explicitly (PINTEREST_TOKEN_FILE) that does not
    exist, with no tokens in the environment, is an error (SettingsError), not a reason to use the simulator:
    simulated data must never land in a warehouse meant for real data."""
    if tokens_from_env(env) is not None or accounts_file(env) is not None:
        return True
    if TokenFile(token_file_path(env)).exists():
        return True
    if env.get("PINTEREST_TOKEN_FILE"):
        raise SettingsError(f"PINTEREST_TOKEN_FILE={env['PINTEREST_TOKEN_FILE']}: no such file; create it "
                            "with `pinterest-etl auth login`, or unset the variable")
    return False
MAX_ACCOUNT_WORKERS = 32


def account_workers(env: Mapping[str, str] = os.environ) -> int:
    """PINTEREST_ACCOUNT_WORKERS: how many steps a `pinterest-etl run` runs at once, each in a process of its own
    (Dagster's multiprocess executor), so that the accounts' extraction steps run side by side; 1 (the default):
    every step in the command's process, one after another."""
    text = (env.get("PINTEREST_ACCOUNT_WORKERS") or "").strip()
    if not text:
        return 1
    if not _whole_number(text) or not 1 <= int(text) <= MAX_ACCOUNT_WORKERS:
        raise SettingsError(f"PINTEREST_ACCOUNT_WORKERS must be a whole number from 1 (every step in the command's "
                            f"process) to {MAX_ACCOUNT_WORKERS} (got {text!r})")
    return int(text)


def _reads(*variables: str, shown: bool = True):
    """A field of `Settings`, read from these variables (`shown=False`: left out of its repr, for a value that may
    hold a secret)."""
    return dataclasses.field(metadata={"variables": variables}, repr=shown)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting of one environment (the process's, or one account's: `Account.environment`), read and
    checked once by `from_env`. Each field names the variables it is read from (`variables()`)."""

    etl_home: Path = _reads("PINTEREST_ETL_HOME")
    fixed_today: dt.date | None = _reads("PINTEREST_ETL_TODAY")
    start_date: dt.date = _reads("PINTEREST_START_DATE")
    api_base_url: str = _reads("PINTEREST_API_BASE_URL")
    tokens: Tokens | None = _reads("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN")
    app: AppCredentials | None = _reads("PINTEREST_APP_ID", "PINTEREST_APP_SECRET")
    token_file: Path = _reads("PINTEREST_TOKEN_FILE")
    accounts_file: Path | None = _reads("PINTEREST_ACCOUNTS_FILE")
    https_proxy: str | None = _reads("PINTEREST_HTTPS_PROXY", shown=False)  # http://user:password@host:port
    # Not settings of the pipeline: the environment's proxy variables that are set, which the client ignores
    # (and warns about: pipelines/pinterest/sessions.py).
    environment_proxies: tuple[str, ...] = _reads()
    ca_bundle: str | None = _reads("PINTEREST_CA_BUNDLE")
    http_limits: HttpLimits = _reads("PINTEREST_HTTP_TIMEOUT_SECONDS", "PINTEREST_HTTP_CALL_TIMEOUT_SECONDS",
                                     "PINTEREST_HTTP_MAX_BODY_MB", "PINTEREST_MAX_PAGES")
    retry_policy: RetryPolicy = _reads("PINTEREST_RETRY_BACKOFF_SECONDS", "PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS")
    rate_budgets: Mapping[str, int] = _reads("PINTEREST_RATE_BUDGETS")
    ad_account_ids: frozenset[str] | None = _reads("PINTEREST_AD_ACCOUNT_IDS")
    organic_splits: tuple[str, ...] = _reads("PINTEREST_ORGANIC_SPLITS")
    content_types: tuple[str, ...] = _reads(CONTENT_TYPES_VARIABLE)
    ads_columns: tuple[str, ...] = _reads("PINTEREST_ADS_COLUMNS")
    ads_attribution: Attribution = _reads("PINTEREST_ADS_CLICK_WINDOW_DAYS", "PINTEREST_ADS_ENGAGEMENT_WINDOW_DAYS",
                                          "PINTEREST_ADS_VIEW_WINDOW_DAYS", "PINTEREST_ADS_CONVERSION_REPORT_TIME")
    report_polling: ReportPolling = _reads("PINTEREST_REPORT_POLL_SECONDS")
    organic_repull_days: int = _reads(REPULL_DAYS["organic"][0])
    ads_repull_days: int = _reads(REPULL_DAYS["ads"][0])
    freshness_deadline_hour: int = _reads("PINTEREST_FRESHNESS_DEADLINE_HOUR")
    schedule_cron: str = _reads("PINTEREST_SCHEDULE_CRON")
    normalize_workers: int = _reads("PINTEREST_NORMALIZE_WORKERS")
    account_workers: int = _reads("PINTEREST_ACCOUNT_WORKERS")
    run_lock_wait_seconds: float = _reads(RUN_LOCK_WAIT_VARIABLE)
    warehouse_lock_wait_seconds: float = _reads(WAREHOUSE_LOCK_WAIT_VARIABLE)
    # pipelines/data_locations.py DataLocations: where the lake and the raw zone live.
    data_locations: DataLocations = _reads("PINTEREST_LAKE_URI", "PINTEREST_RAW_URI")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Every setting of `env`, or the first refused one: SettingsError, or the client's CredentialsError or
        BaseUrlError, naming the variable and what it accepts. Writes nothing: a first partition not chosen yet
        is computed, not kept (the Dagster definitions keep it). An existing token file is read, to refuse one
        that cannot be used before anything is called."""
        base_url = check_base_url(api_base_url(env))
        token_endpoint_url(base_url)
        token_file = TokenFile(token_file_path(env))
        if token_file.exists():
            token_file.read()
        return cls(
            etl_home=etl_home(env), fixed_today=fixed_today(env), start_date=start_date(env, remember=False),
            api_base_url=base_url, tokens=tokens_from_env(env), app=app_credentials_from_env(env),
            token_file=token_file.path, accounts_file=accounts_file(env), https_proxy=https_proxy(env),
            environment_proxies=proxies_set_in(env), ca_bundle=ca_bundle(env),
            http_limits=http_limits(env), retry_policy=retry_policy(env),
            rate_budgets=types.MappingProxyType(rate_budgets(env)), ad_account_ids=ad_account_allow_list(env),
            organic_splits=organic_splits(env), content_types=content_types(env), ads_columns=ads_columns(env),
            ads_attribution=ads_attribution(env), report_polling=report_polling(env),
            organic_repull_days=repull_days("organic", env), ads_repull_days=repull_days("ads", env),
            freshness_deadline_hour=freshness_deadline_hour(env), schedule_cron=schedule_cron(env),
            normalize_workers=normalize_workers(env), account_workers=account_workers(env),
            run_lock_wait_seconds=run_lock_wait_seconds(env),
            warehouse_lock_wait_seconds=warehouse_lock_wait_seconds(env),
            data_locations=data_locations(etl_home(env), env))

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Every variable the settings are read from, with the field it goes to."""
        return {variable: field.name for field in dataclasses.fields(cls) for variable in field.metadata["variables"]}

    def today(self) -> dt.date:
        """PINTEREST_ETL_TODAY, else the real UTC date (read at each call: a run may pass midnight)."""
        return self.fixed_today or utc_today()


# Every PINTEREST_* variable the pipeline reads, with the field of `Settings` it is read into: building the object
# (`check_all`) checks each. tests/test_settings_checks.py fails when the code reads a variable that is not here.
SETTINGS = Settings.variables()
