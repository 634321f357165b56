"""UN Peace and Security Data Hub (api.psdata.un.org/public): MINUSMA's Quick Impact Projects.

The hub's real shapes (psdata.un.org "API structure"; the OCHA HDX scraper
OCHA-DAP/hdx-scraper-peacesecurity and its fixtures):

* `GET /metadata/all` is a list of dataset records; each names its columns under
  "Column definitions" → "Column Name" (with a "Format": "Date", "Number", "Currency", ...). The
  column check runs against it before any data is fetched, so a renamed column fails by name.
* `GET /data/{id}/json` is a list of records whose dates are epoch milliseconds (negative before
  1970); `GET /data/{id}/csv` has a header and ISO dates. `per_page`/`page_num` page (1-based;
  without them the hub sends everything), `filter=col:v1,v2;col2:v` filters.
* DPO-QIP has up to five sites per project (`latitude1..5`, `longitude1..5`, `location1..5`).
  The paper used one point per QIP; here a QIP keeps one row, placed at its **first located
  site** (the lowest k whose latitude k and longitude k both parse), so every located QIP stays in
  the analysis; `location_slot` says which site, `n_located_sites` how many it had.

`convert_qip_table` is the one normalisation of a QIP list, used for hub pages and for user files
(a hub export in CSV or JSON, or the paper's prepared file with `ref, latitude, longitude`, which
passes unchanged). Numbers stay text as delivered; prepare.read_qips parses them leniently.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from qipstudy.prepare import QIP_COLUMNS as _READER_COLUMNS

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
    "BASE_URL",
    "OPTIONS_SCHEMA",
    "QIP_ALIASES",
    "QIP_COLUMNS",
    "QIP_DATASET",
    "QIP_HUB_COLUMNS",
    "SITE_SLOTS",
    "check_metadata_columns",
    "convert_qip_table",
    "convert_qips",
    "dataset_metadata",
    "download_qips",
    "epoch_ms_to_date",
    "fetch_dataset",
    "lenient_number",
    "metadata_columns",
    "metadata_date_columns",
    "normalise_name",
    "read_table_file",
    "records_to_rows",
]

BASE_URL = "https://api.psdata.un.org/public"
QIP_DATASET = "DPO-QIP"
# Required columns of the contract file qips.csv: what the prepare and table steps read.
QIP_COLUMNS = list(_READER_COLUMNS)
# The DPO-QIP columns the client needs (its "Column definitions"), by the contract column they feed.
QIP_HUB_COLUMNS = {"ref": "qip_ref", "mission": "mission_acronym", "start_date": "start_date",
                   "activity_type": "activity_type", "category": "category", "amount_disbursed": "amount_disbursed",
                   "latitude": "latitude1", "longitude": "longitude1"}
SITE_SLOTS = 5
# Contract column → the provider names it is recognised under (after name normalisation).
QIP_ALIASES = {
    "ref": ("ref", "qip_ref"),
    "mission": ("mission", "mission_acronym"),
    "start_date": ("start_date",),
    "end_date": ("end_date",),
    "activity_type": ("activity_type",),
    "category": ("category",),
    "amount_disbursed": ("amount_disbursed",),
    "latitude": ("latitude",),
    "longitude": ("longitude",),
}

# What replaces the download when the hub cannot be reached (named in the offline error).
USER_FILE_HINT = "the hub's DPO-QIP export (CSV or JSON) or the paper's prepared QIP file"
OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Options of the `qip` dataset (UN Peace and Security Data Hub, DPO-QIP).",
    "properties": {
        "base_url": {"type": "string", "default": BASE_URL,
                     "description": "Root of the hub's public API (`/metadata/all`, `/data/{id}/{format}`)."},
        "dataset_id": {"type": "string", "default": QIP_DATASET, "description": "Hub dataset id of the QIP list."},
        "format": {"type": "string", "enum": ["json", "csv"], "default": "json",
                   "description": "Hub output format to page: json (epoch-ms dates, converted) or csv (ISO dates)."},
        "per_page": {"type": "integer", "minimum": 1, "default": 1000, "description": "Records per hub page."},
        "max_pages": {"type": "integer", "minimum": 1, "default": 10000,
                      "description": "Stop with an error after this many pages (a hub that never ends)."},
        "filter": {"type": ["string", "null"], "default": None,
                   "description": "Hub-side filter, `column:v1,v2;column2:v` (the mission is filtered locally anyway)."},
        "mission": {"type": ["string", "null"], "default": None,
                    "description": "Mission acronym whose QIPs are kept; null: the country's `sources.qip_mission`."},
        "columns": {"type": "object", "additionalProperties": {"type": "string"}, "default": {},
                    "description": "Contract column → provider column, for files whose names differ "
                                   "(e.g. {ref: QIP_Ref}); others are matched by normalised name."},
    },
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def normalise_name(name: str) -> str:
    """Compare provider column names ignoring case, spaces and punctuation (`Start Date` = `start_date`)."""
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def lenient_number(text: Any, *, comma: str = "auto") -> float:
    """Parse '12\u00a0500', '1,234.50', '1.234,5' or '-3,45'; anything unparseable is NaN.

    `comma` says what a lone comma means: "decimal" (coordinates), "thousands" (amounts) or
    "auto" (thousands only if followed by exactly three digits).
    """
    if text is None:
        return math.nan
    s = re.sub(r"[\s\u00a0\u202f]", "", str(text))
    if not s or s.lower() == "null":
        return math.nan
    if "," in s and "." in s:
        s = s.replace(",", "") if s.rfind(".") > s.rfind(",") else s.replace(".", "").replace(",", ".")
    elif "," in s:
        tail = s.rpartition(",")[2]
        thousands = comma == "thousands" or s.count(",") > 1 or (
            comma == "auto" and len(tail) == 3 and tail.isdigit())
        s = s.replace(",", "") if thousands else s.replace(",", ".")
    try:
        return float(s)
    except ValueError:
        return math.nan


# ----------------------------------------------------------------------------- metadata

def dataset_metadata(client: HttpClient, base: str, dataset_id: str) -> dict[str, Any]:
    """The dataset's record from `/metadata/all` (a list of records keyed by "Dataset ID")."""
    url = f"{base}/metadata/all"
    records = parse_json(client.request("GET", url), source=f"{url}")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise CorruptFileError(f"{url}: expected a JSON list of dataset records, got {type(records).__name__}")
    ids = [str(r.get("Dataset ID", "")) for r in records]
    for rec, rid in zip(records, ids):
        if rid == dataset_id:
            return rec
    near = difflib.get_close_matches(dataset_id, ids, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise SchemaError(f"{url} lists no dataset {dataset_id!r} ({len(ids)} datasets){hint} "
                      "Set the `dataset_id` option to one of the hub's ids")


def metadata_columns(record: Mapping[str, Any]) -> list[str]:
    """Column names of a metadata record ("Column definitions" → "Column Name")."""
    defs = record.get("Column definitions") or []
    return [str(d["Column Name"]) for d in defs if isinstance(d, dict) and d.get("Column Name")]


def metadata_date_columns(record: Mapping[str, Any]) -> set[str]:
    """Columns the metadata declares with "Format": "Date" (epoch milliseconds in the JSON output)."""
    defs = record.get("Column definitions") or []
    return {str(d["Column Name"]) for d in defs
            if isinstance(d, dict) and d.get("Column Name") and str(d.get("Format", "")).lower() == "date"}


def check_metadata_columns(record: Mapping[str, Any], needed: Iterable[str], *, dataset_id: str) -> None:
    """Fail, naming them and the hub's list, if the metadata lacks columns the client needs."""
    available = metadata_columns(record)
    if not available:
        log.warning("%s metadata lists no columns; checking the data header instead", dataset_id)
        return
    by_norm = {normalise_name(c) for c in available}
    missing = [c for c in needed if normalise_name(c) not in by_norm]
    if missing:
        raise SchemaError(f"{dataset_id} metadata: missing column(s) {', '.join(missing)} "
                          f"(the hub lists: {', '.join(available)}); the dataset's schema changed: map the "
                          "new names with the `columns` option")


# ----------------------------------------------------------------------------- data pages

def epoch_ms_to_date(value: Any) -> str:
    """`YYYY-MM-DD` (UTC) of the hub's epoch-millisecond dates; text and empty values pass through."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, (int, float)) and math.isfinite(value):
        return (_EPOCH + timedelta(milliseconds=value)).strftime("%Y-%m-%d")
    return str(value)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)  # 250.0 stays 250.0, as the hub's CSV writes it


def _is_date_column(name: str, declared: set[str]) -> bool:
    return name in declared or "date" in name.lower() or name.lower() == "last_update"


def records_to_rows(records: Sequence[Mapping[str, Any]], *, date_columns: set[str] = frozenset(),
                    source: str) -> tuple[list[str], list[list[str]]]:
    """JSON records → (header, rows): keys in first-seen order, epoch-ms dates as ISO dates."""
    header: list[str] = []
    for rec in records:
        if not isinstance(rec, Mapping):
            raise CorruptFileError(f"{source}: expected JSON records (objects), got {type(rec).__name__}")
        header.extend(k for k in rec if k not in header)
    dates = {k for k in header if _is_date_column(k, set(date_columns))}
    rows = [[epoch_ms_to_date(rec.get(k)) if k in dates else _cell(rec.get(k)) for k in header]
            for rec in records]
    return header, rows


def _align(header: list[str], page_header: list[str], page_rows: list[list[str]], *,
           source: str) -> list[list[str]]:
    """Rows of a later page in the first page's column order, matched by name (never by position)."""
    if page_header == header:
        return page_rows
    if sorted(page_header) != sorted(header):
        raise SchemaError(f"{source}: columns differ from the first page's "
                          f"(new: {sorted(set(page_header) - set(header))}, "
                          f"missing: {sorted(set(header) - set(page_header))}); the dataset changed while "
                          "it was being paged: retrieve it again")
    index = [page_header.index(c) for c in header]
    return [[row[i] for i in index] for row in page_rows]


def fetch_dataset(client: HttpClient, base: str, dataset_id: str, *, fmt: str = "json", per_page: int = 1000,
                  max_pages: int = 10_000, filter_expr: str | None = None,
                  date_columns: set[str] = frozenset()) -> tuple[list[str], list[list[str]], int]:
    """Page `/data/{id}/{fmt}` with per_page/page_num until a short page; (header, rows, pages).

    Every page's columns are matched by name to the first page's. A page longer than `per_page`
    means the hub ignored paging and sent everything (accepted on page 1); a full page equal to
    the previous one means it ignores `page_num`, which would never end: an error.
    """
    if fmt not in ("json", "csv"):
        raise RetrieveError(f"{dataset_id}: option `format` must be json or csv, not {fmt!r}")
    url = f"{base}/data/{dataset_id}/{fmt}"
    header: list[str] = []
    rows: list[list[str]] = []
    previous: list[list[str]] | None = None
    for page in range(1, max_pages + 1):
        params: dict[str, Any] = {"per_page": per_page, "page_num": page}
        if filter_expr:
            params["filter"] = filter_expr
        resp = client.request("GET", url, params=params)
        source = f"{dataset_id} page {page}"
        if fmt == "json":
            payload = parse_json(resp, source=source)
            if not isinstance(payload, list):
                raise CorruptFileError(f"{source}: expected a JSON list of records, got "
                                       f"{json.dumps(payload)[:200]}")
            page_header, page_rows = records_to_rows(payload, date_columns=date_columns, source=source)
        else:
            page_header, page_rows = parse_csv_text(response_text(resp), source=source)
        if page_rows:
            if not header:
                header = page_header
            else:
                page_rows = _align(header, page_header, page_rows, source=source)
        if len(page_rows) > per_page:
            log.warning("%s: page %d has %d rows for per_page=%d; the hub ignored paging",
                        dataset_id, page, len(page_rows), per_page)
            if page > 1:
                raise RetrieveError(f"{dataset_id}: paging ignored after page 1; rerun with a larger `per_page`")
            return header, page_rows, page
        if page_rows and page_rows == previous:
            raise RetrieveError(f"{dataset_id}: page {page} repeats page {page - 1}: the hub ignores `page_num`; "
                                f"set `per_page` above the dataset's size to fetch it in one page")
        rows.extend(page_rows)
        previous = page_rows
        if len(page_rows) < per_page:
            return header, rows, page
    raise RetrieveError(f"{dataset_id}: paging did not end after {max_pages} pages; raise `max_pages`")


def read_table_file(src: Path, *, what: str) -> tuple[list[str], list[list[str]]]:
    """A user file as (header, rows): a CSV (BOM, cp1252 accepted) or a hub JSON download."""
    text = read_text_file(src)
    if Path(src).suffix.lower() == ".json" or text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except ValueError as exc:
            raise CorruptFileError(f"{what} {src}: not valid JSON ({exc})") from exc
        if not isinstance(records, list):
            raise CorruptFileError(f"{what} {src}: expected a JSON list of records (the hub's /json output)")
        return records_to_rows(records, source=f"{what} {src}")
    return parse_csv_text(text, source=str(src))


# ----------------------------------------------------------------------------- QIP table

def _locate_columns(header: list[str], mapping: Mapping[str, str], *, source: str) -> dict[str, int]:
    """Contract column → index in `header`: the `columns` mapping first, then the known names."""
    index: dict[str, int] = {}
    for contract, provider in mapping.items():
        if contract not in QIP_ALIASES:
            raise SchemaError(f"{source}: option `columns` maps {contract!r}, which is not a QIP contract column "
                              f"(one of {', '.join(QIP_ALIASES)})")
        if provider not in header:
            raise SchemaError(f"{source}: option `columns` maps {contract!r} to {provider!r}, which the file "
                              f"does not have (columns: {', '.join(header)})")
        index[contract] = header.index(provider)
    by_norm: dict[str, int] = {}
    for i, name in enumerate(header):
        by_norm.setdefault(normalise_name(name), i)
    for contract, aliases in QIP_ALIASES.items():
        if contract not in index:
            found = next((by_norm[a] for a in aliases if a in by_norm), None)
            if found is not None:
                index[contract] = found
    return index


def _site_slots(header: list[str]) -> list[tuple[int, int, int | None, int]]:
    """(lat index, lon index, location index, k) of the hub's sites 1..5 present in `header`."""
    by_norm = {normalise_name(n): i for i, n in enumerate(header)}
    slots = []
    for k in range(1, SITE_SLOTS + 1):
        lat, lon = by_norm.get(f"latitude{k}"), by_norm.get(f"longitude{k}")
        if lat is not None and lon is not None:
            slots.append((lat, lon, by_norm.get(f"location{k}"), k))
    return slots


def _has_point(lat: str, lon: str) -> bool:
    return not (math.isnan(lenient_number(lat, comma="decimal")) or math.isnan(lenient_number(lon, comma="decimal")))


def convert_qip_table(header: list[str], rows: list[list[str]], *, columns: Mapping[str, str] | None = None,
                      mission: str | None = None, source: str) -> tuple[list[str], list[list[str]], dict[str, Any]]:
    """Any QIP list (hub page rows, hub export, the paper's prepared file) → the contract table.

    Contract columns come first (`ref, mission, start_date, end_date, activity_type, category,
    latitude, longitude, amount_disbursed, location_slot, n_located_sites`), then every other
    column of the source unchanged. Without `latitude`/`longitude` columns the point is the first
    located hub site (see the module docstring). Rows of other missions are dropped when the file
    has a mission column. Fails on missing columns (naming them and the fix) and on a list in
    which no QIP is located.
    """
    index = _locate_columns(header, dict(columns or {}), source=source)
    slots = [] if ("latitude" in index and "longitude" in index) else _site_slots(header)
    needed = [c for c in QIP_COLUMNS if c not in ("latitude", "longitude")]
    missing = [c for c in needed if c not in index]
    if not slots and not ("latitude" in index and "longitude" in index):
        missing.append("latitude/longitude (or the hub's latitude1/longitude1)")
    if missing:
        raise SchemaError(f"{source}: missing QIP column(s) {', '.join(missing)} (columns: {', '.join(header)}); "
                          "map them with datasets.qip.options.columns, e.g. {ref: QIP_Ref}")
    total = len(rows)
    notes: dict[str, Any] = {"rows_read": total}
    if mission and "mission" in index:
        k = index["mission"]
        present = sorted({r[k].strip() for r in rows})
        rows = [r for r in rows if r[k].strip().upper() == str(mission).strip().upper()]
        notes.update(mission=mission, rows_other_missions=total - len(rows))
        if not rows and total:
            raise EmptyResultError(f"{source}: no QIPs of mission {mission!r} among {total} rows (missions present: "
                                   f"{', '.join(present[:20])}); check `sources.qip_mission` or the `mission` option")
    elif mission:
        notes.update(mission=mission, mission_column=False)
        log.info("%s has no mission column: all %d rows are taken as %s's QIPs", source, total, mission)
    contract = ["ref", "mission", "start_date", "end_date", "activity_type", "category", "latitude", "longitude",
                "amount_disbursed", "location_slot", "n_located_sites"]
    extra = [i for i in range(len(header)) if i not in set(index.values())]
    out_header = contract + (["location"] if slots else []) + [header[i] for i in extra]
    out_rows: list[list[str]] = []
    several = located = 0
    for r in rows:
        rec = {c: r[index[c]] if c in index else "" for c in contract}
        if "mission" not in index:
            rec["mission"] = mission or ""
        if slots:
            sites = [(r[lat], r[lon], r[loc] if loc is not None else "", k) for lat, lon, loc, k in slots
                     if _has_point(r[lat], r[lon])]
            first = sites[0] if sites else ("", "", "", "")
            rec.update(latitude=first[0], longitude=first[1], location_slot=str(first[3]),
                       n_located_sites=str(len(sites)))
            site_name = [first[2]]
            several += len(sites) > 1
        else:
            has = _has_point(rec["latitude"], rec["longitude"])
            rec.update(location_slot="" if not has else "0", n_located_sites=str(int(has)))
            site_name = []
        located += rec["n_located_sites"] not in ("", "0")
        out_rows.append([rec[c] for c in contract] + site_name + [r[i] for i in extra])
    if out_rows and not located:
        raise SchemaError(f"{source}: none of the {len(out_rows)} QIPs has coordinates "
                          f"({'sites 1-' + str(SITE_SLOTS) if slots else 'latitude/longitude'} are all empty); "
                          "check the file or map the coordinate columns with datasets.qip.options.columns")
    notes.update(rows=len(out_rows), rows_with_coordinates=located,
                 point_rule="first located site of latitude1..5" if slots else "latitude/longitude columns")
    if slots:
        notes["qips_with_several_sites"] = several
    return out_header, out_rows, notes


# ----------------------------------------------------------------------------- entry points

def _mission(options: Mapping[str, Any], country: Mapping[str, Any]) -> str | None:
    return options.get("mission") or (country.get("sources") or {}).get("qip_mission") or country.get("mission")


def download_qips(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                  version: str) -> Retrieved:
    """Check DPO-QIP's metadata, page its data, keep the mission's QIPs, write `qips.csv`."""
    base = str(options.get("base_url") or BASE_URL).rstrip("/")
    dataset_id = options.get("dataset_id") or QIP_DATASET
    fmt = options.get("format") or "json"
    mapping = dict(options.get("columns") or {})
    client = HttpClient.from_options(options, dataset="qip", user_file_hint=USER_FILE_HINT)
    record = dataset_metadata(client, base, dataset_id)
    check_metadata_columns(record, [mapping.get(contract, hub) for contract, hub in QIP_HUB_COLUMNS.items()],
                    dataset_id=dataset_id)
    per_page = int(options.get("per_page") or 1000)
    header, rows, pages = fetch_dataset(client, base, dataset_id, fmt=fmt, per_page=per_page,
                                        max_pages=int(options.get("max_pages") or 10_000),
                                        filter_expr=options.get("filter"),
                                        date_columns=metadata_date_columns(record))
    if not rows:
        raise EmptyResultError(f"{dataset_id}: the hub returned no rows"
                               + (f" for filter={options['filter']!r}" if options.get("filter") else ""))
    mission = _mission(options, country)
    out_header, out_rows, notes = convert_qip_table(header, rows, columns=mapping, mission=mission,
                                                    source=f"{dataset_id} {fmt}")
    dest = Path(out_dir) / "qips.csv"
    write_csv_rows(dest, out_header, out_rows)
    params: dict[str, Any] = {"per_page": per_page}
    if options.get("filter"):
        params["filter"] = options["filter"]
    return Retrieved(files=[dest],
                     sources=[{"url": f"{base}/metadata/all", "dataset_id": dataset_id,
                               "last_update": record.get("Last Update Date")},
                              {"url": f"{base}/data/{dataset_id}/{fmt}", "params": params, "pages": pages}],
                     notes=notes)


def convert_qips(src: Path, dest: Path, options: Mapping[str, Any], *,
                 country: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A user's QIP file (the paper's prepared file, or a hub export in CSV or JSON) → `qips.csv`."""
    header, rows = read_table_file(Path(src), what="QIP file")
    if not rows:
        raise EmptyResultError(f"QIP file {src} has no rows")
    out_header, out_rows, notes = convert_qip_table(header, rows, columns=options.get("columns"),
                                                    mission=_mission(options, country or {}),
                                                    source=f"QIP file {src}")
    write_csv_rows(Path(dest), out_header, out_rows)
    return notes
