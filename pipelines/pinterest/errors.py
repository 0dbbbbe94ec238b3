"""Typed errors of the Pinterest client. They carry context (endpoint, status, code, request id), never secrets."""

from __future__ import annotations


class PinterestError(Exception):
    """Base of every error the client raises."""


class RequestValidationError(PinterestError, ValueError):
    """A request breaks a documented API limit; it was not sent."""


class ResponseShapeError(PinterestError):
    """A successful answer lacks a field the pipeline needs (the endpoint and field are named)."""


class PaginationLoopError(PinterestError):
    """The API handed out a bookmark it had already given: paging would never end."""


class RetryBudgetExhausted(PinterestError):
    """The run's total retry budget is spent; the run stops instead of hammering the API."""


class TransportError(PinterestError):
    """The API could not be reached or its answer was unreadable, after every retry."""

    def __init__(self, message: str, endpoint: str):
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint


class ApiError(PinterestError):
    """An error answer from the API: HTTP status, Pinterest code and message, endpoint, request id."""

    def __init__(self, status: int, code: int | None, message: str, endpoint: str, request_id: str | None):
        self.status = status
        self.code = code
        self.api_message = message
        self.endpoint = endpoint
        self.request_id = request_id
        super().__init__(
            f"{endpoint}: HTTP {status}, Pinterest code {code}: {message} (x-pinterest-rid: {request_id or 'none'})"
        )


class AuthError(ApiError):
    """401: the token is missing, invalid or expired and could not be refreshed, or lacks a scope."""


class ForbiddenError(ApiError):
    """403: authenticated but not allowed (another ad account, a missing Business Access role, a beta endpoint)."""


class NotFoundError(ApiError):
    """404: the entity does not exist."""


class InvalidRequestError(ApiError):
    """400 (other than the transient kinds): the API rejected the parameters."""


class RateLimitedError(ApiError):
    """429 on every attempt, after the retries allowed for one request."""


class ServerError(ApiError):
    """5xx on every attempt, after the retries allowed for one request."""


def error_for_status(status: int) -> type[ApiError]:
    if status == 401:
        return AuthError
    if status == 403:
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    return InvalidRequestError
