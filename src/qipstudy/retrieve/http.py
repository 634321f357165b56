"""HTTP plumbing shared by every provider client.

Providers throttle (429), fail transiently (5xx, timeouts, dropped connections) and change
their schemas; a reproduction must survive the first two and stop loudly on the third. This
module gives one retrying client, a resumable atomic download, CSV/JSON parsing that refuses
truncated or malformed payloads, and redaction so that no secret reaches a log or a file.

Guarantees of `HttpClient` (each tested against local servers in tests/unit/test_retrieve_http.py):

* Retries with exponential backoff on timeouts, connection resets, bodies cut off mid-way
  (requests' ChunkedEncodingError, urllib3's ProtocolError/IncompleteRead) and on 429 (honouring
  Retry-After) and 5xx. A paging client keeps the pages it already has: only the failed page is
  asked again.
* No retry where retrying cannot help: 401/403 (`AuthError`), no network / DNS failure /
  connection refused (`OfflineError`, raised within seconds and naming the dataset and the
  `mode: user` alternative), a refused redirect, a body over the size limit.
* A total deadline per request (`deadline`) and per file download (`download_deadline`): a
  server trickling one byte at a time fails with a `DeadlineError`, it does not hang the run.
* Bounded bodies: a declared `Content-Length` above `max_bytes` (`max_download_bytes` for files)
  is refused before reading; gzip/deflate bodies are inflated by this module with the same bound,
  so a small compressed body cannot inflate into gigabytes.
* Validation before anything is returned, cached or written: the body length must match
  `Content-Length`; an HTML page where data was expected is refused (an `AuthError` naming the
  credential variables when it is a login page, else an `UnexpectedContentError`); a download is
  checked against its sha256 pin and an optional `validate(path)` callback, and a cached file that
  fails these checks is downloaded again.
* Redirects are followed by this module, not by requests: at most `max_redirects`, loops are a
  `RedirectError`, and credentials go only to the configured host: a redirect to another host never
  carries the request body (a 307/308 that would re-post a password is refused) nor an
  Authorization, Cookie or key-like header; HTTP basic auth reaches only the first host and the
  login hosts named in `auth_hosts` (Earthdata URS).
* Every raw `requests`/`urllib3` exception becomes a `RetrieveError` subclass whose message names
  the dataset (if given) and the URL with credentials removed.

Public helpers: `HTTP_OPTIONS_SCHEMA` (the options every client shares) and `options_schema` /
`resolve_options` (a dataset's full option schema and its validated options with defaults),
`get_option`, `HttpClient.probe` (fail fast before handing a URL to a third-party library such as
osmnx), `classify_network_error` (turn any requests exception into a `RetrieveError`),
`sniff_html`, plus the parsing helpers (`parse_csv_text`, `parse_json`, `response_text`, ...).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import email.utils
import errno
import hashlib
import http.client
import io
import json
import logging
import os
import socket
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3

from qipstudy.atomic import atomic_path

from . import secrets
from .errors import (
    AuthError,
    ChecksumError,
    CorruptFileError,
    DeadlineError,
    EmptyResultError,
    MissingCredentialsError,
    OfflineError,
    OptionsError,
    PermanentError,
    RedirectError,
    ResponseTooLargeError,
    RetrieveError,
    SchemaError,
    UnexpectedContentError,
)

__all__ = [
    "RetrieveError", "PermanentError", "AuthError", "MissingCredentialsError", "OfflineError",
    "SchemaError", "EmptyResultError", "CorruptFileError", "UnexpectedContentError", "ChecksumError",
    "OptionsError", "RedirectError", "ResponseTooLargeError", "DeadlineError",
    "HttpClient", "RedactingFilter", "redact_url", "redact_params", "atomic_path", "write_csv_rows",
    "csv_file_shape", "parse_csv_text", "parse_json", "response_text", "read_text_file", "require_columns", "sha256_file",
    "paginate_pages", "ProgressLine", "json_dumps", "LOGGER_NAME", "HTTP_OPTIONS_SCHEMA",
    "options_schema", "resolve_options", "get_option", "classify_network_error", "sniff_html",
]

LOGGER_NAME = "qipstudy.retrieve"
log = logging.getLogger(LOGGER_NAME)

# Query/body parameter names whose values are credentials; dropped from anything recorded.
# Whole names for short words (so that `country_code` survives), substrings for the rest.
SENSITIVE_NAMES = {"key", "code", "auth", "email", "username", "user", "signature", "sig"}
SENSITIVE_PARTS = ("password", "passwd", "token", "secret", "apikey", "api_key", "access_key",
                   "subscription")
# Headers that carry credentials and never follow a redirect to another host.
CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "cookie"}

MIB = 1 << 20
_CHUNK = 1 << 16
# Seconds to wait for a TCP connection (a live server accepts within a second); two connection
# timeouts in a row mean the host is unreachable (a network that drops packets): OfflineError.
CONNECT_TIMEOUT = 20.0
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")
# Signs that an HTML page is a login form (not a generic error page that merely links to one).
_LOGIN_MARKERS = (b'type="password"', b"type='password'", b"type=password", b"keycloak",
                  b"openid-connect", b"urs.earthdata.nasa.gov/oauth")
_LOGIN_PATH_WORDS = ("login", "signin", "sign-in", "/auth/", "/oauth/authorize", "openid-connect")

# The options every download client reads (merged into each dataset's schema by options_schema).
HTTP_OPTIONS_SCHEMA: dict[str, dict[str, Any]] = {
    "retries": {"type": "integer", "minimum": 0, "default": 5,
                "description": "retries after timeouts, dropped connections, truncated bodies, HTTP 429 and 5xx"},
    "backoff": {"type": "number", "minimum": 0, "default": 2.0,
                "description": "first wait between retries in seconds; doubles each retry"},
    "max_backoff": {"type": "number", "minimum": 0, "default": 120.0,
                    "description": "cap of one wait between retries, in seconds"},
    "max_retry_after": {"type": "number", "minimum": 0, "default": 900.0,
                        "description": "cap on a server's Retry-After, in seconds"},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 60.0,
                "description": "socket timeout in seconds (connecting, and each wait for more bytes)"},
    "deadline": {"type": "number", "exclusiveMinimum": 0, "default": 600.0,
                 "description": "total seconds one request may take, body included; a trickling server fails"},
    "download_deadline": {"type": "number", "exclusiveMinimum": 0, "default": 10800.0,
                          "description": "total seconds one file download may take, resumes included"},
    "max_bytes": {"type": "integer", "minimum": 1, "default": 512 * MIB,
                  "description": "largest response body held in memory (after decompression), in bytes"},
    "max_download_bytes": {"type": "integer", "minimum": 1, "default": 32 * 1024 * MIB,
                           "description": "largest file written by a download, in bytes"},
    "max_redirects": {"type": "integer", "minimum": 0, "default": 10,
                      "description": "redirects followed per request before giving up"},
    "progress": {"type": "boolean", "default": True,
                 "description": "show a progress line on stderr for file downloads"},
    "base_url": {"type": ["string", "null"], "default": None,
                 "description": "root of the provider's endpoints (a mirror or a test server); "
                                "null: the provider's public address"},
    "cache_dir": {"type": ["string", "null"], "default": None,
                  "description": "folder for downloaded archives and tiles (resumable); null: <out_dir>/.download"},
    "project_root": {"type": ["string", "null"], "default": None,
                     "description": "folder holding the git-ignored .env file; null: the current directory"},
    "sha256": {"type": ["string", "object", "null"], "default": None,
               "description": "sha256 pin of an immutable download or of the user file (hex), or "
                              "{file name: hex} for multi-file datasets"},
}


def options_schema(properties: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A dataset's options schema: the shared HTTP options plus `properties` (which win)."""
    return {"type": "object", "additionalProperties": False,
            "properties": {**copy.deepcopy(HTTP_OPTIONS_SCHEMA), **copy.deepcopy(dict(properties))}}


def resolve_options(options: Mapping[str, Any] | None, schema: Mapping[str, Any], *,
                    dataset: str) -> dict[str, Any]:
    """Validate `options` against `schema` and fill the defaults of every declared key.

    A `null` value means "use the default". A typo or a wrong type is an `OptionsError` naming
    the key, so that a misspelt option never silently falls back to a default.
    """
    import jsonschema

    given = {k: v for k, v in dict(options or {}).items() if v is not None}
    try:
        jsonschema.validate(given, schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        allowed = ", ".join(sorted(schema.get("properties", {})))
        place = f"datasets.{dataset}.options" + (f".{where}" if where else "")
        raise OptionsError(f"{place}: {exc.message} (allowed options: {allowed})") from None
    resolved = {key: copy.deepcopy(spec.get("default")) for key, spec in schema["properties"].items()}
    resolved.update(given)
    return resolved


def get_option(options: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """`options[key]`, or `default` when the key is absent or null."""
    value = options.get(key)
    return default if value is None else value


class RedactingFilter(logging.Filter):
    """Scrub known secrets from every record passing the retrieve logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = secrets.redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


if not any(isinstance(f, RedactingFilter) for f in log.filters):
    log.addFilter(RedactingFilter())


def _is_sensitive(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return lowered in SENSITIVE_NAMES or any(part in lowered for part in SENSITIVE_PARTS)


def _is_credential_header(name: str) -> bool:
    return name.lower() in CREDENTIAL_HEADERS or _is_sensitive(name)


def redact_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Copy of `params` without credential-like keys and with known secrets scrubbed."""
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if _is_sensitive(str(key)):
            continue
        out[str(key)] = secrets.redact(str(value)) if isinstance(value, str) else value
    return out


def redact_url(url: str) -> str:
    """URL without userinfo and credential-like query parameters, for logs and provenance."""
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError:
        return secrets.redact(str(url).split("?", 1)[0])
    netloc = parts.hostname or ""
    if port:
        netloc = f"{netloc}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _is_sensitive(k)])
    return secrets.redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_csv_rows(dest: Path, header: list[str], rows: Iterable[Iterable[Any]]) -> int:
    """Write a UTF-8 CSV atomically; return the number of data rows."""
    count = 0
    with atomic_path(dest) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                writer.writerow(["" if v is None else v for v in row])
                count += 1
    return count


def _strict_rows(reader, header: list[str], source: str) -> Iterator[list[str]]:
    """The data rows of a CSV reader positioned after the header, blank lines skipped; a row whose
    field count is not the header's, or a csv error (an unterminated quote), is a CorruptFileError."""
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise CorruptFileError(
                    f"truncated or malformed CSV from {source}: line {reader.line_num} has "
                    f"{len(row)} fields but the header has {len(header)}")
            yield row
    except csv.Error as exc:
        raise CorruptFileError(f"truncated or malformed CSV from {source}: {exc}") from exc


def parse_csv_text(text: str, *, source: str, delimiter: str = ",") -> tuple[list[str], list[list[str]]]:
    """Parse CSV text strictly: every row must have as many fields as the header.

    A short last row or an unterminated quote means the payload was cut off in transit; such
    data must not be written as if complete.
    """
    text = text.lstrip("\ufeff")
    if not text.strip():
        return [], []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise CorruptFileError(f"truncated or malformed CSV from {source}: {exc}") from exc
    return [h.strip() for h in header], list(_strict_rows(reader, header, source))


def csv_file_shape(path: Path, *, source: str) -> tuple[list[str], int]:
    """(header, number of data rows) of a CSV file, checked as strictly as :func:`parse_csv_text`
    checks text and decoded as :func:`read_text_file` decodes it, but streamed: a continent's
    500 MB event file is checked in seconds without holding its rows."""
    for encoding, errors in (("utf-8-sig", "strict"), ("cp1252", "replace")):
        try:
            with open(path, encoding=encoding, errors=errors, newline="") as fh:
                head = fh.read(1 << 16)
                rest = head.lstrip("\ufeff")
                if not rest.strip() and len(head) < 1 << 16:
                    return [], 0  # an empty (or blank) file, as parse_csv_text has it
                fh.seek(0)
                if rest is not head:  # skip every leading byte-order mark, as parse_csv_text does
                    fh.read(len(head) - len(rest))
                reader = csv.reader(fh, strict=True)
                try:
                    header = next(reader)
                except csv.Error as exc:
                    raise CorruptFileError(f"truncated or malformed CSV from {source}: {exc}") from exc
                return [h.strip() for h in header], sum(1 for _ in _strict_rows(reader, header, source))
        except UnicodeDecodeError:
            log.warning("%s is not UTF-8; reading it as cp1252 (Excel export)", Path(path).name)
    raise AssertionError("cp1252 with errors='replace' decodes every file")


def response_text(response: requests.Response) -> str:
    """Body as text: the declared charset, else UTF-8 (requests would guess ISO-8859-1 for
    text/csv without charset and garble the non-breaking spaces of the QIP file)."""
    declared = "charset=" in response.headers.get("Content-Type", "").lower()
    encoding = (response.encoding if declared else None) or "utf-8-sig"
    try:
        return response.content.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        log.warning("%s: body is not %s; decoding as cp1252", redact_url(response.url), encoding)
        return response.content.decode("cp1252", errors="replace")


def read_text_file(path: Path) -> str:
    """A user's CSV as text: UTF-8 (with or without BOM), else cp1252 as Excel saves it."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.warning("%s is not UTF-8; reading it as cp1252 (Excel export)", Path(path).name)
        return data.decode("cp1252", errors="replace")


def parse_json(response: requests.Response, *, source: str) -> Any:
    """Decode a JSON body or raise a CorruptFileError quoting the start of the payload."""
    try:
        return json.loads(response_text(response))
    except ValueError as exc:
        head = secrets.redact(response.content[:120].decode("utf-8", errors="replace"))
        raise CorruptFileError(f"malformed JSON from {source}: {exc} (payload starts {head!r})") from exc


def require_columns(columns: Iterable[str], required: Iterable[str], *, source: str) -> None:
    """Raise a SchemaError naming every required column that is absent."""
    present = set(columns)
    missing = [c for c in required if c not in present]
    if missing:
        raise SchemaError(
            f"{source}: missing required column(s) {', '.join(missing)} "
            f"(the provider's schema may have changed; present: {', '.join(sorted(present))})")


def paginate_pages(fetch: Callable[[int], list], *, page_size: int, first: int = 1,
                   max_pages: int = 10_000) -> Iterator[list]:
    """Yield pages from `fetch(page_number)` until a short or empty page ends the listing."""
    page = first
    for _ in range(max_pages):
        rows = fetch(page)
        if rows:
            yield rows
        if len(rows) < page_size:
            return
        page += 1
    raise RetrieveError(f"paging did not end after {max_pages} pages; raise `max_pages` if intended")


class ProgressLine:
    """A single self-overwriting progress line on stderr (no dependency, throttled)."""

    def __init__(self, label: str, total: int | None, *, enabled: bool = True, start: int = 0):
        self.label, self.total, self.enabled = label, total, enabled
        self.done = start
        self._last = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last > 0.5:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        mb = self.done / 1e6
        if self.total:
            text = f"{self.label}: {mb:.1f}/{self.total / 1e6:.1f} MB ({100 * self.done / self.total:.0f}%)"
        else:
            text = f"{self.label}: {mb:.1f} MB"
        sys.stderr.write("\r" + text)
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def sniff_html(head: bytes, content_type: str = "") -> bool:
    """True if a body (its first bytes) is an HTML page rather than data."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return True
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(b"<?xml"):
        start = start[start.find(b">") + 1:].lstrip()
    return start.startswith(_HTML_STARTS)


def _offline_reason(exc: BaseException) -> str | None:
    """Why the host cannot be reached at all (DNS, refused, no route), or None if it could."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        err = stack.pop()
        if not isinstance(err, BaseException) or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, socket.gaierror) or type(err).__name__ == "NameResolutionError":
            return "its host name could not be resolved (DNS failure; is the machine offline?)"
        if isinstance(err, ConnectionRefusedError):
            return "the connection was refused"
        if isinstance(err, OSError) and err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN):
            return "the network is unreachable"
        stack.extend([err.__cause__, err.__context__, getattr(err, "reason", None)])
        stack.extend(a for a in getattr(err, "args", ()) if isinstance(a, BaseException))
    return None


def _describe(exc: BaseException) -> str:
    """A short, redacted description of a low-level exception for an error message."""
    text = secrets.redact(str(exc))
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Truncated(Exception):
    """The body ended before Content-Length bytes arrived (internal; retried)."""


# Low-level failures while a request is in flight that a retry may fix.
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              urllib3.exceptions.HTTPError, http.client.HTTPException, _Truncated, ConnectionError,
              TimeoutError)


def classify_network_error(exc: BaseException, url: str, *, dataset: str | None = None,
                           user_file_hint: str | None = None) -> RetrieveError:
    """The RetrieveError for a raw network exception raised by requests (or a library using it).

    For clients that cannot route their traffic through `HttpClient` (osmnx): offline failures
    become an `OfflineError` with the `mode: user` hint, everything else a RetrieveError naming the URL.
    """
    reason = _offline_reason(exc)
    if reason:
        return OfflineError(_offline_message(url, reason, dataset, user_file_hint))
    who = f"{dataset}: " if dataset else ""
    if isinstance(exc, requests.exceptions.SSLError):
        return RetrieveError(f"{who}TLS/SSL failure talking to {redact_url(url)} ({_describe(exc)}); check "
                             "the system certificates or a proxy that intercepts HTTPS")
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema, urllib3.exceptions.LocationParseError)):
        return OptionsError(f"{who}invalid URL {redact_url(url)!r} ({_describe(exc)}); check the dataset's "
                            "`base_url`/`url` options")
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return RedirectError(f"{who}too many redirects from {redact_url(url)}")
    return RetrieveError(f"{who}request to {redact_url(url)} failed ({_describe(exc)}); the service may "
                         "be down, retry later")


def _offline_message(url: str, reason: str, dataset: str | None, hint: str | None) -> str:
    host = _host(url) or redact_url(url)
    if dataset:
        what = f" to {hint}" if hint else " to the file you hold"
        return (f"{dataset}: cannot reach {host}: {reason}. Check the network (or the proxy settings); "
                f"to run without it, use a file you hold: set `datasets.{dataset}.mode: user` and "
                f"`datasets.{dataset}.user_file`{what} (see docs/data_sources.md)")
    return (f"cannot reach {host}: {reason}. Check the network (or the proxy settings), or use "
            "`mode: user` with a `user_file` for this dataset (see docs/data_sources.md)")


class _Inflater:
    """gzip/deflate decoding with a hard bound on the inflated size (no decompression bombs)."""

    def __init__(self, encoding: str, limit: int, where: str):
        self.limit, self.where, self.out = limit, where, 0
        self.codings = [c.strip().lower() for c in encoding.split(",") if c.strip().lower() not in ("", "identity")]
        for coding in self.codings:
            if coding not in ("gzip", "x-gzip", "deflate"):
                raise UnexpectedContentError(f"{where}: unsupported Content-Encoding {coding!r} "
                                             "(this client asks only for gzip or deflate)")
        self.stages: list[Any] = [None] * len(self.codings)
        self.pending = [b""] * len(self.codings)

    def _stage(self, i: int, data: bytes) -> Any:
        """The decompressor of stage i; deflate is zlib-wrapped or (some servers) raw."""
        if self.stages[i] is None:
            if self.codings[i] == "deflate":
                head = self.pending[i] + data
                zlib_header = len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] * 256 + head[1]) % 31 == 0
                self.stages[i] = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
            else:
                self.stages[i] = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return self.stages[i]

    def _too_large(self) -> None:
        raise ResponseTooLargeError(
            f"{self.where}: the compressed body inflates beyond the limit of {self.limit} bytes "
            "(a decompression bomb, or a larger payload than expected); raise the `max_bytes` (for "
            "files `max_download_bytes`) option if the payload is legitimate")

    def feed(self, data: bytes, final: bool = False) -> bytes:
        """Inflate `data` through every coding (outermost last in the header, first undone)."""
        for i in reversed(range(len(self.codings))):
            undecided = self.stages[i] is None and self.codings[i] == "deflate"
            if undecided and len(self.pending[i] + data) < 2 and not final:
                self.pending[i] += data  # too few bytes to tell zlib from raw deflate
                return b""
            stage = self._stage(i, data)
            data, self.pending[i] = self.pending[i] + data, b""
            try:
                out = stage.decompress(data, self.limit - self.out + 1)
                if stage.unconsumed_tail:
                    self._too_large()
                if final:
                    out += stage.flush()
            except zlib.error as exc:
                raise CorruptFileError(f"{self.where}: corrupt compressed body ({exc})") from None
            data = out
        if self.codings:
            self.out += len(data)
            if self.out > self.limit:
                self._too_large()
        return data


def _socket_of(resp: requests.Response) -> socket.socket | None:
    conn = getattr(resp.raw, "connection", None) or getattr(resp.raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


class _NoAuth(requests.auth.AuthBase):
    """Explicitly no authentication (stops a session's `auth` and ~/.netrc from applying)."""

    def __call__(self, r):
        return r


_NO_AUTH = _NoAuth()


class _KeepAuthSession(requests.Session):
    """Session that never reads ~/.netrc (credentials come only from the environment or `.env`).

    Proxy environment variables are still honoured, which clusters often need. `auth_hosts` are
    the login hosts (Earthdata URS) that may receive the session's basic auth after a redirect.
    """

    def __init__(self, auth_hosts: Iterable[str] = ()):
        super().__init__()
        self.auth_hosts = set(auth_hosts)

    @contextlib.contextmanager
    def _no_netrc(self):
        trust, self.trust_env = self.trust_env, False
        try:
            yield
        finally:
            self.trust_env = trust

    def prepare_request(self, request):
        with self._no_netrc():
            return super().prepare_request(request)

    def rebuild_auth(self, prepared_request, response):
        host = urlsplit(prepared_request.url).hostname
        if host in self.auth_hosts and self.auth is not None:
            prepared_request.prepare_auth(self.auth)
            return
        with self._no_netrc():
            super().rebuild_auth(prepared_request, response)


class HttpClient:
    """Retrying, bounded, credential-safe HTTP client (the guarantees are in the module docstring).

    401/403 raise an AuthError naming the environment variables that hold the credentials,
    because that is the only thing a user can fix. `dataset` and `user_file_hint` make the
    offline error name the dataset and the user file that would replace the download.
    """

    def __init__(self, *, retries: int = 5, backoff: float = 2.0, max_backoff: float = 120.0,
                 timeout: float = 60.0, max_retry_after: float = 900.0, progress: bool = True,
                 auth_env: Iterable[str] = (), sleep: Callable[[float], None] = time.sleep,
                 auth_hosts: Iterable[str] = (), user_agent: str = "qipstudy-retrieve/0.1",
                 deadline: float = 600.0, download_deadline: float = 10800.0,
                 max_bytes: int = 512 * MIB, max_download_bytes: int = 32 * 1024 * MIB,
                 max_redirects: int = 10, dataset: str | None = None, user_file_hint: str | None = None):
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.timeout = float(timeout)
        self.max_retry_after = float(max_retry_after)
        self.progress = bool(progress)
        self.auth_env = tuple(auth_env)
        self.sleep = sleep
        self.deadline = float(deadline)
        self.download_deadline = float(download_deadline)
        self.max_bytes = int(max_bytes)
        self.max_download_bytes = int(max_download_bytes)
        self.max_redirects = int(max_redirects)
        self.dataset = dataset
        self.user_file_hint = user_file_hint
        self.session = _KeepAuthSession(auth_hosts)
        self.session.headers["User-Agent"] = user_agent
        self.session.headers["Accept-Encoding"] = "gzip, deflate"

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, auth_env: Iterable[str] = (),
                     auth_hosts: Iterable[str] = (), dataset: str | None = None,
                     user_file_hint: str | None = None) -> HttpClient:
        """Build a client from the retrieve options (the keys of HTTP_OPTIONS_SCHEMA)."""
        defaults = {k: v["default"] for k, v in HTTP_OPTIONS_SCHEMA.items()}

        def pick(key):
            return get_option(options, key, defaults[key])

        return cls(retries=pick("retries"), backoff=pick("backoff"), max_backoff=pick("max_backoff"),
                   timeout=pick("timeout"), max_retry_after=pick("max_retry_after"),
                   progress=pick("progress"), auth_env=auth_env, auth_hosts=auth_hosts,
                   deadline=pick("deadline"), download_deadline=pick("download_deadline"),
                   max_bytes=pick("max_bytes"), max_download_bytes=pick("max_download_bytes"),
                   max_redirects=pick("max_redirects"), dataset=dataset, user_file_hint=user_file_hint)

    # ------------------------------------------------------------------ messages

    def _where(self, url: str) -> str:
        return f"{self.dataset}: {redact_url(url)}" if self.dataset else redact_url(url)

    def _credential_hint(self) -> str:
        if self.auth_env:
            return ("check the credentials in the environment variable(s) "
                    f"{', '.join(self.auth_env)} (or the git-ignored .env file)")
        return "the resource needs access rights that this client was not given"

    def _auth_message(self, status: int, url: str) -> str:
        kind = "unauthorized" if status == 401 else "forbidden"
        who = f"{self.dataset}: " if self.dataset else ""
        return f"{who}HTTP {status} ({kind}) from {redact_url(url)}: {self._credential_hint()}"

    def _delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * (2 ** attempt))

    def _html_error(self, url: str, final_url: str, head: bytes) -> RetrieveError:
        """The error for an HTML page where data was expected: a login page or another page."""
        lowered = head.lower()
        moved = _host(final_url) != _host(url)
        login = moved or any(m in lowered for m in _LOGIN_MARKERS) or any(
            w in urlsplit(final_url).path.lower() for w in _LOGIN_PATH_WORDS)
        if login:
            via = f" (redirected to {redact_url(final_url)})" if moved else ""
            return AuthError(f"{self._where(url)}: the server answered with a login page{via} instead of "
                             f"the data, so the request was not authenticated: {self._credential_hint()}. "
                             "Nothing was saved.")
        start = secrets.redact(head[:80].decode("utf-8", errors="replace"))
        return UnexpectedContentError(
            f"{self._where(url)}: the server answered with an HTML page instead of the data (an error "
            f"or maintenance page?), starting {start!r}. Nothing was saved; retry later or check the URL.")

    # ------------------------------------------------------------------ transport

    def _timeouts(self, deadline_at: float, url: str) -> tuple[float, float]:
        remaining = deadline_at - time.monotonic()
        if remaining <= 0:
            raise DeadlineError(f"{self._where(url)}: no answer within the deadline; raise the "
                                "`deadline` option if the service is just slow")
        return (min(self.timeout, CONNECT_TIMEOUT, remaining), min(self.timeout, remaining))

    def _send(self, method: str, url: str, *, params: Mapping[str, Any] | None, data: Any,
              headers: Mapping[str, str] | None, deadline_at: float) -> requests.Response:
        """One request with redirects followed here (credentials never leave the first host)."""
        origin = _host(url)
        hdrs = dict(headers or {})
        body = data
        current, query = url, params
        visited: list[str] = []
        for _ in range(self.max_redirects + 1):
            host = _host(current)
            trusted = host == origin or host in self.session.auth_hosts
            auth = self.session.auth if (self.session.auth and trusted) else _NO_AUTH
            resp = self.session.request(method, current, params=query, data=body, headers=hdrs,
                                        stream=True, timeout=self._timeouts(deadline_at, url),
                                        allow_redirects=False, auth=auth)
            resp.redirect_chain = visited  # type: ignore[attr-defined]
            if not resp.is_redirect:
                return resp
            target = urljoin(resp.url, self.session.get_redirect_target(resp) or "")
            status = resp.status_code
            resp.close()
            visited.append(resp.url)
            # A login flow may come back to the first URL once (Earthdata: data -> URS -> data);
            # a third visit of the same URL is a loop.
            if visited.count(target) >= 2:
                raise RedirectError(f"{self._where(url)}: redirect loop ({' -> '.join(redact_url(u) for u in visited)}"
                                    f" -> {redact_url(target)}); the server is misconfigured, retry later")
            next_host = _host(target)
            leaving = next_host != origin and next_host not in self.session.auth_hosts
            downgrade = urlsplit(resp.url).scheme == "https" and urlsplit(target).scheme == "http"
            if status == 303 and method != "HEAD" or status in (301, 302) and method == "POST":
                method, body = "GET", None  # the method change browsers make (and requests)
                hdrs = {k: v for k, v in hdrs.items() if k.lower() not in ("content-type", "content-length")}
            if (leaving or downgrade) and body is not None:
                raise RedirectError(
                    f"{self._where(url)}: the server answered HTTP {status} asking to send the request body "
                    f"(which may hold credentials) to {redact_url(target)}; refused. If the service has "
                    "really moved, set the dataset's `base_url` (or token URL) option to the new address")
            if leaving or downgrade:
                dropped = [k for k in hdrs if _is_credential_header(k)]
                hdrs = {k: v for k, v in hdrs.items() if k not in dropped}
                if dropped:
                    log.info("%s: redirect to %s; not forwarding %s", redact_url(url), next_host,
                             ", ".join(dropped))
            current, query = target, None
        raise RedirectError(f"{self._where(url)}: more than {self.max_redirects} redirects; raise the "
                            "`max_redirects` option if this is intended")

    def _check_declared_size(self, resp: requests.Response, limit: int, url: str) -> int | None:
        length = resp.headers.get("Content-Length")
        if length is None:
            return None
        length = length.strip()
        if not length.isdigit():
            raise CorruptFileError(f"{self._where(url)}: invalid Content-Length header {length[:40]!r}")
        size = int(length)
        if size > limit:
            resp.close()
            raise ResponseTooLargeError(
                f"{self._where(url)}: the server announces {size} bytes, more than the limit of {limit} "
                "bytes; raise the `max_bytes` (or `max_download_bytes`) option if this is intended")
        return size

    def _iter_body(self, resp: requests.Response, *, url: str, deadline_at: float,
                   limit: int) -> Iterator[bytes]:
        """Yield the decoded body; enforce the deadline, Content-Length and the size limit."""
        expected = self._check_declared_size(resp, limit, url)
        inflater = _Inflater(resp.headers.get("Content-Encoding", ""), limit, self._where(url))
        sock = _socket_of(resp)
        got = produced = 0
        while True:
            remaining = deadline_at - time.monotonic()
            if remaining <= 0:
                raise DeadlineError(
                    f"{self._where(url)}: the body did not arrive within the deadline ({got} bytes so far; "
                    "the server may be trickling data); raise the `deadline` (or `download_deadline`) "
                    "option if the service is just slow")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.settimeout(min(self.timeout, remaining))
            try:
                chunk = resp.raw.read1(_CHUNK, decode_content=False)
            except urllib3.exceptions.ReadTimeoutError:
                if deadline_at - time.monotonic() <= 0.05:
                    continue  # reported as a deadline at the top of the loop
                raise
            if not chunk:
                break
            got += len(chunk)
            data = inflater.feed(chunk)
            produced += len(data)
            if produced > limit:
                raise ResponseTooLargeError(f"{self._where(url)}: the body exceeds the limit of {limit} bytes; "
                                            "raise the `max_bytes` (for files `max_download_bytes`) option "
                                            "if this is intended")
            if data:
                yield data
        if expected is not None and got < expected:
            raise _Truncated(f"body ended after {got} of {expected} bytes")
        tail = inflater.feed(b"", final=True)
        if tail:
            yield tail

    def _read_body(self, resp: requests.Response, *, url: str, deadline_at: float) -> bytes:
        buf = io.BytesIO()
        for data in self._iter_body(resp, url=url, deadline_at=deadline_at, limit=self.max_bytes):
            buf.write(data)
        return buf.getvalue()

    def _fail(self, exc: BaseException, url: str) -> RetrieveError:
        return classify_network_error(exc, url, dataset=self.dataset, user_file_hint=self.user_file_hint)

    def probe(self, url: str, *, timeout: float = 10.0) -> None:
        """Raise OfflineError at once if `url`'s server cannot be reached; any HTTP answer will do.

        For libraries that do their own HTTP (osmnx waits a minute per failing request).
        """
        try:
            resp = self.session.request("GET", url, stream=True, timeout=(timeout, timeout),
                                        allow_redirects=False, auth=_NO_AUTH)
            resp.close()
        except requests.ConnectTimeout:
            raise OfflineError(_offline_message(url, f"no connection within {timeout:g} s", self.dataset,
                                                self.user_file_hint)) from None
        except requests.ReadTimeout:
            return  # connected: the server is there, just slow to answer
        except requests.RequestException as exc:
            err = self._fail(exc, url)
            if isinstance(err, OfflineError):
                raise err from None

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                data: Any = None, headers: Mapping[str, str] | None = None, stream: bool = False,
                allow: Iterable[int] = (), allow_html: bool = False,
                _deadline_at: float | None = None) -> requests.Response:
        """Send a request, retrying transient failures; statuses in `allow` are returned as-is.

        The body is read here (bounded, deadline, length checked) unless `stream` is true. An HTML
        body with a 2xx status is refused unless `allow_html`.
        """
        allow = set(allow)
        last = "no attempt made"
        connect_timeouts = 0
        for attempt in range(self.retries + 1):
            wait = self._delay(attempt)
            deadline_at = _deadline_at if _deadline_at is not None else time.monotonic() + self.deadline
            resp = None
            try:
                resp = self._send(method, url, params=params, data=data, headers=headers,
                                  deadline_at=deadline_at)
                status = resp.status_code
                if status in allow or status < 400:
                    if stream:
                        return resp
                    body = b"" if method.upper() == "HEAD" else self._read_body(resp, url=url, deadline_at=deadline_at)
                    resp._content, resp._content_consumed = body, True
                    resp.close()
                    ctype = resp.headers.get("Content-Type", "")
                    if status < 300 and not allow_html and sniff_html(body[:1024], ctype):
                        raise self._html_error(url, resp.url, body[:4096])
                    return resp
                if status in (401, 403):
                    resp.close()
                    raise AuthError(self._auth_message(status, url))
                if status == 429:
                    after = _retry_after_seconds(resp.headers.get("Retry-After"))
                    if after is not None:
                        wait = min(after, self.max_retry_after)
                    last = "HTTP 429 (rate limited)"
                elif status >= 500:
                    last = f"HTTP {status}"
                else:
                    text = self._error_text(resp, url, deadline_at)
                    who = f"{self.dataset}: " if self.dataset else ""
                    raise RetrieveError(f"{who}HTTP {status} from {redact_url(resp.url or url)}: {text}")
                resp.close()
            except RetrieveError:
                if resp is not None:
                    resp.close()
                raise
            except _TRANSIENT as exc:
                if resp is not None:
                    resp.close()
                err = self._fail(exc, url)
                if isinstance(err, (OfflineError, OptionsError, RedirectError)):
                    raise err from None
                connect_timeouts = connect_timeouts + 1 if isinstance(exc, requests.ConnectTimeout) else 0
                if connect_timeouts >= 2:
                    raise OfflineError(_offline_message(
                        url, f"no connection within {min(self.timeout, CONNECT_TIMEOUT):g} s, twice",
                        self.dataset, self.user_file_hint)) from None
                last = _describe(exc)
            except requests.RequestException as exc:
                if resp is not None:
                    resp.close()
                raise self._fail(exc, url) from None
            if attempt == self.retries:
                break
            log.warning("%s %s: %s; retry %d/%d in %.1f s", method, redact_url(url), last,
                        attempt + 1, self.retries, wait)
            self.sleep(wait)
        who = f"{self.dataset}: " if self.dataset else ""
        raise RetrieveError(f"{who}giving up on {method} {redact_url(url)} after {self.retries + 1} "
                            f"attempts (last failure: {last}); the service may be down, retry later")

    def _error_text(self, resp: requests.Response, url: str, deadline_at: float) -> str:
        """The start of an error body (bounded), redacted, for the error message."""
        try:
            chunks, size = [], 0
            for data in self._iter_body(resp, url=url, deadline_at=deadline_at, limit=self.max_bytes):
                chunks.append(data)
                size += len(data)
                if size > 4096:
                    break
            text = b"".join(chunks)[:300].decode("utf-8", errors="replace")
        except (RetrieveError, *_TRANSIENT):
            text = ""
        return secrets.redact(text)

    def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET and decode JSON, with a clear error for malformed payloads."""
        resp = self.request("GET", url, **kwargs)
        return parse_json(resp, source=self._where(url))

    # ------------------------------------------------------------------ files

    def _validate_file(self, path: Path, *, url: str, final_url: str, label: str,
                       expected_sha256: str | None, validate: Callable[[Path], Any] | None,
                       allow_html: bool) -> None:
        """Refuse an HTML page, a checksum mismatch or a file `validate` rejects; remove it then."""
        try:
            with open(path, "rb") as fh:
                head = fh.read(4096)
            if not allow_html and sniff_html(head[:1024]):
                raise self._html_error(url, final_url, head)
            if expected_sha256:
                got = sha256_file(path)
                if got != expected_sha256.lower():
                    raise ChecksumError(
                        f"{label}: sha256 {got} differs from the pinned {expected_sha256}; the "
                        "provider changed an immutable file, or the download is corrupt")
            if validate is not None:
                validate(path)
        except RetrieveError:
            path.unlink(missing_ok=True)
            raise

    def download(self, url: str, dest: Path, *, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None, expected_sha256: str | None = None,
                 label: str | None = None, chunk_size: int = 1 << 16,
                 validate: Callable[[Path], Any] | None = None, allow_html: bool = False) -> Path:
        """Download `url` to `dest` atomically, resuming a partial `.part` file with HTTP Range.

        A dropped connection resumes from the bytes already on disk; the file appears at `dest`
        only when complete, not an HTML page, matching `expected_sha256` (if pinned) and accepted
        by `validate(path)` (which raises a RetrieveError for a bad file). A cached `dest` is
        checked the same way and downloaded again if it fails.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        label = label or dest.name
        if dest.exists():
            try:
                self._validate_file(dest, url=url, final_url=url, label=label,
                                    expected_sha256=expected_sha256, validate=validate, allow_html=allow_html)
                log.info("using cached %s", dest.name)
                return dest
            except RetrieveError as exc:
                log.warning("cached %s is not usable (%s); downloading it again", dest.name, exc)
        part = dest.with_name(dest.name + ".part")
        last = "no attempt made"
        completed = False
        final_url = url
        deadline_at = time.monotonic() + self.download_deadline
        for attempt in range(self.retries + 1):
            have = part.stat().st_size if part.exists() else 0
            hdrs = {"Accept-Encoding": "identity", **dict(headers or {})}
            if have:
                hdrs["Range"] = f"bytes={have}-"
            resp = self.request("GET", url, params=params, headers=hdrs, stream=True, allow=(416,),
                                _deadline_at=deadline_at)
            final_url = resp.url or url
            try:
                total = self._prepare_part(resp, part, have)
                if total == -1:
                    completed = True  # the partial file already holds every byte
                    break
                if total is not None and total > self.max_download_bytes:
                    raise ResponseTooLargeError(
                        f"{self._where(url)}: the server announces {total} bytes, more than the limit of "
                        f"{self.max_download_bytes} bytes; raise the `max_download_bytes` option if intended")
                start = part.stat().st_size if part.exists() else 0
                bar = ProgressLine(label, total, enabled=self.progress, start=start)
                first = start == 0
                with open(part, "ab") as fh:
                    for chunk in self._iter_body(resp, url=url, deadline_at=deadline_at,
                                                 limit=max(1, self.max_download_bytes - start)):
                        if first:
                            first = False
                            if not allow_html and sniff_html(chunk[:1024], resp.headers.get("Content-Type", "")):
                                raise self._html_error(url, final_url, chunk[:4096])
                        fh.write(chunk)
                        bar.update(len(chunk))
                bar.close()
                size = part.stat().st_size if part.exists() else 0
                if total is not None and size < total:
                    raise _Truncated(f"stream ended at {size} of {total} bytes")
                if total is not None and size > total:
                    part.unlink(missing_ok=True)
                    raise CorruptFileError(f"{self._where(url)}: received {size} bytes but the server "
                                           f"announced {total}; the partial file was removed, run again")
                completed = True
                break
            except RetrieveError as exc:
                if isinstance(exc, (AuthError, UnexpectedContentError)):
                    part.unlink(missing_ok=True)  # never keep a login or error page as data
                raise
            except _TRANSIENT as exc:
                err = self._fail(exc, url)
                if isinstance(err, OfflineError):
                    raise err from None
                last = f"connection dropped ({_describe(exc)})"
                if attempt == self.retries:
                    break
                got = part.stat().st_size if part.exists() else 0
                wait = self._delay(attempt)
                log.warning("%s: %s at %d bytes; resuming in %.1f s", label, last, got, wait)
                self.sleep(wait)
            finally:
                resp.close()
        if not completed:
            who = f"{self.dataset}: " if self.dataset else ""
            raise RetrieveError(f"{who}download of {redact_url(url)} failed after {self.retries + 1} "
                                f"attempts ({last}); run again to resume from {part.name}")
        self._validate_file(part, url=url, final_url=final_url, label=label,
                            expected_sha256=expected_sha256, validate=validate, allow_html=allow_html)
        os.replace(part, dest)
        return dest

    @staticmethod
    def _prepare_part(resp: requests.Response, part: Path, have: int) -> int | None:
        """Decide between append (206), restart (200) and done (416); return the total size."""
        if resp.status_code == 416:
            rng = resp.headers.get("Content-Range", "")
            total = rng.rsplit("/", 1)[-1] if "/" in rng else ""
            if total.isdigit() and int(total) == have:
                return -1
            part.unlink(missing_ok=True)
            raise _Truncated("server rejected the resume range; restarting")
        if resp.status_code == 206:
            rng = resp.headers.get("Content-Range", "")
            try:
                unit_range, total_text = rng.split(" ", 1)[1].split("/")
                first = int(unit_range.split("-")[0])
            except (IndexError, ValueError):
                first, total_text = -1, ""
            if first != have:
                part.unlink(missing_ok=True)
                raise _Truncated("server resumed at the wrong offset; restarting")
            return int(total_text) if total_text.isdigit() else None
        part.unlink(missing_ok=True)  # 200: the server sends the whole file
        encoded = resp.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity")
        length = resp.headers.get("Content-Length")
        return int(length) if length and length.strip().isdigit() and not encoded else None


def _redact_tree(obj: Any) -> Any:
    if isinstance(obj, str):
        return secrets.redact(obj)
    if isinstance(obj, Mapping):
        return {secrets.redact(str(k)): _redact_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_redact_tree(v) for v in obj]
    return obj


def json_dumps(obj: Any) -> str:
    """Deterministic, readable JSON with known secrets scrubbed from every string (keys too)."""
    plain = json.loads(json.dumps(obj, default=str))
    return json.dumps(_redact_tree(plain), indent=2, sort_keys=True, ensure_ascii=False)
