"""UCDP Georeferenced Event Dataset: the versioned global CSV zip, cut to one country.

GED is released as immutable versions (e.g. 25.1), so the zip can be pinned by sha256; the
global file is large, hence a resumable download into a cache and a streamed country filter.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .http import (CorruptFileError, EmptyResultError, HttpClient, SchemaError, log,
                   require_columns, sha256_file, write_csv_rows)
from .provenance import Retrieved

__all__ = ["COLUMNS", "DEFAULT_URL", "ged_version", "download", "extract_country"]

COLUMNS = ["id", "year", "type_of_violence", "country", "country_id", "adm_1", "latitude",
           "longitude", "date_start", "date_end", "best", "where_prec"]
DEFAULT_URL = "https://ucdp.uu.se/downloads/ged/ged{vv}-csv.zip"


def ged_version(version: str, options: Mapping[str, Any]) -> str:
    """The GED release: `ged_version` option, else the dataset version if it looks like 25.1."""
    explicit = options.get("ged_version")
    if explicit:
        return str(explicit)
    if re.fullmatch(r"\d{2}\.\d", version or ""):
        return version
    return "25.1"


def _open_csv_member(archive: zipfile.ZipFile, source: Path) -> str:
    members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
    if not members:
        raise CorruptFileError(f"{source}: the zip holds no CSV file ({archive.namelist()})")
    return max(members, key=lambda m: archive.getinfo(m).file_size)


def extract_country(source: Path, dest: Path, country_id: int | None) -> int:
    """Stream the GED CSV (zip or plain) into `dest`, keeping rows of `country_id` only."""
    source = Path(source)
    try:
        if zipfile.is_zipfile(source):
            archive = zipfile.ZipFile(source)
            handle = archive.open(_open_csv_member(archive, source))
        elif source.suffix.lower() == ".zip":
            raise CorruptFileError(f"{source}: not a valid zip file (corrupt or truncated download)")
        else:
            archive, handle = None, open(source, "rb")
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{source}: bad zip file ({exc})") from exc
    header: list[str] | None = None
    kept: list[list[str]] = []
    try:
        reader = pd.read_csv(handle, dtype=str, keep_default_na=False, chunksize=50_000,
                             encoding="utf-8")
        for chunk in reader:
            if header is None:
                header = list(chunk.columns)
                require_columns(header, COLUMNS, source=f"UCDP GED {source.name}")
            if country_id is not None:
                chunk = chunk[chunk["country_id"].str.strip() == str(country_id)]
            kept.extend(chunk.astype(str).values.tolist())
    except (pd.errors.ParserError, UnicodeDecodeError, zipfile.BadZipFile, EOFError) as exc:
        raise CorruptFileError(f"{source}: unreadable GED CSV ({exc})") from exc
    finally:
        handle.close()
        if archive is not None:
            archive.close()
    if header is None:
        raise SchemaError(f"{source}: empty GED file without a header")
    if not kept:
        raise EmptyResultError(f"{source}: no GED events with country_id={country_id}; check "
                               "`sources.ucdp_country_id` (Gleditsch-Ward code, Mali = 432)")
    return write_csv_rows(Path(dest), header, kept)


def download(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
             version: str) -> Retrieved:
    """Download the GED release zip (cached, resumable, optionally pinned) and cut `ged.csv`."""
    gv = ged_version(version, options)
    url = str(options.get("url", DEFAULT_URL)).format(vv=gv.replace(".", ""), version=gv)
    cache = Path(options.get("cache_dir") or Path(out_dir) / ".download")
    client = HttpClient.from_options(options)
    archive = client.download(url, cache / Path(url.split("?")[0]).name,
                              expected_sha256=options.get("sha256"), label=f"UCDP GED {gv}")
    country_id = options.get("country_id", country["sources"].get("ucdp_country_id"))
    dest = Path(out_dir) / "ged.csv"
    n = extract_country(archive, dest, int(country_id) if country_id is not None else None)
    log.info("UCDP GED %s: %d events for country_id %s", gv, n, country_id)
    return Retrieved(files=[dest], sources=[{"url": url, "archive_sha256": sha256_file(archive)}],
                     notes={"ged_version": gv, "country_id": country_id, "events": n})
