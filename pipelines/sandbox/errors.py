"""Pinterest's error shape, `{"code": int, "message": str}`, raised by handlers and rendered by the server."""

from __future__ import annotations

RATE_LIMIT_MESSAGE = (
    "This request exceeded a rate limit. This can happen if the client exceeds one of the published rate "
    "limits or if multiple write operations are applied to an object within a short time window."
)
LAST_90_DAYS_MESSAGE = "You can only get data from the last 90 days."
AUTH_FAILED_MESSAGE = "Authentication failed."
SCOPE_MESSAGE = (
    "Your token does not have sufficient permissions to perform this operation. Please ensure your token "
    "is authorized with the correct set of scopes."
)
NOT_PERMITTED_MESSAGE = "You are not permitted to access that resource."


class ApiError(Exception):
    """An error answer: HTTP status, Pinterest error code and message."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "message": self.message}


def invalid(message: str) -> ApiError:
    """400 code 1: an invalid parameter."""
    return ApiError(400, 1, message)


def auth_failed() -> ApiError:
    return ApiError(401, 2, AUTH_FAILED_MESSAGE)


def missing_scope() -> ApiError:
    return ApiError(401, 3, SCOPE_MESSAGE)


def not_permitted() -> ApiError:
    return ApiError(403, 29, NOT_PERMITTED_MESSAGE)
