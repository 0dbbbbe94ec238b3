"""A scripted HTTP server on 127.0.0.1 that answers what a test tells it, or forwards to a simulator and then
changes the answer: for servers the simulator will not be (an HTML page, a 404 everywhere, a flaky token
endpoint, a server echoing the token). Every request is counted on arrival, answered or not.
"""

from __future__ import annotations

import collections
import dataclasses
import http.client
import http.server
import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"}


@dataclasses.dataclass(frozen=True)
class Request:
    """A request as the server received it; `number`: its rank among all requests (1-based), `of_path`: among
    those of its path."""

    method: str
    path: str  # without the query
    query: str
    headers: Mapping[str, str]
    number: int
    of_path: int


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # bytes as they are, anything else as JSON
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def content(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()

    def json(self) -> Any:
        return json.loads(self.body) if isinstance(self.body, bytes) else self.body


class HostileServer:
    """`with HostileServer(answer, upstream_root) as server:` `answer(request)` returns the Reply to send, or None
    to forward the request to `upstream_root` (a simulator) and send `change(request, reply)`'s Reply (the
    simulator's own when `change` is None). `server.base_url` replaces the simulator's; `server.received` counts
    the requests by path, and `server.total()` all of them."""

    def __init__(self, answer: Callable[[Request], Reply | None], upstream_root: str | None = None,
                 change: Callable[[Request, Reply], Reply] | None = None):
        self.answer, self.change = answer, change
        self.upstream = urllib.parse.urlsplit(upstream_root) if upstream_root else None
        self.received: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v5"

    def total(self) -> int:
        return sum(self.received.values())

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()

    def forward(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> Reply:
        assert self.upstream is not None, "no upstream to forward to"
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in {"host", "accept-encoding", *_HOP_BY_HOP}}
            connection.request(method, target, body=body, headers=sent)
            response = connection.getresponse()
            content = response.read()
            kept = tuple((k, v) for k, v in response.getheaders() if k.lower() not in {*_HOP_BY_HOP, "content-type"})
            return Reply(response.status, content, response.getheader("Content-Type") or "application/json", kept)
        finally:
            connection.close()


def _handler(server: HostileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _serve(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            with server._lock:
                server.received[parts.path] += 1
                request = Request(self.command, parts.path, parts.query, dict(self.headers.items()),
                                  server.total(), server.received[parts.path])
            reply = server.answer(request)
            if reply is None:
                reply = server.forward(self.command, self.path, self.headers, body)
                if server.change is not None:
                    reply = server.change(request, reply)
            content = reply.content()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(content)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _serve

    return Handler
