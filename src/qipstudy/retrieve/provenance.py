"""provenance.json: what was retrieved, from where, when, and with which content hash.

Provider data changes under the same URL (ACLED revises events, OSM is edited daily), so a
result is only reproducible if the exact inputs are identified. Secrets are scrubbed here a
second time, whatever a client passes in.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .http import atomic_path, json_dumps, redact_params, redact_url, sha256_file

__all__ = ["LICENCES", "Retrieved", "file_record", "write_provenance"]


@dataclass
class Retrieved:
    """What a client produced: the contract files, the requests made, and notes for provenance."""

    files: list[Path]
    sources: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

LICENCES: dict[str, str] = {
    "acled": ("ACLED Terms of Use: no redistribution of the raw data; cite ACLED "
              "(Raleigh et al. 2010) and the access date. Do not commit this file."),
    "ucdp": "UCDP GED: CC BY 4.0; cite Sundberg & Melander (2013) and Davies et al. (UCDP).",
    "qip": ("UN Peace and Security Data Hub (DPO-QIP): UN open data, attribution to the "
            "United Nations Department of Peace Operations."),
    "iati": ("IATI data via d-portal / IATI Datastore: licence set per publisher (mostly "
             "open licences); attribute the reporting organisations and IATI."),
    "boundaries": ("OCHA COD-AB: CC BY-IGO as stated on the HDX dataset page (geoBoundaries: "
                   "CC BY 4.0 for gbOpen); attribute the source."),
    "osm": "OpenStreetMap data, ODbL 1.0: attribute '(c) OpenStreetMap contributors'.",
    "nightlights": ("DMSP-OLS v4 composites (NOAA/NCEI, EOG): public domain; VIIRS/Black "
                    "Marble: see provider terms (EOG: CC BY 4.0; NASA: open)."),
    "population": "GPW v4 rev. 11 (CIESIN/SEDAC): CC BY 4.0; WorldPop: CC BY 4.0.",
    "awsd": ("Aid Worker Security Database (Humanitarian Outcomes): free for non-commercial "
             "use with attribution; do not redistribute the export."),
    "un_fatalities": "UN peacekeeping fatalities (UN Peace and Security Data Hub): UN open data, attribution.",
}


def _csv_rows(path: Path) -> int:
    with open(path, encoding="utf-8", newline="") as fh:
        return max(0, sum(1 for _ in csv.reader(fh)) - 1)


def file_record(path: Path) -> dict[str, Any]:
    """sha256, size and a content count (CSV rows, vector features, raster pixels) of a file."""
    path = Path(path)
    rec: dict[str, Any] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rec["rows"] = _csv_rows(path)
    elif suffix == ".gpkg":
        import pyogrio

        rec["layers"] = {name: int(pyogrio.read_info(path, layer=name)["features"])
                         for name, _ in pyogrio.list_layers(path)}
    elif suffix in (".tif", ".tiff"):
        import rasterio

        with rasterio.open(path) as src:
            rec.update(pixels=int(src.width) * int(src.height), width=src.width,
                       height=src.height, bands=src.count, dtype=src.dtypes[0],
                       crs=src.crs.to_string() if src.crs else None)
    return rec


def _redact_tree(obj: Any) -> Any:
    """A nested mapping without credential-like keys, URLs without userinfo or key parameters."""
    if isinstance(obj, Mapping):
        return {k: _redact_tree(v) for k, v in redact_params({k: v for k, v in obj.items()}).items()}
    if isinstance(obj, (list, tuple)):
        return [_redact_tree(v) for v in obj]
    if isinstance(obj, str) and "://" in obj:
        return redact_url(obj)
    return obj


def write_provenance(out_dir: Path, *, dataset: str, country: str, version: str, mode: str,
                     files: list[Path], sources: list[Mapping[str, Any]] | None = None,
                     notes: Mapping[str, Any] | None = None, request: Mapping[str, Any] | None = None) -> Path:
    """Write `out_dir/provenance.json` atomically and return its path.

    `sources` are dicts with `url` and optional `params`/`path`; credential-like parameters and
    URL userinfo are removed here so that a careless caller cannot leak them. `request` is what
    the snapshot was made from (mode, options, the country keys read); the workflow compares it
    with the config before any job, so a snapshot is never silently reused for other settings.
    """
    clean_sources = []
    for src in sources or []:
        item = {k: v for k, v in src.items() if k not in ("url", "params")}
        if "url" in src:
            item["url"] = redact_url(str(src["url"]))
        if "params" in src:
            item["params"] = redact_params(src["params"])
        clean_sources.append(item)
    doc = {
        "dataset": dataset,
        "country": country,
        "version": version,
        "mode": mode,
        "retrieved_at_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "licence": LICENCES.get(dataset, "see docs/data_sources.md"),
        "sources": clean_sources,
        "files": {Path(f).name: file_record(Path(f)) for f in files},
        "notes": dict(notes or {}),
        "request": json.loads(json_dumps(_redact_tree(request))) if request else None,
    }
    dest = Path(out_dir) / "provenance.json"
    with atomic_path(dest) as tmp:
        tmp.write_text(json_dumps(doc) + "\n", encoding="utf-8")
    return dest
