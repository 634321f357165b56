"""UN Peace and Security Data Hub (api.psdata.un.org): QIPs (`DPO-QIP`) and other datasets.

The hub's column names are not under our control, so the metadata endpoint is read first and
the config's column mapping is checked against it before any data is fetched: a renamed column
fails with its name instead of producing an empty analysis. Numbers in the QIP file are text
(non-breaking spaces, thousands separators), parsed leniently only to report counts.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Mapping

from .http import (EmptyResultError, HttpClient, RetrieveError, SchemaError, log, parse_csv_text,
                   read_text_file, response_text, write_csv_rows)
from .provenance import Retrieved

__all__ = ["BASE_URL", "QIP_COLUMNS", "metadata_columns", "fetch_csv", "resolve_columns",
           "lenient_number", "download_qips", "convert_qips"]

BASE_URL = "https://api.psdata.un.org/public"
QIP_COLUMNS = ["ref", "mission", "title", "start_date", "end_date", "category", "activity_type",
               "region", "latitude", "longitude", "amount_disbursed", "status"]


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def lenient_number(text: Any, *, comma: str = "auto") -> float:
    """Parse '12\u00a0500', '1,234.50', '1.234,5' or '-3,45'; anything unparseable is NaN.

    `comma` says what a lone comma means: "decimal" (coordinates), "thousands" (amounts) or
    "auto" (thousands only if followed by exactly three digits).
    """
    if text is None:
        return math.nan
    s = re.sub(r"[\s\u00a0\u202f]", "", str(text))
    if not s:
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


def metadata_columns(meta: Any) -> list[str]:
    """Column names from a metadata document, whatever nesting the hub uses."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.lower() in ("columns", "fields", "column", "schema") and isinstance(value, list):
                    for item in value:
                        if isinstance(item, str):
                            found.append(item)
                        elif isinstance(item, dict):
                            for k in ("name", "column_name", "columnName", "field", "id"):
                                if k in item and isinstance(item[k], str):
                                    found.append(item[k])
                                    break
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(meta)
    return list(dict.fromkeys(found))


def resolve_columns(available: list[str], mapping: Mapping[str, str], required: list[str], *,
                    source: str) -> dict[str, str]:
    """Map each contract column to a provider column: explicit mapping, else a normalised match."""
    by_norm = {_norm(c): c for c in available}
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for col in required:
        wanted = mapping.get(col)
        if wanted is not None:
            if wanted in available:
                resolved[col] = wanted
            else:
                missing.append(f"{col} (mapped to {wanted!r})")
        elif _norm(col) in by_norm:
            resolved[col] = by_norm[_norm(col)]
        else:
            missing.append(col)
    if missing:
        raise SchemaError(f"{source}: missing column(s) {', '.join(missing)}; available: "
                          f"{', '.join(available)}. Set the mapping under options `columns`.")
    return resolved


def fetch_csv(client: HttpClient, base: str, dataset_id: str, *, per_page: int,
              filter_expr: str | None = None, max_pages: int = 10_000) -> tuple[list[str], list[list[str]], int]:
    """Page through `/data/{id}/csv` with per_page/page_num until a short page."""
    url = f"{base}/data/{dataset_id}/csv"
    header: list[str] = []
    rows: list[list[str]] = []
    pages = 0
    for page in range(1, max_pages + 1):
        params: dict[str, Any] = {"per_page": per_page, "page_num": page}
        if filter_expr:
            params["filter"] = filter_expr
        resp = client.request("GET", url, params=params)
        page_header, page_rows = parse_csv_text(response_text(resp), source=f"{dataset_id} page {page}")
        if page_header and header and page_header != header:
            raise SchemaError(f"{dataset_id}: header changed between pages ({page_header} vs {header})")
        header = header or page_header
        pages = page
        if len(page_rows) > per_page:
            # The hub ignored per_page and sent everything: identical rows are legitimate in
            # these files (one row per fatality), so a longer page, not a repeat, is the signal.
            log.warning("%s: page %d has %d rows for per_page=%d; the hub ignored paging",
                        dataset_id, page, len(page_rows), per_page)
            if page > 1:
                raise RetrieveError(f"{dataset_id}: paging ignored after page 1; rerun with a larger per_page")
            rows = page_rows
            break
        rows.extend(page_rows)
        if len(page_rows) < per_page:
            break
    else:
        raise RetrieveError(f"{dataset_id}: paging did not end after {max_pages} pages; raise `max_pages`")
    return header, rows, pages


def _write_mapped(header: list[str], rows: list[list[str]], resolved: Mapping[str, str],
                  dest: Path) -> int:
    index = {c: i for i, c in enumerate(header)}
    extra = [c for c in header if c not in resolved.values() and c not in resolved]
    out_header = list(resolved) + extra
    return write_csv_rows(dest, out_header,
                          ([row[index[resolved[c]]] for c in resolved] + [row[index[c]] for c in extra]
                           for row in rows))


def _coordinate_count(header: list[str], rows: list[list[str]], resolved: Mapping[str, str]) -> int:
    i, j = header.index(resolved["latitude"]), header.index(resolved["longitude"])
    return sum(1 for r in rows
               if not (math.isnan(lenient_number(r[i], comma="decimal"))
                       or math.isnan(lenient_number(r[j], comma="decimal"))))


def download_qips(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                  version: str) -> Retrieved:
    """Read DPO-QIP metadata, check the column mapping, page the CSV, keep the mission's rows."""
    base = str(options.get("base_url", BASE_URL)).rstrip("/")
    dataset_id = options.get("dataset_id", "DPO-QIP")
    mapping = dict(options.get("columns") or {})
    mission = options.get("mission") or country["sources"].get("qip_mission") or country.get("mission")
    client = HttpClient.from_options(options)
    meta = client.get_json(f"{base}/metadata/{dataset_id}")
    available = metadata_columns(meta)
    if available:
        resolve_columns(available, mapping, QIP_COLUMNS, source=f"{dataset_id} metadata")
    else:
        log.warning("%s metadata lists no columns; checking the CSV header instead", dataset_id)
    header, rows, pages = fetch_csv(client, base, dataset_id, per_page=int(options.get("per_page", 1000)),
                                    filter_expr=options.get("filter"),
                                    max_pages=int(options.get("max_pages", 10_000)))
    resolved = resolve_columns(header, mapping, QIP_COLUMNS, source=f"{dataset_id} CSV")
    total = len(rows)
    if mission:
        k = header.index(resolved["mission"])
        rows = [r for r in rows if r[k].strip().upper() == str(mission).upper()]
    if not rows:
        raise EmptyResultError(f"{dataset_id}: no QIPs for mission {mission!r} ({total} rows in total); "
                               "check `sources.qip_mission` and the `filter` option")
    dest = Path(out_dir) / "qips.csv"
    n = _write_mapped(header, rows, resolved, dest)
    params = {"per_page": options.get("per_page", 1000)}
    if options.get("filter"):
        params["filter"] = options["filter"]
    return Retrieved(files=[dest],
                     sources=[{"url": f"{base}/metadata/{dataset_id}"},
                              {"url": f"{base}/data/{dataset_id}/csv", "params": params, "pages": pages}],
                     notes={"rows": n, "mission": mission, "column_mapping": resolved,
                            "rows_with_coordinates": _coordinate_count(header, rows, resolved)})


def convert_qips(src: Path, dest: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    """Map a hub CSV export (user file) to `qips.csv` through the same column mapping."""
    header, rows = parse_csv_text(read_text_file(src), source=str(src))
    resolved = resolve_columns(header, dict(options.get("columns") or {}), QIP_COLUMNS,
                               source=f"QIP file {src}")
    if not rows:
        raise EmptyResultError(f"QIP file {src} has no rows")
    n = _write_mapped(header, rows, resolved, Path(dest))
    return {"rows": n, "column_mapping": resolved,
            "rows_with_coordinates": _coordinate_count(header, rows, resolved)}
