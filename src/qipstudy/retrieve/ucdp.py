"""UCDP Georeferenced Event Dataset: the versioned global CSV zip, cut to one country.

GED is released as immutable versions (e.g. 25.1, `https://ucdp.uu.se/downloads/ged/ged251-csv.zip`
holding `GEDEvent_v25_1.csv`), so the zip can be pinned by sha256; the global file is large, hence a
resumable download into a cache and a streamed country filter. The CSV has the 49 columns of the
GED codebook (Högbladh, UCDP GED Codebook version 25.1, https://ucdp.uu.se/downloads/ged/ged251.pdf),
GED_HEADER below; some releases (e.g. candidate 24.0.x) were published without a header row and are
read with these names.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .http import (
    CorruptFileError,
    EmptyResultError,
    HttpClient,
    SchemaError,
    log,
    options_schema,
    require_columns,
    resolve_options,
    sha256_file,
    write_csv_rows,
)
from .provenance import Retrieved

__all__ = ["COLUMNS", "GED_HEADER", "DEFAULT_BASE", "DEFAULT_URL", "OPTIONS_SCHEMA", "USER_FILE_HINT",
           "ged_version", "ged_url", "download", "extract_country"]

# The GED global CSV header, in file order (codebook 25.1, section "Variables").
GED_HEADER = [
    "id", "relid", "year", "active_year", "code_status", "type_of_violence", "conflict_dset_id",
    "conflict_new_id", "conflict_name", "dyad_dset_id", "dyad_new_id", "dyad_name", "side_a_dset_id",
    "side_a_new_id", "side_a", "side_b_dset_id", "side_b_new_id", "side_b", "number_of_sources",
    "source_article", "source_office", "source_date", "source_headline", "source_original",
    "where_prec", "where_coordinates", "where_description", "adm_1", "adm_2", "latitude", "longitude",
    "geom_wkt", "priogrid_gid", "country", "country_id", "region", "event_clarity", "date_prec",
    "date_start", "date_end", "deaths_a", "deaths_b", "deaths_civilians", "deaths_unknown", "best",
    "high", "low", "gwnoa", "gwnob",
]
# The columns the contract keeps checked (a subset of GED_HEADER); read_ucdp reads five of them.
COLUMNS = ["id", "year", "type_of_violence", "country", "country_id", "adm_1", "latitude",
           "longitude", "date_start", "date_end", "best", "where_prec"]
DEFAULT_BASE = "https://ucdp.uu.se/downloads"
DEFAULT_URL = "{base_url}/ged/ged{vv}-csv.zip"
USER_FILE_HINT = "the GED CSV zip as downloaded from ucdp.uu.se (e.g. ged251-csv.zip) or its CSV"

OPTIONS_SCHEMA = options_schema({
    "base_url": {"type": ["string", "null"], "default": DEFAULT_BASE,
                 "description": "root of UCDP's download area"},
    "url": {"type": ["string", "null"], "default": None,
            "description": "full URL template of the zip ({vv}: version without dot, {version}, {base_url}); "
                           "null: {base_url}/ged/ged{vv}-csv.zip"},
    "ged_version": {"type": ["string", "null"], "default": None,
                    "description": "GED release such as 25.1; null: the dataset version if it looks "
                                   "like 25.1, else 25.1"},
    "country_id": {"type": ["integer", "null"], "default": None,
                   "description": "Gleditsch-Ward code to keep; null: sources.ucdp_country_id (Mali 432)"},
})


def ged_version(version: str, options: Mapping[str, Any]) -> str:
    """The GED release: `ged_version` option, else the dataset version if it looks like 25.1."""
    explicit = options.get("ged_version")
    if explicit:
        return str(explicit)
    if re.fullmatch(r"\d{2}\.\d", version or ""):
        return version
    return "25.1"


def ged_url(version: str, options: Mapping[str, Any]) -> str:
    """The zip URL for the release (`url` template, else below `base_url`)."""
    gv = ged_version(version, options)
    base = str(options.get("base_url") or DEFAULT_BASE).rstrip("/")
    return str(options.get("url") or DEFAULT_URL).format(vv=gv.replace(".", ""), version=gv, base_url=base)


def _open_csv_member(archive: zipfile.ZipFile, source: Path) -> str:
    members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
    if not members:
        raise CorruptFileError(f"{source}: the zip holds no CSV file ({archive.namelist()})")
    return max(members, key=lambda m: archive.getinfo(m).file_size)


def _check_zip(path: Path) -> None:
    """A downloaded GED zip must open and hold a CSV (a cut-off zip has no central directory)."""
    try:
        with zipfile.ZipFile(path) as archive:
            _open_csv_member(archive, path)
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{path}: not a valid zip file ({exc}); corrupt or truncated download") from None


def _header_of(first_line: str) -> list[str] | None:
    """None if the first line is GED's header, else GED_HEADER for a headerless release."""
    fields = [f.strip() for f in next(csv.reader([first_line]), [])]
    if "id" in fields and "date_start" in fields:
        return None
    if len(fields) >= len(GED_HEADER) and fields[0].strip().isdigit():
        return GED_HEADER
    return None


def extract_country(source: Path, dest: Path, country_id: int | None) -> int:
    """Stream the GED CSV (zip or plain) into `dest`, keeping rows of `country_id` only."""
    source = Path(source)
    try:
        if zipfile.is_zipfile(source):
            archive = zipfile.ZipFile(source)
            member = _open_csv_member(archive, source)
            opener = lambda: archive.open(member)  # noqa: E731
        elif source.suffix.lower() == ".zip":
            raise CorruptFileError(f"{source}: not a valid zip file (corrupt or truncated download)")
        else:
            archive = None
            opener = lambda: open(source, "rb")  # noqa: E731
        with opener() as probe:
            first = io.TextIOWrapper(probe, encoding="utf-8-sig", errors="replace").readline()
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{source}: bad zip file ({exc})") from exc
    names = _header_of(first)
    if names is not None:
        log.warning("%s: no header row; reading it with the 49 GED column names", source.name)
    header: list[str] | None = names
    kept: list[list[str]] = []
    rows_read = 0
    handle = opener()
    try:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, strict=True)
        if header is None:
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise SchemaError(f"{source}: empty GED file without a header")
            require_columns(header, COLUMNS, source=f"UCDP GED {source.name}")
        at = header.index("country_id")
        wanted = None if country_id is None else str(country_id)
        for row in reader:
            if not row:
                continue
            rows_read += 1
            if len(row) != len(header):
                raise CorruptFileError(f"{source}: GED data row {rows_read} has {len(row)} fields but the header "
                                       f"has {len(header)}; the file is truncated or damaged: download it again")
            if wanted is None or row[at].strip() == wanted:
                kept.append(row)
    except (csv.Error, UnicodeDecodeError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise CorruptFileError(f"{source}: unreadable GED CSV after {rows_read} rows ({exc}); the file may be "
                               "truncated: download it again") from None
    finally:
        handle.close()
        if archive is not None:
            archive.close()
    if header is None:
        raise SchemaError(f"{source}: empty GED file without a header")
    if not kept:
        raise EmptyResultError(f"{source}: no GED events with country_id={country_id} among {rows_read} rows; "
                               "check `sources.ucdp_country_id` (Gleditsch-Ward code, Mali = 432)")
    return write_csv_rows(Path(dest), header, kept)


def download(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
             version: str) -> Retrieved:
    """Download the GED release zip (cached, resumable, optionally pinned) and cut `ged.csv`."""
    opts = resolve_options(options, OPTIONS_SCHEMA, dataset="ucdp")
    gv = ged_version(version, opts)
    url = ged_url(version, opts)
    cache = Path(opts["cache_dir"] or Path(out_dir) / ".download")
    client = HttpClient.from_options(opts, dataset="ucdp", user_file_hint=USER_FILE_HINT)
    pin = opts["sha256"] if isinstance(opts["sha256"], str) else None
    archive = client.download(url, cache / Path(url.split("?")[0]).name, expected_sha256=pin,
                              label=f"UCDP GED {gv}", validate=_check_zip)
    country_id = opts["country_id"] if opts["country_id"] is not None else country["sources"].get("ucdp_country_id")
    dest = Path(out_dir) / "ged.csv"
    n = extract_country(archive, dest, int(country_id) if country_id is not None else None)
    log.info("UCDP GED %s: %d events for country_id %s", gv, n, country_id)
    return Retrieved(files=[dest], sources=[{"url": url, "archive_sha256": sha256_file(archive)}],
                     notes={"ged_version": gv, "country_id": country_id, "events": n})
