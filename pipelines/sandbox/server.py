"""The simulator's HTTP server: routing, authentication, rate limits, injected faults and counters."""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import random
import threading
import time
import traceback
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipelines.sandbox import api_ads, api_control, api_organic, api_reports
from pipelines.sandbox.ads_model import AdsModel
from pipelines.sandbox.answer_faults import reshape_answer
from pipelines.sandbox.auth import TokenStore
from pipelines.sandbox.config import SandboxConfig
from pipelines.sandbox.errors import LAST_90_DAYS_MESSAGE, RATE_LIMIT_MESSAGE, ApiError, invalid, missing_scope
from pipelines.sandbox.json_body import encode_json
from pipelines.sandbox.organic_model import OrganicModel
from pipelines.sandbox.params import read_repeated_keys
from pipelines.sandbox.ratelimit import RateLimiter
from pipelines.sandbox.routing import Reply, Request, Route
from pipelines.sandbox.world import World

log = logging.getLogger("pinterest_sandbox")

ROUTES: tuple[Route, ...] = (*api_control.ROUTES, *api_organic.ROUTES, *api_ads.ROUTES, *api_reports.ROUTES)
_COMPILED = tuple((route.pattern, route) for route in ROUTES)


class UserWorld:
    """One business account's synthetic world and the models that report on it."""

    def __init__(self, config: SandboxConfig, number: int):
        self.world = World(config.for_user(number))
        if number > 1:
            self.world.username = f"{self.world.username}_{number}"
        self.organic = OrganicModel(self.world)
        self.ads = AdsModel(self.world)


class SandboxState:
    """Everything one running simulator knows: its users' worlds, tokens, budgets, reports and counters.
    `world`, `organic` and `ads` are the first user's; a request authenticated as another user sees that
    user's (see `for_user`)."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        self._users = {}
        for number in range(1, config.users + 1):
            user = UserWorld(config, number)
            self._users[user.world.user_id] = user
        first = next(iter(self._users.values()))
        self.world, self.organic, self.ads = first.world, first.organic, first.ads
        self.tokens = TokenStore(list(self._users), config.token_ttl_seconds, max_calls=config.token_max_calls,
                                 refresh_revoked=config.refresh_tokens_revoked)
        self.limiter = RateLimiter(config.rate_limits, daily_quotas=config.daily_quotas)
        self.reports = api_reports.ReportStore()
        # Separate generators for call faults and for truncations: how many calls meet each fault then
        # depends only on the seed and the number of calls, not on the order concurrent calls arrive in.
        self._faults = random.Random(config.seed ^ 0x5EED)
        self._truncations = random.Random(config.seed ^ 0x7E57)
        self._window_refusals = random.Random(config.seed ^ 0xED6E)
        self._lock = threading.Lock()
        self._request_ids = itertools.count(1)
        self.requests: collections.Counter[str] = collections.Counter()
        self.responses: collections.Counter[str] = collections.Counter()

    def for_user(self, user_id: str) -> SandboxState | UserView:
        """The state as the given user sees it (the shared state itself for the first user)."""
        user = self._users[user_id]
        return self if user.world is self.world else UserView(self, user)

    def draw(self) -> float:
        with self._lock:
            return self._faults.random()

    def draw_truncation(self) -> bool:
        with self._lock:
            return self._truncations.random() < self.config.truncate_rate

    def draw_window_refusal(self) -> bool:
        """Whether this successful analytics answer is replaced by the spurious 90-day 400 (--edge-400-rate)."""
        with self._lock:
            return self._window_refusals.random() < self.config.edge_400_rate

    def next_request_id(self) -> str:
        return f"{next(self._request_ids):016x}"

    def stats(self) -> dict:
        with self._lock:
            return {"requests": dict(sorted(self.requests.items())), "responses": dict(sorted(self.responses.items()))}

    def count(self, counter: collections.Counter, key: str) -> None:
        with self._lock:
            counter[key] += 1

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.responses.clear()
        self.limiter.reset()


class UserView:
    """The simulator's state with another user's world: counters, tokens, limits and reports are shared."""

    def __init__(self, shared: SandboxState, user: UserWorld):
        self._shared = shared
        self.world, self.organic, self.ads = user.world, user.organic, user.ads

    def __getattr__(self, name: str):
        return getattr(self._shared, name)


def _match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """The route for a request, its path parameters, and whether the path exists for another method."""
    path_known = False
    for pattern, route in _COMPILED:
        m = pattern.match(path)
        if m:
            if route.method == method:
                return route, m.groupdict(), True
            path_known = True
    return None, {}, path_known


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can pool connections
    # Headers and body go out in separate writes; with Nagle's algorithm a kept-alive connection would
    # wait for the client's delayed ACK (~40 ms) on every answer.
    disable_nagle_algorithm = True
    server_version = "PinterestSandbox/1.0"
    sys_version = ""
    state: SandboxState  # set on the subclass per server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def __getattr__(self, name: str):
        # Every other method (HEAD, OPTIONS, anything) is routed too: it answers 405 code 5 (404 for an
        # unknown path) in the API's error shape instead of the standard library's HTML 501 page.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the standard library answers by itself (malformed request line, header line too long,
        too many headers, ...) in the API's shape `{code, message}` with a request id; then the
        connection is closed, as the standard library does."""
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the request line was too malformed to tell: HTTP/0.9 has no headers
            self.request_version = "HTTP/1.1"
        self._send(Reply({"code": int(code), "message": message or self.responses.get(code, ("Error",))[0]}, int(code)),
                   {}, truncate=False)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        state = self.state
        url = urllib.parse.urlsplit(self.path)
        route, params, path_known = _match(self.command, url.path)
        is_api_call = url.path.startswith("/v5/")  # control endpoints and downloads are not counted
        rate_headers: dict[str, str] = {}
        try:
            body = self._read_body()
            if route is None:
                raise ApiError(405, 5, "Method not allowed") if path_known else ApiError(404, 404, f"Not found: {url.path}")
            if is_api_call:
                state.count(state.requests, route.operation_id)
            host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
            request = Request(self.command, url.path, urllib.parse.parse_qs(url.query, keep_blank_values=True), body,
                              self.headers, params, f"http://{host}", state)
            if route.category is not None:
                self._inject_faults(route)
            if route.authenticated:
                request.token = state.tokens.authenticate(self.headers.get("Authorization"))
                request.state = state.for_user(request.token.user_id)
                if not set(route.scopes) <= request.token.scopes:
                    raise missing_scope()
            if state.config.api_sandbox_mode and not route.api_sandbox_enabled:
                raise ApiError(403, 29, f"{route.operation_id} is not available in the API sandbox.")
            if route.category is not None and request.token is not None:
                decision = state.limiter.acquire(request.token.user_id, route.category)
                if state.config.rate_limit_headers:
                    rate_headers = {"X-RateLimit-Limit": str(decision.limit), "X-RateLimit-Remaining": str(decision.remaining),
                                    "X-RateLimit-Reset": str(decision.reset_seconds)}
                if not decision.allowed:
                    headers = {"Retry-After": str(decision.retry_after)} if state.config.rate_limit_headers else {}
                    raise ApiError(429, 8, RATE_LIMIT_MESSAGE, headers)
            if is_api_call:
                request.query = read_repeated_keys(request.query, state.config.repeated_list_keys)
            reply = route.handler(request)
            if reply.status == 200 and "start_date" in request.query and state.config.edge_400_rate \
                    and state.draw_window_refusal():
                raise invalid(LAST_90_DAYS_MESSAGE)
            if route.category is not None and reply.status == 200 and (state.config.extra_fields or state.config.drop_field):
                reply.body = reshape_answer(reply.body, route.operation_id, extra_fields=state.config.extra_fields,
                                            drop_field=state.config.drop_field)
            if state.config.bookmark_loop and isinstance(reply.body, dict) and "bookmark" in reply.body \
                    and request.query.get("bookmark"):
                reply.body["bookmark"] = request.query["bookmark"][-1]
        except ApiError as error:
            reply = Reply(error.body(), error.status, headers=error.headers)
        except Exception:  # a simulator bug must still answer in the API's error shape
            log.error("simulator error on %s %s\n%s", self.command, url.path, traceback.format_exc())
            reply = Reply({"code": 500, "message": "Internal error in the simulator (see its log)."}, 500)
        if is_api_call:
            state.count(state.responses, str(reply.status))
        self._send(reply, rate_headers, truncate=route is not None and route.category is not None
                   and reply.status == 200 and state.draw_truncation())

    def _read_body(self) -> bytes:
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not (declared.isascii() and declared.isdigit()):
            # Where this body ends is unknown, so nothing after it on this connection can be read either.
            self.close_connection = True
            raise invalid(f"Invalid Content-Length header {declared!r}: expected a number of bytes >= 0.")
        length = int(declared)
        return self.rfile.read(length) if length else b""

    def _inject_faults(self, route: Route) -> None:
        cfg = self.state.config
        if cfg.latency_ms:
            time.sleep(cfg.latency_ms / 1000.0)
        draw = self.state.draw()
        if draw < cfg.fail_rate:
            status = 500 if draw < cfg.fail_rate / 2 else 503
            raise ApiError(status, status, "Internal Server Error" if status == 500 else "Service Unavailable")
        draw -= cfg.fail_rate
        if draw < cfg.throttle_rate:
            headers = {"Retry-After": f"{cfg.throttle_retry_after:g}"} if cfg.rate_limit_headers else {}
            raise ApiError(429, 8, RATE_LIMIT_MESSAGE, headers)
        draw -= cfg.throttle_rate
        if draw < cfg.transient_rate:
            if draw < cfg.transient_rate / 2:
                raise ApiError(400, 12, "Sorry, something went wrong. Please try again later.")
            raise ApiError(400, 1, "Too many requests for this resource at once. Retry after 1 seconds.")

    def _send(self, reply: Reply, rate_headers: dict[str, str], *, truncate: bool) -> None:
        if isinstance(reply.body, (bytes, bytearray)):
            payload = bytes(reply.body)
        elif reply.body is None:
            payload = b""
        else:
            payload = encode_json(reply.body)
        declared = len(payload)
        if truncate:
            # A connection cut mid-body: the header promises more bytes than arrive.
            payload = payload[: max(len(payload) // 2, 1)]
            self.close_connection = True
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(declared))
        self.send_header("x-pinterest-rid", self.state.next_request_id())
        for name, value in {**rate_headers, **reply.headers}.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has headers only (Content-Length: what GET would send)
            self.wfile.write(payload)


class SandboxServer:
    """A running simulator bound to 127.0.0.1 (or the given host); `base_url` ends with /v5."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.config = config or SandboxConfig()
        self.state = SandboxState(self.config)
        handler = type("SandboxHandler", (_Handler,), {"state": self.state})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v5"

    def start(self) -> SandboxServer:
        # A short poll interval makes stop() return in milliseconds instead of half a second.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="pinterest-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextlib.contextmanager
def running_sandbox(config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> Iterator[SandboxServer]:
    """Start a simulator in this process on a free port; yields the server (see `.base_url`)."""
    server = SandboxServer(config, host, port).start()
    try:
        yield server
    finally:
        server.stop()

