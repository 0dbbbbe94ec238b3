"""Route table types shared by the simulator's handler modules and its HTTP server."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from pipelines.sandbox.auth import AccessToken
from pipelines.sandbox.params import Query


@dataclasses.dataclass
class Request:
    """One parsed HTTP request, with the state of the simulator that serves it."""

    method: str
    path: str
    query: Query
    body: bytes
    headers: Any  # email.message.Message-like: .get(name)
    params: dict[str, str]
    root_url: str  # scheme://host:port of this server, for URLs it hands out
    state: Any  # pipelines.sandbox.server.SandboxState
    token: AccessToken | None = None


@dataclasses.dataclass
class Reply:
    """What a handler answers: a JSON-serializable body, or raw bytes with their content type."""

    body: Any = None
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Route:
    """An endpoint: how it is matched, which operation and rate category it is, what it needs."""

    method: str
    path: str  # with {name} placeholders
    operation_id: str
    handler: Callable[[Request], Reply]
    category: str | None = None  # rate-limit category; None: not rate limited
    scopes: tuple[str, ...] = ()  # all required
    authenticated: bool = True  # Bearer token required
    api_sandbox_enabled: bool = True  # x-sandbox in the official description

    @property
    def pattern(self) -> re.Pattern:
        regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", self.path)
        return re.compile(f"^{regex}/?$")
