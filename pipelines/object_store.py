"""An S3 bucket prefix as the home of the lake or the raw zone (`PINTEREST_LAKE_URI`, `PINTEREST_RAW_URI`):
where it is, how to reach it (pyarrow's S3 client: the standard AWS credential chain, `AWS_ENDPOINT_URL` for
S3-compatible stores), and the check that it can be listed and written before a run calls the API.

What is done with it (a local copy kept in step with it) is pipelines/object_mirror.py's job.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import os
import re
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from typing import TypeVar

import pyarrow.fs as pafs

from pipelines.pinterest.errors import UnsafeUrlError, redacted
from pipelines.pinterest.urls import check_url
from pipelines.setting_errors import SettingsError

ENDPOINT_SETTINGS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_SECRET_SETTINGS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
# S3's rules for a bucket's name (3-63 lowercase letters, digits, dots and hyphens, starting and ending with a
# letter or digit).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# The folder of the write check's one small object under the prefix (the object is removed at once; hidden, as
# engines and the mirrors leave out names starting with a dot). pyarrow marks a folder it empties with an empty
# `<folder>/` object: this one's, never the prefix's own (which a user's object of that name may be).
CHECK_FOLDER = ".pinterest-etl-write-check"
# A store that does not answer must not hold a run for long: a connection is given up after CONNECT_SECONDS, a
# request that receives nothing for REQUEST_SECONDS (Linux: the transfer is slower than 1 byte/s that long), and
# each request is tried ATTEMPTS times (the AWS SDK's standard retries with backoff: throttling, 5xx, resets).
CONNECT_SECONDS = 10
REQUEST_SECONDS = 60
ATTEMPTS = 3
# ...but a server that trickles (a few bytes a second keep curl's low-speed limit at bay) would hold it for ever:
# each operation is given up after a deadline. One object's transfer: TRANSFER_SECONDS, plus its size at
# MIN_BYTES_PER_SECOND; the write check: TRANSFER_SECONDS; a listing (a request per 1,000 objects): LIST_SECONDS.
TRANSFER_SECONDS = 120
MIN_BYTES_PER_SECOND = 64 * 1024
LIST_SECONDS = 600
# The longest prefix accepted: S3 keys are at most 1,024 bytes, and the lake's file names take up to ~300 of them.
MAX_PREFIX = 600
_T = TypeVar("_T")


class StoreError(Exception):
    """An object store could not be used: the message names the URI, the setting and what to do."""


class StoreSettingError(StoreError, SettingsError):
    """PINTEREST_LAKE_URI, PINTEREST_RAW_URI or the S3 endpoint is refused as written (checked with the other
    settings, before anything is called or written)."""


@dataclasses.dataclass(frozen=True)
class ObjectStore:
    """`s3://<bucket>/<prefix>` of one setting, and the S3 endpoint it is reached at (None: AWS's own)."""

    setting: str
    bucket: str
    prefix: str  # without a leading or trailing slash; "" for the whole bucket
    endpoint: str | None = None
    region: str | None = None
    ca_file: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def base(self) -> str:
        """The store's root as pyarrow's S3 file system names it (`bucket/prefix`)."""
        return f"{self.bucket}/{self.prefix}".rstrip("/")

    def describe(self) -> str:
        where = f"; endpoint {self.endpoint}" if self.endpoint else ""
        return f"{self.uri} ({self.setting}{where})"

    def cache_name(self) -> str:
        """A folder name for this store's local copy: the same URI at another endpoint is another store."""
        return hashlib.sha256(f"{self.endpoint or 'aws'}\n{self.uri}".encode()).hexdigest()[:16]

    def filesystem(self) -> pafs.S3FileSystem:
        if any(thread.is_alive() for thread in _ABANDONED):
            # pyarrow makes a new S3 client wait for every request in flight to end: it would wait for ever.
            raise StoreError(f"{self.describe()}: this process gave up a request to an object store that has not "
                             "ended yet, and cannot use an object store again before it does; start a new run")
        # allow_delayed_open: a file smaller than the client's part size (10 MB) goes in one PutObject when it is
        # closed; a larger one in a multipart upload, which S3 makes visible only once complete. Either way
        # readers see the old object or the whole new one.
        return pafs.S3FileSystem(
            endpoint_override=self.endpoint, region=self.region, connect_timeout=CONNECT_SECONDS,
            request_timeout=REQUEST_SECONDS, retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=ATTEMPTS),
            allow_delayed_open=True, tls_ca_file_path=self.ca_file)

    def key(self, relative: str) -> str:
        return f"{self.base}/{relative}"

    def error(self, doing: str, error: BaseException) -> StoreError:
        """A StoreError for a failed `doing` (`listing`, `writing <key>`...), with what the error means."""
        return StoreError(f"{self.describe()}: {doing} failed: {_meaning(str(error))} "
                          f"({_shown(str(error))})")

    def within(self, seconds: float, doing: str, call: Callable[[], _T]) -> _T:
        """`call()`'s result, or StoreError when it takes longer than `seconds` (its thread is left behind: the
        S3 client cannot cancel a request; it ends with the process)."""
        outcome: dict[str, object] = {}

        def target() -> None:
            try:
                outcome["value"] = call()
            except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
                outcome["error"] = error

        thread = threading.Thread(target=target, name="store-request", daemon=True)
        thread.start()
        thread.join(seconds)
        if thread.is_alive():
            _abandoned(thread)
            raise StoreError(f"{self.describe()}: {doing} did not finish within {seconds:.0f} s: the endpoint stopped "
                             "answering mid-request or answers too slowly (check AWS_ENDPOINT_URL, the network, a "
                             "proxy). The request may still end in the background: an object is written whole or "
                             "not at all")
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["value"]  # type: ignore[return-value]

    def check(self) -> None:
        """That the prefix can be listed and written (one small object put and removed), else StoreError: a bucket
        that does not exist, refused or read-only credentials, an endpoint that does not answer or is not S3."""
        self.within(TRANSFER_SECONDS, "the check (listing, writing, reading and removing a test object)",
                    self._check)

    def _check(self) -> None:
        fs = self.filesystem()
        try:
            retried(lambda: fs.get_file_info(pafs.FileSelector(self.base, allow_not_found=True, recursive=False)))
        except (OSError, ValueError) as error:
            raise self.error("listing", error) from None
        probe = self.key(f"{CHECK_FOLDER}/{uuid.uuid4().hex}")
        content = f"pinterest-etl write check {uuid.uuid4().hex}\n".encode()

        def read_back() -> bytes:
            with fs.open_input_stream(probe, compression=None) as source:
                return source.read()

        try:
            with fs.open_output_stream(probe, compression=None) as out:
                out.write(content)
            # A server that is not S3 (a web page answering 200 to everything) "accepts" the object too: only
            # reading it back tells.
            info = fs.get_file_info(probe)
            read = retried(read_back)
            fs.delete_file(probe)
        except (OSError, ValueError) as error:
            raise self.error("writing, reading and removing a test object", error) from None
        if info.type != pafs.FileType.File or info.size != len(content) or read != content:
            raise StoreError(f"{self.describe()}: a test object written there did not read back as written: "
                             "the endpoint is not an S3 API (check AWS_ENDPOINT_URL)")


_ABANDONED: list[threading.Thread] = []


def _abandoned(thread: threading.Thread) -> None:
    """Remember a request given up at its deadline: at exit, pyarrow's S3 finalizer waits for every request in
    flight (as does a new S3 client: `filesystem` refuses one), so a process that abandoned one would never end.
    It ends without finalizers instead (exit_now)."""
    if not _ABANDONED:
        atexit.register(exit_now, 1)  # registered after pyarrow's finalizer, so it runs before it
    _ABANDONED.append(thread)


def exit_now(code: int) -> None:
    """End the process with `code` at once when a store request was abandoned and is still in flight (see
    `_abandoned`), after flushing the standard streams and the logs; otherwise return."""
    if any(thread.is_alive() for thread in _ABANDONED):
        import logging

        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def retried(call: Callable[[], _T]) -> _T:
    """`call()`, tried again (ATTEMPTS in all, 0.5 s then 1 s apart) when it fails other than "not found" or
    "refused": pyarrow's client retries a PUT or a HEAD that got a 500 or a 503 (SlowDown), not a GET whose
    answer failed mid-body, which is what a listing and a download are."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return call()
        except (FileNotFoundError, PermissionError):
            raise
        except OSError as error:
            if attempt == ATTEMPTS or not _transient(str(error)):
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _transient(text: str) -> bool:
    """An error worth a retry: not a missing bucket or refused credentials (the same answer every time)."""
    return not any(_says(text, markers) for markers, _ in _MEANINGS[:3])


def _shown(text: str) -> str:
    return redacted(" ".join(text.split()), [*(os.environ.get(name, "") for name in _SECRET_SETTINGS),
                                            *_profile_secrets()])[:400]


def _profile_secrets() -> list[str]:
    """The secret keys and session tokens of the AWS shared credentials and config files (the credential chain's
    profiles), which an endpoint may echo back in an error as much as those of the environment. Read line by line,
    not as an INI file: the AWS SDK accepts files a strict INI parser refuses (a section twice, a key twice)."""
    found = []
    for setting, default in (("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"), ("AWS_CONFIG_FILE", "~/.aws/config")):
        try:
            text = open(os.path.expanduser(os.environ.get(setting) or default), encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        found += [match.group(1) for match in _PROFILE_SECRET.finditer(text)]
    return found


_PROFILE_SECRET = re.compile(r"^[ \t]*(?:aws_secret_access_key|aws_session_token|aws_security_token)[ \t]*[=:][ \t]*"
                             r"(\S(?:.*\S)?)[ \t]*$", re.MULTILINE | re.IGNORECASE)


# What the AWS SDK's error names mean for the user, first match wins.
_MEANINGS = (
    (("NO_SUCH_BUCKET", "NoSuchBucket"), "the bucket does not exist: create it, or correct the bucket's name"),
    (("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "INVALID_ACCESS_KEY_ID",
      "SIGNATURE_DOES_NOT_MATCH", "EXPIRED_TOKEN", "NO_SUCH_ACCESS_KEY", "UNRECOGNIZED_CLIENT", "MISSING_AUTHENTICATION"),
     "the credentials were refused: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, the "
     "instance's role), and AWS_SESSION_TOKEN for temporary ones"),
    (("ACCESS_DENIED", "AccessDenied", "403", "Forbidden"),
     "access was denied: the credentials need s3:ListBucket on the bucket and s3:GetObject, s3:PutObject and "
     "s3:DeleteObject under the prefix"),
    (("NETWORK_CONNECTION", "Could not connect", "Could not resolve", "Timeout was reached", "curlCode"),
     "the endpoint does not answer: check AWS_ENDPOINT_URL (or the network, a proxy)"),
    # A HEAD has no body to name the error: S3 answers 400 to one signed with expired temporary credentials.
    (("HTTP status 400",), "the store refused the request as malformed (HTTP 400); with temporary credentials "
                           "(AWS_SESSION_TOKEN, a profile's or a role's), they may have expired: renew them"),
)


def _says(text: str, markers: tuple[str, ...]) -> bool:
    """Whether the error text holds one of `markers` as a word of its own (a `403` inside a key's hex is not one)."""
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(marker)}(?![A-Za-z0-9_])", text) for marker in markers)


def _meaning(text: str) -> str:
    for markers, meaning in _MEANINGS:
        if _says(text, markers):
            return meaning
    return "the store answered with an error, or not as S3 does (is the endpoint an S3 API?)"


def parse_store(value: str, setting: str, env: Mapping[str, str] = os.environ) -> ObjectStore | None:
    """The object store `value` names (`s3://bucket[/prefix]`), None for a local folder (no `scheme://`), or
    StoreError for a URI this version cannot use."""
    scheme, separator, _ = value.partition("://")
    if not separator or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*\s*:", value) or re.match(r"(?i)\s*s3\s*//", value) \
                or re.search(r"[:\uff1a\ufe55]\s*//", value):
            # `s3:/bucket`, `s3:bucket`, `s3 ://bucket`: a URI mistyped, which as a folder would quietly keep the
            # data on this machine.
            raise StoreSettingError(f"{setting} looks like a mistyped URI ({value[:80]!r}): write s3://<bucket>/<prefix>; "
                                    "a local folder whose name starts with `<name>:` is written ./<name>:...")
        return None
    if scheme.lower() == "file":
        return None
    if scheme.lower() != "s3":
        other = {"gs": "Google Cloud Storage: use its S3-compatible API (HMAC keys as AWS_ACCESS_KEY_ID and "
                       "AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL=https://storage.googleapis.com) with s3://<bucket>",
                 "gcs": "Google Cloud Storage: use its S3-compatible API with s3://<bucket> (see gs://)"}
        hint = other.get(scheme.lower(), "use s3://<bucket>/<prefix> (S3, or an S3-compatible store through "
                                         "AWS_ENDPOINT_URL: MinIO, R2, Ceph...), or a local folder")
        raise StoreSettingError(f"{setting}: {scheme}:// is not supported ({hint})")
    split = urllib.parse.urlsplit(value)
    if split.query or split.fragment or "?" in value or "#" in value or "@" in split.netloc:
        raise StoreSettingError(f"{setting} must be s3://<bucket>/<prefix> without user info, query or fragment "
                         "(credentials come from the AWS credential chain, not the URI; the value is not shown)")
    bucket, prefix = split.netloc, split.path.removeprefix("/").removesuffix("/")
    if not _BUCKET.fullmatch(bucket):
        raise StoreSettingError(f"{setting}: {bucket[:70]!r} is not an S3 bucket name (3-63 lowercase letters, digits, "
                         "dots and hyphens)")
    if len(prefix.encode()) > MAX_PREFIX:
        raise StoreSettingError(f"{setting}: the prefix is {len(prefix.encode())} bytes long; at most {MAX_PREFIX} "
                                "leave room for the lake's file names within S3's 1,024-byte key limit")
    parts = prefix.split("/") if prefix else []
    if any(part in ("", ".", "..") for part in parts) or "\\" in prefix or "%" in prefix \
            or not prefix.isprintable() or not prefix.isascii():
        raise StoreSettingError(f"{setting}: the prefix {prefix[:100]!r} is not a plain key prefix (no empty, . or .. "
                         "parts, backslashes, %-escapes, control or non-ASCII characters)")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    ca_file = env.get("AWS_CA_BUNDLE") or None
    return ObjectStore(setting, bucket, prefix, _endpoint(env), region, ca_file)


def _endpoint(env: Mapping[str, str]) -> str | None:
    """AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (the AWS SDKs' names): https, or http to this machine only,
    since an S3 request carries the session token and the data in the clear over http."""
    for setting in ENDPOINT_SETTINGS:
        url = (env.get(setting) or "").strip()
        if not url:
            continue
        if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
            raise StoreSettingError(f"{setting} must not contain user info (the URL is not shown): credentials come from "
                             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AWS credential chain")
        try:
            checked = check_url(url, setting, base=True)
        except UnsafeUrlError as error:
            raise StoreSettingError(f"{error} (the S3 endpoint of PINTEREST_LAKE_URI and PINTEREST_RAW_URI)") from None
        split = urllib.parse.urlsplit(checked)
        if split.path not in ("", "/"):
            raise StoreSettingError(f"{setting} must be the endpoint's scheme, host and port only (got a path): "
                             "the bucket and prefix go in PINTEREST_LAKE_URI and PINTEREST_RAW_URI")
        # The S3 client reads the scheme case-sensitively (HTTP://... would be taken for a host named HTTP).
        return f"{split.scheme.lower()}://{split.netloc.lower()}"
    return None
