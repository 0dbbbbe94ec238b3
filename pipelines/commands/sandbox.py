"""`pinterest-etl sandbox`: run the local Pinterest API v5 simulator (or tour it and exit)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
import urllib.request

from pipelines.commands.failure import fail
from pipelines.sandbox import SandboxConfig, SandboxServer
from pipelines.sandbox.auth import APP_ID, APP_SECRET, DEV_ACCESS_TOKEN, DEV_REFRESH_TOKEN
from pipelines.sandbox.config import BULK_PIN_REFUSALS, DEFAULT_RATE_LIMITS_PER_MINUTE, SandboxConfigError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port between 0 and 65535, got {text!r}")
    return int(text)


def _rate_limit(text: str) -> tuple[str, int]:
    category, _, number = text.partition("=")
    if category not in DEFAULT_RATE_LIMITS_PER_MINUTE or not number.isdigit() or int(number) < 1:
        known = ", ".join(sorted(DEFAULT_RATE_LIMITS_PER_MINUTE))
        raise argparse.ArgumentTypeError(f"expected CATEGORY=CALLS_PER_MINUTE with CATEGORY one of {known}, got {text!r}")
    return category, int(number)


def _daily_quota(text: str) -> tuple[str, int]:
    category, _, number = text.partition("=")
    if category not in DEFAULT_RATE_LIMITS_PER_MINUTE or not (number.isascii() and number.isdigit()):
        known = ", ".join(sorted(DEFAULT_RATE_LIMITS_PER_MINUTE))
        raise argparse.ArgumentTypeError(f"expected CATEGORY=CALLS_PER_DAY with CATEGORY one of {known}, got {text!r}")
    return category, int(number)


def add_parser(commands) -> None:
    p = commands.add_parser(
        "sandbox",
        help="run the local Pinterest API v5 simulator",
        description="Run the local Pinterest API v5 simulator: a real HTTP server over a deterministic synthetic "
                    "world (same --seed and --today give byte-identical answers). It accepts the development app "
                    f"(id {APP_ID}, secret {APP_SECRET}) and the development tokens {DEV_ACCESS_TOKEN} (access, "
                    f"every scope) and {DEV_REFRESH_TOKEN} (refresh).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8787, help="port to listen on; 0 picks a free one (default: 8787)")
    p.add_argument("--tour", action="store_true",
                   help="start on a free port, call the main endpoints once over HTTP, print a summary and exit")
    p.add_argument("--log-requests", action="store_true", help="log every request to stderr")
    world = p.add_argument_group("world")
    world.add_argument("--seed", type=int, default=42, help="seed of the synthetic world (default: 42)")
    world.add_argument("--today", type=_date, help="the simulator's UTC date (default: the real UTC date)")
    world.add_argument("--epoch", type=_date,
                       help="date the world is built around: pins and campaigns were created in the two years "
                            "before it (default: --today); keep it fixed and move --today to watch one world age")
    world.add_argument("--pins", type=int, default=500, help="pins of the business account (default: 500)")
    world.add_argument("--boards", type=int, default=12, help="boards (default: 12; every sixth is secret)")
    world.add_argument("--ad-accounts", type=int, default=2, help="ad accounts; the first owned, the others shared (default: 2)")
    world.add_argument("--campaigns", type=int, default=6, help="campaigns per ad account (default: 6)")
    world.add_argument("--ad-groups", type=int, default=2, help="ad groups per campaign (default: 2)")
    world.add_argument("--ads", type=int, default=3, help="ads per ad group (default: 3)")
    world.add_argument("--users", type=int, default=1,
                       help="business accounts, each with a world and development tokens of its own: pina_SANDBOX and "
                            "pinr_SANDBOX for the first, pina_SANDBOX_2 and pinr_SANDBOX_2 for the second, ... (default: 1)")
    limits = p.add_argument_group("limits")
    defaults = ", ".join(f"{k}={v}" for k, v in DEFAULT_RATE_LIMITS_PER_MINUTE.items())
    limits.add_argument("--rate-limit", type=_rate_limit, action="append", default=[], metavar="CATEGORY=N",
                        help=f"calls per minute for a rate-limit category, repeatable (defaults: {defaults})")
    limits.add_argument("--no-rate-limit-headers", action="store_true",
                        help="omit X-RateLimit-* and Retry-After headers (clients must cope without them)")
    limits.add_argument("--no-bulk-pin-analytics", action="store_true",
                        help="answer GET /pins/analytics with 403, like an app without the beta endpoint")
    limits.add_argument("--bulk-pin-refusal", choices=BULK_PIN_REFUSALS,
                        help="like --no-bulk-pin-analytics, refusing with this answer instead: 403 (code 29, the "
                             "default), or one the official description documents for the endpoint, which also means "
                             "'a pin of the batch': 401-7 (401 code 7), 404-50 (404 code 50), 400-1 (400 code 1)")
    limits.add_argument("--api-sandbox", action="store_true",
                        help="behave like api-sandbox.pinterest.com: endpoints disabled there answer 403")
    limits.add_argument("--report-polls", type=int, default=2,
                        help="polls an async report answers IN_PROGRESS before FINISHED (default: 2)")
    limits.add_argument("--conversions-ready-after-days", type=int, default=30, metavar="N",
                        help="age in days at which metrics_ready_state says a date's conversion metrics are ready "
                             "(default: 30, when the default attribution window has passed); non-conversion "
                             "metrics are ready after 1 day")
    limits.add_argument("--daily-quota", type=_daily_quota, action="append", default=[], metavar="CATEGORY=N",
                        help="calls per simulated day for a rate-limit category, repeatable (default: none); past it, "
                             "429 code 8 with X-RateLimit-Reset and Retry-After = the seconds until the next UTC "
                             "midnight, like a trial app's 1,000 calls a day. The count starts again at each UTC "
                             "midnight and at POST /_sandbox/reset; POST /_sandbox/clock?advance_seconds=S moves the "
                             "clock it reads S seconds forward")
    limits.add_argument("--repeated-list-keys", choices=("reject", "last", "all"), default="reject",
                        help="how a parameter sent as repeated keys (pin_ids=1&pin_ids=2) is read: reject (400 code 1 "
                             "asking to comma-join, the default: only comma-joined lists are known to work), last "
                             "(one value per key, the last: a server that silently drops ids) or all (every value)")
    faults = p.add_argument_group("faults")
    faults.add_argument("--latency-ms", type=int, default=0, help="added latency per API call in ms (default: 0)")
    faults.add_argument("--fail-rate", type=_fraction, default=0.0, help="fraction of API calls answered 500/503")
    faults.add_argument("--throttle-rate", type=_fraction, default=0.0, help="fraction of API calls answered 429 code 8")
    faults.add_argument("--throttle-retry-after", type=float, default=1.0, metavar="SECONDS",
                        help="Retry-After of those 429s (default: 1; fractions allowed, for fast tests)")
    faults.add_argument("--transient-rate", type=_fraction, default=0.0,
                        help="fraction answered with a transient 400 (code 12, or 'Retry after 1 seconds')")
    faults.add_argument("--edge-400-rate", type=_fraction, default=0.0,
                        help="fraction of analytics calls with a valid date window answered 400 code 1 'You can only "
                             "get data from the last 90 days.' anyway, as Pinterest does spuriously (a retry succeeds)")
    faults.add_argument("--truncate-rate", type=_fraction, default=0.0,
                        help="fraction of successful API answers whose body is cut off mid-way")
    faults.add_argument("--forbidden-ad-accounts", type=int, default=0, metavar="N",
                        help="the last N listed ad accounts answer 403, like a revoked Business Access role")
    faults.add_argument("--private-pins", type=int, default=0, metavar="N",
                        help="the world's last N pins are private to the caller: GET /pins/{id}/analytics answers "
                             "403 and a bulk call asking for one of them 401 code 7")
    faults.add_argument("--missing-bulk-pins", type=int, default=0, metavar="N",
                        help="the world's last N pins are silently left out of every bulk pin analytics answer "
                             "(asked alone, they answer as usual)")
    faults.add_argument("--failed-reports", type=int, default=0, metavar="N",
                        help="the first N async reports end FAILED")
    faults.add_argument("--bookmark-loop", action="store_true",
                        help="list endpoints answer a bookmarked page with that same bookmark again (a looping API)")
    faults.add_argument("--token-ttl", type=int, metavar="SECONDS",
                        help="access tokens (the development one included) expire this long after issue or start")
    faults.add_argument("--token-max-calls", type=int, metavar="N",
                        help="an access token (the development one included) stops working after N API calls made "
                             "with it: an expiry at a repeatable point of a run")
    faults.add_argument("--revoked-refresh-tokens", action="store_true",
                        help="refuse every refresh token (the development ones included) with 401 code 283 'The "
                             "authorization grant is invalid', like a refresh token that expired or was revoked")
    faults.add_argument("--extra-fields", action="store_true",
                        help="every object in an answer carries a field the official description does not have")
    faults.add_argument("--drop-field", metavar="NAME", help="leave the field NAME out of every object in an answer")
    faults.add_argument("--wide-ids", action="store_true",
                        help="every entity id has 20 digits, beyond what a 64-bit integer holds")
    p.set_defaults(handler=_run_sandbox)


def _sandbox_config(args: argparse.Namespace) -> SandboxConfig:
    rate_limits = dict(DEFAULT_RATE_LIMITS_PER_MINUTE)
    rate_limits.update(dict(args.rate_limit))
    return SandboxConfig(
        seed=args.seed, today=args.today, epoch=args.epoch, pins=args.pins, boards=args.boards, ad_accounts=args.ad_accounts,
        campaigns=args.campaigns, ad_groups=args.ad_groups, ads=args.ads, rate_limits=rate_limits,
        rate_limit_headers=not args.no_rate_limit_headers, bulk_pin_analytics=not (args.no_bulk_pin_analytics or args.bulk_pin_refusal),
        api_sandbox_mode=args.api_sandbox, latency_ms=args.latency_ms, fail_rate=args.fail_rate,
        throttle_rate=args.throttle_rate, throttle_retry_after=args.throttle_retry_after, truncate_rate=args.truncate_rate,
        transient_rate=args.transient_rate, token_max_calls=args.token_max_calls, extra_fields=args.extra_fields,
        drop_field=args.drop_field, wide_ids=args.wide_ids,
        daily_quotas=dict(args.daily_quota), repeated_list_keys=args.repeated_list_keys, edge_400_rate=args.edge_400_rate,
        token_ttl_seconds=args.token_ttl, report_polls=args.report_polls, users=args.users, bookmark_loop=args.bookmark_loop,
        forbidden_ad_accounts=args.forbidden_ad_accounts, failed_reports=args.failed_reports,
        refresh_tokens_revoked=args.revoked_refresh_tokens, conversions_ready_after_days=args.conversions_ready_after_days,
        bulk_pin_refusal=args.bulk_pin_refusal or "403", private_pins=args.private_pins,
        missing_bulk_pins=args.missing_bulk_pins,
    )


def _run_sandbox(args: argparse.Namespace) -> int:
    try:
        config = _sandbox_config(args)
    except SandboxConfigError as error:
        return fail("sandbox", error, 2)
    logging.basicConfig(level=logging.DEBUG if args.log_requests else logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    try:
        server = SandboxServer(config, args.host, 0 if args.tour else args.port)
    except OSError as error:
        print(f"pinterest-etl sandbox: error: cannot listen on {args.host}:{args.port}: {error.strerror}. "
              "Choose another --port (0 picks a free one).", file=sys.stderr)
        return 2
    world = server.state.world
    print(f"Pinterest API v5 simulator ready in {time.perf_counter() - started:.2f}s at {server.base_url}")
    print(f"  world: seed {config.seed}, today {world.today} UTC, {len(world.pin_ids)} pins on {len(world.board_ids)} boards, "
          f"{len(world.ad_account_ids)} ad accounts, {len(world.campaign_ids)} campaigns, "
          f"{len(world.ad_group_ids)} ad groups, {len(world.ad_ids)} ads")
    print(f"  development credentials: app id {APP_ID}, app secret {APP_SECRET}, "
          f"access token {DEV_ACCESS_TOKEN}, refresh token {DEV_REFRESH_TOKEN}")
    if config.users > 1:
        print(f"  {config.users} users: the n-th user's development tokens are pina_SANDBOX_n and pinr_SANDBOX_n (n >= 2)")
    print(f"  control: GET {server.root_url}/_sandbox/stats, POST {server.root_url}/_sandbox/reset, "
          f"POST {server.root_url}/_sandbox/clock?advance_seconds=S")
    if args.tour:
        server.start()
        try:
            _tour(server)
        finally:
            server.stop()
        return 0
    print("  press Ctrl+C to stop", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        server.stop()
    return 0


def _tour(server: SandboxServer) -> None:
    """Call the main endpoints once, as a client would, and print what came back."""
    today = server.state.world.today

    def get(path: str) -> object:
        request = urllib.request.Request(f"{server.base_url}{path}", headers={"Authorization": f"Bearer {DEV_ACCESS_TOKEN}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    start = (today - dt.timedelta(days=29)).isoformat()
    end = today.isoformat()
    account = get("/user_account")
    print(f"\nGET /user_account -> @{account['username']} ({account['account_type']}), {account['pin_count']} pins")
    analytics = get(f"/user_account/analytics?start_date={start}&end_date={end}")
    daily = analytics["all"]["daily_metrics"]
    statuses = {}
    for day in daily:
        statuses[day["data_status"]] = statuses.get(day["data_status"], 0) + 1
    print(f"GET /user_account/analytics ({start}..{end}) -> {len(daily)} days {statuses}, "
          f"{analytics['all']['summary_metrics']['IMPRESSION']} impressions")
    pins = get("/pins?page_size=100")
    ids = ",".join(p["id"] for p in pins["items"])
    bulk = get(f"/pins/analytics?pin_ids={ids}&start_date={start}&end_date={end}&metric_types=IMPRESSION,SAVE")
    print(f"GET /pins?page_size=100 -> {len(pins['items'])} pins; GET /pins/analytics for them -> {len(bulk)} pins x "
          f"{len(daily)} days in one call")
    accounts = get("/ad_accounts")["items"]
    for acc in accounts:
        rows = get(f"/ad_accounts/{acc['id']}/analytics?start_date={start}&end_date={end}&granularity=DAY"
                   "&columns=SPEND_IN_MICRO_DOLLAR,IMPRESSION_1,TOTAL_CONVERSIONS")
        spend = sum(r.get("SPEND_IN_MICRO_DOLLAR", 0) for r in rows) / 1e6
        print(f"GET /ad_accounts/{acc['id']}/analytics -> {len(rows)} days, spend {spend:,.2f} {acc['currency']}")
    with urllib.request.urlopen(f"{server.root_url}/_sandbox/stats", timeout=30) as response:
        stats = json.loads(response.read())
    print(f"GET /_sandbox/stats -> {sum(stats['requests'].values())} API calls: {stats['requests']}")
    print("\nNext steps:\n"
          "  make sandbox                     run the simulator in the foreground on 127.0.0.1:8787\n"
          "  pinterest-etl sandbox --help     scale the world, set its clock, inject faults\n"
          "  make test                        run the test suite (real HTTP against the simulator)")
