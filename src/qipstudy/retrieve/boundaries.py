"""Admin-3 boundaries as `adm3.gpkg` (layer `adm3`, EPSG:4326): OCHA COD-AB from HDX, geoBoundaries, or a user file.

Field names come from the country file (`boundaries.admin1_field` ... `admin3_pcode_field`): the
admin-3 layer must carry them (matched case-insensitively) and adm3.gpkg keeps them, so every later
step reads the same names. A source of another edition names its fields in the dataset option
`fields` ({country-file key: source field}); the output still uses the country's names.

Editions are never mixed up silently. COD-AB datasets on HDX are replaced in place (`cod-ab-mli`
served the 2019 edition the paper used; it now serves a 2025 edition with 20 regions and the
`adm1_name` fields of the 2024+ COD-AB standard). So: the admin-3 layer must be the one the country
file names (`boundaries.cod_ab_layer`, or option `layer`), and a year in the dataset version label
(e.g. `cod-ab-2019`) must match the year of the edition found (a date in the layer or resource
name, `validOn`/`valid_on`, geoBoundaries' `boundaryYearRepresented`). The 2019 edition is then a
user file (pinned by `sha256`), or the current edition is used under a version label that says so.

Sources: HDX CKAN `package_show` (response `{"success", "result": {"resources": [...]}}`, see
docs.ckan.org API guide) → the zipped shapefile/GeoPackage resource → the admin-3 layer;
geoBoundaries gbOpen (`/api/current/gbOpen/{ISO3}/{ADM}/` → metadata with `gjDownloadURL`; features
with `shapeName`, `shapeID`); a user file: a `.shp`, a folder of shapefiles, a `.zip` as
distributed, a `.gpkg` or a `.geojson`.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd

from ..country import bounds_problem
from .http import (
    CorruptFileError,
    EmptyResultError,
    HttpClient,
    RetrieveError,
    SchemaError,
    atomic_path,
    log,
    parse_json,
    sha256_file,
)
from .provenance import Retrieved

__all__ = [
    "FIELD_CONVENTIONS",
    "FIELD_KEYS",
    "GEOBOUNDARIES_API",
    "HDX_API",
    "NAME_KEYS",
    "EditionError",
    "LayerNotFoundError",
    "check_edition",
    "choose_resource",
    "configured_fields",
    "contract_fields",
    "convert_boundaries",
    "detect_convention",
    "download",
    "edition_years",
    "label_years",
    "list_layers",
    "match_field",
    "pick_layer",
    "read_layer",
    "source_fields",
]

HDX_API = "https://data.humdata.org/api/3/action"
# What replaces the download when HDX / geoBoundaries cannot be reached (named in the offline error).
USER_FILE_HINT = "the COD-AB boundaries as distributed (a .zip of shapefiles, a folder, a .shp or a .gpkg)"
GEOBOUNDARIES_API = "https://www.geoboundaries.org/api/current/gbOpen"

# Country-file keys naming boundary fields; the three name fields are required everywhere.
FIELD_KEYS = ("admin0_field", "admin1_field", "admin2_field", "admin3_field",
              "admin0_pcode_field", "admin1_pcode_field", "admin2_pcode_field", "admin3_pcode_field")
NAME_KEYS = ("admin1_field", "admin2_field", "admin3_field")


def _convention(name: str, pcode: str) -> dict[str, str]:
    return {**{f"admin{k}_field": name.format(k=k) for k in range(4)},
            **{f"admin{k}_pcode_field": pcode.format(k=k) for k in range(4)}}


# Field names of the editions met in practice (for suggestions only; nothing is mapped automatically).
FIELD_CONVENTIONS: tuple[tuple[str, dict[str, str]], ...] = (
    ("COD-AB standard 2024+ (e.g. HDX cod-ab-mli 2025; adm1_name, adm1_pcode)", _convention("adm{k}_name", "adm{k}_pcode")),
    ("COD-AB of ITOS 2015-2019 (e.g. Mali 2019; admin1Name, admin1Pcod)", _convention("admin{k}Name", "admin{k}Pcod")),
    ("COD-AB in French (ADM1_FR, ADM1_PCODE)", _convention("ADM{k}_FR", "ADM{k}_PCODE")),
    ("COD-AB in English (ADM1_EN, ADM1_PCODE)", _convention("ADM{k}_EN", "ADM{k}_PCODE")),
    ("COD-AB in Portuguese (ADM1_PT, ADM1_PCODE)", _convention("ADM{k}_PT", "ADM{k}_PCODE")),
)

_ADM3_LAYER = re.compile(r"(?<![a-z0-9])adm(in)?_?3(?![0-9a-z])", re.IGNORECASE)
_NOT_POLYGONS = re.compile(r"line|point|bndl|bndp|capital|label", re.IGNORECASE)
_DATE8 = re.compile(r"(?<!\d)((?:19|20)\d{2})(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_VALID_ON = ("valid_on", "validon")


class LayerNotFoundError(SchemaError):
    """The boundaries file has no layer of the configured name (or no recognisable admin-3 layer)."""


class EditionError(SchemaError):
    """The boundaries found are another edition than the version label or the configuration says."""


# ----------------------------------------------------------------------------- field names


def configured_fields(country: Mapping[str, Any]) -> dict[str, str]:
    """{country-file key: field name} for every boundary field the country file sets."""
    cfg = country.get("boundaries") or {}
    return {key: str(cfg[key]) for key in FIELD_KEYS if cfg.get(key)}


def contract_fields(country: Mapping[str, Any]) -> list[str]:
    """The columns adm3.gpkg must hold: the admin-1/2/3 name fields of the country file."""
    names = configured_fields(country)
    missing = [k for k in NAME_KEYS if k not in names]
    if missing:
        iso3 = country.get("iso3", "XXX")
        raise SchemaError(f"config/countries/{iso3}.yaml: key 'boundaries.{missing[0]}' is not set "
                          "(the field of the admin names in the boundaries file)")
    return [names[k] for k in NAME_KEYS]


def source_fields(country: Mapping[str, Any], options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """{country-file key: field in the source}: the country's names unless option `fields` renames them."""
    names = configured_fields(country)
    override = (options or {}).get("fields") or {}
    if not isinstance(override, Mapping):
        raise SchemaError(f"datasets.boundaries.options.fields must map country-file keys ({', '.join(FIELD_KEYS)}) "
                          f"to the source's field names, got {override!r}")
    unknown = [k for k in override if k not in FIELD_KEYS]
    if unknown:
        raise SchemaError(f"datasets.boundaries.options.fields: unknown key(s) {unknown}; allowed: {', '.join(FIELD_KEYS)}")
    unset = [k for k in override if k not in names]
    if unset:
        raise SchemaError(f"datasets.boundaries.options.fields.{unset[0]}: the country file sets no boundaries.{unset[0]}, "
                          "so there is no output name for it")
    return {key: str(override.get(key, name)) for key, name in names.items()}


def detect_convention(columns: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    """The known field convention whose admin-1/2/3 name fields a layer carries (case-insensitive), if any."""
    have = {str(c).lower(): str(c) for c in columns}
    best = None
    for label, mapping in FIELD_CONVENTIONS:
        if all(mapping[k].lower() in have for k in ("admin1_field", "admin3_field")):
            present = {k: have[v.lower()] for k, v in mapping.items() if v.lower() in have}
            if best is None or len(present) > len(best[1]):
                best = (label, present)
    return best


def match_field(columns: Sequence[str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    hits = [c for c in columns if str(c).lower() == wanted.lower()]
    return hits[0] if len(hits) == 1 else None


# ----------------------------------------------------------------------------- layers


def _layer_entry(name: str, uri: str, layer: str | None = None) -> dict[str, Any]:
    return {"name": name, "uri": uri, "layer": layer}


def _gpkg_layers(uri: str) -> list[dict[str, Any]]:
    import pyogrio

    return [_layer_entry(str(row[0]), uri, str(row[0])) for row in pyogrio.list_layers(uri)]


def list_layers(source: str | Path) -> list[dict[str, Any]]:
    """Every vector layer of a `.shp`, `.gpkg`, `.geojson`, a folder of them, or a `.zip` as distributed.

    Each entry: {'name': layer name (shapefile stem or GeoPackage layer), 'uri': GDAL path, 'layer'}.
    """
    path = Path(source)
    if not path.exists():
        raise RetrieveError(f"{path}: boundaries file not found")
    try:
        if path.is_dir():
            out = []
            for p in sorted(path.rglob("*")):
                suffix = p.suffix.lower()
                if suffix in (".shp", ".geojson"):
                    out.append(_layer_entry(p.stem, str(p)))
                elif suffix == ".gpkg":
                    out += _gpkg_layers(str(p))
                elif suffix == ".zip":
                    out += list_layers(p)
            return out
        suffix = path.suffix.lower()
        if suffix == ".zip":
            try:
                members = zipfile.ZipFile(path).namelist()
            except zipfile.BadZipFile as exc:
                raise CorruptFileError(f"{path}: not a readable zip file ({exc})") from exc
            out = []
            for m in sorted(members):
                low = m.lower()
                uri = f"/vsizip/{path.resolve()}/{m}"
                if low.endswith((".shp", ".geojson")):
                    out.append(_layer_entry(Path(m).stem, uri))
                elif low.endswith(".gpkg"):
                    out += _gpkg_layers(uri)
            return out
        if suffix == ".gpkg":
            return _gpkg_layers(str(path))
        if suffix in (".shp", ".geojson", ".json"):
            return [_layer_entry(path.stem, str(path))]
    except (OSError, RuntimeError) as exc:  # pyogrio's DataSourceError is a RuntimeError
        raise CorruptFileError(f"{path}: unreadable boundaries file ({exc})") from exc
    raise SchemaError(f"{path}: boundaries must be a .shp, a .gpkg, a .geojson, a folder of these or a .zip "
                      f"holding them, not {path.suffix or 'a file without suffix'}")


def pick_layer(layers: list[dict[str, Any]], wanted: str | None, source: Path) -> dict[str, Any]:
    """The admin-3 layer: the one named `wanted`; else the only layer; else the one named like admin-3.

    A file of several layers without `wanted` (a whole edition, e.g. mli_admin0..mli_admin3) is refused:
    that is how another edition shows. A file of one layer (a single .shp, a GeoPackage saved by hand)
    is taken whatever its name, with `renamed_from` set; its fields, edition year and bounds are
    still checked.
    """
    names = [entry["name"] for entry in layers]
    if not layers:
        raise LayerNotFoundError(f"{source}: no vector layer (.shp, .gpkg, .geojson) found")
    if wanted:
        stem = Path(wanted).stem if wanted.lower().endswith(".shp") else wanted
        hits = [e for e in layers if e["name"].lower() == stem.lower()]
        if hits:
            return hits[0]
        if len(layers) == 1:
            log.warning("%s: the only layer is %r, not the configured %r; using it", source, names[0], wanted)
            return {**layers[0], "renamed_from": wanted}
        raise LayerNotFoundError(
            f"{source}: no layer {wanted!r} (layers: {', '.join(names)}); the file is another edition than the one "
            "configured, or the layer is named differently: set boundaries.cod_ab_layer in the country file "
            "(or datasets.boundaries.options.layer) to one of the layers listed")
    if len(layers) == 1:
        return layers[0]
    adm3 = [e for e in layers if _ADM3_LAYER.search(e["name"]) and not _NOT_POLYGONS.search(e["name"])]
    if adm3:
        return min(adm3, key=lambda e: len(e["name"]))
    raise LayerNotFoundError(f"{source}: several layers ({', '.join(names)}) and none is recognisably admin-3; "
                             "set boundaries.cod_ab_layer in the country file (or datasets.boundaries.options.layer)")


def read_layer(entry: Mapping[str, Any], source: Path) -> gpd.GeoDataFrame:
    """Read one entry of `list_layers`, with the file named in any error."""
    try:
        return gpd.read_file(entry["uri"], layer=entry.get("layer"), engine="pyogrio")
    except (OSError, RuntimeError, ValueError) as exc:
        raise CorruptFileError(f"{source} (layer {entry['name']}): unreadable ({exc})") from exc


# ----------------------------------------------------------------------------- editions


def edition_years(*names: str, gdf: pd.DataFrame | None = None) -> dict[int, str]:
    """{year: evidence} of the boundaries' edition.

    The layer's `validOn`/`valid_on` values when it has them (the COD-AB field saying since when the
    edition is valid); otherwise the dates in the layer and file names (e.g. `..._20190802`, `..._2019_shp.zip`).
    """
    found: dict[int, str] = {}
    if gdf is not None:
        for col in gdf.columns:
            if str(col).lower() in _VALID_ON:
                values = pd.to_datetime(gdf[col].astype(str), errors="coerce", utc=True).dropna()
                for year in sorted(set(values.dt.year.astype(int))):
                    found.setdefault(int(year), f"{col} {values[values.dt.year == year].iloc[0].date()}")
    if found:
        return found
    for name in names:
        text = str(name or "")
        dates = _DATE8.findall(text)
        for year in dates or _YEAR.findall(text):
            found.setdefault(int(year), f"name {text}")
    return found


def label_years(version: str) -> set[int]:
    """Edition years a version label names: `cod-ab-2019` → {2019}; a snapshot date (`snapshot-2026-11`) names none."""
    text = str(version or "")
    if "snapshot" in text.lower():
        return set()
    return {int(m.group(1)) for m in re.finditer(r"(?<!\d)((?:19|20)\d{2})(?![\d])(?!-\d{2})", text)}


def check_edition(version: str, years: Mapping[int, str], what: str) -> None:
    """A year in the version label must be the edition's year when the edition's year is known."""
    label_years_ = label_years(version)
    if not label_years_ or not years:
        return
    if label_years_ & set(years):
        return
    evidence = "; ".join(f"{y} ({e})" for y, e in sorted(years.items()))
    wanted = ", ".join(str(y) for y in sorted(label_years_))
    raise EditionError(
        f"{what}: the dataset version {version!r} names {wanted}, but these boundaries are of {evidence}. "
        "Another edition is never used under this label: supply the edition the label names as a user file "
        "(datasets.boundaries.mode: user, user_file, options.sha256), or give the version a label of the edition "
        "you have (e.g. cod-ab-" + str(max(years)) + ") and set its layer and fields")


# ----------------------------------------------------------------------------- conversion


def _write_adm3(gdf: gpd.GeoDataFrame, dest: Path, what: str) -> int:
    if gdf.empty:
        raise EmptyResultError(f"{what}: no admin-3 polygons")
    bad = ~gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise SchemaError(f"{what}: {int(bad.sum())} feature(s) are not polygons (first: row {row}, "
                          f"{gdf.geometry.iloc[row - 1].geom_type}); is this the admin-3 polygon layer?")
    with atomic_path(Path(dest)) as tmp:
        gdf.to_file(tmp, layer="adm3", driver="GPKG", engine="pyogrio")
    return len(gdf)


def _missing_fields_error(what: str, columns: Sequence[str], missing: list[tuple[str, str]],
                          country: Mapping[str, Any], overridden: Mapping[str, Any]) -> SchemaError:
    iso3 = country.get("iso3", "XXX")
    key, field = missing[0]
    where = (f"datasets.boundaries.options.fields.{key}" if key in overridden
             else f"boundaries.{key} in config/countries/{iso3}.yaml")
    message = (f"{what}: no field {field!r} for {where} (fields: {', '.join(map(str, columns))})")
    if len(missing) > 1:
        message += f"; also missing: {', '.join(f'{f!r} ({k})' for k, f in missing[1:])}"
    found = detect_convention(columns)
    if found:
        label, present = found
        block = ", ".join(f"{k}: {v}" for k, v in present.items())
        message += (f". The layer follows the {label}: set boundaries {{{block}}} in config/countries/{iso3}.yaml "
                    "if this is the edition the study uses, else datasets.boundaries.options.fields for this edition")
    else:
        message += f"; set {where} to the field holding these names"
    return SchemaError(message)


def convert_boundaries(source: str | Path, dest: Path, *, country: Mapping[str, Any],
                       options: Mapping[str, Any] | None = None, version: str = "",
                       evidence_names: Sequence[str] = ()) -> dict[str, Any]:
    """Write the admin-3 layer of `source` as adm3.gpkg with the country's field names; returns notes.

    The layer is `options['layer']`, else the country's `boundaries.cod_ab_layer` (see pick_layer).
    Fields are found case-insensitively; an admin-1/2/3 name field the layer lacks is an error listing
    the fields present and the key to set (p-code and country-name fields are carried when present).
    The edition must match a year in `version` (see check_edition) and the bounds the country's
    `extent` (swapped axes).
    """
    options = dict(options or {})
    source = Path(source)
    layers = list_layers(source)
    wanted = options.get("layer") or (country.get("boundaries") or {}).get("cod_ab_layer")
    entry = pick_layer(layers, wanted, source)
    what = f"{source} (layer {entry['name']})"
    gdf = read_layer(entry, source)
    src = source_fields(country, options)
    out_names = configured_fields(country)
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    matched, missing = {}, []
    for key, field in src.items():
        hit = match_field(columns, field)
        if hit is None:
            missing.append((key, field))
        else:
            matched[key] = hit
    required = [(k, f) for k, f in missing if k in NAME_KEYS]
    if required:  # only the name fields are read by later steps; p-codes and the country name are extras
        ordered = required + [(k, f) for k, f in missing if k not in NAME_KEYS]
        raise _missing_fields_error(what, columns, ordered, country, options.get("fields") or {})
    if missing:
        log.warning("%s: optional field(s) %s not in the file: not carried into adm3.gpkg", what,
                    ", ".join(f"{f!r} ({k})" for k, f in missing))
    years = edition_years(entry["name"], source.name, *evidence_names, gdf=gdf)
    check_edition(version, years, what)
    if gdf.crs is None:
        raise SchemaError(f"{what}: no CRS (a shapefile without its .prj?); the contract needs EPSG:4326 coordinates")
    gdf = gdf.to_crs(4326)
    if country.get("extent") is not None and not gdf.empty:
        problem = bounds_problem(gdf.total_bounds, country["extent"], what)
        if problem:
            raise SchemaError(problem)
    data = {out_names[key]: gdf[col].astype(object).where(gdf[col].notna(), None) for key, col in matched.items()}
    absent = {out_names[k]: f for k, f in missing}
    out = gpd.GeoDataFrame(data, geometry=gdf.geometry.to_numpy(), crs=4326)
    n = _write_adm3(out, dest, what)
    return {"layer": entry["name"], "configured_layer": entry.get("renamed_from", wanted), "polygons": n,
            "layers": [e["name"] for e in layers],
            "fields": {out_names[k]: col for k, col in matched.items()}, "optional_fields_absent": absent,
            "edition_years": {str(y): e for y, e in sorted(years.items())}}


# ----------------------------------------------------------------------------- HDX


def choose_resource(package: Mapping[str, Any], pattern: str | None = None,
                    layer: str | None = None) -> Mapping[str, Any]:
    """The CKAN resource holding the admin-3 polygons.

    With `pattern`: the first resource whose name or URL matches it. Otherwise among the zipped
    shapefile/GeoPackage resources (polygon layers, not boundary lines or points): one named like
    `layer`, else one named like admin-3, else an all-levels archive (e.g. mli_admin_boundaries.shp.zip).
    """
    resources = list(package.get("resources") or [])

    def text(r):
        return f"{r.get('name', '')} {r.get('url', '')}"

    if pattern:
        hits = [r for r in resources if re.search(pattern, text(r), re.IGNORECASE)]
    else:
        zips = [r for r in resources
                if re.search(r"shp|shapefile|gpkg|geopackage", f"{r.get('format', '')} {r.get('name', '')}", re.IGNORECASE)
                and str(r.get("url") or r.get("download_url") or "").lower().split("?")[0].endswith(".zip")
                and not _NOT_POLYGONS.search(str(r.get("name", "")))]
        by_layer = [r for r in zips if layer and layer.lower() in text(r).lower()]
        by_level = [r for r in zips if _ADM3_LAYER.search(str(r.get("name", "")))]
        other_levels = re.compile(r"(?<![a-z0-9])adm(in)?_?[0-24-9](?![0-9a-z])", re.IGNORECASE)
        all_levels = [r for r in zips if not other_levels.search(str(r.get("name", "")))]
        hits = by_layer or by_level or all_levels
    if not hits:
        listing = ", ".join(str(r.get("name")) for r in resources) or "none"
        raise RetrieveError(f"HDX package {package.get('name')!r}: no resource matches "
                            f"{pattern or 'a zipped shapefile/GeoPackage of admin-3 polygons'} (resources: {listing}); "
                            "set datasets.boundaries.options.resource_pattern")
    return hits[0]


def _package_show(client: HttpClient, api: str, dataset: str) -> Mapping[str, Any]:
    url = f"{api}/package_show"
    resp = client.request("GET", url, params={"id": dataset}, allow=(404,))
    payload = parse_json(resp, source=url)
    if not isinstance(payload, Mapping) or not payload.get("success") or not isinstance(payload.get("result"), Mapping):
        error = payload.get("error") if isinstance(payload, Mapping) else payload
        message = error.get("message") if isinstance(error, Mapping) else str(error)[:200]
        raise RetrieveError(f"HDX package_show for dataset {dataset!r} failed (HTTP {resp.status_code}: {message}); "
                            "HDX names COD-AB datasets cod-ab-<iso3>: check sources.hdx_cod_ab_dataset or "
                            "datasets.boundaries.options.dataset")
    return payload["result"]


def _download_hdx(country, options, out_dir, client, version) -> Retrieved:
    api = str(options.get("base_url") or HDX_API).rstrip("/")
    dataset = options.get("dataset") or (country.get("sources") or {}).get("hdx_cod_ab_dataset")
    if not dataset:
        raise RetrieveError(f"config/countries/{country.get('iso3')}.yaml: key 'sources.hdx_cod_ab_dataset' is not set "
                            "(the HDX dataset name, e.g. cod-ab-mli)")
    package = _package_show(client, api, dataset)
    layer = options.get("layer") or (country.get("boundaries") or {}).get("cod_ab_layer")
    resource = choose_resource(package, options.get("resource_pattern"), layer)
    url = str(resource.get("url") or resource.get("download_url"))
    cache = Path(options.get("cache_dir") or Path(out_dir) / ".download")
    archive = client.download(url, cache / Path(urlsplit(url).path).name,
                              expected_sha256=options.get("sha256"), label=f"COD-AB {dataset}")
    dest = Path(out_dir) / "adm3.gpkg"
    context = (f"HDX dataset {dataset!r} (modified {package.get('metadata_modified', '?')}), resource "
               f"{resource.get('name')!r}")
    try:
        notes = convert_boundaries(archive, dest, country=country, options=options, version=version,
                                   evidence_names=[str(resource.get("name", ""))])
    except LayerNotFoundError as exc:
        raise LayerNotFoundError(
            f"{context}: {exc}. HDX replaces COD-AB editions in place, so the configured edition may no longer be "
            "downloadable: use the file of that edition (datasets.boundaries.mode: user, user_file, options.sha256), "
            "or name the current edition in the version label and set options.layer/options.fields") from exc
    except EditionError as exc:
        raise EditionError(f"{context}: {exc}") from exc
    return Retrieved(files=[dest],
                     sources=[{"url": f"{api}/package_show", "params": {"id": dataset}},
                              {"url": url, "resource": resource.get("name"),
                               "resource_modified": resource.get("last_modified"),
                               "archive_sha256": sha256_file(archive)}],
                     notes={"provider": "hdx", "dataset": dataset, **notes,
                            "hdx_licence": package.get("license_title"),
                            "dataset_modified": package.get("metadata_modified"),
                            "dataset_date": package.get("dataset_date")})


# ----------------------------------------------------------------------------- geoBoundaries


def _gb_meta(client: HttpClient, api: str, iso3: str, level: str) -> Mapping[str, Any]:
    meta = client.get_json(f"{api}/{iso3}/{level}/")
    if isinstance(meta, list):  # ALL queries answer with a list of records
        meta = next((m for m in meta if isinstance(m, Mapping) and m.get("boundaryType") == level), None)
    if not isinstance(meta, Mapping) or not meta.get("gjDownloadURL"):
        raise SchemaError(f"geoBoundaries {iso3} {level}: the metadata has no gjDownloadURL "
                          f"(keys: {', '.join(meta) if isinstance(meta, Mapping) else type(meta).__name__})")
    if meta.get("boundaryISO") and str(meta["boundaryISO"]).upper() != iso3.upper():
        raise SchemaError(f"geoBoundaries {iso3} {level}: the metadata is for {meta['boundaryISO']}, not {iso3}")
    return meta


def _gb_level(client: HttpClient, meta: Mapping[str, Any], iso3: str, level: str, cache: Path) -> gpd.GeoDataFrame:
    url = str(meta["gjDownloadURL"])
    path = client.download(url, cache / f"geoBoundaries-{iso3}-{level}.geojson", label=f"geoBoundaries {level}")
    try:
        gdf = gpd.read_file(path, engine="pyogrio")
    except (OSError, RuntimeError, ValueError) as exc:
        raise CorruptFileError(f"geoBoundaries {iso3} {level} ({url}): unreadable GeoJSON ({exc})") from exc
    if not {"shapeName", "shapeID"} <= set(gdf.columns):
        raise SchemaError(f"geoBoundaries {iso3} {level}: features lack shapeName/shapeID (fields: {', '.join(gdf.columns)})")
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)  # GeoJSON is WGS84 by definition (RFC 7946)
    return gdf.to_crs(4326)


def _download_geoboundaries(country, options, out_dir, client, version) -> Retrieved:
    """geoBoundaries ADM3 carries no parent names: they are joined from ADM1/ADM2 by location."""
    api = str(options.get("base_url") or GEOBOUNDARIES_API).rstrip("/")
    iso3 = options.get("iso3") or (country.get("sources") or {}).get("geoboundaries_iso3") or country["iso3"]
    cache = Path(options.get("cache_dir") or Path(out_dir) / ".download")
    names = configured_fields(country)
    contract_fields(country)
    metas, levels = {}, {}
    for level in ("ADM1", "ADM2", "ADM3"):
        metas[level] = _gb_meta(client, api, iso3, level)
        levels[level] = _gb_level(client, metas[level], iso3, level, cache)
    year = str(metas["ADM3"].get("boundaryYearRepresented") or "")
    years = {int(y): f"boundaryYearRepresented = {year}" for y in _YEAR.findall(year)}
    check_edition(version, years, f"geoBoundaries {iso3} ADM3")
    adm3 = levels["ADM3"].reset_index(drop=True)
    points = gpd.GeoDataFrame(geometry=adm3.geometry.representative_point(), crs=4326)
    data: dict[str, Any] = {}
    unmatched = {}
    for level, k in (("ADM1", 1), ("ADM2", 2)):
        parent = levels[level][["shapeName", "shapeID", "geometry"]]
        joined = gpd.sjoin(points, parent, how="left", predicate="within")
        joined = joined[~joined.index.duplicated(keep="first")].reindex(points.index)
        unmatched[level] = int(joined["shapeName"].isna().sum())
        data[f"admin{k}_field"] = joined["shapeName"]
        data[f"admin{k}_pcode_field"] = joined["shapeID"]
    data["admin3_field"], data["admin3_pcode_field"] = adm3["shapeName"], adm3["shapeID"]
    data["admin0_field"] = pd.Series(country.get("name", iso3), index=adm3.index)
    data["admin0_pcode_field"] = pd.Series(country.get("iso2", iso3), index=adm3.index)
    if unmatched["ADM1"]:
        raise SchemaError(f"geoBoundaries {iso3}: {unmatched['ADM1']} of {len(adm3)} ADM3 units lie in no ADM1 polygon, "
                          "so their admin-1 name is unknown")
    out = gpd.GeoDataFrame({field: data[key].to_numpy() for key, field in names.items()},
                           geometry=adm3.geometry.to_numpy(), crs=4326)
    what = f"geoBoundaries {iso3} ADM3"
    if country.get("extent") is not None:
        problem = bounds_problem(out.total_bounds, country["extent"], what)
        if problem:
            raise SchemaError(problem)
    dest = Path(out_dir) / "adm3.gpkg"
    n = _write_adm3(out, dest, what)
    if unmatched["ADM2"]:
        log.warning("geoBoundaries %s: %d ADM3 units lie in no ADM2 polygon (admin-2 name empty)", iso3, unmatched["ADM2"])
    return Retrieved(files=[dest],
                     sources=[{"url": f"{api}/{iso3}/{level}/", "gjDownloadURL": metas[level]["gjDownloadURL"],
                               "level": level} for level in metas],
                     notes={"provider": "geoboundaries", "polygons": n, "unmatched_admin2": unmatched["ADM2"],
                            "boundary_year": year, "licence": metas["ADM3"].get("boundaryLicense"),
                            "build_date": metas["ADM3"].get("buildDate"),
                            "edition_years": {str(y): e for y, e in years.items()}})


OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Options of the `boundaries` dataset (OCHA COD-AB on HDX, or geoBoundaries).",
    "properties": {
        "provider": {"type": "string", "enum": ["hdx", "geoboundaries"], "default": "hdx",
                     "description": "hdx: OCHA COD-AB via HDX's CKAN API (the paper's source); geoboundaries: gbOpen."},
        "base_url": {"type": ["string", "null"], "default": None,
                     "description": f"Root of the provider's API (a mirror or a test server); null: {HDX_API} "
                                    f"(hdx) or {GEOBOUNDARIES_API} (geoboundaries)."},
        "dataset": {"type": ["string", "null"], "default": None,
                    "description": "HDX dataset name; null: the country's sources.hdx_cod_ab_dataset."},
        "resource_pattern": {"type": ["string", "null"], "default": None,
                             "description": "Regular expression choosing the HDX resource (file) when several fit."},
        "iso3": {"type": ["string", "null"], "default": None,
                 "description": "geoBoundaries ISO3 code; null: sources.geoboundaries_iso3, else iso3."},
        "layer": {"type": ["string", "null"], "default": None,
                  "description": "Layer of the admin-3 polygons; null: the country's boundaries.cod_ab_layer."},
        "fields": {"type": ["object", "null"], "additionalProperties": {"type": "string"}, "default": None,
                   "description": "Fields of another edition: {country-file key (admin1_field, ...): source field}."},
    },
}


def download(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
             version: str) -> Retrieved:
    """`provider`: hdx (OCHA COD-AB, default, the paper's) or geoboundaries."""
    provider = options.get("provider", "hdx")
    client = HttpClient.from_options(options, dataset="boundaries", user_file_hint=USER_FILE_HINT)
    if provider == "hdx":
        return _download_hdx(country, options, out_dir, client, version)
    if provider == "geoboundaries":
        return _download_geoboundaries(country, options, out_dir, client, version)
    raise RetrieveError(f"boundaries option `provider` must be hdx or geoboundaries, not {provider!r}")
