"""Admin-3 boundaries: OCHA COD-AB from HDX (CKAN) or geoBoundaries, written as `adm3.gpkg`.

HDX resource URLs change with every re-upload, so the URL is looked up through CKAN's
`package_show` each time and the zip's sha256 recorded (or checked, when pinned). The paper's
2019 layer is chosen by name from the country config (`boundaries.cod_ab_layer`).
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

import geopandas as gpd
import pandas as pd

from .http import (CorruptFileError, EmptyResultError, HttpClient, RetrieveError, SchemaError,
                   atomic_path, log, sha256_file)
from .provenance import Retrieved

__all__ = ["HDX_API", "GEOBOUNDARIES_API", "fields", "choose_resource", "cod_ab_to_gpkg",
           "download"]

HDX_API = "https://data.humdata.org/api/3/action"
GEOBOUNDARIES_API = "https://www.geoboundaries.org/api/current/gbOpen"


def fields(country: Mapping[str, Any]) -> dict[str, str]:
    """Contract column names, honouring the country's `boundaries.*_field` overrides."""
    cfg = country.get("boundaries") or {}
    admin1 = cfg.get("admin1_field", "ADM1_FR")
    # the country-name field follows the admin-1 field's language (ADM1_EN -> ADM0_EN)
    admin0 = "ADM0" + admin1[4:] if admin1.startswith("ADM1") else "ADM0_FR"
    names = {"ADM0_FR": admin0, "ADM0_PCODE": "ADM0_PCODE", "ADM1_FR": admin1,
             "ADM1_PCODE": "ADM1_PCODE", "ADM2_FR": cfg.get("admin2_field", "ADM2_FR"),
             "ADM2_PCODE": "ADM2_PCODE", "ADM3_FR": cfg.get("admin3_field", "ADM3_FR"),
             "ADM3_PCODE": "ADM3_PCODE"}
    return names


def choose_resource(package: Mapping[str, Any], pattern: str | None) -> Mapping[str, Any]:
    """Pick the shapefile (or gpkg) zip among a CKAN package's resources."""
    resources = package.get("resources") or []
    if pattern:
        hits = [r for r in resources if re.search(pattern, str(r.get("name", "")) + " " + str(r.get("url", "")), re.I)]
    else:
        hits = [r for r in resources
                if re.search(r"shp|shapefile|gpkg|geopackage", f"{r.get('format', '')} {r.get('name', '')}", re.I)
                and str(r.get("url", "")).lower().split("?")[0].endswith(".zip")]
    if not hits:
        listing = ", ".join(str(r.get("name")) for r in resources) or "none"
        raise RetrieveError(f"HDX package {package.get('name')!r}: no resource matches "
                            f"{pattern or 'a zipped shapefile/gpkg'} (resources: {listing}); "
                            "set options `resource_pattern`")
    return hits[0]


def _find_layer(archive: Path, layer: str | None) -> str:
    """Path (GDAL vsizip) of the admin-3 layer inside a COD-AB zip."""
    try:
        names = zipfile.ZipFile(archive).namelist()
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{archive}: bad zip file ({exc})") from exc
    shps = [n for n in names if n.lower().endswith(".shp")]
    gpkgs = [n for n in names if n.lower().endswith(".gpkg")]
    if layer:
        for n in shps:
            if Path(n).stem.lower() == layer.lower():
                return f"zip://{archive}!{n}"
    adm3 = [n for n in shps if re.search(r"adm(in)?3", Path(n).stem, re.I)]
    if adm3:
        return f"zip://{archive}!{sorted(adm3, key=len)[0]}"
    if gpkgs:
        return f"zip://{archive}!{gpkgs[0]}"
    raise SchemaError(f"{archive}: no admin-3 layer (wanted {layer!r}; files: {', '.join(names)})")


def _read_adm3(source: str | Path, layer: str | None) -> gpd.GeoDataFrame:
    import pyogrio

    source = str(source)
    layers = [name for name, _ in pyogrio.list_layers(source)]
    pick = None
    if layer and layer in layers:
        pick = layer
    elif len(layers) > 1:
        adm3 = [name for name in layers if re.search(r"adm(in)?3", name, re.I)]
        pick = adm3[0] if adm3 else None
        if pick is None:
            raise SchemaError(f"{source}: several layers ({layers}) and none is admin-3")
    return gpd.read_file(source, layer=pick) if pick else gpd.read_file(source)


def cod_ab_to_gpkg(source: str | Path, dest: Path, country: Mapping[str, Any],
                   layer: str | None = None) -> int:
    """Convert a COD-AB admin-3 layer (zip, shp or gpkg) to `adm3.gpkg`, layer `adm3`, EPSG:4326."""
    src = str(source)
    if src.lower().endswith(".zip") and not src.startswith("zip://"):
        src = _find_layer(Path(source), layer)
    try:
        gdf = _read_adm3(src, layer)
    except (OSError, RuntimeError) as exc:
        raise CorruptFileError(f"{source}: unreadable boundaries ({exc})") from exc
    want = list(dict.fromkeys(fields(country).values()))
    by_upper = {str(c).upper(): c for c in gdf.columns}
    gdf = gdf.rename(columns={by_upper[w.upper()]: w for w in want
                              if w not in gdf.columns and w.upper() in by_upper})
    missing = [c for c in want if c not in gdf.columns]
    if missing:
        raise SchemaError(f"{source}: boundaries lack column(s) {', '.join(missing)} "
                          f"(present: {', '.join(map(str, gdf.columns))}); set `boundaries.*_field`")
    if gdf.crs is None:
        raise SchemaError(f"{source}: boundaries have no CRS")
    if gdf.empty:
        raise EmptyResultError(f"{source}: no admin-3 polygons")
    gdf = gdf.to_crs(4326)
    bad = ~gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if bad.any():
        raise SchemaError(f"{source}: {int(bad.sum())} admin-3 features are not polygons")
    out = gpd.GeoDataFrame(gdf[want], geometry=gdf.geometry, crs=4326)
    with atomic_path(Path(dest)) as tmp:
        out.to_file(tmp, layer="adm3", driver="GPKG")
    return len(out)


def _download_hdx(country, options, out_dir, client) -> Retrieved:
    api = str(options.get("hdx_url", HDX_API)).rstrip("/")
    dataset = options.get("dataset") or country["sources"]["hdx_cod_ab_dataset"]
    payload = client.get_json(f"{api}/package_show", params={"id": dataset})
    if not isinstance(payload, dict) or not payload.get("success") or "result" not in payload:
        raise CorruptFileError(f"HDX package_show for {dataset!r} failed: "
                               f"{str(payload.get('error') if isinstance(payload, dict) else payload)[:200]}")
    package = payload["result"]
    resource = choose_resource(package, options.get("resource_pattern"))
    url = str(resource["url"])
    cache = Path(options.get("cache_dir") or Path(out_dir) / ".download")
    archive = client.download(url, cache / Path(urlsplit(url).path).name,
                              expected_sha256=options.get("sha256"), label=f"COD-AB {dataset}")
    layer = options.get("layer") or (country.get("boundaries") or {}).get("cod_ab_layer")
    dest = Path(out_dir) / "adm3.gpkg"
    n = cod_ab_to_gpkg(archive, dest, country, layer)
    return Retrieved(files=[dest],
                     sources=[{"url": f"{api}/package_show", "params": {"id": dataset}},
                              {"url": url, "resource": resource.get("name"),
                               "archive_sha256": sha256_file(archive)}],
                     notes={"provider": "hdx", "layer": layer, "polygons": n,
                            "hdx_licence": package.get("license_title"),
                            "dataset_modified": package.get("metadata_modified")})


def _gb_level(client: HttpClient, api: str, iso3: str, level: str, cache: Path) -> tuple[gpd.GeoDataFrame, str]:
    meta = client.get_json(f"{api}/{iso3}/{level}/")
    if isinstance(meta, list):
        meta = meta[0] if meta else {}
    url = meta.get("gjDownloadURL") if isinstance(meta, dict) else None
    if not url:
        raise SchemaError(f"geoBoundaries {iso3} {level}: metadata lacks gjDownloadURL")
    path = client.download(url, cache / f"geoBoundaries-{iso3}-{level}.geojson", label=f"geoBoundaries {level}")
    gdf = gpd.read_file(path)
    if not {"shapeName", "shapeID"} <= set(gdf.columns):
        raise SchemaError(f"geoBoundaries {iso3} {level}: missing shapeName/shapeID")
    return gdf.to_crs(4326), url


def _download_geoboundaries(country, options, out_dir, client) -> Retrieved:
    """geoBoundaries has no parent names in ADM3; they are joined from ADM1/ADM2 by location."""
    api = str(options.get("geoboundaries_url", GEOBOUNDARIES_API)).rstrip("/")
    iso3 = options.get("iso3") or country["sources"].get("geoboundaries_iso3") or country["iso3"]
    cache = Path(options.get("cache_dir") or Path(out_dir) / ".download")
    levels, urls = {}, []
    for level in ("ADM1", "ADM2", "ADM3"):
        levels[level], url = _gb_level(client, api, iso3, level, cache)
        urls.append({"url": url, "level": level})
    names = fields(country)
    adm3 = levels["ADM3"].copy()
    points = gpd.GeoDataFrame(geometry=adm3.geometry.representative_point(), crs=4326)
    for level, name_col, code_col in (("ADM1", names["ADM1_FR"], names["ADM1_PCODE"]),
                                      ("ADM2", names["ADM2_FR"], names["ADM2_PCODE"])):
        parent = levels[level][["shapeName", "shapeID", "geometry"]]
        joined = gpd.sjoin(points, parent, how="left", predicate="within")
        joined = joined[~joined.index.duplicated(keep="first")]
        adm3[name_col] = joined["shapeName"].reindex(adm3.index)
        adm3[code_col] = joined["shapeID"].reindex(adm3.index)
    adm3[names["ADM3_FR"]], adm3[names["ADM3_PCODE"]] = adm3["shapeName"], adm3["shapeID"]
    adm3[names["ADM0_FR"]] = country.get("name", iso3)
    adm3[names["ADM0_PCODE"]] = country.get("iso2", iso3)
    with tempfile.TemporaryDirectory() as tmpdir:
        staging = Path(tmpdir) / "adm3_staging.gpkg"
        gpd.GeoDataFrame(adm3.drop(columns=[c for c in adm3.columns if c.startswith("shape")]),
                         geometry="geometry", crs=4326).to_file(staging, layer="adm3", driver="GPKG")
        dest = Path(out_dir) / "adm3.gpkg"
        n = cod_ab_to_gpkg(staging, dest, country, "adm3")
    unmatched = int(pd.isna(adm3[names["ADM1_FR"]]).sum())
    if unmatched:
        log.warning("geoBoundaries: %d admin-3 units fall in no admin-1 polygon", unmatched)
    return Retrieved(files=[dest], sources=[{"url": f"{api}/{iso3}/"}] + urls,
                     notes={"provider": "geoboundaries", "polygons": n, "unmatched_admin1": unmatched})


def download(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
             version: str) -> Retrieved:
    """`provider`: hdx (OCHA COD-AB, default, the paper's) or geoboundaries."""
    provider = options.get("provider", "hdx")
    client = HttpClient.from_options(options)
    if provider == "hdx":
        return _download_hdx(country, options, out_dir, client)
    if provider == "geoboundaries":
        return _download_geoboundaries(country, options, out_dir, client)
    raise RetrieveError(f"boundaries option `provider` must be hdx or geoboundaries, not {provider!r}")
