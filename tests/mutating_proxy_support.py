"""A mutating HTTP proxy on 127.0.0.1: forwards every request to a simulator and rewrites chosen JSON answers.

The rewrite sees the request path (with its query) and the parsed answer, and returns the answer to send instead
(or None to send it as it came). An optional `refuse` sees the request path first and returns (status, JSON error
body) to answer instead of the simulator (or None to forward it). A value equal to HOSTILE in the returned answer is written as the proxy's raw
JSON text (`1e999`, `NaN`, `true`, `"12"`), which no JSON encoder would produce by itself.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

HOSTILE = "__hostile_value__"
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"}


class MutatingProxy:
    """`with MutatingProxy(server.root_url, rewrite, raw_text) as proxy:`; `proxy.base_url` replaces the
    simulator's. `rewritten` lists the paths of the answers it changed, `requests` the path of every request it
    received."""

    def __init__(self, upstream_root: str, rewrite: Callable[[str, Any], Any | None], raw_text: str = "null",
                 refuse: Callable[[str], tuple[int, dict] | None] | None = None):
        upstream = urllib.parse.urlsplit(upstream_root)
        self.upstream = (upstream.hostname, upstream.port)
        self.rewrite, self.raw_text = rewrite, raw_text
        self.rewritten: list[str] = []
        self.refuse = refuse
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v5"

    def __enter__(self) -> MutatingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()

    def answer(self, path: str, body: bytes) -> bytes:
        """The body to send for an answer of `path`: rewritten when the rewrite says so."""
        try:
            parsed = json.loads(body)
        except ValueError:
            return body
        with self._lock:  # rewrites keep state (which answer was changed): one at a time
            changed = self.rewrite(path, parsed)
            if changed is None:
                return body
            self.rewritten.append(path)
        return json.dumps(changed).replace(json.dumps(HOSTILE), self.raw_text).encode()


def _handler(proxy: MutatingProxy) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _forward(self) -> None:
            with proxy._lock:
                proxy.requests.append(self.path)
            refusal = proxy.refuse(self.path) if proxy.refuse else None
            if refusal is not None:
                status, error = refusal
                body = json.dumps(error).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            length = int(self.headers.get("Content-Length") or 0)
            request_body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "accept-encoding", *_HOP_BY_HOP}}
            connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                connection.request(self.command, self.path, body=request_body, headers=headers)
                response = connection.getresponse()
                body = response.read()
                response_headers = response.getheaders()
                status = response.status
            finally:
                connection.close()
            if status == 200:
                body = proxy.answer(self.path, body)
            self.send_response(status)
            for name, value in response_headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    return Handler
