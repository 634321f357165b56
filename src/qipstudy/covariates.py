"""Covariates of every event (docs/data_contracts.md, "events plus covariates").

Distances are metres on the WGS84 ellipsoid, computed in two steps: (1) the nearest feature and
the nearest point on it are found in the country's projected CRS with a shapely STRtree (fast,
and nearly exact at the scale of a country); (2) that point is taken back to longitude/latitude
and the distance from the event to it is the geodesic distance of `pyproj.Geod(ellps="WGS84")`.
The only approximation is the choice of the nearest point in the projection, a second-order
error; the reported length itself is geodesic, as in the paper (point-to-geometry on WGS84).
Raster values are those of the pixel containing the point.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS, Geod, Transformer

from qipstudy.atomic import write_parquet
from qipstudy.prepare import _nfc, _require_columns

log = logging.getLogger(__name__)

GEOD = Geod(ellps="WGS84")
COVARIATE_COLUMNS = (
    "nl",
    "pop_dens",
    "road_dist",
    "water_dist",
    "unbase",
    "road_dist_km",
    "water_dist_km",
    "unbase_km",
    "pop_density",
)
WATER_TAGS = ("waterway", "natural", "water")
BASE_MODES = ("admin3_polygon", "points")


def _layer(obj, what: str, required: Iterable[str]) -> gpd.GeoDataFrame:
    """Accept a GeoDataFrame or a path to a vector file; return it in EPSG:4326 with the contract's columns checked."""
    where = what
    if isinstance(obj, (str, Path)):
        where = f"{what} file {obj}"
        obj = gpd.read_file(obj, engine="pyogrio")
    if not isinstance(obj, gpd.GeoDataFrame):
        raise ValueError(f"{what}: expected a GeoDataFrame or a path, got {type(obj).__name__}")
    _require_columns(obj, required, where)
    if obj.crs is None:
        raise ValueError(f"{where}: no CRS (the contract says EPSG:4326)")
    if CRS.from_user_input(obj.crs).to_epsg() != 4326:
        obj = obj.to_crs(4326)
    keep = obj.geometry.notna() & ~obj.geometry.is_empty
    return obj[keep].reset_index(drop=True)


def nearest_geodesic_distance(lon, lat, geometries, projected_crs) -> np.ndarray:
    """Geodesic metres from each (lon, lat) to the nearest of `geometries` (EPSG:4326); 0 inside a polygon.

    The nearest feature and the nearest point on it are found in `projected_crs`; the distance to
    that point is then measured on the WGS84 ellipsoid with pyproj.Geod.
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    geoms = gpd.GeoSeries(geometries, crs=4326) if not isinstance(geometries, gpd.GeoSeries) else geometries
    if geoms.crs is None or CRS.from_user_input(geoms.crs).to_epsg() != 4326:
        raise ValueError("nearest_geodesic_distance: geometries must be in EPSG:4326")
    geoms = geoms[geoms.notna() & ~geoms.is_empty]
    if len(geoms) == 0:
        raise ValueError("nearest_geodesic_distance: no geometries to measure to")
    out = np.full(lon.shape, np.nan)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return out
    fwd = Transformer.from_crs(4326, projected_crs, always_xy=True)
    inv = Transformer.from_crs(projected_crs, 4326, always_xy=True)
    targets = np.asarray(geoms.to_crs(projected_crs).values, dtype=object)
    x, y = fwd.transform(lon[ok], lat[ok])
    points = shapely.points(x, y)
    tree = shapely.STRtree(targets)
    (src, dst), proj_dist = tree.query_nearest(points, all_matches=False, return_distance=True)
    order = np.argsort(src, kind="stable")
    src, dst, proj_dist = src[order], dst[order], proj_dist[order]
    if not np.array_equal(src, np.arange(len(points))):
        raise RuntimeError("STRtree.query_nearest did not return exactly one feature per point")
    lines = shapely.shortest_line(points, targets[dst])
    near = shapely.get_coordinates(shapely.get_point(lines, 1))
    nlon, nlat = inv.transform(near[:, 0], near[:, 1])
    _, _, dist = GEOD.inv(lon[ok], lat[ok], nlon, nlat)
    dist = np.where(proj_dist == 0.0, 0.0, np.abs(dist))
    out[ok] = dist
    return out


def nearest_point_geodesic_distance(lon, lat, point_lon, point_lat) -> np.ndarray:
    """Exact geodesic metres from each (lon, lat) to the nearest of a few points (brute force over the points)."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    best = np.full(lon.shape, np.inf)
    for plon, plat in zip(np.asarray(point_lon, float), np.asarray(point_lat, float)):
        _, _, d = GEOD.inv(lon, lat, np.full(lon.shape, plon), np.full(lon.shape, plat))
        best = np.fmin(best, np.abs(d))
    best[~(np.isfinite(lon) & np.isfinite(lat))] = np.nan
    return best


def sample_raster(path, lon, lat) -> np.ndarray:
    """Value of band 1 at the pixel containing each point; nodata, NaN or outside the raster → NaN.

    Only the window spanning the points is read, so a global raster costs no more than a national one.
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    out = np.full(lon.shape, np.nan)
    with rasterio.open(path) as src:
        if src.crs is None:
            raise ValueError(f"raster {path}: no CRS (the contract says EPSG:4326)")
        xs, ys = lon, lat
        if CRS.from_user_input(src.crs).to_epsg() != 4326:
            xs, ys = Transformer.from_crs(4326, src.crs, always_xy=True).transform(lon, lat)
        ok = np.isfinite(xs) & np.isfinite(ys)
        if not ok.any():
            return out
        inv = ~src.transform
        x, y = np.asarray(xs)[ok], np.asarray(ys)[ok]
        col_f = inv.a * x + inv.b * y + inv.c
        row_f = inv.d * x + inv.e * y + inv.f
        rows = np.floor(row_f).astype(np.int64)
        cols = np.floor(col_f).astype(np.int64)
        inside = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
        if not inside.any():
            return out
        r0, r1 = rows[inside].min(), rows[inside].max()
        c0, c1 = cols[inside].min(), cols[inside].max()
        window = rasterio.windows.Window(c0, r0, c1 - c0 + 1, r1 - r0 + 1)
        block = src.read(1, window=window).astype("float64")
        nodata = src.nodata
        if nodata is not None:
            if np.isnan(nodata):
                block[np.isnan(block)] = np.nan
            else:
                block[block == np.float64(np.array(nodata, dtype=src.dtypes[0]))] = np.nan
        values = np.full(rows.shape, np.nan)
        values[inside] = block[rows[inside] - r0, cols[inside] - c0]
        out[np.flatnonzero(ok)] = values
    return out


def _bases_table(bases) -> pd.DataFrame:
    """Bases from the country config (list of mappings) or a DataFrame, with name, admin3, lat, lon."""
    table = pd.DataFrame(list(bases)) if not isinstance(bases, pd.DataFrame) else bases.copy()
    if table.empty:
        raise ValueError("bases: at least one mission base is needed")
    _require_columns(table, ("name", "admin3", "lat", "lon"), "bases (country config)")
    return table


def _base_polygons(admin3: gpd.GeoDataFrame, admin3_field: str, bases: pd.DataFrame) -> gpd.GeoSeries:
    """The admin-3 polygons named by the bases (the paper's representation); every base must match one."""
    admin3 = _layer(admin3, "admin-3 polygons (use read_admin3, or pass admin3_field)", [admin3_field])
    names = admin3[admin3_field].map(_nfc)
    missing = [f"{b.name} (admin3 {b.admin3!r})" for b in bases.itertuples() if _nfc(b.admin3) not in set(names)]
    if missing:
        raise ValueError(f"bases: no admin-3 polygon with {admin3_field} = the base's admin3 name for {', '.join(missing)}")
    wanted = {_nfc(a) for a in bases["admin3"]}
    return admin3.geometry[names.isin(wanted).to_numpy()]


def build_covariates(
    events: pd.DataFrame,
    *,
    roads,
    waterways,
    admin3,
    bases,
    nightlights_path,
    population_path,
    projected_crs,
    road_classes: Iterable[str],
    water_classes: Iterable[str],
    base_mode: str = "admin3_polygon",
    admin3_field: str = "admin3",
) -> pd.DataFrame:
    """Add nl, pop_dens, road_dist, water_dist, unbase (and the unlogged km/density columns) to the events.

    roads: OSM roads (GeoDataFrame or path), kept where `highway` is in `road_classes`.
    waterways: OSM water features, kept where any of `waterway`, `natural`, `water` is in `water_classes`.
    unbase: distance to the nearest base polygon (admin-3 polygons whose `admin3_field` is a base's
    admin3 name; 0 inside) or, with base_mode="points", to the nearest base point.
    road_dist/water_dist/unbase = ln(1 + metres); pop_dens = ln(density), NaN where density ≤ 0 or
    nodata. Rows with any missing covariate are dropped; `result.attrs["covariate_counts"]` holds
    {input, missing: {column: n}, dropped, kept}.
    """
    if base_mode not in BASE_MODES:
        raise ValueError(f"base_mode must be one of {BASE_MODES}, got {base_mode!r}")
    _require_columns(events, ("lat", "lon"), "events table")
    road_classes, water_classes = list(road_classes), list(water_classes)
    if not road_classes or not water_classes:
        raise ValueError("road_classes and water_classes must each name at least one OSM tag value")
    lon = events["lon"].to_numpy(dtype="float64")
    lat = events["lat"].to_numpy(dtype="float64")

    road_layer = _layer(roads, "OSM roads", ["highway"])
    road_layer = road_layer[road_layer["highway"].isin(road_classes).to_numpy()]
    if road_layer.empty:
        raise ValueError(f"OSM roads: no feature with highway in {road_classes}")
    water_layer = _layer(waterways, "OSM waterways", WATER_TAGS)
    is_water = np.logical_or.reduce([water_layer[t].isin(water_classes).to_numpy() for t in WATER_TAGS])
    water_layer = water_layer[is_water]
    if water_layer.empty:
        raise ValueError(f"OSM waterways: no feature with waterway, natural or water in {water_classes}")

    road_m = nearest_geodesic_distance(lon, lat, road_layer.geometry, projected_crs)
    water_m = nearest_geodesic_distance(lon, lat, water_layer.geometry, projected_crs)
    base_table = _bases_table(bases)
    if base_mode == "points":
        base_m = nearest_point_geodesic_distance(lon, lat, base_table["lon"].astype(float), base_table["lat"].astype(float))
    else:
        base_m = nearest_geodesic_distance(lon, lat, _base_polygons(admin3, admin3_field, base_table), projected_crs)

    nl = sample_raster(nightlights_path, lon, lat)
    density = sample_raster(population_path, lon, lat)
    density = np.where(density > 0, density, np.nan)

    out = events.copy()
    out["nl"] = nl
    out["pop_dens"] = np.log(density)
    out["road_dist"] = np.log1p(road_m)
    out["water_dist"] = np.log1p(water_m)
    out["unbase"] = np.log1p(base_m)
    out["road_dist_km"] = road_m / 1000.0
    out["water_dist_km"] = water_m / 1000.0
    out["unbase_km"] = base_m / 1000.0
    out["pop_density"] = density
    if "admin2" in admin3.columns:
        # The cluster of the cluster-robust standard errors (robustness variant cluster_admin2).
        out["admin2"] = admin_name_at(lon, lat, admin3, "admin2")

    missing = out[list(COVARIATE_COLUMNS)].isna()
    keep = ~missing.any(axis=1).to_numpy()
    counts = {
        "input": len(out),
        "missing": {c: int(missing[c].sum()) for c in ("nl", "pop_dens", "road_dist", "water_dist", "unbase")},
        "dropped": int((~keep).sum()),
        "kept": int(keep.sum()),
    }
    out = out[keep].reset_index(drop=True)
    out.attrs = {**events.attrs, "covariate_counts": counts}
    log.info("build_covariates: %s", counts)
    return out


def admin_name_at(lon, lat, admin: gpd.GeoDataFrame, column: str) -> np.ndarray:
    """The `column` value of the polygon containing each point ("" where none does; first polygon
    in file order on shared borders)."""
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    joined = gpd.sjoin(points, admin[[column, "geometry"]].to_crs(4326), how="left", predicate="intersects")
    joined = joined[~joined.index.duplicated(keep="first")].sort_index()
    return joined[column].fillna("").astype(str).to_numpy()


def write_covariates(table: pd.DataFrame, path) -> None:
    """Check that every covariate is present and finite, then write atomically."""
    _require_columns(table, COVARIATE_COLUMNS, f"covariates table for {path}")
    bad = ~np.isfinite(table[list(COVARIATE_COLUMNS)].to_numpy(dtype="float64")).all(axis=1)
    if bad.any():
        raise ValueError(f"covariates table for {path}: row {int(np.flatnonzero(bad)[0]) + 1} has a missing or infinite covariate")
    write_parquet(table, path)
