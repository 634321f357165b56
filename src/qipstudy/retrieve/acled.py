"""ACLED events through the OAuth API (`/oauth/token` + `/api/acled/read`) or a user export.

ACLED's API needs an account: the email and password come from ACLED_EMAIL / ACLED_PASSWORD and
are posted only to the token endpoint (a redirect of that POST to another host is refused by the
HTTP layer). Access tokens expire (24 h), so a 401 on a data call triggers one refresh-token
exchange (falling back to a fresh password grant) before giving up with a message naming the
variables. The token request follows ACLED's R client acledR (R/acled_auth.R: `username`,
`password`, `grant_type=password`, `client_id=acled`, https://acleddata.com/oauth/token).

A read page is JSON shaped as in ACLED's API documentation
(https://acleddata.com/api-documentation/acled-endpoint): `status`, `success`, `last_update`,
`count`, `messages`, `data` (the events), `filename` and `data_query_restrictions`, whose
`date_recency` ({quantity, unit, description, timestamp, date}) is the account's recency embargo.
The client checks `success`/`status`/`error` before `data`, keeps ACLED's message on a 403,
reports the embargo when a result is empty, and stops when a page repeats the previous one.

User exports of every vintage are accepted (see qipstudy.prepare.harmonise_acled): the current
API columns, the upper-case pre-2019 files with the old typology, and the monadic layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from qipstudy import prepare

from . import secrets
from .http import (
    AuthError,
    CorruptFileError,
    EmptyResultError,
    HttpClient,
    RetrieveError,
    SchemaError,
    log,
    options_schema,
    parse_csv_text,
    parse_json,
    read_text_file,
    resolve_options,
    write_csv_rows,
)
from .provenance import Retrieved

__all__ = ["COLUMNS", "CORE_COLUMNS", "ENV_EMAIL", "ENV_PASSWORD", "OPTIONS_SCHEMA", "USER_FILE_HINT",
           "describe_restrictions", "download", "convert_export"]

ENV_EMAIL, ENV_PASSWORD = "ACLED_EMAIL", "ACLED_PASSWORD"
DEFAULT_BASE = "https://acleddata.com"
USER_FILE_HINT = "an ACLED export CSV (website or API export, any vintage)"

COLUMNS = [
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
    "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
    "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3",
    "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes",
    "fatalities", "tags", "timestamp",
]
# What the analysis reads (qipstudy.prepare.read_acled); every other column may be absent.
CORE_COLUMNS = list(prepare.ACLED_COLUMNS)

OPTIONS_SCHEMA = options_schema({
    "base_url": {"type": ["string", "null"], "default": DEFAULT_BASE,
                 "description": "root of ACLED's site; the token and read endpoints hang below it"},
    "token_url": {"type": ["string", "null"], "default": None,
                  "description": "OAuth token endpoint; null: {base_url}/oauth/token"},
    "read_url": {"type": ["string", "null"], "default": None,
                 "description": "events endpoint; null: {base_url}/api/acled/read"},
    "country": {"type": ["string", "null"], "default": None,
                "description": "ACLED country name; null: sources.acled_country of the country file"},
    "start": {"type": ["string", "null"], "default": None,
              "description": "first event date (YYYY-MM-DD); null: period.start of the country file"},
    "end": {"type": ["string", "null"], "default": None,
            "description": "last event date (YYYY-MM-DD); null: period.end of the country file"},
    "limit": {"type": "integer", "minimum": 1, "default": 5000, "description": "events per page"},
    "max_pages": {"type": "integer", "minimum": 1, "default": 1000,
                  "description": "stop with an error after this many pages"},
})


def _acled_message(payload: Any) -> str:
    """ACLED's own words from an error payload (`error`, `message(s)`, `error_description`)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if value.strip():
                found.append(value.strip())
        elif isinstance(value, Mapping):
            for key in ("error_description", "message", "messages", "error", "detail"):
                if key in value:
                    walk(value[key])
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(payload)
    text = "; ".join(dict.fromkeys(found)) or "no message"
    return secrets.redact(text[:400])


def describe_restrictions(restrictions: Any) -> str | None:
    """A sentence for the account's `data_query_restrictions` (None if there are none)."""
    if not restrictions:
        return None
    if not isinstance(restrictions, Mapping):
        return str(restrictions)
    parts = []
    recency = restrictions.get("date_recency")
    if isinstance(recency, Mapping) and recency:
        span = recency.get("description") or f"{recency.get('quantity', '?')} {recency.get('unit', '')}".strip()
        cutoff = f" (events after {recency['date']} are withheld)" if recency.get("date") else ""
        parts.append(f"date_recency: only events at least {span}{cutoff}")
    for key, value in restrictions.items():
        if key != "date_recency" and value not in (None, "", [], {}):
            parts.append(f"{key}: {value}")
    return "; ".join(parts) or None


class _OAuth:
    """Password grant plus refresh-token grant against ACLED's token endpoint."""

    def __init__(self, client: HttpClient, token_url: str, project_root: Path | None):
        self.client, self.token_url, self.root = client, token_url, project_root
        self.access: str | None = None
        self.refresh_token: str | None = None

    def _exchange(self, form: dict[str, str]) -> str | None:
        """Post a grant; None on success, else ACLED's reason for refusing it."""
        resp = self.client.request("POST", self.token_url, data=form, allow=(400, 401, 403))
        if resp.status_code in (400, 401, 403):
            try:
                reason = _acled_message(parse_json(resp, source="ACLED token endpoint"))
            except CorruptFileError:
                reason = f"HTTP {resp.status_code}"
            return reason
        payload = parse_json(resp, source="ACLED token endpoint")
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not token:
            raise CorruptFileError("ACLED token endpoint answered without an access_token "
                                   f"({_acled_message(payload)})")
        self.access = token
        self.refresh_token = payload.get("refresh_token") or self.refresh_token
        secrets.remember(self.access)
        if self.refresh_token:
            secrets.remember(self.refresh_token)
        return None

    def login(self) -> None:
        email = secrets.get_secret(ENV_EMAIL, project_root=self.root, purpose="the ACLED API")
        password = secrets.get_secret(ENV_PASSWORD, project_root=self.root, purpose="the ACLED API")
        form = {"username": email, "password": password, "grant_type": "password",
                "client_id": "acled", "scope": "authenticated"}
        reason = self._exchange(form)
        if reason is not None:
            raise AuthError(f"acled: ACLED rejected the login ({reason}): check {ENV_EMAIL} and "
                            f"{ENV_PASSWORD} (environment or .env) and that the account has API access")

    def renew(self) -> None:
        """Use the refresh token; if it is refused, log in again with the password."""
        if self.refresh_token:
            form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token,
                    "client_id": "acled"}
            if self._exchange(form) is None:
                log.info("ACLED access token refreshed")
                return
            log.info("ACLED refresh token refused; logging in again")
        self.login()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def _read_page(client: HttpClient, auth: _OAuth, read_url: str, params: dict[str, Any], page: int) -> Any:
    """One read page as JSON: renew an expired token once, keep ACLED's message on 403."""
    for renewed in (False, True):
        resp = client.request("GET", read_url, params=params, headers=auth.headers(), allow=(401, 403))
        if resp.status_code == 403:
            try:
                reason = _acled_message(parse_json(resp, source=f"ACLED read page {page}"))
            except CorruptFileError:
                reason = "no message"
            raise AuthError(f"acled: ACLED refused the data request (HTTP 403: {reason}); check that the "
                            f"account of {ENV_EMAIL}, {ENV_PASSWORD} has API access (accepted terms, "
                            "access level)")
        if resp.status_code != 401:
            return parse_json(resp, source=f"ACLED read page {page}")
        if renewed:
            break
        auth.renew()
    raise AuthError(f"acled: ACLED refused the data request even after renewing the token: "
                    f"check {ENV_EMAIL}/{ENV_PASSWORD} and the account's API access")


def _page_rows(payload: Any, page: int) -> list[dict[str, Any]]:
    """The events of a read page, after checking `success`, `status` and `error` first."""
    if not isinstance(payload, dict):
        raise CorruptFileError(f"acled: read page {page} is not a JSON object but {type(payload).__name__}")
    status = payload.get("status")
    failed = payload.get("success") is False or str(payload.get("success")).strip() in ("0", "false")
    if failed or payload.get("error") or (status is not None and str(status) not in ("200", "")):
        raise RetrieveError(f"acled: ACLED read page {page} failed (status {status}): "
                            f"{_acled_message(payload)}")
    if "data" not in payload:
        raise CorruptFileError(f"acled: read page {page} has no `data` ({_acled_message(payload)})")
    rows = payload["data"]
    if not isinstance(rows, list) or any(not isinstance(r, dict) for r in rows):
        raise CorruptFileError(f"acled: read page {page}: `data` is not a list of events")
    return rows


def _contract_frame(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """Harmonise any vintage, then order the columns as the contract does (missing ones empty)."""
    try:
        frame, report = prepare.harmonise_acled(frame, source)
    except ValueError as exc:
        raise SchemaError(str(exc)) from None
    filled = [c for c in COLUMNS if c not in frame.columns]
    if filled:
        log.info("%s: column(s) %s absent; written empty", source, ", ".join(filled))
    out_columns = COLUMNS + [c for c in frame.columns if c not in COLUMNS]
    frame = frame.reindex(columns=out_columns, fill_value="")
    return frame, filled, report


def download(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
             version: str) -> Retrieved:
    """Page through `/api/acled/read` for the country and period; write `acled.csv`."""
    opts = resolve_options(options, OPTIONS_SCHEMA, dataset="acled")
    base = str(opts["base_url"]).rstrip("/")
    token_url = opts["token_url"] or f"{base}/oauth/token"
    read_url = opts["read_url"] or f"{base}/api/acled/read"
    name = opts["country"] or country["sources"]["acled_country"]
    start = str(opts["start"] or country["period"]["start"])
    end = str(opts["end"] or country["period"]["end"])
    limit, max_pages = int(opts["limit"]), int(opts["max_pages"])
    client = HttpClient.from_options(opts, auth_env=(ENV_EMAIL, ENV_PASSWORD), dataset="acled",
                                     user_file_hint=USER_FILE_HINT)
    auth = _OAuth(client, token_url, opts["project_root"])
    auth.login()

    query = {"_format": "json", "country": name, "event_date": f"{start}|{end}",
             "event_date_where": "BETWEEN", "limit": limit}
    records: list[dict[str, Any]] = []
    notes: dict[str, Any] = {}
    previous: list[Any] | None = None
    restrictions: Any = None
    pages = 0
    for page in range(1, max_pages + 1):
        payload = _read_page(client, auth, read_url, {**query, "page": page}, page)
        rows = _page_rows(payload, page)
        restrictions = payload.get("data_query_restrictions") or restrictions
        if payload.get("messages"):
            log.warning("ACLED page %d: %s", page, _acled_message(payload.get("messages")))
            notes.setdefault("acled_messages", []).append(_acled_message(payload.get("messages")))
        if payload.get("last_update") is not None:
            notes["last_update"] = payload.get("last_update")
        ids = [r.get("event_id_cnty") for r in rows]
        if rows and ids == previous:
            log.warning("ACLED page %d repeats page %d; the API ignores `page`, stopping here", page, page - 1)
            notes["paging_stopped_at_repeated_page"] = page
            break
        previous = ids
        pages = page
        records.extend(rows)
        log.info("ACLED page %d: %d events (%d total)", page, len(rows), len(records))
        if len(rows) < limit:
            break
    else:
        raise RetrieveError(f"acled: paging did not end after {max_pages} pages; raise `max_pages`")
    said = describe_restrictions(restrictions)
    if not records:
        embargo = f"; the account's data_query_restrictions say: {said}" if said else ""
        raise EmptyResultError(f"acled: ACLED returned no events for country={name!r} between {start} and "
                               f"{end}{embargo}. Check `sources.acled_country`, the period and the account's "
                               "access level (or use a user export: mode: user)")
    if said:
        log.warning("ACLED account restrictions apply to this download: %s", said)
        notes["data_query_restrictions"] = restrictions
    frame = pd.DataFrame(records, dtype=object)  # object: a number stays 2024, not 2024.0 beside a gap
    frame = frame.where(frame.notna(), "").astype(str)
    frame, filled, report = _contract_frame(frame, "ACLED API response")
    dest = Path(out_dir) / "acled.csv"
    n = write_csv_rows(dest, list(frame.columns), frame.itertuples(index=False, name=None))
    notes.update(events=n, country=name, period=[start, end], pages=pages, **report)
    if filled:
        notes["filled_empty_columns"] = filled
    return Retrieved(files=[dest], sources=[{"url": read_url, "params": query, "pages": pages}], notes=notes)


def convert_export(src: Path, dest: Path) -> dict[str, Any]:
    """Turn an ACLED export CSV of any vintage into `acled.csv` in contract column order.

    Only the columns the analysis reads (CORE_COLUMNS) are required: columns ACLED added after
    the export was made (e.g. `disorder_type`, `civilian_targeting`, `tags`) or that an old export
    lacks (`sub_event_type`) are filled empty and listed in the notes; old event types are mapped
    and monadic rows merged (counts in the notes and the log).
    """
    text = read_text_file(src)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","  # European Excel saves
    header, rows = parse_csv_text(text, source=str(src), delimiter=delimiter)
    if not rows:
        raise EmptyResultError(f"ACLED export {src} has no events")
    frame = pd.DataFrame(rows, columns=header, dtype=str)
    frame, filled, report = _contract_frame(frame, f"ACLED export {src}")
    n = write_csv_rows(Path(dest), list(frame.columns), frame.itertuples(index=False, name=None))
    return {"events": n, "filled_empty_columns": filled, **report}
