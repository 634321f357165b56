"""OSM roads and water features for the study area via osmnx (Overpass), tiled and cached.

A whole country in one Overpass query times out or exceeds the server's memory, so the area is
split into tiles; each tile's result is cached on disk, and an interrupted run resumes from the
tiles already fetched. All tag values are kept: the covariate step filters by class.

osmnx does its own HTTP: offline it would wait a minute per tile (its Overpass status check falls
back to a 60 s pause) and end in a raw requests traceback. So the Overpass server is probed first
through the shared HTTP layer (an `OfflineError` within seconds naming the `mode: user` files), and
any network error osmnx still raises is turned into a clear `RetrieveError`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import requests
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from .http import (
    CorruptFileError,
    EmptyResultError,
    HttpClient,
    RetrieveError,
    SchemaError,
    atomic_path,
    classify_network_error,
    get_option,
    log,
    options_schema,
    resolve_options,
)
from .provenance import Retrieved

__all__ = ["ROAD_COLUMNS", "WATER_COLUMNS", "ROAD_TAGS", "WATER_TAGS", "OPTIONS_SCHEMA", "USER_FILE_HINT",
           "configure_osmnx", "overpass_url", "study_area", "split_tiles", "download", "convert_hot_export",
           "convert_osm_extract"]

ROAD_COLUMNS = ["osm_id", "name", "highway", "surface"]
WATER_COLUMNS = ["osm_id", "name", "waterway", "natural", "water"]
ROAD_TAGS: dict[str, Any] = {"highway": True}
WATER_TAGS: dict[str, Any] = {"waterway": True, "natural": ["water", "wetland", "bay"], "water": True}
DEFAULT_OVERPASS = "https://overpass-api.de/api"
USER_FILE_HINT = ("a Geofabrik .osm.pbf extract of the country, or a folder with the HOT Export Tool "
                  "roads and waterways files")

OPTIONS_SCHEMA = options_schema({
    "base_url": {"type": ["string", "null"], "default": DEFAULT_OVERPASS,
                 "description": "Overpass API root (osmnx settings.overpass_url), e.g. a mirror"},
    "overpass_url": {"type": ["string", "null"], "default": None,
                     "description": "older name of base_url; wins when set"},
    "overpass_timeout": {"type": "integer", "minimum": 1, "default": 180,
                         "description": "Overpass query timeout in seconds (osmnx settings.requests_timeout)"},
    "overpass_memory": {"type": ["integer", "null"], "default": None,
                        "description": "Overpass query memory in bytes; null: the server's default"},
    "overpass_rate_limit": {"type": "boolean", "default": True,
                            "description": "let osmnx wait for a free Overpass slot"},
    "area_path": {"type": ["string", "null"], "default": None,
                  "description": "vector file whose union is the study area (e.g. the retrieved adm3.gpkg)"},
    "bbox": {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
             "default": None, "description": "[lon_min, lat_min, lon_max, lat_max]; null: the country's bbox"},
    "tile_deg": {"type": "number", "exclusiveMinimum": 0, "default": 1.0,
                 "description": "side of a query tile in degrees"},
    "road_tags": {"type": "object", "default": ROAD_TAGS, "description": "osmnx tags for roads"},
    "water_tags": {"type": "object", "default": WATER_TAGS, "description": "osmnx tags for water features"},
})


def overpass_url(options: Mapping[str, Any]) -> str:
    """The Overpass root: `overpass_url` (older name), else `base_url`, else the public server."""
    return str(get_option(options, "overpass_url") or get_option(options, "base_url") or DEFAULT_OVERPASS).rstrip("/")


def configure_osmnx(options: Mapping[str, Any], cache_dir: Path) -> None:
    """Point osmnx at the configured Overpass server, timeout, memory and cache folder."""
    import osmnx as ox

    ox.settings.overpass_url = overpass_url(options)
    ox.settings.requests_timeout = int(get_option(options, "overpass_timeout", 180))
    memory = options.get("overpass_memory")
    ox.settings.overpass_memory = int(memory) if memory else None
    ox.settings.overpass_rate_limit = bool(get_option(options, "overpass_rate_limit", True))
    ox.settings.cache_folder = str(Path(cache_dir) / "osmnx-http")
    ox.settings.use_cache = True
    ox.settings.log_console = False


def study_area(country: Mapping[str, Any], options: Mapping[str, Any]) -> BaseGeometry:
    """The polygon to cover: `area_path` (union of a vector file), else `bbox`, else the country's."""
    if options.get("area_path"):
        try:
            gdf = gpd.read_file(options["area_path"])
        except Exception as exc:  # pyogrio raises several DataSource errors
            raise RetrieveError(f"osm: cannot read `area_path` {options['area_path']} ({exc})") from None
        if gdf.crs is not None:
            gdf = gdf.to_crs(4326)
        return gdf.union_all()
    from qipstudy.country import country_extent

    bbox = options.get("bbox") or country_extent(country)
    if not bbox:
        raise RetrieveError("osm: no study area; set options `area_path` (e.g. the boundaries "
                            "adm3.gpkg) or `bbox` [lon_min, lat_min, lon_max, lat_max]")
    return box(*[float(v) for v in bbox])


def split_tiles(area: BaseGeometry, tile_deg: float) -> list[BaseGeometry]:
    """Cut the area into square tiles of `tile_deg` degrees (empty intersections dropped)."""
    minx, miny, maxx, maxy = area.bounds
    tiles = []
    for i in range(max(1, math.ceil((maxx - minx) / tile_deg))):
        for j in range(max(1, math.ceil((maxy - miny) / tile_deg))):
            cell = box(minx + i * tile_deg, miny + j * tile_deg,
                       min(maxx, minx + (i + 1) * tile_deg), min(maxy, miny + (j + 1) * tile_deg))
            piece = area.intersection(cell)
            if not piece.is_empty and piece.area > 0:
                tiles.append(piece)
    return tiles


def _features_from_polygon(polygon: BaseGeometry, tags: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """One osmnx call; an area without matching features is an empty frame, not an error."""
    import osmnx as ox
    from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

    try:
        return ox.features_from_polygon(polygon, dict(tags))
    except InsufficientResponseError:
        return gpd.GeoDataFrame(geometry=[], crs=4326)
    except requests.RequestException as exc:
        raise classify_network_error(exc, ox.settings.overpass_url, dataset="osm",
                                     user_file_hint=USER_FILE_HINT) from None
    except ResponseStatusCodeError as exc:
        raise RetrieveError(f"osm: the Overpass server {ox.settings.overpass_url} refused a query ({exc}); "
                            "retry later, use a smaller `tile_deg`, another server (`base_url`) or a "
                            f"user file ({USER_FILE_HINT})") from None


def _normalise(gdf: gpd.GeoDataFrame, columns: list[str], keep: tuple[str, ...]) -> gpd.GeoDataFrame:
    """Keep OSM ways of the wanted geometry types, with an `osm_id` column and contract fields."""
    if gdf.empty:
        return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in columns}, geometry=[], crs=4326)
    frame = gdf.reset_index()
    if "element" in frame.columns:  # osmnx 2: index (element, id); nodes/relations dropped
        frame = frame[frame["element"] == "way"]
        frame = frame.rename(columns={"id": "osm_id"})
    elif "element_type" in frame.columns:  # osmnx 1.x
        frame = frame[frame["element_type"] == "way"].rename(columns={"osmid": "osm_id"})
    frame = frame[frame.geometry.geom_type.isin(keep)]
    for col in columns:
        if col not in frame.columns:
            frame[col] = None
    out = gpd.GeoDataFrame(frame[columns].astype(object).where(frame[columns].notna(), None),
                           geometry=frame.geometry.values, crs=gdf.crs or 4326)
    out["osm_id"] = out["osm_id"].astype("int64")
    return out.to_crs(4326)


def _tile_path(cache: Path, kind: str, tags: Mapping[str, Any], tile: BaseGeometry) -> Path:
    tag_key = hashlib.sha1(json.dumps(tags, sort_keys=True).encode()).hexdigest()[:8]
    return cache / f"{kind}_{tag_key}_{hashlib.sha1(tile.wkb).hexdigest()[:12]}.parquet"


def _fetch_tiled(kind: str, tags: Mapping[str, Any], tiles: list[BaseGeometry], columns: list[str],
                 keep: tuple[str, ...], cache: Path) -> tuple[gpd.GeoDataFrame, int]:
    parts, fetched = [], 0
    for n, tile in enumerate(tiles, 1):
        path = _tile_path(cache, kind, tags, tile)
        if path.exists():
            part = gpd.read_parquet(path)
        else:
            log.info("osm %s: tile %d/%d", kind, n, len(tiles))
            part = _normalise(_features_from_polygon(tile, tags), columns, keep)
            with atomic_path(path) as tmp:
                part.to_parquet(tmp)
            fetched += 1
        parts.append(part)
    merged = pd.concat(parts, ignore_index=True) if parts else gpd.GeoDataFrame(geometry=[], crs=4326)
    merged = gpd.GeoDataFrame(merged, geometry="geometry", crs=4326)
    return merged.drop_duplicates(subset="osm_id").sort_values("osm_id").reset_index(drop=True), fetched


def _write_layer(gdf: gpd.GeoDataFrame, dest: Path, layer: str) -> None:
    with atomic_path(dest) as tmp:
        gdf.to_file(tmp, layer=layer, driver="GPKG")


def download(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
             version: str) -> Retrieved:
    """Fetch roads (highway=*) and water (waterway/natural/water) tile by tile; write both gpkgs."""
    options = resolve_options(options, OPTIONS_SCHEMA, dataset="osm")
    cache = Path(options["cache_dir"] or Path(out_dir) / ".download") / "osm_tiles"
    cache.mkdir(parents=True, exist_ok=True)
    area = study_area(country, options)
    tiles = split_tiles(area, float(options["tile_deg"]))
    road_tags, water_tags = options["road_tags"], options["water_tags"]
    missing = [t for t in tiles for kind, tags in (("roads", road_tags), ("water", water_tags))
               if not _tile_path(cache, kind, tags, t).exists()]
    if missing:  # fail in seconds (before even importing osmnx), not after a minute per tile
        client = HttpClient.from_options(options, dataset="osm", user_file_hint=USER_FILE_HINT)
        client.probe(overpass_url(options) + "/status", timeout=min(10.0, float(options["timeout"])))
    configure_osmnx(options, cache)
    roads, fetched_r = _fetch_tiled("roads", road_tags, tiles, ROAD_COLUMNS,
                                    ("LineString", "MultiLineString"), cache)
    water, fetched_w = _fetch_tiled("water", water_tags, tiles, WATER_COLUMNS,
                                    ("LineString", "MultiLineString", "Polygon", "MultiPolygon"), cache)
    if roads.empty:
        raise EmptyResultError("osm: no roads found in the study area; check `bbox`/`area_path` "
                               "and the Overpass server")
    if water.empty:
        raise EmptyResultError("osm: no water features found in the study area")
    out_dir = Path(out_dir)
    _write_layer(roads, out_dir / "roads.gpkg", "roads")
    _write_layer(water, out_dir / "waterways.gpkg", "waterways")
    return Retrieved(files=[out_dir / "roads.gpkg", out_dir / "waterways.gpkg"],
                     sources=[{"url": overpass_url(options),
                               "params": {"road_tags": road_tags, "water_tags": water_tags,
                                          "tiles": len(tiles), "bounds": list(area.bounds)}}],
                     notes={"roads": len(roads), "waterways": len(water),
                            "tiles_fetched": fetched_r + fetched_w, "tiles": len(tiles)})


def _read_any(path: Path) -> gpd.GeoDataFrame:
    """Read a gpkg/shp/geojson, or the single vector file inside a HOT export zip."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        try:
            names = zipfile.ZipFile(path).namelist()
        except zipfile.BadZipFile as exc:
            raise CorruptFileError(f"{path}: bad zip file ({exc})") from exc
        inner = [n for n in names if n.lower().endswith((".gpkg", ".shp", ".geojson"))]
        if not inner:
            raise SchemaError(f"{path}: no .gpkg/.shp/.geojson inside ({names})")
        return gpd.read_file(f"zip://{path}!{inner[0]}")
    return gpd.read_file(path)


def convert_hot_export(src: Path, kind: str, dest: Path) -> int:
    """Convert a HOT export (roads or waterways; shp/gpkg, zipped or not) to the contract gpkg."""
    columns = ROAD_COLUMNS if kind == "roads" else WATER_COLUMNS
    gdf = _read_any(src)
    if gdf.crs is None:
        raise SchemaError(f"{src}: no CRS")
    gdf = gdf.to_crs(4326)
    key = ["osm_id", "highway"] if kind == "roads" else ["osm_id"]
    missing = [c for c in key if c not in gdf.columns]
    if kind != "roads" and not {"waterway", "natural", "water"} & set(gdf.columns):
        missing.append("waterway|natural|water")
    if missing:
        raise SchemaError(f"{src}: missing required column(s) {', '.join(missing)} for OSM {kind}")
    for col in columns:
        if col not in gdf.columns:
            gdf[col] = None
    out = gpd.GeoDataFrame(gdf[columns], geometry=gdf.geometry, crs=4326)
    out = out[~out.geometry.is_empty & out.geometry.notna()]
    out["osm_id"] = pd.to_numeric(out["osm_id"], errors="coerce").astype("Int64")
    if out.empty:
        raise EmptyResultError(f"{src}: no features")
    _write_layer(out, dest, kind)
    return len(out)


_OTHER_TAG = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def _other_tags(value: Any) -> dict[str, str]:
    """Parse GDAL's hstore-like `other_tags` column ('"surface"=>"asphalt",...')."""
    if not isinstance(value, str):
        return {}
    return {k.replace('\\"', '"'): v.replace('\\"', '"') for k, v in _OTHER_TAG.findall(value)}


def _tag_column(gdf: gpd.GeoDataFrame, name: str) -> pd.Series:
    """A tag from its own column (GDAL's default osmconf) or else from `other_tags`."""
    if name in gdf.columns:
        return gdf[name].where(gdf[name].notna(), None)
    if "other_tags" in gdf.columns:
        return gdf["other_tags"].map(lambda v: _other_tags(v).get(name))
    return pd.Series([None] * len(gdf), index=gdf.index, dtype=object)


def convert_osm_extract(src: Path, out_dir: Path) -> dict[str, int]:
    """Roads and water from a Geofabrik `.osm.pbf` (or `.osm`) extract via GDAL's OSM driver.

    Roads are the `lines` layer with a highway tag; water is `lines` with a waterway tag plus the
    `multipolygons` with natural=water|wetland|bay or a water tag (closed ways keep their way id).
    """
    try:
        lines = gpd.read_file(src, layer="lines")
        areas = gpd.read_file(src, layer="multipolygons")
    except Exception as exc:  # GDAL raises several DataSource errors for broken extracts
        raise CorruptFileError(f"{src}: unreadable OSM extract ({exc})") from exc
    for col in ("highway", "waterway", "surface", "name"):
        lines[col] = _tag_column(lines, col)
    lines["osm_id"] = pd.to_numeric(lines["osm_id"], errors="coerce")
    roads = lines[lines["highway"].notna()].assign(natural=None, water=None)
    way_lines = lines[lines["waterway"].notna()].assign(natural=_tag_column(lines, "natural"),
                                                        water=_tag_column(lines, "water"))
    for col in ("natural", "water", "waterway", "name"):
        areas[col] = _tag_column(areas, col)
    way_id = areas["osm_way_id"] if "osm_way_id" in areas.columns else pd.Series(None, index=areas.index)
    areas["osm_id"] = pd.to_numeric(way_id.where(way_id.notna(), areas.get("osm_id")), errors="coerce")
    water_areas = areas[areas["natural"].isin(["water", "wetland", "bay"]) | areas["water"].notna()]
    out_dir = Path(out_dir)
    counts = {}
    for kind, frame, columns in (("roads", roads, ROAD_COLUMNS),
                                 ("waterways", pd.concat([way_lines, water_areas], ignore_index=True),
                                  WATER_COLUMNS)):
        gdf = gpd.GeoDataFrame(frame[columns].astype(object).where(frame[columns].notna(), None),
                               geometry=frame.geometry.values, crs=lines.crs or 4326).to_crs(4326)
        gdf["osm_id"] = gdf["osm_id"].astype("Int64")
        if gdf.empty:
            raise EmptyResultError(f"{src}: no OSM {kind} in the extract")
        _write_layer(gdf, out_dir / f"{kind}.gpkg", kind)
        counts[kind] = len(gdf)
    return counts
