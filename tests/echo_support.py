"""A test API on 127.0.0.1 that answers like an attacker: echoing credentials, asking for endless waits,
nesting JSON past the parser's depth; and a listener standing in for a proxy, recording what reaches it.

As in `hostile_support`, the first path segment picks the behaviour and the second is its argument
(URL-quoted): `http://127.0.0.1:PORT/<behaviour>/<argument>/v5`. Behaviours:

- `echo-401`: every API call 401 code 2 quoting the Authorization header it got, so the client refreshes;
  the token endpoint 400 quoting the form and the Authorization header;
- `echo-400`: every API call 400 code 1 quoting the Authorization header (the token endpoint as above);
- `wait`: 429 code 8 with the headers of the argument (`Retry-After=86400`, several joined by `&`:
  `Retry-After=2&X-RateLimit-Reset=67150`; `-` for none, as the official description declares), the token
  endpoint too;
- `later-400`: 400 code 12 whose message asks to retry after the argument's seconds;
- `deep`: a 200 whose body is a JSON array nested 200,000 deep, the token endpoint too;
- `ok`: 200 with a user account.

Every request's Authorization header is recorded in `authorizations`.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.parse

DEEP_JSON = b"[" * 200_000 + b"]" * 200_000
USER_ACCOUNT = {"username": "echo", "account_type": "BUSINESS"}


class EchoServer:
    """Start with `with EchoServer() as server:`; `server.url(behaviour)` is a base URL for a client."""

    def __init__(self) -> None:
        self.authorizations: list[str] = []
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="echo-server", daemon=True)

    def url(self, behaviour: str, argument: str = "-") -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/{behaviour}/{urllib.parse.quote(argument, safe='')}/v5"

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()


FORGED_MESSAGE = ("bad request\n2026-11-30 07:00:00 +0000 - dagster - INFO - FORGED: run succeeded\x1b[2K\x1b[1A"
                  " tokenx_pina_SSSSSSSSSS \u202eevil\u2028")


def _handler(server: EchoServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            return

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self) -> tuple[str, str]:
            server.authorizations.append(self.headers.get("Authorization", ""))
            behaviour, _, rest = self.path.lstrip("/").partition("/")
            return behaviour, urllib.parse.unquote(rest.partition("/")[0])

        def do_GET(self) -> None:  # noqa: N802 - stdlib signature
            self._reply(*self._route())

        def _reply(self, behaviour: str, argument: str) -> None:
            sent = self.headers.get("Authorization", "")
            if behaviour == "echo-401":
                self._answer(401, json.dumps({"code": 2, "message": f"Authentication failed for {sent}"}).encode())
            elif behaviour == "echo-400":
                self._answer(400, json.dumps({"code": 1, "message": f"bad request; you sent {sent}"}).encode())
            elif behaviour == "forge":  # a message forging a log line, repainting the terminal, hiding a token
                self._answer(400, json.dumps({"code": 1, "message": FORGED_MESSAGE}).encode())
            elif behaviour == "wait":
                headers = dict(urllib.parse.parse_qsl(argument)) if argument != "-" else {}
                self._answer(429, b'{"code": 8, "message": "rate limited"}', headers)
            elif behaviour == "later-400":
                self._answer(400, json.dumps({"code": 12, "message": f"Retry after {argument} seconds"}).encode())
            elif behaviour == "deep":
                self._answer(200, DEEP_JSON)
            else:
                self._answer(200, json.dumps(USER_ACCOUNT).encode())

        def do_POST(self) -> None:  # noqa: N802 - stdlib signature
            behaviour, argument = self._route()
            form = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if behaviour in ("wait", "deep"):
                self._reply(behaviour, argument)
                return
            echoed = f"invalid_grant: {urllib.parse.unquote(form)} auth={self.headers.get('Authorization', '')}"
            self._answer(400, json.dumps({"code": 1, "message": echoed}).encode())

    return Handler


class CaptureListener:
    """A plain TCP listener on 127.0.0.1 that records the bytes of every connection and answers 502: set a
    proxy variable to `url` and whatever a client would send through the proxy lands in `received`."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="capture-listener", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    self.received.append(connection.recv(65536))
                    connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def __enter__(self) -> CaptureListener:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()
