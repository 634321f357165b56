"""Retrieve step: one entry point that fills `resources/automatic/{country}/{dataset}/{version}/`.

Every dataset arrives in one of three ways: downloaded from its provider, converted from a file
the user obtained by hand, or copied from the offline synthetic world. Whatever the way, the
files are validated against docs/data_contracts.md and described in `provenance.json`, so the
downstream steps never need to know where their inputs came from.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..registry import NIGHTLIGHT_BAND_FILES
from . import acled, boundaries, figure1, iati, osm, psdh, rasters, ucdp
from .http import (
    ChecksumError,
    EmptyResultError,
    RetrieveError,
    SchemaError,
    atomic_path,
    csv_file_shape,
    log,
    require_columns,
    sha256_file,
)
from .provenance import Retrieved, write_provenance

__all__ = ["DATASETS", "MODES", "retrieve_dataset", "validate_file", "RetrieveError"]

MODES = ("download", "user", "synthetic")
RASTER = "raster"


@dataclass(frozen=True)
class Spec:
    """A dataset: its contract files (name → required columns, or RASTER), its download client,
    the client's options schema, and the country-file keys its retrieval reads (dotted paths; a
    rule gets only these, so other edits never trigger a download)."""

    files: Mapping[str, Any]
    download: Callable[..., Retrieved]
    options: Mapping[str, Any]
    country_keys: tuple[str, ...]

    @property
    def options_schema(self) -> dict:
        """The closed JSON schema of the dataset's `options` (client options + shared HTTP options)."""
        from . import http

        return http.options_schema(self.options["properties"])


_BOUNDARY_KEYS = ("iso3", "iso2", "name", "boundaries", "sources.hdx_cod_ab_dataset", "sources.geoboundaries_iso3")
_EXTENT_KEYS = ("iso3", "extent")

DATASETS: dict[str, Spec] = {
    "acled": Spec({"acled.csv": acled.COLUMNS}, acled.download, acled.OPTIONS_SCHEMA,
                  ("sources.acled_country", "period")),
    "ucdp": Spec({"ged.csv": ucdp.COLUMNS}, ucdp.download, ucdp.OPTIONS_SCHEMA,
                 ("sources.ucdp_country_id",)),
    "qip": Spec({"qips.csv": psdh.QIP_COLUMNS}, psdh.download_qips, psdh.OPTIONS_SCHEMA,
                ("sources.qip_mission", "mission")),
    "iati": Spec({"activities.csv": iati.REQUIRED_COLUMNS}, iati.download, iati.OPTIONS_SCHEMA,
                 ("sources.iati_recipient_country",)),
    "boundaries": Spec({"adm3.gpkg": "boundaries"}, boundaries.download, boundaries.OPTIONS_SCHEMA,
                       _BOUNDARY_KEYS),
    "osm": Spec({"roads.gpkg": osm.ROAD_COLUMNS, "waterways.gpkg": osm.WATER_COLUMNS}, osm.download,
                osm.OPTIONS_SCHEMA, _EXTENT_KEYS),
    "nightlights": Spec({name: RASTER for name in NIGHTLIGHT_BAND_FILES.values()}, rasters.download_nightlights,
                        rasters.OPTIONS_SCHEMAS["nightlights"], _EXTENT_KEYS),
    "population": Spec({"pop_density.tif": RASTER}, rasters.download_population,
                       rasters.OPTIONS_SCHEMAS["population"], _EXTENT_KEYS),
    # WorldPop density as a second population source (robustness variant); same file name.
    "worldpop": Spec({"pop_density.tif": RASTER}, rasters.download_worldpop,
                     rasters.OPTIONS_SCHEMAS["worldpop"], _EXTENT_KEYS),
    "awsd": Spec({"awsd.csv": figure1.AWSD_COLUMNS}, figure1.download_awsd, figure1.AWSD_OPTIONS_SCHEMA, ()),
    "un_fatalities": Spec({"fatalities.csv": figure1.FATALITY_COLUMNS}, figure1.download_un_fatalities,
                          figure1.UN_FATALITIES_OPTIONS_SCHEMA, ()),
}


def validate_file(path: Path, required: Any, *, country: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check one contract file: CSV columns and rows, vector columns and CRS, or a raster with CRS."""
    path = Path(path)
    if not path.is_file():
        raise RetrieveError(f"{path}: file not found")
    if required == RASTER:
        info = rasters.validate_raster(path)
        if info["crs"] != "EPSG:4326":
            raise SchemaError(f"{path}: raster CRS is {info['crs']}, the contract needs EPSG:4326")
        return info
    if path.suffix.lower() == ".gpkg":
        import geopandas as gpd
        import pyogrio

        try:
            layers = [name for name, _ in pyogrio.list_layers(path)]
        except Exception as exc:  # pyogrio raises several DataSource errors
            raise RetrieveError(f"{path}: unreadable GeoPackage ({exc})") from exc
        if required == "boundaries":
            if "adm3" not in layers:
                raise SchemaError(f"{path}: no layer `adm3` (layers: {layers})")
            columns, layer = boundaries.contract_fields(country or {}), "adm3"
        else:
            columns, layer = list(required), layers[0]
        gdf = gpd.read_file(path, layer=layer)
        require_columns(gdf.columns, columns, source=str(path))
        if gdf.crs is None or gdf.crs.to_epsg() != 4326:
            raise SchemaError(f"{path}: CRS is {gdf.crs}, the contract needs EPSG:4326")
        if gdf.empty:
            raise EmptyResultError(f"{path}: no features")
        return {"features": len(gdf)}
    header, n_rows = csv_file_shape(path, source=str(path))
    require_columns(header, required, source=str(path))
    if not n_rows:
        raise EmptyResultError(f"{path}: no data rows")
    return {"rows": n_rows}


def _copy(src: Path, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _synthetic(dataset: str, spec: Spec, synthetic_dir: Path | None, out_dir: Path,
               country: Mapping[str, Any]) -> Retrieved:
    if synthetic_dir is None:
        raise RetrieveError(f"{dataset}: mode 'synthetic' needs synthetic_dir")
    files, sources = [], []
    for name, required in spec.files.items():
        # a dataset's own sub-folder first (worldpop/pop_density.tif is not population's file)
        src = next((p for p in (Path(synthetic_dir) / dataset / name, Path(synthetic_dir) / name)
                    if p.is_file()), None)
        if src is None:
            raise RetrieveError(f"{dataset}: synthetic world has no {name} in {synthetic_dir}")
        validate_file(src, required, country=country)  # before the copy: a bad file is never copied
        _copy(src, out_dir / name)
        files.append(out_dir / name)
        sources.append({"synthetic_file": name, "sha256": sha256_file(src)})
    return Retrieved(files=files, sources=sources, notes={"synthetic_dir": Path(synthetic_dir).name})


def _find_osm_part(user_path: Path, words: tuple[str, ...]) -> Path:
    candidates = sorted(p for p in user_path.iterdir()
                        if p.suffix.lower() in (".gpkg", ".shp", ".zip", ".geojson")
                        and any(w in p.name.lower() for w in words))
    if not candidates:
        raise RetrieveError(f"osm: no {'/'.join(words)} file (.gpkg/.shp/.zip) in {user_path}")
    return candidates[0]


def _user_nightlights(user_path: Path, tmp: Path, out_dir: Path, bbox: list | None) -> dict[str, Any]:
    """Both bands from a DMSP tar/zip or a directory holding a cf_cvg and a stable_lights raster."""
    if user_path.is_dir():
        found = {band: sorted(p for p in user_path.iterdir() if band in p.name.lower()
                              and p.name.lower().endswith((".tif", ".tiff", ".tif.gz")))
                 for band in ("cf_cvg", "stable_lights")}
        missing = [band for band, hits in found.items() if not hits]
        if missing:
            raise RetrieveError(f"nightlights: {user_path} has no {' / '.join(missing)} raster")
        sources = {band: hits[0] for band, hits in found.items()}
    elif user_path.name.lower().endswith((".tif", ".tiff", ".gz")) and not user_path.name.lower().endswith(".tar.gz"):
        raise RetrieveError("nightlights: a single raster is not enough; give the DMSP tar/zip or a "
                            "directory with both the cf_cvg and the stable_lights rasters")
    else:
        sources = {band: user_path for band in ("cf_cvg", "stable_lights")}
    notes = {}
    for band, src in sources.items():
        tif = rasters.unpack_raster(src, tmp, member=band)
        notes[band] = rasters.clip_raster(tif, out_dir / NIGHTLIGHT_BAND_FILES[band], bbox)
    return notes


def _user(dataset: str, user_path: Path | None, out_dir: Path, country: Mapping[str, Any],
          options: Mapping[str, Any], version: str = "") -> Retrieved:
    if user_path is None or not Path(user_path).exists():
        raise RetrieveError(f"{dataset}: mode 'user' needs an existing user_path (got {user_path})")
    user_path = Path(user_path)
    pin = options.get("sha256")
    if isinstance(pin, str) and user_path.is_file() and sha256_file(user_path) != pin.lower():
        raise ChecksumError(f"{user_path}: sha256 {sha256_file(user_path)} differs from the pinned "
                            f"datasets.{dataset}.options.sha256 {pin}: is it the right file (edition)?")
    notes: dict[str, Any] = {}
    if dataset == "acled":
        notes = acled.convert_export(user_path, out_dir / "acled.csv")
    elif dataset == "ucdp":
        cid = options.get("country_id", country["sources"].get("ucdp_country_id"))
        notes = {"events": ucdp.extract_country(user_path, out_dir / "ged.csv",
                                                int(cid) if cid is not None else None)}
    elif dataset == "qip":
        notes = psdh.convert_qips(user_path, out_dir / "qips.csv", options, country=country)
    elif dataset == "iati":
        notes = iati.convert_user(user_path, out_dir / "activities.csv", options)
    elif dataset == "boundaries":
        notes = boundaries.convert_boundaries(user_path, out_dir / "adm3.gpkg", country=country, options=options,
                                              version=version)
    elif dataset == "osm" and user_path.name.lower().endswith((".osm.pbf", ".osm")):
        notes = osm.convert_osm_extract(user_path, out_dir)
    elif dataset == "osm":
        if not user_path.is_dir():
            raise RetrieveError("osm: user_path must be a Geofabrik .osm.pbf extract or a directory "
                                "holding the HOT exports (a roads and a waterways file: .gpkg, .shp or zip)")
        notes = {"roads": osm.convert_hot_export(_find_osm_part(user_path, ("road",)), "roads",
                                                 out_dir / "roads.gpkg"),
                 "waterways": osm.convert_hot_export(_find_osm_part(user_path, ("waterway", "water")),
                                                     "waterways", out_dir / "waterways.gpkg")}
    elif dataset in ("nightlights", "population", "worldpop"):
        from qipstudy.country import country_extent

        bbox = None if options.get("clip") is False else (options.get("bbox") or country_extent(country))
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            if dataset in ("population", "worldpop"):
                tif = rasters.unpack_raster(user_path, Path(tmp), member=options.get("member", ""))
                notes["main"] = rasters.clip_raster(tif, out_dir / "pop_density.tif", bbox)
            else:
                notes = _user_nightlights(user_path, Path(tmp), out_dir, bbox)
    elif dataset == "awsd":
        notes = figure1.convert_awsd(user_path, out_dir / "awsd.csv", options)
    elif dataset == "un_fatalities":
        notes = figure1.convert_un_fatalities(user_path, out_dir / "fatalities.csv", options)
    files = [out_dir / name for name in DATASETS[dataset].files if (out_dir / name).is_file()]
    source = {"user_file": user_path.name}
    if user_path.is_file():
        source["sha256"] = sha256_file(user_path)
    return Retrieved(files=files, sources=[source], notes=notes)


def snapshot_request(mode: str, options: Mapping[str, Any], country: Mapping[str, Any]) -> dict[str, Any]:
    """What a snapshot is made from: its mode, the dataset's options and the country keys it reads."""
    return {"mode": mode, "options": dict(options or {}), "country": dict(country)}


def snapshot_mismatch(provenance: Path, request: Mapping[str, Any]) -> str | None:
    """Why an existing snapshot does not fit `request` (None if it fits or records no request)."""
    try:
        recorded = json.loads(Path(provenance).read_text(encoding="utf-8")).get("request")
    except (OSError, ValueError):
        return f"{provenance} is unreadable"
    if not recorded:
        return None
    current = json.loads(json.dumps(request, default=str))
    differing = sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
    if not differing:
        return None
    return "its " + ", ".join(differing) + " differ from the config's (" + "; ".join(
        f"{k}: snapshot {recorded.get(k)!r}, config {current.get(k)!r}" for k in differing) + ")"


def retrieve_dataset(dataset: str, mode: str, *, country: dict, options: dict, out_dir: Path,
                     synthetic_dir: Path | None = None, user_path: Path | None = None,
                     version: str = "") -> Path:
    """Produce the contract file(s) of `dataset` in `out_dir` and return its provenance.json.

    `out_dir` is the final `resources/automatic/{country}/{dataset}/{version}/` directory.
    `options` are the dataset's retrieve options (base URLs, paging, retries; see
    docs/data_sources.md) and never hold secrets: clients read those from the environment.
    """
    if dataset not in DATASETS:
        raise RetrieveError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if mode not in MODES:
        raise RetrieveError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    spec = DATASETS[dataset]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = dict(options or {})
    log.info("retrieve %s (%s) into %s", dataset, mode, out_dir)
    if mode == "synthetic":
        result = _synthetic(dataset, spec, synthetic_dir, out_dir, country)
    elif mode == "user":
        result = _user(dataset, user_path, out_dir, country, options, version)
    else:
        result = spec.download(country=country, options=options, out_dir=out_dir, version=version)
    for name, required in spec.files.items():
        path = out_dir / name
        if not path.is_file():
            raise RetrieveError(f"{dataset}: {mode} produced no {name}")
        if mode != "synthetic":  # a synthetic file is a byte copy of the source checked above
            validate_file(path, required, country=country)
    if dataset == "boundaries":  # study regions, bases and CRS against the boundaries, as soon as they exist
        from qipstudy.countrycheck import check_boundaries_file

        result.notes["country_check_warnings"] = check_boundaries_file(country, out_dir / "adm3.gpkg")
    return write_provenance(out_dir, dataset=dataset, country=str(country.get("iso3", "")),
                            version=version, mode=mode, files=result.files,
                            sources=result.sources, notes=result.notes,
                            request=snapshot_request(mode, options, country))
