"""Which URLs the client may send to: https, or plain http to this machine, written so that every parser agrees.

The check and the connection must see the same host. `requests` connects where urllib3's `parse_url` says,
while a check written with `urllib.parse.urlsplit` can see another host in the same text (`http://HOST\\@127.0.0.1/`
is 127.0.0.1 to urlsplit and HOST to urllib3). So a URL is refused when it holds anything the parsers are
known to read differently (backslash, user info, whitespace, control or non-ASCII characters) and when the two
parsers disagree on scheme, host or port anyway.
"""

from __future__ import annotations

import urllib.parse

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from pipelines.pinterest.errors import UnsafeUrlError

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_PORTS = {"http": 80, "https": 443}
BASE_URL_SETTING = "PINTEREST_API_BASE_URL"


class BaseUrlError(UnsafeUrlError):
    """PINTEREST_API_BASE_URL is refused (see `check_url`); the message names the setting and the fix."""


def is_local(url: str) -> bool:
    """True for a URL whose host is this machine (127.0.0.1, ::1, localhost)."""
    return urllib.parse.urlsplit(url).hostname in LOCAL_HOSTS


def shown(url: str) -> str:
    """The URL as an error message may show it: without query and fragment (a pre-signed URL's query is a
    credential), and not at all when it holds user info (which may be a password)."""
    visible = url.split("?", 1)[0].split("#", 1)[0]
    return "(not shown: it holds user info)" if "@" in visible else repr(visible)


def _unsafe_character(url: str) -> str | None:
    """What makes the URL's text ambiguous to parsers, if anything."""
    if "\\" in url:
        return "a backslash (\\)"
    for character in url:
        if not character.isascii():
            return "a non-ASCII character (write a host in its xn-- form, percent-encode a path)"
        if character.isspace() or not character.isprintable():
            return "whitespace or a control character"
    return None


def _authority(scheme: str | None, host: str | None, port: int | None) -> tuple[str, str, int | None]:
    scheme = (scheme or "").lower()
    return scheme, (host or "").lower().strip("[]"), port if port is not None else DEFAULT_PORTS.get(scheme)


def check_url(url: str, source: str, *, base: bool = False, error: type[UnsafeUrlError] = UnsafeUrlError) -> str:
    """`url` if the client may send to it, else `error` naming `source` (a setting, or where the URL came
    from). `base`: a base URL, which may not carry a query or fragment. Returns the URL without a trailing
    slash for a base URL, unchanged otherwise."""
    unsafe = _unsafe_character(url)
    if unsafe:
        raise error(f"{source} must not contain {unsafe} (got {shown(url)})")
    try:
        split = urllib.parse.urlsplit(url)
        split_authority = _authority(split.scheme, split.hostname, split.port)
        parsed = parse_url(url)
    except (ValueError, LocationParseError):
        raise error(f"{source} is not a valid URL (got {shown(url)}); expected https://host[:port]/path") from None
    if split.username is not None or parsed.auth is not None or "@" in split.netloc:
        raise error(f"{source} must not contain user info (user@ or user:password@ before the host; the URL "
                    f"is not shown); credentials belong in PINTEREST_ACCESS_TOKEN and friends")
    scheme, host, _ = split_authority
    if scheme not in DEFAULT_PORTS or not host:
        example = " such as https://api.pinterest.com/v5" if base else ""
        raise error(f"{source} must be an http(s) URL{example} (got {shown(url)})")
    if split_authority != _authority(parsed.scheme, parsed.host, parsed.port):
        raise error(f"{source} is read differently by URL parsers (got {shown(url)}); write it plainly as "
                    f"https://host[:port]/path")
    if base and (split.query or split.fragment or url.endswith(("?", "#"))):
        raise error(f"{source} must not have a query (?...) or fragment (#...) (got {shown(url)})")
    if scheme == "http" and host not in LOCAL_HOSTS:
        raise error(f"{source} must use https for {host}; plain http is accepted only for a local simulator "
                    f"on 127.0.0.1, ::1 or localhost (got {shown(url)})")
    return url.rstrip("/") if base else url


def check_base_url(base_url: str) -> str:
    """PINTEREST_API_BASE_URL, checked (BaseUrlError) and without a trailing slash."""
    return check_url(base_url, BASE_URL_SETTING, base=True, error=BaseUrlError)
