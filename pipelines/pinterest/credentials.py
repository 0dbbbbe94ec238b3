"""Credentials: secrets that never print, the token file (0600, replaced atomically), where tokens come from."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

DEFAULT_SCOPES = ("ads:read", "boards:read", "boards:read_secret", "pins:read", "pins:read_secret", "user_accounts:read")
DEFAULT_REDIRECT_URI = "http://localhost:8085/"
log = logging.getLogger("pipelines.pinterest")


class CredentialsError(Exception):
    """Credentials are missing, unreadable or unsafe; the message says how to fix it."""


class Secret:
    """A credential value. Its repr and str never show it; only `reveal()` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def _unfit_character(value: str) -> str | None:
    """What kind of character keeps `value` from being sent in an HTTP header as it is, if any."""
    for character in value:
        if character in "\r\n":
            return "a line break"
        if character in " \t":
            return "a space or tab"
        if not character.isascii():
            return "a non-ASCII character"
        if not character.isprintable():
            return "a control character"
    return None


def stripped_secret(value: str, name: str) -> str:
    """`value` without the whitespace around it (a trailing newline from a file or a paste), with a warning
    naming `name` when there was some."""
    stripped = value.strip()
    if stripped != value:
        log.warning("%s had whitespace around it (a trailing newline?); it was removed", name)
    return stripped


def clean_secret(value: str, name: str) -> str:
    """A token, secret or app id ready for a header: surrounding whitespace (a trailing newline from a file
    or a paste) is removed with a warning naming `name`; any other whitespace, control or non-ASCII
    character is refused (CredentialsError naming `name`). The value itself is never shown."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be text")
    stripped = stripped_secret(value, name)
    unfit = _unfit_character(stripped)
    if unfit:
        raise CredentialsError(f"{name} contains {unfit} inside the value, which cannot be sent in an HTTP "
                               f"header; set it to the token or secret alone, on one line, as Pinterest issued it")
    return stripped


@dataclasses.dataclass(frozen=True)
class Tokens:
    """An access token and what is known about it; `expires_at` and friends are epoch seconds."""

    access_token: Secret
    refresh_token: Secret | None = None
    expires_at: float | None = None
    refresh_token_expires_at: float | None = None
    scope: str | None = None
    issued_at: float | None = None

    def expired(self, now: float) -> bool:
        """True once the token is expired or about to (within a tenth of its lifetime, at most 60 s)."""
        if self.expires_at is None:
            return False
        lifetime = self.expires_at - self.issued_at if self.issued_at is not None else 0.0
        return now >= self.expires_at - min(60.0, max(lifetime, 0.0) / 10)

    @classmethod
    def from_token_response(cls, body: Mapping, previous: Tokens | None = None, now: float | None = None) -> Tokens:
        """Tokens from a POST /oauth/token answer; keeps the previous refresh token if none came back."""
        now = time.time() if now is None else now
        refresh = body.get("refresh_token")
        return cls(
            access_token=Secret(clean_secret(body["access_token"], "the access token of the token endpoint's answer")),
            refresh_token=Secret(clean_secret(refresh, "the refresh token of the token endpoint's answer")) if refresh else (previous.refresh_token if previous else None),
            expires_at=now + _number(body, "expires_in") if body.get("expires_in") is not None else None,
            refresh_token_expires_at=_number(body, "refresh_token_expires_at") if body.get("refresh_token_expires_at")
            else (previous.refresh_token_expires_at if previous else None),
            scope=scope_text(body.get("scope"), "the token endpoint's answer") or (previous.scope if previous else None),
            issued_at=now,
        )


def scope_text(value: object, origin: str) -> str | None:
    """A token's granted scopes as one string, as the token endpoint gives them (comma-separated; some servers
    separate them with spaces, as RFC 6749 writes them): text as it is, a list of texts comma-joined, anything
    else (a number, an object) ignored with a warning naming `origin`, never shown (it may hold anything)."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return ",".join(value) or None
    log.warning("the scope in %s is neither text nor a list of texts (a %s); it is ignored: the scopes the token "
                "has are judged by the API's answers alone", origin, type(value).__name__)
    return None


def _number(body: Mapping, name: str) -> float:
    """A number of the token endpoint's answer; anything else is refused without being shown (float()'s own
    message would quote it, and a hostile server could put a token there)."""
    try:
        return float(body[name])
    except (TypeError, ValueError, OverflowError):
        raise CredentialsError(f"the token endpoint's answer has a {name} that is not a number") from None


@dataclasses.dataclass(frozen=True)
class AppCredentials:
    app_id: str
    app_secret: Secret


# The times a token file keeps, in epoch seconds (or null).
_EPOCH_FIELDS = ("expires_at", "refresh_token_expires_at", "issued_at")


def _epoch(value: object) -> bool:
    """Whether `value` can be a token file's time: null or a number (JSON's true and false are not)."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


class TokenFile:
    """Tokens persisted as JSON with mode 0600, replaced atomically (never half-written)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def exists(self) -> bool:
        try:
            return self.path.exists()
        except OSError as error:  # a name too long for the file system (a token pasted as the path?): not shown
            raise CredentialsError(f"the token file's path cannot be used ({error.strerror or error}); point "
                                   "PINTEREST_TOKEN_FILE at a file") from None

    def read(self) -> Tokens:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            raise CredentialsError(f"no token file at {self.path}; run `pinterest-etl auth login`") from None
        if not stat.S_ISREG(mode):
            raise CredentialsError(f"the token file {self.path} is not a regular file (a directory?); point "
                                   "PINTEREST_TOKEN_FILE at a file, or run `pinterest-etl auth login` to write one")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialsError(
                f"refusing to read {self.path}: it is readable by other users (mode {stat.S_IMODE(mode):o}); "
                f"run `chmod 600 {self.path}`")
        try:
            data = json.loads(self.path.read_text())
            if not data["access_token"] or not all(_epoch(data.get(name)) for name in _EPOCH_FIELDS):
                raise ValueError  # an empty access token, or a time that is not a number: refused below
            return Tokens(
                access_token=Secret(clean_secret(data["access_token"], f"access_token in {self.path}")),
                refresh_token=Secret(clean_secret(data["refresh_token"], f"refresh_token in {self.path}"))
                if data.get("refresh_token") else None,
                expires_at=data.get("expires_at"),
                refresh_token_expires_at=data.get("refresh_token_expires_at"),
                scope=scope_text(data.get("scope"), str(self.path)),
                issued_at=data.get("issued_at"),
            )
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError too: a ValueError
            raise CredentialsError(f"{self.path} is not a token file written by pinterest-etl; "
                                   "delete it and run `pinterest-etl auth login`") from None
        except OSError as error:
            raise CredentialsError(f"cannot read the token file {self.path} ({error.strerror or error}); point "
                                   "PINTEREST_TOKEN_FILE at a readable file") from None

    def write(self, tokens: Tokens) -> None:
        data = {
            "access_token": tokens.access_token.reveal(),
            "refresh_token": tokens.refresh_token.reveal() if tokens.refresh_token else None,
            "expires_at": tokens.expires_at,
            "refresh_token_expires_at": tokens.refresh_token_expires_at,
            "scope": tokens.scope,
            "issued_at": tokens.issued_at,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".token-", dir=self.path.parent)  # created with mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(data, out)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def app_credentials_from_env(env: Mapping[str, str]) -> AppCredentials | None:
    app_id, secret = env.get("PINTEREST_APP_ID"), env.get("PINTEREST_APP_SECRET")
    if not app_id and not secret:
        return None
    if not app_id or not secret:
        raise CredentialsError("set both PINTEREST_APP_ID and PINTEREST_APP_SECRET (only one of them is set)")
    app_id = clean_secret(app_id, "PINTEREST_APP_ID")
    if ":" in app_id:
        raise CredentialsError("PINTEREST_APP_ID contains ':', which cannot be in an app id; copy it again from "
                               "developers.pinterest.com")
    return AppCredentials(app_id, Secret(clean_secret(secret, "PINTEREST_APP_SECRET")))


def tokens_from_env(env: Mapping[str, str]) -> Tokens | None:
    access = env.get("PINTEREST_ACCESS_TOKEN")
    refresh = env.get("PINTEREST_REFRESH_TOKEN")
    if not access and not refresh:
        return None
    for name, value in (("PINTEREST_ACCESS_TOKEN", access), ("PINTEREST_REFRESH_TOKEN", refresh)):
        if value and not value.strip():  # set, but blank: not an empty, expired token to fail at the first call
            raise CredentialsError(f"{name} holds only whitespace; set it to the token, or unset it")
    access = clean_secret(access, "PINTEREST_ACCESS_TOKEN") if access else None
    refresh = clean_secret(refresh, "PINTEREST_REFRESH_TOKEN") if refresh else None
    # Only a refresh token: start with an expired placeholder so the first call refreshes.
    return Tokens(access_token=Secret(access or ""), refresh_token=Secret(refresh) if refresh else None,
                  expires_at=None if access else 0.0)


def load_tokens(env: Mapping[str, str], token_file: TokenFile) -> tuple[Tokens, str]:
    """The tokens to use and where they came from: `choose_tokens` with the environment's."""
    return choose_tokens(tokens_from_env(env), token_file)


def choose_tokens(environment_tokens: Tokens | None, token_file: TokenFile) -> tuple[Tokens, str]:
    """The tokens to use and where they came from. The token file wins when it exists: it holds the
    newest (rotated) tokens; the environment's are the starting point when there is no file."""
    if token_file.exists():
        return token_file.read(), f"token file {token_file.path}"
    if environment_tokens is None:
        raise CredentialsError("no Pinterest credentials: set PINTEREST_ACCESS_TOKEN (and PINTEREST_REFRESH_TOKEN, "
                               "PINTEREST_APP_ID, PINTEREST_APP_SECRET), or run `pinterest-etl auth login`")
    return environment_tokens, "environment"
