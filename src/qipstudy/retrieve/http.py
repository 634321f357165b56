"""HTTP plumbing shared by every provider client.

Providers throttle (429), fail transiently (5xx, timeouts, dropped connections) and change
their schemas; a reproduction must survive the first two and stop loudly on the third. This
module gives one retrying client, a resumable atomic download, CSV/JSON parsing that refuses
truncated or malformed payloads, and redaction so that no secret reaches a log or a file.
"""

from __future__ import annotations

import contextlib
import csv
import email.utils
import hashlib
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from qipstudy.atomic import atomic_path

from . import secrets

__all__ = [
    "RetrieveError", "AuthError", "SchemaError", "EmptyResultError", "CorruptFileError",
    "ChecksumError", "HttpClient", "RedactingFilter", "redact_url", "redact_params",
    "atomic_path", "write_csv_rows", "parse_csv_text", "parse_json", "response_text", "read_text_file", "require_columns",
    "sha256_file", "paginate_pages", "ProgressLine", "json_dumps", "LOGGER_NAME",
]

LOGGER_NAME = "qipstudy.retrieve"
log = logging.getLogger(LOGGER_NAME)

# Query/body parameter names whose values are credentials; dropped from anything recorded.
# Whole names for short words (so that `country_code` survives), substrings for the rest.
SENSITIVE_NAMES = {"key", "code", "auth", "email", "username", "user", "signature", "sig"}
SENSITIVE_PARTS = ("password", "passwd", "token", "secret", "apikey", "api_key", "access_key",
                   "subscription")


class RetrieveError(RuntimeError):
    """A retrieve step failed; the message says what to do."""


class AuthError(RetrieveError):
    """The provider refused the credentials (HTTP 401/403)."""


class SchemaError(RetrieveError):
    """A payload lacks columns the data contract requires."""


class EmptyResultError(RetrieveError):
    """The provider answered successfully but with no records."""


class CorruptFileError(RetrieveError):
    """A payload or file is truncated or unreadable (bad CSV/JSON, bad zip, bad raster)."""


class ChecksumError(RetrieveError):
    """A file pinned by sha256 in the config has different content."""


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
    lowered = name.lower()
    return lowered in SENSITIVE_NAMES or any(part in lowered for part in SENSITIVE_PARTS)


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
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _is_sensitive(k)])
    return secrets.redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


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
        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise CorruptFileError(
                    f"truncated or malformed CSV from {source}: line {reader.line_num} has "
                    f"{len(row)} fields but the header has {len(header)}")
            rows.append(row)
    except csv.Error as exc:
        raise CorruptFileError(f"truncated or malformed CSV from {source}: {exc}") from exc
    return [h.strip() for h in header], rows


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
        return response.json()
    except ValueError as exc:
        head = secrets.redact(response.text[:120])
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
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class _KeepAuthSession(requests.Session):
    """Session that keeps credentials on redirects to trusted login hosts (Earthdata URS).

    It never reads ~/.netrc (credentials come only from the environment or `.env`), while still
    honouring proxy environment variables, which clusters often need.
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
    """Retrying HTTP client: exponential backoff on timeouts, dropped connections, 429 and 5xx.

    401/403 raise an AuthError naming the environment variables that hold the credentials,
    because that is the only thing a user can fix.
    """

    def __init__(self, *, retries: int = 5, backoff: float = 2.0, max_backoff: float = 120.0,
                 timeout: float = 60.0, max_retry_after: float = 900.0, progress: bool = True,
                 auth_env: Iterable[str] = (), sleep: Callable[[float], None] = time.sleep,
                 auth_hosts: Iterable[str] = (), user_agent: str = "qipstudy-retrieve/0.1"):
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.timeout = float(timeout)
        self.max_retry_after = float(max_retry_after)
        self.progress = bool(progress)
        self.auth_env = tuple(auth_env)
        self.sleep = sleep
        self.session = _KeepAuthSession(auth_hosts)
        self.session.headers["User-Agent"] = user_agent

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, auth_env: Iterable[str] = (),
                     auth_hosts: Iterable[str] = ()) -> "HttpClient":
        """Build a client from the retrieve options (`retries`, `backoff`, `timeout`, ...)."""
        return cls(retries=options.get("retries", 5), backoff=options.get("backoff", 2.0),
                   max_backoff=options.get("max_backoff", 120.0),
                   timeout=options.get("timeout", 60.0),
                   max_retry_after=options.get("max_retry_after", 900.0),
                   progress=options.get("progress", True), auth_env=auth_env,
                   auth_hosts=auth_hosts)

    def _delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * (2 ** attempt))

    def _auth_message(self, status: int, url: str) -> str:
        kind = "unauthorized" if status == 401 else "forbidden"
        if self.auth_env:
            hint = ("check the credentials in the environment variable(s) "
                    f"{', '.join(self.auth_env)} (or the git-ignored .env file)")
        else:
            hint = "the resource needs access rights that this client was not given"
        return f"HTTP {status} ({kind}) from {redact_url(url)}: {hint}"

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                data: Any = None, headers: Mapping[str, str] | None = None, stream: bool = False,
                allow: Iterable[int] = ()) -> requests.Response:
        """Send a request, retrying transient failures; statuses in `allow` are returned as-is."""
        allow = set(allow)
        last = "no attempt made"
        for attempt in range(self.retries + 1):
            wait = self._delay(attempt)
            try:
                resp = self.session.request(method, url, params=params, data=data,
                                            headers=dict(headers or {}), stream=stream,
                                            timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                last = f"{type(exc).__name__}"
            else:
                status = resp.status_code
                if status in allow or status < 400:
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
                    body = secrets.redact(resp.text[:300])
                    resp.close()
                    raise RetrieveError(f"HTTP {status} from {redact_url(resp.url or url)}: {body}")
                resp.close()
            if attempt == self.retries:
                break
            log.warning("%s %s: %s; retry %d/%d in %.1f s", method, redact_url(url), last,
                        attempt + 1, self.retries, wait)
            self.sleep(wait)
        raise RetrieveError(f"giving up on {method} {redact_url(url)} after {self.retries + 1} "
                            f"attempts (last failure: {last}); the service may be down, retry later")

    def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET and decode JSON, with a clear error for malformed payloads."""
        resp = self.request("GET", url, **kwargs)
        return parse_json(resp, source=redact_url(url))

    def download(self, url: str, dest: Path, *, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None, expected_sha256: str | None = None,
                 label: str | None = None, chunk_size: int = 1 << 16) -> Path:
        """Download `url` to `dest` atomically, resuming a partial `.part` file with HTTP Range.

        A dropped connection resumes from the bytes already on disk; the file appears at `dest`
        only when complete and (if pinned) matching `expected_sha256`.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            if expected_sha256 is None or sha256_file(dest) == expected_sha256.lower():
                log.info("using cached %s", dest.name)
                return dest
            dest.unlink()
        part = dest.with_name(dest.name + ".part")
        label = label or dest.name
        last = "no attempt made"
        completed = False
        for attempt in range(self.retries + 1):
            have = part.stat().st_size if part.exists() else 0
            hdrs = {"Accept-Encoding": "identity", **dict(headers or {})}
            if have:
                hdrs["Range"] = f"bytes={have}-"
            resp = self.request("GET", url, params=params, headers=hdrs, stream=True, allow=(416,))
            try:
                total = self._prepare_part(resp, part, have)
                if total == -1:
                    completed = True  # the partial file already holds every byte
                    break
                start = part.stat().st_size if part.exists() else 0
                bar = ProgressLine(label, total, enabled=self.progress, start=start)
                with open(part, "ab") as fh:
                    for chunk in resp.iter_content(chunk_size):
                        fh.write(chunk)
                        bar.update(len(chunk))
                bar.close()
                size = part.stat().st_size
                if total is not None and size < total:
                    raise requests.ConnectionError(f"stream ended at {size} of {total} bytes")
                completed = True
                break
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.Timeout) as exc:
                last = f"connection dropped ({type(exc).__name__})"
                if attempt == self.retries:
                    break
                got = part.stat().st_size if part.exists() else 0
                wait = self._delay(attempt)
                log.warning("%s: %s at %d bytes; resuming in %.1f s", label, last, got, wait)
                self.sleep(wait)
            finally:
                resp.close()
        if not completed:
            raise RetrieveError(f"download of {redact_url(url)} failed after {self.retries + 1} "
                                f"attempts ({last}); run again to resume from {part.name}")
        if expected_sha256:
            got = sha256_file(part)
            if got != expected_sha256.lower():
                part.unlink()
                raise ChecksumError(
                    f"{label}: sha256 {got} differs from the pinned {expected_sha256}; the "
                    "provider changed an immutable file, or the download is corrupt")
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
            raise requests.ConnectionError("server rejected the resume range; restarting")
        if resp.status_code == 206:
            rng = resp.headers.get("Content-Range", "")
            try:
                unit_range, total_text = rng.split(" ", 1)[1].split("/")
                first = int(unit_range.split("-")[0])
            except (IndexError, ValueError):
                first, total_text = -1, ""
            if first != have:
                part.unlink(missing_ok=True)
                raise requests.ConnectionError("server resumed at the wrong offset; restarting")
            return int(total_text) if total_text.isdigit() else None
        part.unlink(missing_ok=True)  # 200: the server sends the whole file
        length = resp.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else None


def json_dumps(obj: Any) -> str:
    """Deterministic, readable JSON with known secrets scrubbed."""
    return secrets.redact(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str))
