"""IATI aid activities with locations: d-portal `q.csv` (no key) or IATI Datastore v3 (key).

d-portal answers a query it cannot honour with its default page of 100 rows instead of an
error, so a paged download that trusts its own `limit` silently loses rows. The pager below
notices a full 100-row page when more were asked for and continues with 100-row pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from . import secrets
from .http import (CorruptFileError, EmptyResultError, HttpClient, RetrieveError, log,
                   parse_csv_text, parse_json, read_text_file, require_columns, response_text,
                   write_csv_rows)
from .provenance import Retrieved

__all__ = ["COLUMNS", "DPORTAL_URL", "DATASTORE_URL", "ENV_KEY", "DAC3_GROUPS",
           "page_dportal", "download", "convert_user"]

COLUMNS = ["aid", "title", "reporting_ref", "reporting", "status_code", "day_start", "day_end",
           "sector_code", "sector_group", "location_latitude", "location_longitude",
           "location_name", "commitment", "spend"]
DPORTAL_URL = "https://d-portal.org/q.csv"
DATASTORE_URL = "https://api.iatistandard.org/datastore/activity/select"
ENV_KEY = "IATI_API_KEY"
DPORTAL_DEFAULT_PAGE = 100

# OECD DAC 3-digit sector groups, used when a source gives only the 5-digit purpose code.
DAC3_GROUPS = {
    "111": "Education, level unspecified", "112": "Basic education", "113": "Secondary education",
    "114": "Post-secondary education", "121": "Health, general", "122": "Basic health",
    "123": "Non-communicable diseases (NCDs)",
    "130": "Population policies/programmes & reproductive health",
    "140": "Water supply & sanitation", "151": "Government & civil society-general",
    "152": "Conflict, peace & security", "160": "Other social infrastructure & services",
    "210": "Transport & storage", "220": "Communications", "231": "Energy policy",
    "232": "Energy generation, renewable sources", "233": "Energy generation, non-renewable sources",
    "234": "Hybrid energy plants", "235": "Nuclear energy plants", "236": "Energy distribution",
    "240": "Banking & financial services", "250": "Business & other services",
    "311": "Agriculture", "312": "Forestry", "313": "Fishing", "321": "Industry",
    "322": "Mineral resources & mining", "323": "Construction",
    "331": "Trade policies & regulations", "332": "Tourism",
    "410": "General environment protection", "430": "Other multisector",
    "510": "General budget support", "520": "Development food assistance",
    "530": "Other commodity assistance", "600": "Action relating to debt",
    "720": "Emergency response", "730": "Reconstruction relief & rehabilitation",
    "740": "Disaster prevention & preparedness", "910": "Administrative costs of donors",
    "930": "Refugees in donor countries", "998": "Unallocated / unspecified",
}


def page_dportal(fetch: Callable[[int, int], list[list[str]]], *, limit: int,
                 max_pages: int = 100_000) -> tuple[list[list[str]], dict[str, Any]]:
    """Offset paging that detects d-portal's silent fallback to 100-row pages.

    `fetch(offset, limit)` returns the data rows of one page. Paging ends on a page shorter
    than the effective page size; a page identical to the previous one means the server
    ignores `offset`, which would loop forever, so it is an error.
    """
    rows: list[list[str]] = []
    effective, offset, previous = limit, 0, None
    info: dict[str, Any] = {"requested_limit": limit, "fallback_detected": False, "pages": 0}
    for _ in range(max_pages):
        page = fetch(offset, effective)
        info["pages"] += 1
        if page and page == previous:
            raise RetrieveError(f"d-portal returned the same rows for offset {offset} as for the "
                                "previous page: it ignores `offset`, paging is impossible")
        if len(page) == DPORTAL_DEFAULT_PAGE and effective > DPORTAL_DEFAULT_PAGE:
            log.warning("d-portal returned exactly %d rows for limit=%d: its default page; "
                        "continuing with %d-row pages", DPORTAL_DEFAULT_PAGE, effective,
                        DPORTAL_DEFAULT_PAGE)
            effective = DPORTAL_DEFAULT_PAGE
            info["fallback_detected"] = True
        rows.extend(page)
        previous = page
        offset += len(page)
        if len(page) < effective:
            info["effective_limit"] = effective
            return rows, info
    raise RetrieveError(f"d-portal paging did not end after {max_pages} pages")


def _dportal_query(client: HttpClient, url: str, base: dict[str, Any], limit: int,
                   max_pages: int, what: str) -> tuple[list[str], list[list[str]], dict[str, Any]]:
    header: list[str] = []

    def fetch(offset: int, lim: int) -> list[list[str]]:
        nonlocal header
        resp = client.request("GET", url, params={**base, "limit": lim, "offset": offset})
        page_header, page_rows = parse_csv_text(response_text(resp), source=f"d-portal {what} offset {offset}")
        header = header or page_header
        return page_rows

    rows, info = page_dportal(fetch, limit=limit, max_pages=max_pages)
    return header, rows, info


def _group(code: str) -> str:
    return DAC3_GROUPS.get(str(code).strip()[:3], "") if code else ""


def _download_dportal(country: Mapping[str, Any], options: Mapping[str, Any],
                      dest: Path) -> Retrieved:
    url = options.get("dportal_url", DPORTAL_URL)
    code = options.get("recipient_country") or country["sources"]["iati_recipient_country"]
    limit, max_pages = int(options.get("limit", 1000)), int(options.get("max_pages", 100_000))
    client = HttpClient.from_options(options)
    loc_select = [c for c in COLUMNS if c not in ("sector_code", "sector_group")]
    loc_params = {"from": "act,location,country", "country_code": code,
                  "select": ",".join(loc_select), "orderby": "aid"}
    header, rows, info = _dportal_query(client, url, loc_params, limit, max_pages, "locations")
    if not rows:
        raise EmptyResultError(f"d-portal returned no activity locations for recipient country "
                               f"{code!r}; check `sources.iati_recipient_country`")
    require_columns(header, loc_select, source="d-portal locations q.csv")
    sec_params = {"from": "act,sector,country", "country_code": code,
                  "select": "aid,sector_code,sector_group,sector_percent", "orderby": "aid"}
    sec_header, sec_rows, sec_info = _dportal_query(client, url, sec_params, limit, max_pages, "sectors")
    require_columns(sec_header, ["aid", "sector_code"], source="d-portal sectors q.csv")
    si = {c: i for i, c in enumerate(sec_header)}
    main: dict[str, tuple[float, str, str]] = {}
    for r in sec_rows:  # the activity's largest sector share stands for the activity
        pct_text = r[si["sector_percent"]] if "sector_percent" in si else ""
        try:
            pct = float(pct_text or 0)
        except ValueError:
            pct = 0.0
        sc = r[si["sector_code"]]
        grp = r[si["sector_group"]] if "sector_group" in si and r[si["sector_group"]] else _group(sc)
        if r[si["aid"]] not in main or pct > main[r[si["aid"]]][0]:
            main[r[si["aid"]]] = (pct, sc, grp)
    li = {c: i for i, c in enumerate(header)}
    out = []
    for r in rows:
        _, sc, grp = main.get(r[li["aid"]], (0.0, "", ""))
        rec = {c: r[li[c]] for c in loc_select}
        rec.update(sector_code=sc, sector_group=grp)
        out.append([rec[c] for c in COLUMNS])
    n = write_csv_rows(dest, COLUMNS, out)
    return Retrieved(files=[dest],
                     sources=[{"url": url, "params": loc_params, **info},
                              {"url": url, "params": sec_params, **sec_info}],
                     notes={"api": "d-portal", "rows": n, "recipient_country": code,
                            "fallback_detected": info["fallback_detected"] or sec_info["fallback_detected"]})


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def _num(value: Any) -> float:
    """Transaction values are numbers in the Datastore; a malformed one counts as 0, not a crash."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _datastore_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    """One row per location of a Datastore activity document (Solr field names)."""
    dates = dict(zip([str(t) for t in doc.get("activity_date_type", [])],
                     [str(d)[:10] for d in doc.get("activity_date_iso_date", [])]))
    start = dates.get("2") or dates.get("1", "")
    end = dates.get("4") or dates.get("3", "")
    codes = [str(c) for c in doc.get("sector_code", [])]
    vocab = [str(v) for v in doc.get("sector_vocabulary", [])] or ["1"] * len(codes)
    dac = [c for c, v in zip(codes, vocab) if v in ("1", "2") and c] or codes
    pos = doc.get("location_point_pos") or []
    names = doc.get("location_name_narrative") or []
    types = [str(t) for t in doc.get("transaction_transaction_type_code", [])]
    values = doc.get("transaction_value") or []
    commitment = sum(_num(v) for t, v in zip(types, values) if t == "2")
    spend = sum(_num(v) for t, v in zip(types, values) if t in ("3", "4"))
    base = [_first(doc.get("iati_identifier")), _first(doc.get("title_narrative")),
            _first(doc.get("reporting_org_ref")), _first(doc.get("reporting_org_narrative")),
            _first(doc.get("activity_status_code")), start, end,
            dac[0] if dac else "", _group(dac[0]) if dac else ""]
    money = [commitment if types else "", spend if types else ""]
    if not pos:
        return [base + ["", "", ""] + money]
    out = []
    for i, p in enumerate(pos):
        parts = str(p).split()
        lat, lon = (parts + ["", ""])[:2]
        out.append(base + [lat, lon, names[i] if i < len(names) else ""] + money)
    return out


def _download_datastore(country: Mapping[str, Any], options: Mapping[str, Any], dest: Path,
                        key: str) -> Retrieved:
    url = options.get("datastore_url", DATASTORE_URL)
    code = options.get("recipient_country") or country["sources"]["iati_recipient_country"]
    rows_per = int(options.get("rows", 1000))
    client = HttpClient.from_options(options, auth_env=(ENV_KEY,))
    fields = ("iati_identifier,title_narrative,reporting_org_ref,reporting_org_narrative,"
              "activity_status_code,activity_date_type,activity_date_iso_date,sector_code,"
              "sector_vocabulary,location_point_pos,location_name_narrative,"
              "transaction_transaction_type_code,transaction_value")
    params = {"q": f"recipient_country_code:{code}", "fl": fields, "wt": "json",
              "rows": rows_per, "sort": "iati_identifier asc"}
    out: list[list[str]] = []
    start, found, pages = 0, None, 0
    while found is None or start < found:
        resp = client.request("GET", url, params={**params, "start": start},
                              headers={"Ocp-Apim-Subscription-Key": key})
        payload = parse_json(resp, source=f"IATI Datastore start={start}")
        try:
            body = payload["response"]
            found, docs = int(body["numFound"]), body["docs"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError("IATI Datastore: unexpected payload (no response.numFound/docs)") from exc
        pages += 1
        for doc in docs:
            out.extend(_datastore_rows(doc))
        if not docs:
            break
        start += len(docs)
    if not out:
        raise EmptyResultError(f"IATI Datastore returned no activities for recipient country {code!r}")
    n = write_csv_rows(dest, COLUMNS, out)
    return Retrieved(files=[dest], sources=[{"url": url, "params": params, "pages": pages}],
                     notes={"api": "datastore", "rows": n, "activities": found, "recipient_country": code})


def download(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
             version: str) -> Retrieved:
    """`api`: "auto" (Datastore if IATI_API_KEY is set, else d-portal), "dportal" or "datastore"."""
    api = options.get("api", "auto")
    dest = Path(out_dir) / "activities.csv"
    if api not in ("auto", "dportal", "datastore"):
        raise RetrieveError(f"iati option `api` must be auto, dportal or datastore, not {api!r}")
    key = None
    if api != "dportal":
        key = secrets.get_secret(ENV_KEY, project_root=options.get("project_root"),
                                 required=api == "datastore", purpose="the IATI Datastore")
    if key:
        return _download_datastore(country, options, dest, key)
    return _download_dportal(country, options, dest)


def convert_user(src: Path, dest: Path) -> dict[str, Any]:
    """Check a d-portal CSV export; derive `sector_group` from `sector_code` when absent."""
    header, rows = parse_csv_text(read_text_file(src), source=str(src))
    needed = [c for c in COLUMNS if c != "sector_group"]
    require_columns(header, needed, source=f"IATI file {src}")
    if not rows:
        raise EmptyResultError(f"IATI file {src} has no rows")
    idx = {c: i for i, c in enumerate(header)}
    derived = "sector_group" not in idx
    extra = [c for c in header if c not in COLUMNS]
    out = []
    for r in rows:
        rec = {c: r[idx[c]] for c in needed}
        rec["sector_group"] = _group(rec["sector_code"]) if derived else r[idx["sector_group"]]
        out.append([rec[c] for c in COLUMNS] + [r[idx[c]] for c in extra])
    n = write_csv_rows(Path(dest), COLUMNS + extra, out)
    return {"rows": n, "sector_group_derived": derived}
