"""ACLED events through the OAuth API (`/oauth/token` + `/api/acled/read`) or a user export.

ACLED's API needs an account: the email and password come from ACLED_EMAIL / ACLED_PASSWORD.
Access tokens expire (24 h), so a 401 on a data call triggers one refresh-token exchange
(falling back to a fresh password grant) before giving up with a message naming the variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from . import secrets
from .http import (AuthError, CorruptFileError, EmptyResultError, HttpClient, RetrieveError,
                   log, parse_csv_text, parse_json, read_text_file, require_columns, write_csv_rows)
from .provenance import Retrieved

__all__ = ["COLUMNS", "CORE_COLUMNS", "ENV_EMAIL", "ENV_PASSWORD", "download", "convert_export"]

ENV_EMAIL, ENV_PASSWORD = "ACLED_EMAIL", "ACLED_PASSWORD"
DEFAULT_BASE = "https://acleddata.com"

COLUMNS = [
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
    "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
    "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3",
    "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes",
    "fatalities", "tags", "timestamp",
]
# What the analysis reads; older website exports lack e.g. disorder_type or tags.
CORE_COLUMNS = ["event_id_cnty", "event_date", "year", "event_type", "sub_event_type", "actor1",
                "inter1", "country", "admin1", "location", "latitude", "longitude", "fatalities"]


class _OAuth:
    """Password grant plus refresh-token grant against ACLED's token endpoint."""

    def __init__(self, client: HttpClient, token_url: str, project_root: Path | None):
        self.client, self.token_url, self.root = client, token_url, project_root
        self.access: str | None = None
        self.refresh_token: str | None = None

    def _exchange(self, form: dict[str, str]) -> bool:
        resp = self.client.request("POST", self.token_url, data=form, allow=(400, 401, 403))
        if resp.status_code in (400, 401, 403):
            resp.close()
            return False
        payload = parse_json(resp, source="ACLED token endpoint")
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not token:
            raise CorruptFileError("ACLED token endpoint answered without an access_token")
        self.access = token
        self.refresh_token = payload.get("refresh_token") or self.refresh_token
        secrets.remember(self.access)
        if self.refresh_token:
            secrets.remember(self.refresh_token)
        return True

    def login(self) -> None:
        email = secrets.get_secret(ENV_EMAIL, project_root=self.root, purpose="the ACLED API")
        password = secrets.get_secret(ENV_PASSWORD, project_root=self.root, purpose="the ACLED API")
        form = {"username": email, "password": password, "grant_type": "password",
                "client_id": "acled", "scope": "authenticated"}
        if not self._exchange(form):
            raise AuthError(f"ACLED rejected the login: check {ENV_EMAIL} and {ENV_PASSWORD} "
                            "(environment or .env) and that the account has API access")

    def renew(self) -> None:
        """Use the refresh token; if it is refused, log in again with the password."""
        if self.refresh_token:
            form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token,
                    "client_id": "acled"}
            if self._exchange(form):
                log.info("ACLED access token refreshed")
                return
            log.info("ACLED refresh token refused; logging in again")
        self.login()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def download(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
             version: str) -> Retrieved:
    """Page through `/api/acled/read` for the country and period; write `acled.csv`."""
    base = str(options.get("base_url", DEFAULT_BASE)).rstrip("/")
    token_url = options.get("token_url", f"{base}/oauth/token")
    read_url = options.get("read_url", f"{base}/api/acled/read")
    name = options.get("country") or country["sources"]["acled_country"]
    start = str(options.get("start") or country["period"]["start"])
    end = str(options.get("end") or country["period"]["end"])
    limit = int(options.get("limit", 5000))
    max_pages = int(options.get("max_pages", 1000))
    client = HttpClient.from_options(options, auth_env=(ENV_EMAIL, ENV_PASSWORD))
    auth = _OAuth(client, token_url, options.get("project_root"))
    auth.login()

    query = {"_format": "json", "country": name, "event_date": f"{start}|{end}",
             "event_date_where": "BETWEEN", "limit": limit}
    records: list[dict[str, Any]] = []
    pages = 0
    for page in range(1, max_pages + 1):
        params = {**query, "page": page}
        resp = client.request("GET", read_url, params=params, headers=auth.headers(), allow=(401,))
        if resp.status_code == 401:
            resp.close()
            auth.renew()
            resp = client.request("GET", read_url, params=params, headers=auth.headers(),
                                  allow=(401,))
            if resp.status_code == 401:
                resp.close()
                raise AuthError(f"ACLED refused the data request even after renewing the token: "
                                f"check {ENV_EMAIL}/{ENV_PASSWORD} and the account's API access")
        payload = parse_json(resp, source=f"ACLED read page {page}")
        if not isinstance(payload, dict) or "data" not in payload:
            raise CorruptFileError(f"ACLED read page {page}: unexpected payload without `data`")
        if payload.get("success") is False:
            raise RetrieveError(f"ACLED read page {page} failed: "
                                f"{secrets.redact(str(payload.get('error') or payload.get('messages')))}")
        rows = payload["data"]
        pages = page
        records.extend(rows)
        log.info("ACLED page %d: %d events (%d total)", page, len(rows), len(records))
        if len(rows) < limit:
            break
    else:
        raise RetrieveError(f"ACLED paging did not end after {max_pages} pages; raise `max_pages`")
    if not records:
        raise EmptyResultError(f"ACLED returned no events for country={name!r} between {start} and "
                               f"{end}; check `sources.acled_country` and the period")
    keys: list[str] = []
    for rec in records:
        for key in rec:
            if key not in keys:
                keys.append(key)
    require_columns(keys, COLUMNS, source="ACLED API response")
    header = COLUMNS + [k for k in keys if k not in COLUMNS]
    dest = Path(out_dir) / "acled.csv"
    n = write_csv_rows(dest, header, ([rec.get(k) for k in header] for rec in records))
    return Retrieved(files=[dest], sources=[{"url": read_url, "params": query, "pages": pages}],
                     notes={"events": n, "country": name, "period": [start, end]})


def convert_export(src: Path, dest: Path) -> dict[str, Any]:
    """Turn a website/API export CSV into `acled.csv` in contract column order.

    Only the core columns are required: columns added by ACLED after the export was made (e.g.
    `disorder_type`, `civilian_targeting`, `tags`) are filled empty and listed in the notes.
    """
    text = read_text_file(src)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","  # European Excel saves
    header, rows = parse_csv_text(text, source=str(src), delimiter=delimiter)
    require_columns(header, CORE_COLUMNS, source=f"ACLED export {src}")
    if not rows:
        raise EmptyResultError(f"ACLED export {src} has no events")
    filled = [c for c in COLUMNS if c not in header]
    out_header = COLUMNS + [c for c in header if c not in COLUMNS]
    index = {c: i for i, c in enumerate(header)}
    n = write_csv_rows(Path(dest), out_header,
                       ([row[index[c]] if c in index else "" for c in out_header] for row in rows))
    return {"events": n, "filled_empty_columns": filled}
