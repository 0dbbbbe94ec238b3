"""A proxy on 127.0.0.1 imitating a real API that treats user-account analytics' `content_type` differently from
the simulator: it ignores the parameter (every content type answered as the default, ALL), or refuses one value
with HTTP 400 code 1. Every other request is forwarded to the simulator as it came."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import urllib.parse

ACCOUNT_ANALYTICS_PATH = "/v5/user_account/analytics"
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive", "host",
               "accept-encoding"}


class ContentTypeProxy:
    """`with ContentTypeProxy(server.root_url, ignore=True) as proxy:` or `refuse="PAID"`; `proxy.base_url`
    replaces the simulator's. `refused` counts the requests it answered 400 itself."""

    def __init__(self, upstream_root: str, *, ignore: bool = False, refuse: str | None = None,
                 refusal_message: str = "Invalid parameters: content_type is not supported for this account."):
        upstream = urllib.parse.urlsplit(upstream_root)
        self.upstream = (upstream.hostname, upstream.port)
        self.ignore, self.refuse, self.refusal_message = ignore, refuse, refusal_message
        self.refused = 0
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v5"

    def __enter__(self) -> ContentTypeProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()

    def request_path(self, path: str) -> str | None:
        """The path to forward (without content_type when ignoring it), or None to refuse the request."""
        parts = urllib.parse.urlsplit(path)
        if parts.path != ACCOUNT_ANALYTICS_PATH:
            return path
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if self.refuse is not None and ("content_type", self.refuse) in query:
            return None
        if self.ignore:
            query = [(name, value) for name, value in query if name != "content_type"]
        return urllib.parse.urlunsplit(("", "", parts.path, urllib.parse.urlencode(query, safe=","), ""))


def _handler(proxy: ContentTypeProxy) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request_body = self.rfile.read(length) if length else None
            path = proxy.request_path(self.path)
            if path is None:
                proxy.refused += 1
                body = json.dumps({"code": 1, "message": proxy.refusal_message}).encode()
                self._reply(400, [("Content-Type", "application/json")], body)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                connection.request(self.command, path, body=request_body, headers=headers)
                response = connection.getresponse()
                self._reply(response.status, response.getheaders(), response.read())
            finally:
                connection.close()

        do_GET = do_POST = _forward

    return Handler
