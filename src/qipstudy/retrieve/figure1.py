"""Figure 1 inputs: Aid Worker Security Database incidents and UN peacekeeping fatalities.

Both are small global CSVs; they are fetched whole (the figure ranks countries and missions,
so no country filter) and checked against the columns the figure reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .http import (EmptyResultError, HttpClient, parse_csv_text, read_text_file, require_columns,
                   response_text, write_csv_rows)
from .provenance import Retrieved
from .psdh import BASE_URL, fetch_csv, resolve_columns

__all__ = ["AWSD_COLUMNS", "FATALITY_COLUMNS", "AWSD_URL", "download_awsd",
           "download_un_fatalities", "check_csv"]

AWSD_COLUMNS = ["Incident ID", "Year", "Month", "Day", "Country Code", "Country", "Total killed",
                "Total wounded", "Total kidnapped", "Total affected"]
FATALITY_COLUMNS = ["Incident_Date", "Mission_Acronym", "Type_Of_Incident",
                    "Casualty_Personnel_Type", "Country", "M49_Code"]
AWSD_URL = "https://www.aidworkersecurity.org/incidents/search?detail=1&format=csv"


def check_csv(src: Path, required: list[str], dest: Path, what: str) -> int:
    """Strictly parse a CSV, require columns and rows, and rewrite it atomically to `dest`."""
    header, rows = parse_csv_text(read_text_file(src), source=str(src))
    require_columns(header, required, source=f"{what} {src}")
    if not rows:
        raise EmptyResultError(f"{what} {src} has no rows")
    return write_csv_rows(Path(dest), header, rows)


def download_awsd(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                  version: str) -> Retrieved:
    """Fetch the AWSD CSV export (URL overridable: the site has no versioned API)."""
    url = options.get("url", AWSD_URL)
    client = HttpClient.from_options(options)
    resp = client.request("GET", url)
    header, rows = parse_csv_text(response_text(resp), source="AWSD export")
    require_columns(header, AWSD_COLUMNS, source="AWSD export")
    if not rows:
        raise EmptyResultError("AWSD export returned no incidents")
    dest = Path(out_dir) / "awsd.csv"
    n = write_csv_rows(dest, header, rows)
    return Retrieved(files=[dest], sources=[{"url": url}], notes={"incidents": n})


def download_un_fatalities(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                           version: str) -> Retrieved:
    """Page the hub dataset DPPADPOSS-FATALITIES (one row per fatality) into `fatalities.csv`."""
    base = str(options.get("base_url", BASE_URL)).rstrip("/")
    dataset_id = options.get("dataset_id", "DPPADPOSS-FATALITIES")
    client = HttpClient.from_options(options)
    header, rows, pages = fetch_csv(client, base, dataset_id, per_page=int(options.get("per_page", 5000)),
                                    max_pages=int(options.get("max_pages", 10_000)))
    resolved = resolve_columns(header, dict(options.get("columns") or {}), FATALITY_COLUMNS,
                               source=f"{dataset_id} CSV")
    if not rows:
        raise EmptyResultError(f"{dataset_id}: no fatalities returned")
    renamed = [next((k for k, v in resolved.items() if v == h), h) for h in header]
    dest = Path(out_dir) / "fatalities.csv"
    n = write_csv_rows(dest, renamed, rows)
    return Retrieved(files=[dest], sources=[{"url": f"{base}/data/{dataset_id}/csv", "pages": pages}],
                     notes={"fatalities": n})
