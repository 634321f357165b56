"""Figure 1 inputs: Aid Worker Security Database incidents and UN peacekeeping fatalities.

Both are small global tables, fetched whole (the figure ranks countries and missions).

* **AWSD** (Humanitarian Outcomes): the CSV export of `incidents/search?detail=1&format=csv` has
  a header row (`Incident ID, Year, Month, Day, Country Code, Country, Region, ...`) and, as its
  second row, an HXL hashtag row (`#event+id,#date+year,...`; HXL puts its tags between the
  header and the data, and may leave columns untagged). That row is dropped, never read as an
  incident. The figure needs `Year` and `Country` (`Country Code` helps to find the study country).
* **UN fatalities**: Data Hub dataset `DPPADPOSS-FATALITIES` (lower-case columns `id,
  incident_date, casualty_id, mission_acronym, type_of_casualty, gender, casualty_nationality,
  casualty_personnel_type, type_of_incident, m49_code, isocode3, last_update`; epoch-ms dates in
  JSON), or the older peacekeeping export users hold (`Casualty_ID, Incident_Date,
  Mission_Acronym, Type_of_Casualty, Casualty_Nationality, M49_Code, ISOCode3,
  Casualty_Personnel_Type, Type_Of_Incident`, with a BOM). `fatalities.csv` uses the older
  export's names (hub names are renamed to them; other columns pass unchanged); the figure needs
  `Incident_Date`, `Mission_Acronym` and `Type_Of_Incident`.

`awsd_table` and `fatalities_table` turn either file into the few normalised columns Figure 1
plots, so the figure never guesses at column names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .http import EmptyResultError, HttpClient, SchemaError, log, parse_csv_text, response_text, write_csv_rows
from .provenance import Retrieved
from .psdh import (
    BASE_URL,
    check_metadata_columns,
    dataset_metadata,
    epoch_ms_to_date,
    fetch_dataset,
    metadata_date_columns,
    normalise_name,
    read_table_file,
)

__all__ = [
    "AWSD_BASE_URL",
    "AWSD_COLUMNS",
    "AWSD_EXPORT_PATH",
    "AWSD_OPTIONS_SCHEMA",
    "FATALITIES_DATASET",
    "FATALITY_COLUMNS",
    "FATALITY_EXPORT_COLUMNS",
    "UN_FATALITIES_OPTIONS_SCHEMA",
    "awsd_table",
    "convert_awsd",
    "convert_awsd_table",
    "convert_fatality_table",
    "convert_un_fatalities",
    "download_awsd",
    "download_un_fatalities",
    "drop_hxl_row",
    "fatalities_table",
    "incident_year",
]

AWSD_BASE_URL = "https://www.aidworkersecurity.org"
AWSD_EXPORT_PATH = "/incidents/search?detail=1&format=csv"
# Required columns of the contract files (what Figure 1 reads).
AWSD_COLUMNS = ["Year", "Country"]
FATALITY_COLUMNS = ["Incident_Date", "Mission_Acronym", "Type_Of_Incident"]
# The older export's names: the names of fatalities.csv (the hub's are these, lower-cased).
FATALITY_EXPORT_COLUMNS = ["Casualty_ID", "Incident_Date", "Mission_Acronym", "Type_of_Casualty",
                           "Casualty_Nationality", "M49_Code", "ISOCode3", "Casualty_Personnel_Type",
                           "Type_Of_Incident"]
FATALITIES_DATASET = "DPPADPOSS-FATALITIES"

# What replaces the download when a provider cannot be reached (named in the offline error).
AWSD_USER_FILE_HINT = "the AWSD incident export (CSV, with or without its HXL row)"
FATALITIES_USER_FILE_HINT = "the UN peacekeeping fatalities export (hub CSV/JSON or the older CSV)"
AWSD_OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Options of the `awsd` dataset (Aid Worker Security Database CSV export).",
    "properties": {
        "base_url": {"type": "string", "default": AWSD_BASE_URL,
                     "description": f"Root of the AWSD site; the export is `{{base_url}}{AWSD_EXPORT_PATH}`."},
        "url": {"type": ["string", "null"], "default": None,
                "description": "Full export URL, overriding base_url (the site has no versioned API; a user file "
                               "is the reliable route)."},
    },
}
UN_FATALITIES_OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Options of the `un_fatalities` dataset (UN Peace and Security Data Hub).",
    "properties": {
        "base_url": {"type": "string", "default": BASE_URL, "description": "Root of the hub's public API."},
        "dataset_id": {"type": "string", "default": FATALITIES_DATASET, "description": "Hub dataset id."},
        "format": {"type": "string", "enum": ["json", "csv"], "default": "json",
                   "description": "Hub output format to page: json (epoch-ms dates, converted) or csv."},
        "per_page": {"type": "integer", "minimum": 1, "default": 5000, "description": "Records per hub page."},
        "max_pages": {"type": "integer", "minimum": 1, "default": 10000,
                      "description": "Stop with an error after this many pages."},
    },
}

_YEAR_RE = re.compile(r"^(?P<iso>\d{4})-\d{1,2}-\d{1,2}(?:[T ].*)?$|^\d{1,2}[/.-]\d{1,2}[/.-](?P<dmy>\d{4})(?:[T ].*)?$")


# ----------------------------------------------------------------------------- shared

def drop_hxl_row(rows: list[list[str]]) -> tuple[list[list[str]], bool]:
    """Drop an HXL hashtag row right below the header (all its non-empty cells start with '#')."""
    if rows:
        cells = [c.strip() for c in rows[0] if c.strip()]
        if cells and all(c.startswith("#") for c in cells):
            return rows[1:], True
    return rows, False


def _rename(header: list[str], canonical: list[str]) -> list[str]:
    by_norm = {normalise_name(c): c for c in canonical}
    return [by_norm.get(normalise_name(h), h) for h in header]


def _require(header: list[str], required: list[str], *, source: str, fix: str) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise SchemaError(f"{source}: missing column(s) {', '.join(missing)} (columns: {', '.join(header)}); {fix}")


def incident_year(value: Any) -> float:
    """The year of an incident date: `YYYY-MM-DD[...]` or `D/M/YYYY` (either day order); NaN if empty."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if np.isnan(value):
            return np.nan
        return float(epoch_ms_to_date(float(value))[:4])  # the hub's JSON: epoch milliseconds
    text = str(value).strip()
    if not text or text.lower() in ("nan", "null", "none"):
        return np.nan
    m = _YEAR_RE.match(text)
    if m is None:
        raise ValueError(text)
    return float(m.group("iso") or m.group("dmy"))


# ----------------------------------------------------------------------------- AWSD

def convert_awsd_table(header: list[str], rows: list[list[str]], *, source: str) -> tuple[list[list[str]], dict]:
    """Drop the HXL row, check the columns Figure 1 reads and that every `Year` is a year."""
    rows, hxl = drop_hxl_row(rows)
    _require(header, AWSD_COLUMNS, source=source,
             fix="give the AWSD CSV export as downloaded (incidents/search?detail=1&format=csv)")
    if not rows:
        raise EmptyResultError(f"{source} has no incidents")
    k = header.index("Year")
    counted = " (the HXL hashtag row not counted)" if hxl else ""
    for i, row in enumerate(rows):
        if not re.fullmatch(r"(19|20)\d\d", row[k].strip()):
            raise SchemaError(f"{source}: row {i + 1}{counted}, field 'Year': {row[k]!r} is not a year; is this "
                              "the AWSD export?")
    return rows, {"incidents": len(rows), "hxl_row_dropped": hxl}


def download_awsd(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                  version: str) -> Retrieved:
    """Fetch the AWSD CSV export (URL overridable: the site has no versioned API)."""
    url = options.get("url") or str(options.get("base_url") or AWSD_BASE_URL).rstrip("/") + AWSD_EXPORT_PATH
    client = HttpClient.from_options(options, dataset="awsd", user_file_hint=AWSD_USER_FILE_HINT)
    header, rows = parse_csv_text(response_text(client.request("GET", url)), source="AWSD export")
    rows, notes = convert_awsd_table(header, rows, source="AWSD export")
    dest = Path(out_dir) / "awsd.csv"
    write_csv_rows(dest, header, rows)
    return Retrieved(files=[dest], sources=[{"url": url}], notes=notes)


def convert_awsd(src: Path, dest: Path, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A user's AWSD export → `awsd.csv` (HXL row dropped, columns and years checked)."""
    header, rows = read_table_file(Path(src), what="AWSD file")
    rows, notes = convert_awsd_table(header, rows, source=f"AWSD file {src}")
    write_csv_rows(Path(dest), header, rows)
    return notes


def awsd_table(awsd: pd.DataFrame) -> pd.DataFrame:
    """(year, country, country_code) of every incident of an AWSD table (HXL row dropped)."""
    _require(list(awsd.columns), AWSD_COLUMNS, source="AWSD table", fix="pass the AWSD export or awsd.csv")
    year = awsd["Year"].astype(str).str.strip()
    keep = ~year.str.startswith("#")
    name = awsd.loc[keep, "Country"].astype(str).str.strip()
    code = (awsd.loc[keep, "Country Code"].astype(str).str.strip() if "Country Code" in awsd else name)
    return pd.DataFrame({"year": pd.to_numeric(year[keep], errors="coerce"), "country": name,
                         "country_code": code}).reset_index(drop=True)


# ----------------------------------------------------------------------------- UN fatalities

def convert_fatality_table(header: list[str], rows: list[list[str]], *,
                           source: str) -> tuple[list[str], list[list[str]], dict]:
    """Rename hub columns to the export's names, check the figure's columns and every date's year."""
    header = _rename(header, FATALITY_EXPORT_COLUMNS)
    _require(header, FATALITY_COLUMNS, source=source,
             fix="give the hub's DPPADPOSS-FATALITIES file or the peacekeeping fatalities export")
    if not rows:
        raise EmptyResultError(f"{source} has no fatalities")
    k = header.index("Incident_Date")
    missing = 0
    for i, row in enumerate(rows):
        try:
            missing += np.isnan(incident_year(row[k]))
        except ValueError:
            raise SchemaError(f"{source}: row {i + 1}, field 'Incident_Date': cannot read a year from {row[k]!r} "
                              "(expected YYYY-MM-DD or D/M/YYYY)") from None
    if missing:
        log.warning("%s: %d fatalities without an Incident_Date cannot be placed in a year", source, missing)
    return header, rows, {"fatalities": len(rows), "without_date": int(missing)}


def download_un_fatalities(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                           version: str) -> Retrieved:
    """Check the metadata, page DPPADPOSS-FATALITIES (one record per fatality), write `fatalities.csv`."""
    base = str(options.get("base_url") or BASE_URL).rstrip("/")
    dataset_id = options.get("dataset_id") or FATALITIES_DATASET
    fmt = options.get("format") or "json"
    client = HttpClient.from_options(options, dataset="un_fatalities", user_file_hint=FATALITIES_USER_FILE_HINT)
    record = dataset_metadata(client, base, dataset_id)
    check_metadata_columns(record, [c.lower() for c in FATALITY_COLUMNS], dataset_id=dataset_id)
    per_page = int(options.get("per_page") or 5000)
    header, rows, pages = fetch_dataset(client, base, dataset_id, fmt=fmt, per_page=per_page,
                                        max_pages=int(options.get("max_pages") or 10_000),
                                        date_columns=metadata_date_columns(record))
    header, rows, notes = convert_fatality_table(header, rows, source=f"{dataset_id} {fmt}")
    dest = Path(out_dir) / "fatalities.csv"
    write_csv_rows(dest, header, rows)
    return Retrieved(files=[dest],
                     sources=[{"url": f"{base}/metadata/all", "dataset_id": dataset_id,
                               "last_update": record.get("Last Update Date")},
                              {"url": f"{base}/data/{dataset_id}/{fmt}", "params": {"per_page": per_page},
                               "pages": pages}],
                     notes=notes)


def convert_un_fatalities(src: Path, dest: Path, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A user's fatalities file (older export with BOM, or a hub CSV/JSON download) → `fatalities.csv`."""
    header, rows = read_table_file(Path(src), what="UN fatalities file")
    header, rows, notes = convert_fatality_table(header, rows, source=f"UN fatalities file {src}")
    write_csv_rows(Path(dest), header, rows)
    return notes


def fatalities_table(fatalities: pd.DataFrame) -> pd.DataFrame:
    """(year, mission, incident_type, personnel_type) of every fatality, from either naming."""
    df = fatalities.rename(columns=dict(zip(fatalities.columns, _rename(list(fatalities.columns),
                                                                          FATALITY_EXPORT_COLUMNS))))
    _require(list(df.columns), FATALITY_COLUMNS, source="UN fatalities table",
             fix="pass fatalities.csv or the hub's DPPADPOSS-FATALITIES table")
    years = []
    for value in df["Incident_Date"]:
        try:
            years.append(incident_year(value))
        except ValueError:
            years.append(np.nan)
    undated = int(np.isnan(np.asarray(years, dtype=float)).sum())
    if undated:
        log.warning("UN fatalities: %d of %d rows have no readable Incident_Date and are left out of Figure 1",
                    undated, len(years))
    personnel = (df["Casualty_Personnel_Type"].astype(str).str.strip() if "Casualty_Personnel_Type" in df
                 else pd.Series("", index=df.index))
    return pd.DataFrame({"year": years, "mission": df["Mission_Acronym"].astype(str).str.strip().to_numpy(),
                         "incident_type": df["Type_Of_Incident"].astype(str).str.strip().to_numpy(),
                         "personnel_type": personnel.to_numpy()})
