"""IATI aid activities with locations: d-portal `q.csv` (no key) or IATI Datastore v3 (key).

d-portal's real shapes (its source, IATI/D-Portal: dstore/js/query.js, dstore/js/dstore_db.js):

* `q.csv` rows are JSON arrays with the brackets cut off: text is always quoted, numbers are not,
  and SQL NULL is the bare text `null` (`human=1` would write "" instead, and names for codes).
  The header is the first row's keys, so columns are matched **by name** on every page.
* `sector_group` is the DAC 3-digit code ("122"); day numbers are days since 1970-01-01;
  `commitment` and `spend` are in US$ (d-portal converts; `commitment_eur` etc. exist too).
* `limit` defaults to 100; `limit=-1` sends no LIMIT at all, which is how the whole country is
  fetched here by default. A join of activities with locations has many rows per `aid`, so
  `orderby=aid` is not a page order; when paging (`limit` > 0) the query orders by every selected
  column, so that pages neither overlap nor skip rows.
* A query it cannot run is answered with status 200 and an empty body: an empty result is
  therefore reported with the query, never taken for "no projects".

The Datastore (Solr over IATI/refresher's flattened activities) has no US$ field:
`transaction_value` is in the transaction's `transaction_value_currency`, or the activity's
`default_currency` when that is absent. Sums are made per currency; a non-USD sum is converted
with the `currency_rates` option (US$ per unit, a rate you choose and cite) or left empty with its
currency in `value_currency`, so no sum ever mixes currencies. Single-valued fields come as
scalars, repeated ones as lists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from qipstudy.prepare import IATI_COLUMNS, sector_group_name

from . import secrets
from .http import (
    CorruptFileError,
    EmptyResultError,
    HttpClient,
    RetrieveError,
    SchemaError,
    log,
    parse_csv_text,
    parse_json,
    read_text_file,
    response_text,
    write_csv_rows,
)
from .provenance import Retrieved

__all__ = [
    "COLUMNS",
    "DATASTORE_BASE_URL",
    "DPORTAL_BASE_URL",
    "ENV_KEY",
    "LOCATION_SELECT",
    "OPTIONS_SCHEMA",
    "REQUIRED_COLUMNS",
    "SECTOR_SELECT",
    "convert_user",
    "download",
    "dportal_aid",
    "dportal_rows",
    "page_dportal",
]

# What activities.csv holds (download and user conversion); `value_currency` names the currency of
# commitment and spend (USD from d-portal).
COLUMNS = ["aid", "title", "reporting_ref", "reporting", "status_code", "day_start", "day_end",
           "sector_code", "sector_group", "location_latitude", "location_longitude",
           "location_name", "commitment", "spend", "value_currency"]
# The contract's required columns (what the prepare and table steps read).
REQUIRED_COLUMNS = list(IATI_COLUMNS)
LOCATION_SELECT = ["aid", "title", "reporting_ref", "reporting", "status_code", "day_start", "day_end",
                   "location_latitude", "location_longitude", "location_name", "commitment", "spend"]
SECTOR_SELECT = ["aid", "sector_code", "sector_group", "sector_percent"]
DPORTAL_BASE_URL = "https://d-portal.org"
DATASTORE_BASE_URL = "https://api.iatistandard.org/datastore"
ENV_KEY = "IATI_API_KEY"
DPORTAL_DEFAULT_PAGE = 100
# IATI transaction types: 2 outgoing commitment; 3 disbursement, 4 expenditure (1.0x letters C/D/E).
COMMITMENT_TYPES = {"2", "C"}
SPEND_TYPES = {"3", "4", "D", "E"}

# What replaces the download when IATI cannot be reached (named in the offline error).
USER_FILE_HINT = "a d-portal q.csv export of the country's activities with locations"
OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Options of the `iati` dataset (d-portal q.csv or IATI Datastore v3).",
    "properties": {
        "api": {"type": "string", "enum": ["auto", "dportal", "datastore"], "default": "auto",
                "description": "auto: the Datastore if IATI_API_KEY is set, else d-portal."},
        "base_url": {"type": ["string", "null"], "default": None,
                     "description": f"Root of the chosen API; null: {DPORTAL_BASE_URL} (then /q.csv) or "
                                    f"{DATASTORE_BASE_URL} (then /activity/select)."},
        "recipient_country": {"type": ["string", "null"], "default": None,
                              "description": "ISO2 recipient country; null: the country's "
                                             "`sources.iati_recipient_country`."},
        "limit": {"type": "integer", "default": -1,
                  "description": "d-portal rows per request; -1 fetches everything in one response (no paging)."},
        "max_pages": {"type": "integer", "minimum": 1, "default": 100000,
                      "description": "Stop with an error after this many pages."},
        "rows": {"type": "integer", "minimum": 1, "default": 1000, "description": "Datastore documents per page."},
        "currency_rates": {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
                           "default": {},
                           "description": "US$ per unit of a currency (e.g. {EUR: 1.12}) to convert Datastore "
                                          "values; other non-USD values stay unconverted and get no funding_usd."},
        "project_root": {"type": ["string", "null"], "default": None,
                         "description": "Where the git-ignored .env with IATI_API_KEY is looked for."},
    },
}


# ----------------------------------------------------------------------------- d-portal

def dportal_aid(value: str) -> str:
    """The activity id; `human=1` exports write it as a link (http://d-portal.org/q.html?aid=<id>)."""
    text = value.strip()
    return text.split("aid=", 1)[1] if text.startswith("http") and "aid=" in text else text


def dportal_rows(text: str, *, required: Sequence[str], source: str) -> list[dict[str, str]]:
    """One q.csv page as dicts keyed by column name, `null` as ""; required columns checked by name."""
    header, rows = parse_csv_text(text, source=source)
    if not header:
        return []
    missing = [c for c in required if c not in header]
    if missing:
        raise SchemaError(f"{source}: missing column(s) {', '.join(missing)} (columns: {', '.join(header)}); "
                          "d-portal's schema changed")
    return [{c: ("" if v == "null" else v) for c, v in zip(header, row)} for row in rows]


def page_dportal(fetch: Callable[[int, int], list], *, limit: int,
                 max_pages: int = 100_000) -> tuple[list, dict[str, Any]]:
    """Offset paging that detects d-portal's fallback to its default 100-row page.

    `fetch(offset, limit)` returns the rows of one page. Paging ends on a page shorter than the
    effective page size; a page identical to the previous one means the server ignores
    `offset`, which would loop forever, so it is an error.
    """
    rows: list = []
    effective, offset, previous = limit, 0, None
    info: dict[str, Any] = {"requested_limit": limit, "fallback_detected": False, "pages": 0}
    for _ in range(max_pages):
        page = fetch(offset, effective)
        info["pages"] += 1
        if page and page == previous:
            raise RetrieveError(f"d-portal returned the same rows for offset {offset} as for the "
                                "previous page: it ignores `offset`, paging is impossible (use limit: -1)")
        if len(page) == DPORTAL_DEFAULT_PAGE and effective > DPORTAL_DEFAULT_PAGE:
            log.warning("d-portal returned exactly %d rows for limit=%d: its default page; "
                        "continuing with %d-row pages", DPORTAL_DEFAULT_PAGE, effective, DPORTAL_DEFAULT_PAGE)
            effective = DPORTAL_DEFAULT_PAGE
            info["fallback_detected"] = True
        rows.extend(page)
        previous = page
        offset += len(page)
        if len(page) < effective:
            info["effective_limit"] = effective
            return rows, info
    raise RetrieveError(f"d-portal paging did not end after {max_pages} pages")


def _dportal_query(client: HttpClient, url: str, params: dict[str, Any], select: list[str], *, limit: int,
                   max_pages: int, what: str) -> tuple[list[dict[str, str]], dict[str, Any], dict[str, Any]]:
    """Rows of one q.csv query: one response with limit=-1, else pages in a total order."""
    params = {**params, "select": ",".join(select)}
    if limit < 0:
        resp = client.request("GET", url, params={**params, "limit": -1})
        rows = dportal_rows(response_text(resp), required=select, source=f"d-portal {what}")
        return rows, {"pages": 1, "requested_limit": -1, "fallback_detected": False}, {**params, "limit": -1}
    params["orderby"] = ",".join(select)  # every selected column: a total order, so OFFSET pages are disjoint

    def fetch(offset: int, lim: int) -> list[dict[str, str]]:
        resp = client.request("GET", url, params={**params, "limit": lim, "offset": offset})
        return dportal_rows(response_text(resp), required=select, source=f"d-portal {what} offset {offset}")

    rows, info = page_dportal(fetch, limit=limit, max_pages=max_pages)
    return rows, info, {**params, "limit": limit}


def _main_sectors(rows: list[dict[str, str]]) -> dict[str, tuple[str, str]]:
    """aid → (sector_code, sector_group) of its largest sector share (ties: the lowest code)."""
    best: dict[str, tuple[float, str, str]] = {}
    for r in rows:
        try:
            pct = float(r.get("sector_percent") or 100.0)
        except ValueError:
            pct = 0.0
        code = r.get("sector_code", "").strip()
        group = r.get("sector_group", "").strip() or code
        current = best.get(r["aid"])
        if current is None or (pct, -_as_int(code)) > (current[0], -_as_int(current[1])):
            best[r["aid"]] = (pct, code, group)
    return {aid: (code, sector_group_name(group)) for aid, (_, code, group) in best.items()}


def _as_int(code: str) -> int:
    return int(code) if code.isdigit() else 10**9


def _download_dportal(country: Mapping[str, Any], options: Mapping[str, Any], dest: Path) -> Retrieved:
    url = str(options.get("base_url") or DPORTAL_BASE_URL).rstrip("/") + "/q.csv"
    code = options.get("recipient_country") or country["sources"]["iati_recipient_country"]
    limit, max_pages = int(options.get("limit", -1)), int(options.get("max_pages") or 100_000)
    if limit == 0 or limit < -1:
        raise RetrieveError(f"iati option `limit` must be -1 (everything in one response) or positive, not {limit}")
    client = HttpClient.from_options(options, dataset="iati", user_file_hint=USER_FILE_HINT)
    base = {"country_code": code}
    locs, loc_info, loc_params = _dportal_query(client, url, {"from": "act,location,country", **base},
                                                LOCATION_SELECT, limit=limit, max_pages=max_pages,
                                                what="locations")
    if not locs:
        raise EmptyResultError(f"d-portal returned no activity locations for recipient country {code!r} "
                               f"({url} with {loc_params}); d-portal answers a query it cannot run with an "
                               "empty 200 response: check `sources.iati_recipient_country` and the query")
    secs, sec_info, sec_params = _dportal_query(client, url, {"from": "act,sector,country", **base},
                                                SECTOR_SELECT, limit=limit, max_pages=max_pages, what="sectors")
    main = _main_sectors(secs)
    out = []
    for r in locs:
        sc, grp = main.get(r["aid"], ("", ""))
        rec = {**{c: r[c] for c in LOCATION_SELECT}, "sector_code": sc, "sector_group": grp,
               "value_currency": "USD"}
        out.append([rec[c] for c in COLUMNS])
    n = write_csv_rows(dest, COLUMNS, out)
    return Retrieved(files=[dest],
                     sources=[{"url": url, "params": loc_params, **loc_info},
                              {"url": url, "params": sec_params, **sec_info}],
                     notes={"api": "d-portal", "rows": n, "recipient_country": code,
                            "activities_without_sector": len({r["aid"] for r in locs} - set(main)),
                            "fallback_detected": loc_info["fallback_detected"] or sec_info["fallback_detected"]})


# ----------------------------------------------------------------------------- Datastore

def _values(value: Any) -> list:
    """The Datastore gives single values as scalars and repeated ones as lists."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _first(value: Any) -> str:
    items = _values(value)
    return "" if not items or items[0] is None else str(items[0])


def _money(doc: Mapping[str, Any], rates: Mapping[str, float]) -> tuple[str, str, str, str]:
    """(commitment, spend, value_currency, problem) of an activity document; never mixes currencies.

    Types and values pair up (both are required in a transaction); currencies pair up only when
    every transaction states one, else an absent list means the activity's default currency.
    """
    types = [str(t) for t in _values(doc.get("transaction_transaction_type_code"))]
    values = _values(doc.get("transaction_value"))
    if not types and not values:
        return "", "", "", ""
    if len(types) != len(values):
        return "", "", "", "types and values of the transactions do not pair up"
    stated = [str(c).upper() for c in _values(doc.get("transaction_value_currency"))]
    default = _first(doc.get("default_currency")).upper()
    if len(stated) == len(values):
        currencies = stated
    elif not stated and default:
        currencies = [default] * len(values)
    else:
        return "", "", "", "transaction currencies cannot be attributed"
    sums: dict[str, dict[str, float]] = defaultdict(lambda: {"commitment": 0.0, "spend": 0.0})
    for t, v, cur in zip(types, values, currencies):
        try:
            amount = float(v)
        except (TypeError, ValueError):
            return "", "", "", f"transaction value {v!r} is not a number"
        kind = "commitment" if t in COMMITMENT_TYPES else "spend" if t in SPEND_TYPES else None
        if kind:
            sums[cur][kind] += amount
    if not sums:
        return "", "", "", ""
    total = {"commitment": 0.0, "spend": 0.0}
    for cur, parts in sums.items():
        rate = 1.0 if cur == "USD" else rates.get(cur)
        if rate is None:
            return "", "", "+".join(sorted(sums)), ""
        for kind in total:
            total[kind] += parts[kind] * float(rate)
    return repr(round(total["commitment"], 2)), repr(round(total["spend"], 2)), "USD", ""


def _datastore_rows(doc: Mapping[str, Any], rates: Mapping[str, float]) -> tuple[list[list[str]], str, str]:
    """One row per location of an activity document; (rows, value currency, problem)."""
    dates = dict(zip([str(t) for t in _values(doc.get("activity_date_type"))],
                     [str(d)[:10] for d in _values(doc.get("activity_date_iso_date"))]))
    start = dates.get("2") or dates.get("1", "")
    end = dates.get("4") or dates.get("3", "")
    codes = [str(c) for c in _values(doc.get("sector_code"))]
    vocab = [str(v) for v in _values(doc.get("sector_vocabulary"))]
    vocab = vocab if len(vocab) == len(codes) else ["1"] * len(codes)  # vocabulary 1 (DAC 5-digit) is the default
    dac = [c for c, v in zip(codes, vocab) if v in ("1", "2") and c] or codes
    commitment, spend, currency, problem = _money(doc, rates)
    base = [_first(doc.get("iati_identifier")), _first(doc.get("title_narrative")),
            _first(doc.get("reporting_org_ref")), _first(doc.get("reporting_org_narrative")),
            _first(doc.get("activity_status_code")), start, end,
            dac[0] if dac else "", sector_group_name(dac[0]) if dac else ""]
    money = [commitment, spend, currency]
    positions = _values(doc.get("location_point_pos"))
    names = _values(doc.get("location_name_narrative"))
    if not positions:
        return [base + ["", "", ""] + money], currency, problem
    rows = []
    for i, pos in enumerate(positions):
        lat, lon = (str(pos).split() + ["", ""])[:2]  # IATI point/pos is "latitude longitude"
        rows.append(base + [lat, lon, str(names[i]) if i < len(names) else ""] + money)
    return rows, currency, problem


def _download_datastore(country: Mapping[str, Any], options: Mapping[str, Any], dest: Path,
                        key: str) -> Retrieved:
    url = str(options.get("base_url") or DATASTORE_BASE_URL).rstrip("/") + "/activity/select"
    code = options.get("recipient_country") or country["sources"]["iati_recipient_country"]
    rows_per = int(options.get("rows") or 1000)
    rates = {str(k).upper(): float(v) for k, v in (options.get("currency_rates") or {}).items()}
    client = HttpClient.from_options(options, auth_env=(ENV_KEY,), dataset="iati", user_file_hint=USER_FILE_HINT)
    fields = ("iati_identifier,title_narrative,reporting_org_ref,reporting_org_narrative,"
              "activity_status_code,activity_date_type,activity_date_iso_date,sector_code,"
              "sector_vocabulary,location_point_pos,location_name_narrative,default_currency,"
              "transaction_transaction_type_code,transaction_value,transaction_value_currency")
    # `id` is unique per document (refresher's solrize), so (iati_identifier, id) is a total order.
    params = {"q": f"recipient_country_code:{code}", "fl": fields, "wt": "json",
              "rows": rows_per, "sort": "iati_identifier asc,id asc"}
    out: list[list[str]] = []
    unconverted: dict[str, int] = defaultdict(int)
    problems: list[str] = []
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
            rows, currency, problem = _datastore_rows(doc, rates)
            out.extend(rows)
            if currency not in ("", "USD"):
                unconverted[currency] += 1
            if problem:
                problems.append(f"{_first(doc.get('iati_identifier'))}: {problem}")
        if not docs:
            break
        start += len(docs)
    if not out:
        raise EmptyResultError(f"IATI Datastore returned no activities for recipient country {code!r}")
    if unconverted:
        log.warning("IATI Datastore: %d activities have values in other currencies (%s) and no rate in "
                    "`currency_rates`: their commitment/spend stay empty", sum(unconverted.values()),
                    ", ".join(sorted(unconverted)))
    if problems:
        log.warning("IATI Datastore: %d activities without usable money values (e.g. %s)", len(problems), problems[0])
    n = write_csv_rows(dest, COLUMNS, out)
    return Retrieved(files=[dest], sources=[{"url": url, "params": params, "pages": pages}],
                     notes={"api": "datastore", "rows": n, "activities": found, "recipient_country": code,
                            "currency_rates_usd_per_unit": rates, "unconverted_activities": dict(unconverted),
                            "activities_with_unusable_values": len(problems)})


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


def convert_user(src: Path, dest: Path, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A d-portal CSV export (q.csv as saved, or with `human=1`) → `activities.csv`.

    `null` cells become empty; `sector_group` (a 3-digit code or a name, or derived from
    `sector_code`) becomes the paper's label. Only REQUIRED_COLUMNS (with `sector_code` standing in
    for `sector_group`) must be present; other columns pass unchanged.
    """
    header, rows = parse_csv_text(read_text_file(src), source=str(src))
    needed = [c for c in REQUIRED_COLUMNS if c != "sector_group"]
    missing = [c for c in needed if c not in header]
    if "sector_group" not in header and "sector_code" not in header:
        missing.append("sector_group (or sector_code)")
    if missing:
        raise SchemaError(f"IATI file {src}: missing column(s) {', '.join(missing)} (columns: {', '.join(header)}); "
                          "export activities joined with locations from d-portal (from=act,location,country)")
    if not rows:
        raise EmptyResultError(f"IATI file {src} has no rows")
    derived = "sector_group" not in header
    out_header = header + (["sector_group"] if derived else [])
    gi = out_header.index("sector_group")
    ci = header.index("sector_code") if "sector_code" in header else None
    ai = header.index("aid")
    out = []
    for r in rows:
        rec = ["" if v == "null" else v for v in r] + ([""] if derived else [])
        rec[ai] = dportal_aid(rec[ai])
        group = rec[gi] or (rec[ci] if ci is not None else "")
        rec[gi] = sector_group_name(group)
        out.append(rec)
    n = write_csv_rows(Path(dest), out_header, out)
    return {"rows": n, "sector_group_derived": derived}
