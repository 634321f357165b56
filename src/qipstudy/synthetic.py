"""The built-in synthetic world: every raw dataset of the study, generated offline for any country.

The default workflow runs without internet and without third-party data, so every raw input
(ACLED, UCDP GED, QIPs, IATI, COD-AB boundaries, OSM roads/waterways, DMSP night lights, GPW
population, AWSD, UN fatalities) is generated here, in the providers' raw formats
(docs/data_contracts.md). The world carries a known, planted QIP effect and a known selection of
QIP locations (nearer bases and roads than other aid), written to ``truth.json``, so the pipeline
can be validated end to end. See docs/synthetic_world.md.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import pathlib
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
import shapely.affinity
import shapely.geometry.polygon
import shapely.ops
import shapely.validation
from affine import Affine
from pyproj import Geod
from rasterio import features
from scipy.spatial import cKDTree
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box

from qipstudy.atomic import write_with
from qipstudy.covariates import points_in_polygons

__all__ = ["DEFAULT_PARAMS", "resolve_params", "generate_world"]

log = logging.getLogger(__name__)

GEOD = Geod(ellps="WGS84")
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320
WORLDPOP_NODATA = -99999.0
GPW_NODATA = -3.4028230607370965e38
LOGPOP_RANGE = (-2.3, 8.6)  # ln persons/km² of the generated population surfaces
# Generated covariates are reported (a logged warning, and truth.json) when one value covers this
# share of the country's pixels, or this share sits at a clip bound of the population surface.
NEAR_CONSTANT_SHARE = 0.9
SATURATED_SHARE = 0.25
EPOCH = np.datetime64("1970-01-01", "D")
# A fixed GeoPackage timestamp keeps the .gpkg files byte-identical across runs (same seed).
GPKG_DATE = "2000-01-01T00:00:00.000Z"

# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------

DEFAULT_PARAMS: dict[str, Any] = {
    # Multiplies every event count (QIPs, IATI locations, ACLED background events).
    "scale": 1.0,
    # Rows per file before `scale`; time.outside_period_share of them are dated in the margins around
    # the period. `civilians` is the background only: the planted events come on top (~1 per QIP).
    "counts": {
        "qips": 450,
        "iati_locations": 3500,
        "civilians": 780,
        "battles": 890,
        "explosions": 610,
        "protests": 440,
        "riots": 130,
        "strategic": 420,
    },
    # Each QIP adds Poisson(mean_extra_events) events of `outcome` (civilians | battles | nsag)
    # uniformly in the disc of radius_km around it, on days 1..days after its start date.
    "planted_effect": {"outcome": "civilians", "radius_km": 6.0, "days": 30, "mean_extra_events": 1.0},
    # Where treatment and control projects are placed: share inside the study regions, then a
    # mixture of "near a base" / "near a major road" / "near a town" (Gaussian offsets, sd in km)
    # and "uniform in the area"; snap_share of the points then move to the nearest settlement
    # (within 15 km), as projects geocoded to a town. QIPs sit nearer bases and roads than other
    # aid: matching matters.
    "selection": {
        "qip": {"in_study_share": 0.9, "near_base": 0.50, "base_sd_km": 8.0, "near_road": 0.25,
                "road_sd_km": 3.0, "near_town": 0.25, "town_sd_km": 8.0, "uniform": 0.0, "snap_share": 0.35},
        "iati": {"in_study_share": 0.45, "near_base": 0.0, "base_sd_km": 20.0, "near_road": 0.15,
                 "road_sd_km": 10.0, "near_town": 0.65, "town_sd_km": 15.0, "uniform": 0.20, "snap_share": 0.40},
    },
    # Background ACLED events per type, same mixture keys as `selection`.
    "background": {
        "civilians": {"in_study_share": 0.88, "near_base": 0.0, "base_sd_km": 20.0, "near_road": 0.25,
                      "road_sd_km": 5.0, "near_town": 0.60, "town_sd_km": 8.0, "uniform": 0.15},
        "battles": {"in_study_share": 0.92, "near_base": 0.20, "base_sd_km": 25.0, "near_road": 0.40,
                    "road_sd_km": 6.0, "near_town": 0.30, "town_sd_km": 20.0, "uniform": 0.10},
        "explosions": {"in_study_share": 0.95, "near_base": 0.25, "base_sd_km": 10.0, "near_road": 0.60,
                       "road_sd_km": 2.0, "near_town": 0.10, "town_sd_km": 10.0, "uniform": 0.05},
        "protests": {"in_study_share": 0.35, "near_base": 0.0, "base_sd_km": 5.0, "near_road": 0.0,
                     "road_sd_km": 2.0, "near_town": 0.95, "town_sd_km": 3.0, "uniform": 0.05},
        "riots": {"in_study_share": 0.35, "near_base": 0.0, "base_sd_km": 5.0, "near_road": 0.0,
                  "road_sd_km": 2.0, "near_town": 0.90, "town_sd_km": 3.0, "uniform": 0.10},
        "strategic": {"in_study_share": 0.70, "near_base": 0.0, "base_sd_km": 10.0, "near_road": 0.25,
                      "road_sd_km": 5.0, "near_town": 0.60, "town_sd_km": 15.0, "uniform": 0.15},
    },
    "time": {
        "outside_period_share": 0.10,  # extra events dated within margin_days before/after the period
        "margin_days": 365,
        "violence_trend": 1.0,  # intensity at the period end relative to its start is 1 + trend
        "cluster_share": 0.20,  # share of background events that are follow-ups of another event
        "cluster_km": 5.0,
        "cluster_days": 14,
    },
    "geography": {
        # Settlements: the configured towns plus generated villages, villages_per_10k_km2 per 10,000 km²
        # of the country (clipped to min_villages..max_villages), or exactly n_villages when set.
        "n_villages": None,
        "villages_per_10k_km2": 1.0,
        "min_villages": 10,
        "max_villages": 3000,
        # sd (km) of the wide population halo around each settlement, at most halo_spacing_share of the
        # mean spacing between settlements, so that halos of a small country do not pile up to saturation
        "halo_km": 40.0,
        "halo_spacing_share": 0.4,
        # Event counts scale with (area / reference_area_km2) ** counts_area_exponent: 0 keeps `counts`
        # whatever the country's size, 1 keeps their density per km² (reference: Mali, 1.24 million km²).
        "reference_area_km2": 1_240_000.0,
        "counts_area_exponent": 0.0,
        # how much more often a configured town (capital) is picked than a village by near_town
        # placements: violence and aid concentrate in the towns, as in the real data
        "town_weight": 20.0,
        "capital_weight": 25.0,
        "admin2_per_region": 5,
        "admin3_per_admin2": 7,
        "raster_res_deg": None,  # None: 0.01 deg, coarsened in 0.005 steps to stay <= raster_max_pixels
        "raster_max_pixels": 1_000_000,
    },
    # Provider quirks the prepare step must handle (shares of rows).
    "messiness": {
        "qip_missing_lat": 0.05,
        "qip_nbsp_lon": 0.04,
        "qip_comma_decimal": 0.01,
        "qip_dmy_dates": 0.0,
        "acled_inter_codes": 0.15,
        "acled_old_dates": 0.0,
        "iati_missing_coords": 0.03,
    },
}

MIXTURE_KEYS = ("near_base", "near_road", "near_town", "uniform")
PLANT_OUTCOMES = ("civilians", "battles", "nsag")


def _merge(base: dict, over: dict, path: str) -> dict:
    """Deep-merge `over` into a copy of `base`; unknown keys are errors so typos do not go unnoticed."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if key not in base:
            raise ValueError(f"synthetic params: unknown key {path}{key}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"synthetic params: {path}{key} must be a mapping")
            out[key] = _merge(base[key], value, f"{path}{key}.")
        else:
            out[key] = value
    return out


def resolve_params(params: dict | None) -> dict:
    """Defaults overlaid with `params`, validated (weights, outcome, counts)."""
    p = _merge(DEFAULT_PARAMS, params or {}, "")
    if not p["scale"] > 0:
        raise ValueError("synthetic params: scale must be > 0")
    pe = p["planted_effect"]
    if pe["outcome"] not in PLANT_OUTCOMES:
        raise ValueError(f"synthetic params: planted_effect.outcome must be one of {PLANT_OUTCOMES}")
    if pe["radius_km"] <= 0.02 or int(pe["days"]) < 1 or pe["mean_extra_events"] < 0:
        raise ValueError("synthetic params: planted_effect needs radius_km > 0.02, days >= 1, mean >= 0")
    for group in ("selection", "background"):
        for name, spec in p[group].items():
            weights = [spec[k] for k in MIXTURE_KEYS]
            if (min(weights) < 0 or sum(weights) <= 0 or not 0 <= spec["in_study_share"] <= 1
                    or not 0 <= spec.get("snap_share", 0) <= 1):
                raise ValueError(f"synthetic params: bad mixture in {group}.{name}")
    for name, n in p["counts"].items():
        if n < 0:
            raise ValueError(f"synthetic params: counts.{name} must be >= 0")
    geo = p["geography"]
    if geo["n_villages"] is not None and int(geo["n_villages"]) < 0:
        raise ValueError("synthetic params: geography.n_villages must be >= 0 (or null: from the area)")
    if not 0 <= int(geo["min_villages"]) <= int(geo["max_villages"]):
        raise ValueError("synthetic params: geography needs 0 <= min_villages <= max_villages")
    for key in ("villages_per_10k_km2", "halo_km", "halo_spacing_share", "reference_area_km2"):
        if not float(geo[key]) > 0:
            raise ValueError(f"synthetic params: geography.{key} must be > 0")
    return p


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

def _csv_field(value: str) -> str:
    """A CSV field quoted as the csv module's QUOTE_MINIMAL (pandas' default) quotes it."""
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_column(values: pd.Series) -> list[str]:
    """A column as the text pandas.to_csv writes for it (empty for NaN/None, repr for floats)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "f":
        arr = values.to_numpy()
        return np.where(np.isnan(arr), "", arr.astype(str)).tolist()
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iub":
        return values.to_numpy().astype(str).tolist()
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    text = np.array([_csv_field(str(u)) for u in uniques] + [""], dtype=object)  # code -1 (missing) → ""
    return text[codes].tolist()


def _csv_chunks(df: pd.DataFrame, rows: int = 200_000):
    """The CSV pandas.to_csv(index=False, lineterminator="\\n") writes, in pieces of `rows` rows, built
    column-wise (about twice as fast for the million-row ACLED table, and memory stays bounded)."""
    yield ",".join(_csv_field(str(c)) for c in df.columns) + "\n"
    for start in range(0, len(df), rows):
        part = df.iloc[start:start + rows]
        cols = [_csv_column(part[c]) for c in df.columns]
        yield "".join([",".join(row) + "\n" for row in zip(*cols, strict=True)])


def _csv_text(df: pd.DataFrame) -> str:
    return "".join(_csv_chunks(df))


def _write_csv(df: pd.DataFrame, path: pathlib.Path) -> pathlib.Path:
    """UTF-8 CSV with \\n line ends and minimal quoting, as the providers' exports."""
    def write(tmp: pathlib.Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            for piece in _csv_chunks(df):
                f.write(piece)
    return write_with(path, write)


def _write_gpkg(gdf: gpd.GeoDataFrame, path: pathlib.Path, layer: str) -> pathlib.Path:
    """GeoPackage with a fixed content timestamp, so identical worlds give identical bytes."""
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    try:
        return write_with(path, lambda t: gdf.to_file(t, layer=layer, driver="GPKG", engine="pyogrio"))
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def _fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    """Coordinates already rounded to `decimals` as the fixed-point text f"{v:.{decimals}f}" gives (built
    from integers, as an object array)."""
    values = np.asarray(values, dtype=float)
    scaled = np.abs(np.rint(values * 10.0**decimals)).astype(np.int64)
    whole = (scaled // 10**decimals).astype(str).astype(object)
    frac = np.char.zfill((scaled % 10**decimals).astype(str), decimals).astype(object)
    return np.where(np.signbit(values), "-", "") + whole + "." + frac


def _km_to_deg(dx_km: np.ndarray, dy_km: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local km offsets to degrees, so placement spreads are given in km at every latitude."""
    coslat = np.cos(np.radians(np.clip(lat, -89.0, 89.0)))
    return dx_km / (KM_PER_DEG_LON * coslat), dy_km / KM_PER_DEG_LAT


def _approx_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Equirectangular distance: accurate to <1% at the few-hundred-km scales used for placement."""
    lat_m = np.radians((np.asarray(lat1) + np.asarray(lat2)) / 2.0)
    dx = (np.asarray(lon2) - np.asarray(lon1)) * KM_PER_DEG_LON * np.cos(lat_m)
    dy = (np.asarray(lat2) - np.asarray(lat1)) * KM_PER_DEG_LAT
    return np.hypot(dx, dy)


class _Namer:
    """Unique pronounceable place names, so the synthetic world never borrows real place names."""

    SYLLABLES = ["ka", "ba", "ko", "ni", "so", "ma", "di", "ta", "ga", "bou", "sa", "ke", "lo", "ro",
                 "fa", "na", "dou", "ti", "mo", "ya", "ze", "kou", "to", "gou", "la", "se", "bi", "ndo",
                 "mbe", "ri", "wa", "he", "tou", "lé", "da", "fé"]

    def __init__(self, rng: np.random.Generator, reserved: set[str]):
        self.rng = rng
        self.used = {s.casefold() for s in reserved}

    def __call__(self) -> str:
        while True:
            k = int(self.rng.integers(2, 4))
            name = "".join(self.rng.choice(self.SYLLABLES, size=k)).capitalize()
            if name.casefold() not in self.used:
                self.used.add(name.casefold())
                return name


def _polygons_only(geom) -> shapely.Geometry | None:
    """Polygonal part of an overlay result (drops slivers reduced to lines or points)."""
    if geom is None or geom.is_empty:
        return None
    geom = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    parts = [q for g in parts for q in shapely.get_parts(g) if q.area > 0]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _uniform_in(rng: np.random.Generator, geom, n: int) -> np.ndarray:
    """n points uniform (in degrees) inside geom by rejection from its bounding box."""
    out = np.empty((0, 2))
    if n <= 0:
        return out
    x0, y0, x1, y1 = geom.bounds
    frac = max(geom.area / max((x1 - x0) * (y1 - y0), 1e-12), 0.02)
    shapely.prepare(geom)
    while len(out) < n:
        m = int((n - len(out)) / frac * 1.3) + 16
        x = rng.uniform(x0, x1, m)
        y = rng.uniform(y0, y1, m)
        keep = shapely.contains_xy(geom, x, y)
        out = np.vstack([out, np.column_stack([x[keep], y[keep]])])
    return out[:n]


def _split_voronoi(poly, seeds: np.ndarray) -> list:
    """Voronoi cells of seeds clipped to poly, aligned with seeds (None where a cell vanished)."""
    if len(seeds) == 1:
        return [poly]
    envelope = box(*poly.bounds).buffer(1.0)
    cells = shapely.voronoi_polygons(MultiPoint([tuple(s) for s in seeds]), extend_to=envelope, ordered=True)
    cells = list(shapely.get_parts(cells))
    return [_polygons_only(c.intersection(poly)) for c in cells]


def _dedupe_points(pts: np.ndarray) -> np.ndarray:
    """Drop repeated seeds (a base at its town's centre), which Voronoi cannot split."""
    _, idx = np.unique(np.round(pts, 6), axis=0, return_index=True)
    return pts[np.sort(idx)]


def _meander(rng: np.random.Generator, a, b, rough: float = 0.12, levels: int = 4) -> np.ndarray:
    """Midpoint-displacement polyline from a to b: roads and rivers that wiggle like real ones."""
    pts = np.array([a, b], dtype=float)
    for _ in range(levels):
        new = [pts[0]]
        for p, q in zip(pts[:-1], pts[1:]):
            d = q - p
            length = math.hypot(*d)
            normal = np.array([-d[1], d[0]]) / (length + 1e-12)
            mid = (p + q) / 2 + normal * rng.normal(0, rough * length)
            new += [mid, q]
        pts = np.array(new)
    return pts


# ---------------------------------------------------------------------------------------------
# Geography
# ---------------------------------------------------------------------------------------------

def _outline(country: dict) -> Polygon | None:
    """The configured real-shaped outline (`synthetic.outline`, [[lon, lat], …]) as a valid polygon, or None."""
    ring = country["synthetic"].get("outline")
    if ring is None:
        return None
    where = f"{country['iso3']}: synthetic.outline"
    try:
        pts = np.asarray(ring, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a list of [lon, lat] pairs") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise ValueError(f"{where} must be a list of at least 3 [lon, lat] pairs")
    if not (np.all(np.abs(pts[:, 0]) <= 180) and np.all(np.abs(pts[:, 1]) <= 90)):
        raise ValueError(f"{where}: every vertex needs -180 <= lon <= 180 and -90 <= lat <= 90 ([lon, lat] order)")
    poly = Polygon(pts)
    if not poly.is_valid:
        raise ValueError(f"{where} is not a simple polygon ({shapely.validation.explain_validity(poly)}): "
                         f"give one ring whose edges do not cross")
    return shapely.geometry.polygon.orient(poly)


def _validate_country(country: dict) -> None:
    """Fail early on config errors that would otherwise give a silently wrong world."""
    syn = country["synthetic"]
    x0, y0, x1, y1 = syn["bbox"]
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"{country['iso3']}: synthetic.bbox must be [lon_min, lat_min, lon_max, lat_max]")
    outline = _outline(country)
    if outline is not None:
        shapely.prepare(outline)

        def inside(p):
            return outline.contains(Point(p["lon"], p["lat"]))
        where = "synthetic.outline (move it inside or add outline vertices around it)"
    else:
        def inside(p):
            return x0 < p["lon"] < x1 and y0 < p["lat"] < y1
        where = "synthetic.bbox"
    for kind, label in (("regions", "synthetic region"), ("towns", "synthetic town")):
        for p in syn[kind]:
            if not inside(p):
                raise ValueError(f"{country['iso3']}: {label} {p['name']} ({p['lon']}, {p['lat']}) lies outside "
                                 f"{where}")
    for b in country["bases"]:
        if not inside(b):
            raise ValueError(f"{country['iso3']}: base {b['name']} ({b['lon']}, {b['lat']}) lies outside {where}")
    names = {r["name"] for r in syn["regions"]}
    unknown = [r for r in country["study_regions"] if r not in names]
    if unknown:
        raise ValueError(f"{country['iso3']}: study_regions {unknown} are not synthetic.regions")


def _extent(country: dict) -> tuple[float, float, float, float]:
    """The world's extent: the outline's bounds, else synthetic.bbox."""
    outline = _outline(country)
    return tuple(outline.bounds) if outline is not None else tuple(country["synthetic"]["bbox"])


def _area_km2(geom) -> float:
    """Area on the WGS84 ellipsoid."""
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def _country_polygon(rng: np.random.Generator, country: dict) -> Polygon:
    """The configured outline; without one, a jittered bbox grown around every configured point so they
    all lie well inside."""
    outline = _outline(country)
    if outline is not None:
        return outline
    syn = country["synthetic"]
    x0, y0, x1, y1 = syn["bbox"]
    w, h = x1 - x0, y1 - y0
    k = 9
    t = np.linspace(0, 1, k, endpoint=False)
    ring = []
    for (ax, ay), (bx, by), (nx, ny) in [((x0, y0), (x1, y0), (0, 1)), ((x1, y0), (x1, y1), (-1, 0)),
                                         ((x1, y1), (x0, y1), (0, -1)), ((x0, y1), (x0, y0), (1, 0))]:
        for s in t:
            depth = rng.uniform(0.0, 0.08) * (h if ny else w)
            ring.append((ax + (bx - ax) * s + nx * depth, ay + (by - ay) * s + ny * depth))
    poly = Polygon(ring).buffer(0)
    anchors = [(p["lon"], p["lat"]) for p in syn["regions"] + syn["towns"] + country["bases"]]
    pad = 0.12 * min(w, h)
    blobs = shapely.buffer(shapely.points(anchors), pad, quad_segs=4)
    poly = shapely.union_all([poly, *blobs]).intersection(box(x0, y0, x1, y1))
    poly = _polygons_only(poly)
    largest = max(shapely.get_parts(poly), key=lambda g: g.area)
    return Polygon(largest.exterior).simplify(0.002)


def _world_size(poly, n_towns: int, geo: dict) -> dict:
    """What scales with the country's area: villages, population halos, lake sizes, event counts."""
    area = _area_km2(poly)
    if geo["n_villages"] is not None:
        n_villages = int(geo["n_villages"])
    else:
        n_villages = int(np.clip(round(float(geo["villages_per_10k_km2"]) * area / 1e4),
                                 int(geo["min_villages"]), int(geo["max_villages"])))
    spacing_km = math.sqrt(area / max(n_towns + n_villages, 1))
    relative = area / float(geo["reference_area_km2"])
    return {"area_km2": area, "n_villages": n_villages, "settlement_spacing_km": spacing_km,
            "halo_km": min(float(geo["halo_km"]), float(geo["halo_spacing_share"]) * spacing_km),
            "lake_scale": float(np.clip(math.sqrt(relative), 0.2, 1.0)),
            "counts_factor": relative ** float(geo["counts_area_exponent"])}


def _build_admin(rng: np.random.Generator, country: dict, params: dict, poly: Polygon):
    """Admin-1 Voronoi cells around the region centres, split into admin-2 and admin-3 cells.

    Every base and configured town is an admin-3 seed, so its own cell contains it and can carry
    the base's `admin3` name (the paper's "base = admin-3 polygon"). Extra admin-3 seeds cluster
    near towns, making town communes small as in real boundaries.
    """
    syn = country["synthetic"]
    geo = params["geography"]
    iso2 = country["iso2"]
    base_names = {b["admin3"] for b in country["bases"]}
    namer = _Namer(rng, base_names | {t["name"] for t in syn["towns"]} | {r["name"] for r in syn["regions"]})
    centres = np.array([(r["lon"], r["lat"]) for r in syn["regions"]])
    if len(_dedupe_points(centres)) != len(centres):
        raise ValueError(f"{country['iso3']}: two synthetic regions share a centre")
    # a town named like a region (its capital) is an extra seed of that region, so that e.g. the
    # town Tombouctou lies in the region Tombouctou even when another region's centre is nearer
    owner = list(range(len(centres)))
    seeds1 = [tuple(c) for c in centres]
    by_name = {r["name"].casefold(): i for i, r in enumerate(syn["regions"])}
    for t in syn["towns"]:
        i = by_name.get(t["name"].casefold())
        if i is not None and (t["lon"], t["lat"]) not in seeds1:
            seeds1.append((t["lon"], t["lat"]))
            owner.append(i)
    cells = _split_voronoi(poly, np.array(seeds1))
    adm1_cells = []
    for i in range(len(centres)):
        mine = [c for c, o in zip(cells, owner) if o == i and c is not None]
        adm1_cells.append(_polygons_only(shapely.union_all(mine)) if mine else None)

    towns = [(t["lon"], t["lat"], t["name"], None) for t in syn["towns"]]
    bases = [(b["lon"], b["lat"], b["name"], b["admin3"]) for b in country["bases"]]
    anchors = bases + towns  # bases first: a base's admin3 name wins over a town name
    anchor_xy = np.array([(a[0], a[1]) for a in anchors])

    rows = []
    used_adm2: set[str] = set()
    for i, (region, cell1) in enumerate(zip(syn["regions"], adm1_cells), start=1):
        if cell1 is None:
            raise ValueError(f"{country['iso3']}: region {region['name']} has no area inside the country")
        in1 = shapely.contains_xy(cell1, anchor_xy[:, 0], anchor_xy[:, 1])
        town_pts = _dedupe_points(anchor_xy[in1]) if in1.any() else np.empty((0, 2))
        n2 = max(int(geo["admin2_per_region"]), len(town_pts), 1)
        seeds2 = np.vstack([town_pts, _uniform_in(rng, cell1, n2 - len(town_pts))])
        for j, cell2 in enumerate([c for c in _split_voronoi(cell1, seeds2) if c is not None], start=1):
            in2 = shapely.contains_xy(cell2, anchor_xy[:, 0], anchor_xy[:, 1])
            pts = _dedupe_points(anchor_xy[in2]) if in2.any() else np.empty((0, 2))
            n_extra = max(int(geo["admin3_per_admin2"]) - len(pts), 1)
            n_near = n_extra // 2 if len(pts) else 0
            extra = [_uniform_in(rng, cell2, n_extra - n_near)]
            if n_near:
                cand = np.empty((0, 2))
                for _ in range(50):
                    centre = pts[rng.integers(0, len(pts), 4 * n_near)]
                    dx, dy = _km_to_deg(rng.normal(0, 12, len(centre)), rng.normal(0, 12, len(centre)), centre[:, 1])
                    c = centre + np.column_stack([dx, dy])
                    cand = np.vstack([cand, c[shapely.contains_xy(cell2, c[:, 0], c[:, 1])]])
                    if len(cand) >= n_near:
                        break
                extra.append(cand[:n_near])
            seeds3 = _dedupe_points(np.vstack([pts, *extra]))
            # the name of cell2: the first configured town inside it, else a generated name
            name2 = next((a[2] for a, inside in zip(anchors, in2) if inside and a[3] is None
                          and a[2] not in used_adm2), None) or namer()
            used_adm2.add(name2)
            used_adm3_here: set[str] = set()
            for k, cell3 in enumerate([c for c in _split_voronoi(cell2, seeds3) if c is not None], start=1):
                inside = shapely.contains_xy(cell3, anchor_xy[:, 0], anchor_xy[:, 1])
                held = [a for a, f in zip(anchors, inside) if f]
                base_here = sorted({a[3] for a in held if a[3] is not None})
                if len(base_here) > 1:
                    raise ValueError(f"{country['iso3']}: bases {base_here} fall in one admin-3 cell")
                if base_here:
                    name3 = base_here[0]
                else:
                    town_here = [a[2] for a in held if a[2] not in base_names and a[2] not in used_adm3_here]
                    name3 = town_here[0] if town_here else namer()
                used_adm3_here.add(name3)
                rows.append({"adm1": region["name"], "p1": f"{iso2}{i:02d}",
                             "adm2": name2, "p2": f"{iso2}{i:02d}{j:02d}",
                             "adm3": name3, "p3": f"{iso2}{i:02d}{j:02d}{k:02d}", "geometry": cell3})
    return rows


def _admin_gdf(country: dict, rows: list) -> gpd.GeoDataFrame:
    """COD-AB-like table: the country's configured name fields plus the ADM*_PCODE fields."""
    b = country["boundaries"]
    f1, f2, f3 = b["admin1_field"], b["admin2_field"], b["admin3_field"]
    f0 = f1.replace("1", "0", 1) if "1" in f1 else "ADM0_NAME"
    data = {
        f0: [country["name"]] * len(rows), "ADM0_PCODE": [country["iso2"]] * len(rows),
        f1: [r["adm1"] for r in rows], "ADM1_PCODE": [r["p1"] for r in rows],
        f2: [r["adm2"] for r in rows], "ADM2_PCODE": [r["p2"] for r in rows],
        f3: [r["adm3"] for r in rows], "ADM3_PCODE": [r["p3"] for r in rows],
    }
    geoms = [shapely.MultiPolygon([r["geometry"]]) if r["geometry"].geom_type == "Polygon" else r["geometry"]
             for r in rows]
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")


def _make_villages(rng, n: int, towns: list[dict], rivers, study, other, namer: _Namer) -> list[dict]:
    """Small settlements (70 % in the study regions) along rivers and around towns, as people live:
    roads reach them and violence clusters around them."""
    n_study = int(round(0.7 * n)) if other is not None else n
    txy = np.array([(t["lon"], t["lat"]) for t in towns])
    rivers = np.asarray(rivers, dtype=object)
    river_w = shapely.length(rivers) / shapely.length(rivers).sum()
    pts = []
    for area, m in ((study, n_study), (other, n - n_study)):
        if area is None or m <= 0:
            continue
        shapely.prepare(area)
        got = np.empty((0, 2))
        for _ in range(100):
            k = 3 * m
            comp = rng.random(k)
            lines = rivers[rng.choice(len(rivers), size=k, p=river_w)]
            centre = np.where((comp < 0.45)[:, None], txy[rng.integers(0, len(txy), k)],
                              shapely.get_coordinates(shapely.line_interpolate_point(
                                  lines, rng.uniform(0, 1, k), normalized=True)))
            sd = np.where(comp < 0.45, 40.0, 6.0)
            dx, dy = _km_to_deg(rng.normal(0, 1, k) * sd, rng.normal(0, 1, k) * sd, centre[:, 1])
            cand = centre + np.column_stack([dx, dy])
            uni = comp >= 0.85
            cand[uni] = _uniform_in(rng, area, int(uni.sum()))
            got = np.vstack([got, cand[shapely.contains_xy(area, cand[:, 0], cand[:, 1])]])
            if len(got) >= m:
                break
        if len(got) < m:
            got = np.vstack([got, _uniform_in(rng, area, m - len(got))])
        pts.append(got[:m])
    pts = np.vstack(pts) if pts else np.empty((0, 2))
    return [{"name": namer(), "lon": float(x), "lat": float(y), "kind": "village", "weight": 1.0}
            for x, y in pts]


def _mst_edges(xy: np.ndarray) -> list[tuple[int, int]]:
    """Prim's minimum spanning tree on approximate km distances: the trunk road network."""
    n = len(xy)
    d = _approx_km(xy[:, None, 0], xy[:, None, 1], xy[None, :, 0], xy[None, :, 1])
    in_tree = np.zeros(n, bool)
    in_tree[0] = True
    best = d[0].copy()
    parent = np.zeros(n, int)
    edges = []
    for _ in range(n - 1):
        cand = np.where(in_tree, np.inf, best)
        j = int(np.argmin(cand))
        edges.append((int(parent[j]), j))
        in_tree[j] = True
        closer = d[j] < best
        best = np.where(closer, d[j], best)
        parent = np.where(closer, j, parent)
    return edges


def _build_roads(rng, settlements: list[dict], poly) -> gpd.GeoDataFrame:
    """Major roads (trunk..tertiary, one motorway stub) along an MST of settlements; minor classes too."""
    xy = np.array([(s["lon"], s["lat"]) for s in settlements])
    kinds = [s["kind"] for s in settlements]
    main = [i for i, k in enumerate(kinds) if k != "village"]
    trunk_net = {tuple(sorted((main[a], main[b]))) for a, b in _mst_edges(xy[main])} if len(main) > 1 else set()
    edges = {tuple(sorted(e)) for e in _mst_edges(xy)} | trunk_net
    d = _approx_km(xy[:, None, 0], xy[:, None, 1], xy[None, :, 0], xy[None, :, 1])
    for i in range(len(xy)):  # links to the two nearest neighbours make a meshed network
        for j in np.argsort(d[i])[1:3]:
            if rng.random() < 0.7:
                edges.add(tuple(sorted((i, int(j)))))
    rows = []
    rn = rr = 0
    for i, j in sorted(edges):
        ki, kj = kinds[i], kinds[j]
        if (i, j) in trunk_net:
            cls = "trunk" if "capital" in (ki, kj) else "primary"
        elif "village" not in (ki, kj):
            cls = "secondary"
        elif "village" in (ki, kj) and ki != kj:
            cls = "secondary"
        else:
            cls = "tertiary"
        if cls in ("trunk", "primary"):
            rn += 1
            name, surface = f"RN{rn}", str(rng.choice(["asphalt", "paved"]))
        elif cls == "secondary":
            rr += 1
            name, surface = f"RR{rr}", str(rng.choice(["unpaved", "gravel", "asphalt"], p=[0.5, 0.3, 0.2]))
        else:
            name, surface = None, (None if rng.random() < 0.4 else "unpaved")
        rows.append((cls, name, surface, LineString(_meander(rng, xy[i], xy[j], 0.08, 4))))
    capital = next((s for s in settlements if s["kind"] == "capital"), settlements[0])
    c = np.array([capital["lon"], capital["lat"]])
    ang = rng.uniform(0, 2 * np.pi)
    dx, dy = _km_to_deg(np.array([20 * np.cos(ang)]), np.array([20 * np.sin(ang)]), np.array([c[1]]))
    rows.append(("motorway", "Autoroute 1", "asphalt", LineString(_meander(rng, c, c + [dx[0], dy[0]], 0.03, 3))))
    for s in settlements:  # street grids of residential roads
        n_res = {"capital": 30, "town": 8, "base": 8}.get(s["kind"], 2)
        for _ in range(n_res):
            start = np.array([s["lon"], s["lat"]]) + np.array(_km_to_deg(rng.normal(0, 2, 1), rng.normal(0, 2, 1),
                                                                            np.array([s["lat"]]))).ravel()
            length = rng.uniform(0.4, 3.0)
            a = rng.uniform(0, np.pi)
            ex, ey = _km_to_deg(np.array([length * np.cos(a)]), np.array([length * np.sin(a)]), np.array([s["lat"]]))
            rows.append(("residential", None, None, LineString([start, start + [ex[0], ey[0]]])))
    n_tracks = 40 + int(poly.area * 0.4)
    starts = _uniform_in(rng, poly, n_tracks)
    for st, cls in zip(starts, rng.choice(["track", "unclassified", "path", "service"], size=n_tracks,
                                          p=[0.55, 0.25, 0.15, 0.05])):
        length = rng.uniform(5, 60) if cls in ("track", "unclassified") else rng.uniform(0.5, 8)
        a = rng.uniform(0, 2 * np.pi)
        ex, ey = _km_to_deg(np.array([length * np.cos(a)]), np.array([length * np.sin(a)]), np.array([st[1]]))
        rows.append((str(cls), None, None if rng.random() < 0.6 else "unpaved",
                     LineString(_meander(rng, st, st + [ex[0], ey[0]], 0.1, 3))))
    geoms = []
    keep = []
    for r in rows:
        g = r[3].intersection(poly)
        parts = [p for p in shapely.get_parts(g) if p.geom_type == "LineString" and p.length > 0]
        if parts:
            keep.append(r)
            geoms.append(max(parts, key=lambda p: p.length))
    return gpd.GeoDataFrame({"osm_id": np.arange(1, len(keep) + 1, dtype=np.int64) * 7 + 100_000_000,
                             "name": [r[1] for r in keep], "highway": [r[0] for r in keep],
                             "surface": [r[2] for r in keep]}, geometry=geoms, crs="EPSG:4326")


def _build_waterways(rng, country: dict, poly, namer: _Namer, lake_scale: float = 1.0) -> gpd.GeoDataFrame:
    """A main river through a chain of towns, tributaries, lakes, wetlands, streams, canals, ditches;
    lake and reservoir radii shrink by lake_scale in a small country."""
    towns = country["synthetic"]["towns"]
    xy = np.array([(t["lon"], t["lat"]) for t in towns])
    x0, y0, x1, y1 = poly.bounds
    span = max(x1 - x0, y1 - y0)
    rows: list[tuple] = []  # (waterway, natural, water, name, geometry)
    if len(xy) >= 2:
        centred = xy - xy.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        axis = vt[0]
        proj, resid = centred @ axis, np.abs(centred @ vt[1])
        chosen = np.argsort(resid)[: max(2, (len(xy) + 1) // 2)]
        chosen = chosen[np.argsort(proj[chosen])]
        offset = np.array(_km_to_deg(rng.normal(0, 2, len(chosen)), rng.normal(0, 2, len(chosen)),
                                     xy[chosen, 1])).T
        way = xy[chosen] + offset
    else:
        axis = np.array([1.0, 0.0])
        way = np.array([xy[0] - [0.1, 0], xy[0] + [0.1, 0]])
    way = np.vstack([way[0] - axis * span, way, way[-1] + axis * span])
    main = np.vstack([_meander(rng, p, q, 0.10, 4)[:-1] for p, q in zip(way[:-1], way[1:])] + [way[-1:]])
    main_line = LineString(main).intersection(poly)
    main_parts = [p for p in shapely.get_parts(main_line) if p.geom_type == "LineString"]
    river_name = namer()
    for p in main_parts:
        rows.append(("river", None, None, river_name, p))
    main_geom = shapely.MultiLineString(main_parts) if main_parts else LineString(way[1:3])
    n_trib = 4 + int(poly.area / 8)
    for _ in range(n_trib):
        start = _uniform_in(rng, poly, 1)[0]
        end = np.array(shapely.line_interpolate_point(main_geom, rng.uniform(0.05, 0.95), normalized=True).coords[0])
        rows.append(("river", None, None, namer(), LineString(_meander(rng, start, end, 0.12, 4))))
    rivers = shapely.union_all([r[4] for r in rows])
    # lakes, reservoirs, ponds and wetlands near the rivers
    n_lakes = 4 + int(poly.area / 25)
    first_river = rivers if rivers.geom_type == "LineString" else shapely.get_parts(rivers)[0]
    for water, n, rad_km in (("lake", n_lakes, (3, 12)), ("reservoir", 2, (2, 6)), ("pond", 4, (0.3, 1.0))):
        for _ in range(n):
            at = np.array(shapely.line_interpolate_point(first_river, rng.uniform(0, 1), normalized=True).coords[0])
            shift = np.array(_km_to_deg(rng.normal(0, 8, 1), rng.normal(0, 8, 1), np.array([at[1]]))).ravel()
            r_km = rng.uniform(*rad_km) * (lake_scale if water != "pond" else 1.0)
            rx, ry = _km_to_deg(np.array([r_km]), np.array([r_km * rng.uniform(0.4, 0.9)]), np.array([at[1]]))
            ell = shapely.affinity.scale(Point(at + shift).buffer(1.0, quad_segs=8), rx[0], ry[0])
            ell = shapely.affinity.rotate(ell, rng.uniform(0, 180))
            rows.append((None, "water", water, namer() if water == "lake" else None, ell))
    main_longest = max(main_parts, key=lambda p: p.length) if main_parts else LineString(way[1:3])
    for _ in range(2):  # wetlands and riverbank areas along the main river
        a = rng.uniform(0, 0.8)
        seg = shapely.ops.substring(main_longest, a, a + 0.08, normalized=True)
        rows.append((None, "wetland", None, None, seg.buffer(0.05)))
        b = rng.uniform(0, 0.9)
        seg = shapely.ops.substring(main_longest, b, b + 0.03, normalized=True)
        rows.append(("riverbank", None, None, None, seg.buffer(0.004)))
    # streams (excluded by the study's filter), canals and ditches near towns
    n_streams = 40 + int(poly.area * 0.3)
    for st in _uniform_in(rng, poly, n_streams):
        length = rng.uniform(3, 30)
        a = rng.uniform(0, 2 * np.pi)
        ex, ey = _km_to_deg(np.array([length * np.cos(a)]), np.array([length * np.sin(a)]), np.array([st[1]]))
        rows.append(("stream", None, None, None, LineString(_meander(rng, st, st + [ex[0], ey[0]], 0.15, 3))))
    for t in towns[: min(len(towns), 6)]:
        for cls in ("canal", "canal", "ditch", "drain"):
            st = np.array([t["lon"], t["lat"]]) + np.array(_km_to_deg(rng.normal(0, 4, 1), rng.normal(0, 4, 1),
                                                                       np.array([t["lat"]]))).ravel()
            length = rng.uniform(1, 8)
            a = rng.uniform(0, 2 * np.pi)
            ex, ey = _km_to_deg(np.array([length * np.cos(a)]), np.array([length * np.sin(a)]), np.array([st[1]]))
            rows.append((cls, None, None, None, LineString([st, st + [ex[0], ey[0]]])))
    geoms, keep = [], []
    for r in rows:
        g = _polygons_only(r[4].intersection(poly)) if r[4].geom_type == "Polygon" else r[4].intersection(poly)
        if g is None or g.is_empty:
            continue
        if g.geom_type.endswith("LineString"):
            parts = [p for p in shapely.get_parts(g) if p.geom_type == "LineString"]
            g = max(parts, key=lambda p: p.length)
        elif g.geom_type == "MultiPolygon":
            g = max(shapely.get_parts(g), key=lambda p: p.area)
        keep.append(r)
        geoms.append(g)
    return gpd.GeoDataFrame({"osm_id": np.arange(1, len(keep) + 1, dtype=np.int64) * 11 + 200_000_000,
                             "name": [r[3] for r in keep], "waterway": [r[0] for r in keep],
                             "natural": [r[1] for r in keep], "water": [r[2] for r in keep]},
                            geometry=geoms, crs="EPSG:4326")


# ---------------------------------------------------------------------------------------------
# Rasters
# ---------------------------------------------------------------------------------------------

def _bilinear(field: np.ndarray, x0: float, y0: float, step: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Sample a coarse regular grid (origin x0,y0 at field[0,0], rows increasing in y) at xs × ys."""
    fx = np.clip((xs - x0) / step, 0, field.shape[1] - 1.000001)
    fy = np.clip((ys - y0) / step, 0, field.shape[0] - 1.000001)
    ix, iy = fx.astype(int), fy.astype(int)
    tx, ty = (fx - ix)[None, :], (fy - iy)[:, None]
    f00 = field[iy[:, None], ix[None, :]]
    f01 = field[iy[:, None], ix[None, :] + 1]
    f10 = field[iy[:, None] + 1, ix[None, :]]
    f11 = field[iy[:, None] + 1, ix[None, :] + 1]
    return (f00 * (1 - tx) * (1 - ty) + f01 * tx * (1 - ty) + f10 * (1 - tx) * ty + f11 * tx * ty)


def _smooth_noise(rng, xs, ys, step: float) -> np.ndarray:
    """Spatially correlated N(0, ~1) noise: a coarse Gaussian grid, interpolated."""
    x0, y0 = xs.min() - step, ys.min() - step
    nx = int((xs.max() - x0) / step) + 3
    ny = int((ys.max() - y0) / step) + 3
    return _bilinear(rng.normal(0, 1, (ny, nx)), x0, y0, step, xs, ys)


def _grid(country: dict, params: dict):
    """Raster grid over the world's extent (+0.1 deg): the finest 0.005-deg step that keeps files small."""
    x0, y0, x1, y1 = _extent(country)
    x0, y0, x1, y1 = x0 - 0.1, y0 - 0.1, x1 + 0.1, y1 + 0.1
    res = params["geography"]["raster_res_deg"]
    if res is None:
        res = 0.01
        while math.ceil((x1 - x0) / res) * math.ceil((y1 - y0) / res) > params["geography"]["raster_max_pixels"]:
            res += 0.005
    res = float(res)
    width, height = math.ceil((x1 - x0) / res), math.ceil((y1 - y0) / res)
    transform = Affine(res, 0.0, x0, 0.0, -res, y1)
    xs = x0 + (np.arange(width) + 0.5) * res
    ys = y1 - (np.arange(height) + 0.5) * res
    return transform, xs, ys, res


def _kernel_sum(xs, ys, sites: list[tuple[float, float, float, float]]) -> np.ndarray:
    """Sum of Gaussian bumps (lon, lat, amplitude, sd_km), evaluated only within 4 sd of each site."""
    out = np.zeros((len(ys), len(xs)))
    res = abs(xs[1] - xs[0]) if len(xs) > 1 else 0.01
    for lon, lat, amp, sd in sites:
        rdeg_y = 4 * sd / KM_PER_DEG_LAT
        rdeg_x = 4 * sd / (KM_PER_DEG_LON * math.cos(math.radians(lat)))
        ix = slice(max(int((lon - rdeg_x - xs[0]) / res), 0), max(int((lon + rdeg_x - xs[0]) / res) + 2, 0))
        iy = slice(max(int((ys[0] - lat - rdeg_y) / res), 0), max(int((ys[0] - lat + rdeg_y) / res) + 2, 0))
        sx, sy = xs[ix], ys[iy]
        if not len(sx) or not len(sy):
            continue
        dx = (sx - lon) * KM_PER_DEG_LON * math.cos(math.radians(lat))
        dy = (sy - lat) * KM_PER_DEG_LAT
        out[iy, ix] += amp * np.exp(-(dy[:, None] ** 2 + dx[None, :] ** 2) / (2 * sd * sd))
    return out


def _write_rasters(rng, country, params, poly, settlements, water_lines, out_dir: pathlib.Path,
                   halo_km: float = 40.0) -> dict:
    """DMSP-like cf_cvg and stable-lights bands and a GPW-like population density, EPSG:4326; also returns
    `_res` (degrees per pixel) and `_warnings` (constant or saturated covariates)."""
    transform, xs, ys, res = _grid(country, params)
    shape = (len(ys), len(xs))
    # every pixel the country touches has data (as GPW's coastal pixels): no event near the border
    # falls on nodata
    inside = features.geometry_mask([poly], out_shape=shape, transform=transform, invert=True, all_touched=True)
    # population: log density from baseline noise, town bumps (core and halo) and river proximity
    # River distances on a coarse grid (at most ~200 x 200 points, 0.1 degree for country extents)
    # and interpolated: exact distances to every raster pixel cost hours at continent scale.
    step = max(0.1, float(max(np.ptp(xs), np.ptp(ys))) / 200.0)
    cx = np.arange(xs.min() - step, xs.max() + 2 * step, step)
    cy = np.arange(ys.min() - step, ys.max() + 2 * step, step)
    gx, gy = np.meshgrid(cx, cy)
    if step > 0.1:
        # continent extents: distance to the nearest vertex of the densified rivers (a KD-tree),
        # within step/4 of the exact distance; exact point-to-line distances take hours there.
        vertices = shapely.get_coordinates(shapely.segmentize(water_lines, step / 4.0))
        d_river = cKDTree(vertices).query(np.column_stack([gx.ravel(), gy.ravel()]))[0].reshape(gx.shape)
    else:
        d_river = shapely.distance(water_lines, shapely.points(gx.ravel(), gy.ravel())).reshape(gx.shape)
    d_river_km = _bilinear(d_river * KM_PER_DEG_LAT, cx[0], cy[0], step, xs, ys)
    core = {"capital": (6.5, 7.0), "town": (4.5, 4.0), "base": (4.5, 4.0), "village": (2.5, 2.0)}
    sites = [(s["lon"], s["lat"], *core[s["kind"]]) for s in settlements]
    halo = [(s["lon"], s["lat"], 1.5 if s["kind"] != "village" else 0.7, halo_km) for s in settlements]
    logpop = (0.3 + 1.1 * _smooth_noise(rng, xs, ys, 0.5) + 0.35 * _smooth_noise(rng, xs, ys, 0.08)
              + 2.0 * np.exp(-d_river_km / 15.0) + _kernel_sum(xs, ys, sites) + _kernel_sum(xs, ys, halo))
    warnings_ = _saturation_warnings(logpop[inside], LOGPOP_RANGE, "pop_density.tif (covariate pop_dens)")
    logpop = np.clip(logpop, *LOGPOP_RANGE)
    pop = np.where(inside, np.exp(logpop), GPW_NODATA).astype(np.float32)
    # night lights: cloud-free coverage counts rise towards higher latitudes of the box, with noise
    lat_norm = ((ys - ys.min()) / max(ys.max() - ys.min(), 1e-9))[:, None]
    cvg = 60 + 16 * lat_norm + 4.0 * _smooth_noise(rng, xs, ys, 0.6) + 1.2 * rng.normal(0, 1, shape)
    cvg = np.clip(np.rint(cvg), 40, 95).astype(np.uint8)
    lamp = {"capital": (63.0, 9.0), "town": (40.0, 4.0), "base": (40.0, 4.0), "village": (12.0, 1.5)}
    stable = _kernel_sum(xs, ys, [(s["lon"], s["lat"], *lamp[s["kind"]]) for s in settlements])
    stable = np.clip(np.rint(stable + rng.normal(0, 0.4, shape)), 0, 63).astype(np.uint8)
    profile = {"driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1, "crs": "EPSG:4326",
               "transform": transform, "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256}

    def tif(path: pathlib.Path, arr: np.ndarray, **extra) -> pathlib.Path:
        prof = dict(profile, dtype=arr.dtype.name, **extra)
        def write(t):
            with rasterio.open(t, "w", **prof) as dst:
                dst.write(arr, 1)
        return write_with(path, write)

    # A second, independent estimate of the same population surface (WorldPop-like: other noise,
    # WorldPop's nodata), for the robustness variant. A spawned generator leaves the main stream
    # (and so every other file) unchanged.
    wp_rng = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
    wp_log = np.clip(logpop + 0.35 * _smooth_noise(wp_rng, xs, ys, 0.15) + 0.15 * wp_rng.normal(0, 1, shape),
                     *LOGPOP_RANGE)
    worldpop = np.where(inside, np.exp(wp_log), WORLDPOP_NODATA).astype(np.float32)
    (out_dir / "worldpop").mkdir(parents=True, exist_ok=True)
    warnings_ += _constant_warnings(np.log(pop[inside].astype(float)), "pop_density.tif (covariate pop_dens)")
    warnings_ += _constant_warnings(cvg[inside], "nightlights_cf_cvg.tif (covariate nl, band cf_cvg)")
    # most of a country is unlit, so stable lights are mostly 0 by nature: only a constant band is news
    warnings_ += _constant_warnings(stable[inside], "nightlights_stable_lights.tif (covariate nl, band "
                                    "stable_lights)", near_constant_share=1.0)
    for message in warnings_:
        log.warning("synthetic world of %s: %s", country["iso3"], message)
    return {
        "worldpop": tif(out_dir / "worldpop" / "pop_density.tif", worldpop, nodata=WORLDPOP_NODATA, predictor=3),
        "nightlights": tif(out_dir / "nightlights_cf_cvg.tif", cvg, predictor=2),
        "nightlights_stable_lights": tif(out_dir / "nightlights_stable_lights.tif", stable, predictor=2),
        "population": tif(out_dir / "pop_density.tif", pop, nodata=GPW_NODATA, predictor=3),
        "_res": res,
        "_warnings": warnings_,
    }


def _saturation_warnings(logpop: np.ndarray, bounds: tuple[float, float], name: str) -> list[str]:
    """A warning when many of the country's pixels sit at a clip bound of the population surface."""
    out = []
    for bound, side, fix in ((bounds[1], "the density cap", "lower geography.halo_km, halo_spacing_share or "
                              "villages_per_10k_km2"), (bounds[0], "the density floor", "raise geography."
                                                         "villages_per_10k_km2")):
        share = float(np.mean(logpop >= bound)) if side == "the density cap" else float(np.mean(logpop <= bound))
        if len(logpop) and share > SATURATED_SHARE:
            out.append(f"{name}: {share:.0%} of the country's pixels are at {side} (ln density {bound}), so the "
                       f"covariate barely varies; {fix}")
    return out


def _constant_warnings(values: np.ndarray, name: str, near_constant_share: float = NEAR_CONSTANT_SHARE) -> list[str]:
    """A warning when a generated covariate raster is constant, or one value covers near_constant_share of
    the country (CEM cannot match on it; its standardized mean difference is undefined)."""
    values = np.asarray(values, dtype=float).ravel()
    if not len(values):
        return []
    uniques, counts = np.unique(values, return_counts=True)
    if len(uniques) == 1:
        return [f"{name} is constant ({uniques[0]:.6g} in every pixel of the country)"]
    share = counts.max() / len(values)
    if share >= near_constant_share:
        return [f"{name} is near-constant: {share:.0%} of the country's pixels hold {uniques[counts.argmax()]:.6g}"]
    return []


# ---------------------------------------------------------------------------------------------
# Event placement
# ---------------------------------------------------------------------------------------------

class _Area:
    """One placement area (study regions or the rest): its polygon and what lies inside it."""

    def __init__(self, geom, settlements: list[dict], bases: np.ndarray, roads: list):
        self.geom = geom
        shapely.prepare(geom)
        sx = np.array([(s["lon"], s["lat"]) for s in settlements]).reshape(-1, 2)
        m = shapely.contains_xy(geom, sx[:, 0], sx[:, 1]) if len(sx) else np.zeros(0, bool)
        self.towns = sx[m]
        self.town_w = np.array([s["weight"] for s, f in zip(settlements, m) if f])
        self.bases = bases[shapely.contains_xy(geom, bases[:, 0], bases[:, 1])] if len(bases) else bases
        clipped = [g for r in roads for g in shapely.get_parts(r.intersection(geom))
                   if g.geom_type == "LineString" and g.length > 0]
        self.roads = np.array(clipped, dtype=object)
        self.road_w = np.array([g.length for g in clipped])


def _place(rng, n: int, spec: dict, area: _Area) -> np.ndarray:
    """n points in area from the mixture in spec (near_base/near_road/near_town/uniform)."""
    if n <= 0:
        return np.empty((0, 2))
    w = np.array([spec["near_base"] if len(area.bases) else 0.0,
                  spec["near_road"] if len(area.roads) else 0.0,
                  spec["near_town"] if len(area.towns) else 0.0,
                  spec["uniform"]], float)
    if w.sum() <= 0:
        w = np.array([0, 0, 0, 1.0])
    comp = rng.choice(4, size=n, p=w / w.sum())
    out = np.empty((n, 2))
    for c in range(4):
        idx = np.flatnonzero(comp == c)
        if not len(idx):
            continue
        if c == 3:
            out[idx] = _uniform_in(rng, area.geom, len(idx))
            continue
        got = np.empty((0, 2))
        for _ in range(60):
            m = 2 * (len(idx) - len(got)) + 8
            if c == 0:
                centre, sd = area.bases[rng.integers(0, len(area.bases), m)], spec["base_sd_km"]
            elif c == 1:
                lines = area.roads[rng.choice(len(area.roads), size=m, p=area.road_w / area.road_w.sum())]
                pts = shapely.line_interpolate_point(lines, rng.uniform(0, 1, m), normalized=True)
                centre, sd = shapely.get_coordinates(pts), spec["road_sd_km"]
            else:
                centre = area.towns[rng.choice(len(area.towns), size=m, p=area.town_w / area.town_w.sum())]
                sd = spec["town_sd_km"]
            dx, dy = _km_to_deg(rng.normal(0, sd, m), rng.normal(0, sd, m), centre[:, 1])
            cand = centre + np.column_stack([dx, dy])
            got = np.vstack([got, cand[shapely.contains_xy(area.geom, cand[:, 0], cand[:, 1])]])
            if len(got) >= len(idx):
                break
        if len(got) < len(idx):
            got = np.vstack([got, _uniform_in(rng, area.geom, len(idx) - len(got))])
        out[idx] = got[: len(idx)]
    return out


def _place_split(rng, n: int, spec: dict, areas: tuple[_Area, _Area | None]) -> np.ndarray:
    """Share in_study_share of n points in the study area, the rest elsewhere in the country."""
    study, other = areas
    n_in = n if other is None else int(rng.binomial(n, spec["in_study_share"]))
    pts = np.vstack([_place(rng, n_in, spec, study)] + ([_place(rng, n - n_in, spec, other)] if other else []))
    return pts[rng.permutation(len(pts))]


def _dates(rng, n: int, start: np.datetime64, end: np.datetime64, tp: dict, trend: float) -> np.ndarray:
    """n dates: a share in the margins around the period, the rest in it with a linear trend."""
    total = int((end - start).astype(int)) + 1
    outside = rng.random(n) < tp["outside_period_share"]
    u = rng.random(n)
    # inverse CDF of density proportional to 1 + trend * x on [0, 1]
    x = u if trend == 0 else (np.sqrt(1 + trend * (2 + trend) * u) - 1) / trend
    offs = np.minimum((x * total).astype(int), total - 1)
    margin = int(tp["margin_days"])
    mo = rng.integers(1, margin + 1, n) if margin > 0 else np.ones(n, int)
    before = rng.random(n) < 0.5
    out = start + offs.astype("timedelta64[D]")
    if margin > 0:
        out = np.where(outside & before, start - mo.astype("timedelta64[D]"), out)
        out = np.where(outside & ~before, end + mo.astype("timedelta64[D]"), out)
    return out.astype("datetime64[D]")


def _cluster(rng, xy: np.ndarray, dates: np.ndarray, tp: dict, poly) -> tuple[np.ndarray, np.ndarray]:
    """Turn a share of events into follow-ups near an earlier event: violence comes in episodes."""
    n = len(xy)
    k = int(round(tp["cluster_share"] * n))
    if k == 0 or n < 2:
        return xy, dates
    child = rng.choice(n, size=k, replace=False)
    is_child = np.zeros(n, bool)
    is_child[child] = True
    parents = np.flatnonzero(~is_child)
    par = parents[rng.integers(0, len(parents), k)]
    dx, dy = _km_to_deg(rng.normal(0, tp["cluster_km"], k), rng.normal(0, tp["cluster_km"], k), xy[par, 1])
    new = xy[par] + np.column_stack([dx, dy])
    ok = shapely.contains_xy(poly, new[:, 0], new[:, 1])
    xy = xy.copy()
    dates = dates.copy()
    xy[child] = np.where(ok[:, None], new, xy[par])
    dates[child] = dates[par] + rng.integers(0, int(tp["cluster_days"]) + 1, k).astype("timedelta64[D]")
    return xy, dates


class _AdminIndex:
    """Which admin-3 polygon holds a point (for admin columns and the study-area flags)."""

    def __init__(self, admin: gpd.GeoDataFrame, fields: tuple[str, str, str]):
        self.admin = admin
        self.fields = fields
        self.polygons = np.asarray(admin.geometry.values, dtype=object)

    def lookup(self, xy: np.ndarray) -> pd.DataFrame:
        """Admin names per point (None outside every polygon; the first polygon on a shared border)."""
        hit = np.full(len(xy), len(self.polygons))
        if len(xy):
            pt, poly = points_in_polygons(self.polygons, xy[:, 0], xy[:, 1])
            np.minimum.at(hit, pt, poly)
        res = {}
        for col, f in zip(("admin1", "admin2", "admin3"), self.fields, strict=True):
            names = np.append(self.admin[f].to_numpy(dtype=object), None)
            res[col] = pd.Series(names[hit], dtype=object)
        return pd.DataFrame(res)


EARTH_RADIUS_KM = 6371.0088


def _unit_xyz(lon, lat) -> np.ndarray:
    """Points on the unit sphere: chord length grows with great-circle distance, so a k-d tree on them
    finds great-circle nearest neighbours."""
    lon, lat = np.radians(np.asarray(lon, float)), np.radians(np.asarray(lat, float))
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _nearest_settlement(xy: np.ndarray, settlements: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Index of each point's nearest settlement and the great-circle km to it (spherical Earth)."""
    sx = np.array([(s["lon"], s["lat"]) for s in settlements])
    chord, j = cKDTree(_unit_xyz(sx[:, 0], sx[:, 1])).query(_unit_xyz(xy[:, 0], xy[:, 1]))
    return j, 2.0 * EARTH_RADIUS_KM * np.arcsin(np.minimum(chord / 2.0, 1.0))


def _inside_rounded(xy: np.ndarray, poly, decimals: int) -> np.ndarray:
    """xy rounded to the decimals a provider's file holds, with the few points that rounding pushes out of
    the country (those within a few metres of its border) moved to a neighbouring grid point inside."""
    out = np.round(xy, decimals)
    bad = np.flatnonzero(~shapely.contains_xy(poly, out[:, 0], out[:, 1]))
    step = 10.0 ** -decimals
    for i in bad:
        base = np.floor(xy[i] / step) * step
        corners = base + step * np.array([[0, 0], [1, 0], [0, 1], [1, 1], [-1, 0], [0, -1], [2, 0], [0, 2]])
        ok = shapely.contains_xy(poly, corners[:, 0], corners[:, 1])
        if ok.any():
            near = corners[ok][np.argmin(np.hypot(*(corners[ok] - xy[i]).T))]
            out[i] = np.round(near, decimals)
    return out


def _snap(xy: np.ndarray, mask: np.ndarray, settlements: list[dict], max_km: float) -> np.ndarray:
    """Move masked points to their nearest settlement (within max_km): providers geocode vague
    reports to the town's coordinates, so many events and projects share exact locations."""
    out = xy.copy()
    idx = np.flatnonzero(mask)
    if not len(idx) or not settlements:
        return out
    sx = np.array([(s["lon"], s["lat"]) for s in settlements])
    j, km = _nearest_settlement(xy[idx], settlements)
    near = km <= max_km
    out[idx[near]] = sx[j[near]]
    return out


def _nearest_place(xy: np.ndarray, settlements: list[dict], fallback: pd.Series, max_km: float = 20.0) -> np.ndarray:
    """ACLED-style location names: the nearest settlement within max_km, else the admin-3 name."""
    if not len(xy):
        return np.empty(0, dtype=object)
    names = np.array([s["name"] for s in settlements], dtype=object)
    j, km = _nearest_settlement(xy, settlements)
    return np.where(km <= max_km, names[j], fallback.to_numpy(dtype=object))


# ---------------------------------------------------------------------------------------------
# Provider tables
# ---------------------------------------------------------------------------------------------

# ACLED geo_precision 1 (exact), 2 (near a town: snapped to it), 3 (only the district: snapped
# to the main town); planted events are exact.
PRECISION_SHARES = [0.6, 0.32, 0.08]
INTER_LABELS = {1: "State forces", 2: "Rebel group", 3: "Political militia", 4: "Identity militia",
                5: "Rioters", 6: "Protesters", 7: "Civilians", 8: "External/Other forces"}
ISO_NUMERIC = {"MLI": 466, "CAF": 140, "COD": 180, "SSD": 728}
ACLED_REGION = {"MLI": "Western Africa", "CAF": "Middle Africa", "COD": "Middle Africa", "SSD": "Eastern Africa"}

# event_type, disorder_type, sub-event types with probabilities, inter1 and inter2 distributions
# (0 = no second actor), fatality mean and share of zero-fatality events.
ACLED_TYPES = {
    "civilians": ("Violence against civilians", "Political violence",
                  {"Attack": 0.75, "Abduction/forced disappearance": 0.20, "Sexual violence": 0.05},
                  {2: 0.30, 3: 0.30, 4: 0.25, 1: 0.15}, {7: 1.0}, 2.0, 0.35),
    "battles": ("Battles", "Political violence",
                {"Armed clash": 0.90, "Government regains territory": 0.05,
                 "Non-state actor overtakes territory": 0.05},
                {1: 0.45, 2: 0.25, 3: 0.10, 4: 0.12, 8: 0.08}, {2: 0.45, 3: 0.2, 4: 0.25, 1: 0.10}, 4.0, 0.30),
    "explosions": ("Explosions/Remote violence", "Political violence",
                   {"Remote explosive/landmine/IED": 0.6, "Shelling/artillery/missile attack": 0.25,
                    "Air/drone strike": 0.15},
                   {2: 0.6, 3: 0.15, 1: 0.15, 8: 0.10}, {1: 0.45, 8: 0.25, 7: 0.2, 0: 0.1}, 1.5, 0.5),
    "protests": ("Protests", "Demonstrations", {"Peaceful protest": 0.92, "Protest with intervention": 0.08},
                 {6: 1.0}, {0: 0.9, 1: 0.1}, 0.0, 1.0),
    "riots": ("Riots", "Demonstrations", {"Violent demonstration": 0.6, "Mob violence": 0.4},
              {5: 1.0}, {0: 0.5, 1: 0.3, 7: 0.2}, 0.6, 0.7),
    "strategic": ("Strategic developments", "Strategic developments",
                  {"Looting/property destruction": 0.35, "Arrests": 0.25, "Change to group/activity": 0.2,
                   "Non-violent transfer of territory": 0.1, "Other": 0.1},
                  {1: 0.35, 2: 0.3, 3: 0.15, 4: 0.1, 8: 0.1}, {0: 0.6, 7: 0.4}, 0.0, 1.0),
}


def _actors(codes: np.ndarray, country: dict, rng) -> np.ndarray:
    """Generic actor names for ACLED inter codes (no real group names); 0 (no second actor) → ""."""
    n = country["name"]
    out = np.full(len(codes), "", dtype=object)
    variants = {
        1: [f"Military Forces of {n}"],
        2: [f"Rebel Group {x} ({n})" for x in "ABC"],
        3: [f"Unidentified Armed Group ({n})", f"Political Militia A ({n})", f"Political Militia B ({n})"],
        4: [f"Communal Militia {x} ({n})" for x in ("North", "South", "East", "West")],
        5: [f"Rioters ({n})"], 6: [f"Protesters ({n})"], 7: [f"Civilians ({n})"],
        8: [f"{country['mission']}: United Nations Mission"],
    }
    # code 3 is an unidentified group half of the time, else one of two militias
    weights = {3: [0.5, 0.25, 0.25]}
    for code, names in variants.items():
        idx = np.flatnonzero(codes == code)
        if len(idx):
            p = weights.get(code)
            out[idx] = np.asarray(names, dtype=object)[rng.choice(len(names), size=len(idx), p=p)]
    return out


def _draw(rng, table: dict, n: int) -> np.ndarray:
    """n draws from a {value: probability} table."""
    return np.asarray(list(table))[rng.choice(len(table), size=n, p=list(table.values()))]


def _format_dates(dates: np.ndarray, fmt: str) -> np.ndarray:
    """strftime of datetime64[D] values, formatted once per distinct day."""
    days, inverse = np.unique(dates.astype("datetime64[D]"), return_inverse=True)
    text = pd.DatetimeIndex(days).strftime(fmt).to_numpy(dtype=object)
    return text[inverse.ravel()]


def _acled_table(rng, country, p, events: pd.DataFrame, admin: _AdminIndex, settlements, poly) -> pd.DataFrame:
    """ACLED export rows (docs/data_contracts.md) for events with columns kind, lon, lat, date (vectorised:
    each column is drawn for all events of a type at once)."""
    n = len(events)
    # rows come by date, then position (of the file's rounded coordinates): order the events first, so
    # that every column below is drawn in its final order
    xy = events[["lon", "lat"]].to_numpy()
    xy_file = _inside_rounded(xy, poly, 4)
    order = np.lexsort((xy_file[:, 1], xy_file[:, 0], events["date"].to_numpy().astype("datetime64[D]")))
    events = events.iloc[order].reset_index(drop=True)
    xy, xy_file = xy[order], xy_file[order]
    adm = admin.lookup(xy)
    loc = _nearest_place(xy, settlements, adm["admin3"])
    mess = p["messiness"]
    codes = rng.random(n) < mess["acled_inter_codes"]
    old_date = rng.random(n) < mess["acled_old_dates"]
    kind = events["kind"].to_numpy()
    etype = np.empty(n, dtype=object)
    disorder = np.empty(n, dtype=object)
    sub = np.empty(n, dtype=object)
    inter1 = events["inter1"].to_numpy().astype(np.int64)
    inter2 = np.zeros(n, np.int64)
    fat = np.zeros(n, np.int64)
    for k, (e_type, dis, subs, d1, d2, fat_mean, zero_share) in ACLED_TYPES.items():
        idx = np.flatnonzero(kind == k)
        if not len(idx):
            continue
        etype[idx], disorder[idx] = e_type, dis
        sub[idx] = _draw(rng, subs, len(idx))
        unset = idx[inter1[idx] <= 0]
        inter1[unset] = _draw(rng, d1, len(unset))
        inter2[idx] = _draw(rng, d2, len(idx))
        while True:  # state forces do not fight themselves
            again = idx[(inter2[idx] == inter1[idx]) & np.isin(inter1[idx], (1, 8))]
            if not len(again):
                break
            inter2[again] = _draw(rng, d2, len(again))
        zero = rng.random(len(idx)) < zero_share
        fat[idx] = np.where(zero, 0, 1 + rng.poisson(max(fat_mean - 1, 0), len(idx)))
    dates = events["date"].to_numpy().astype("datetime64[D]")
    a1 = _actors(inter1, country, rng)
    a2 = _actors(inter2, country, rng)
    label = np.array([""] + [INTER_LABELS[c] for c in range(1, 9)], dtype=object)
    i1_text = np.where(codes, inter1.astype(str).astype(object), label[inter1])
    i2_text = np.where(codes, inter2.astype(str).astype(object), label[inter2])
    i2_text = np.where(codes & (inter2 == 0), "0", i2_text)
    lo, hi = np.minimum(inter1, inter2), np.maximum(inter1, inter2)
    code_pair = np.where(inter2 > 0, lo * 10 + hi, inter1 * 10).astype(str).astype(object)
    pair_label = np.array([f"{label[a]}-{label[b]}" if b else f"{label[a]} only" for a in range(9) for b in range(9)],
                          dtype=object)
    label_pair = pair_label[inter1 * 9 + inter2]
    long_dates = _format_dates(dates, "%d %B %Y")
    event_date = np.where(old_date, long_dates, _format_dates(dates, "%Y-%m-%d"))
    report_lag = rng.integers(7, 400, n)
    epoch_days = (dates - EPOCH).astype(np.int64)
    time_precision = _draw(rng, {1: 0.8, 2: 0.15, 3: 0.05}, n)
    source = _draw(rng, {"Synthetic Local Source": 1 / 3, "Synthetic Newswire": 1 / 3, "Synthetic Radio": 1 / 3}, n)
    source_scale = _draw(rng, {s: 0.25 for s in ("Local", "National", "Subnational", "Other")}, n)
    admin2 = adm["admin2"].fillna("").to_numpy(dtype=object)
    lower = {v: v.lower() for v in set(sub)}
    notes = np.array([f"On {d}, {a} ({lower[s]}) near {place}, {a2}. [synthetic event]"
                      for d, a, s, place, a2 in zip(long_dates, a1, sub, loc, admin2, strict=True)], dtype=object)
    columns = {
        "event_date": event_date, "year": dates.astype("datetime64[Y]").astype(np.int64) + 1970,
        "time_precision": time_precision, "disorder_type": disorder, "event_type": etype, "sub_event_type": sub,
        "actor1": a1, "assoc_actor_1": "", "inter1": i1_text, "actor2": a2, "assoc_actor_2": "", "inter2": i2_text,
        "interaction": np.where(codes, code_pair, label_pair),
        "civilian_targeting": np.where((etype == "Violence against civilians") | (inter2 == 7), "Civilian targeting",
                                       ""),
        "iso": ISO_NUMERIC.get(country["iso3"], 0), "region": ACLED_REGION.get(country["iso3"], "Africa"),
        "country": country["name"],
        "admin1": adm["admin1"].to_numpy(dtype=object), "admin2": adm["admin2"].to_numpy(dtype=object),
        "admin3": adm["admin3"].to_numpy(dtype=object), "location": loc,
        "latitude": _fixed(xy_file[:, 1], 4), "longitude": _fixed(xy_file[:, 0], 4),
        "geo_precision": events["geo_precision"].to_numpy().astype(np.int64), "source": source,
        "source_scale": source_scale, "notes": notes, "fatalities": fat, "tags": "",
        "timestamp": (epoch_days + report_lag) * 86400,
        "_inter1": inter1, "_inter2": inter2, "_date": dates.astype("datetime64[ns]"),
        "_planted": events["planted"].to_numpy(), "_qip": events["qip_ref"].to_numpy(dtype=object),
        "_lon": xy_file[:, 0], "_lat": xy_file[:, 1],
    }
    data = {"event_id_cnty": np.array([f"{country['iso3']}{i}" for i in range(1, n + 1)], dtype=object)}
    for name, values in columns.items():
        if not np.ndim(values):
            values = np.full(n, values, dtype=object if isinstance(values, str) else None)
        values = np.asarray(values)
        data[name] = pd.Series(values, dtype=object) if values.dtype == object else values
    return pd.DataFrame(data)


ACLED_COLUMNS = ["event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
                 "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
                 "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3",
                 "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes",
                 "fatalities", "tags", "timestamp"]
GED_COLUMNS = ["id", "year", "type_of_violence", "country", "country_id", "adm_1", "latitude", "longitude",
               "date_start", "date_end", "best", "where_prec"]


def _ged_table(rng, country, acled: pd.DataFrame, poly) -> pd.DataFrame:
    """UCDP GED rows for ACLED violence with deaths: one-sided (3) for civilians, state-based (1)
    for battles with a state or external actor, non-state (2) for battles among armed groups."""
    sel = acled[acled["event_type"].isin(["Violence against civilians", "Battles"]) & (acled["fatalities"] > 0)]
    sel = sel[rng.random(len(sel)) < 0.75]
    state = sel["_inter1"].isin([1, 8]) | sel["_inter2"].isin([1, 8])
    tov = np.where(sel["event_type"] == "Violence against civilians", 3, np.where(state, 1, 2))
    # ~1 km of jitter, redrawn where it would leave the country (at last: no jitter)
    lat0, lon0 = sel["latitude"].astype(float).to_numpy(), sel["longitude"].astype(float).to_numpy()
    lat = lat0 + rng.normal(0, 0.01, len(sel))
    lon = lon0 + rng.normal(0, 0.01, len(sel))
    for attempt in range(21):
        out = np.flatnonzero(~shapely.contains_xy(poly, np.round(lon, 4), np.round(lat, 4)))
        if not len(out):
            break
        scale = 0.01 if attempt < 20 else 0.0
        lat[out] = lat0[out] + rng.normal(0, scale, len(out))
        lon[out] = lon0[out] + rng.normal(0, scale, len(out))
    ds = sel["_date"].dt.strftime("%Y-%m-%d 00:00:00.000").to_numpy()
    return pd.DataFrame({
        "id": np.arange(1, len(sel) + 1) + 100_000,
        "year": sel["year"].to_numpy(), "type_of_violence": tov, "country": country["name"],
        "country_id": country.get("sources", {}).get("ucdp_country_id", 0),
        "adm_1": sel["admin1"].to_numpy(),
        "latitude": np.round(lat, 4), "longitude": np.round(lon, 4),
        "date_start": ds, "date_end": ds,
        "best": np.maximum(sel["fatalities"].to_numpy() + rng.integers(-1, 2, len(sel)), 1),
        "where_prec": np.minimum(sel["geo_precision"].to_numpy() + rng.integers(0, 2, len(sel)), 4),
    }, columns=GED_COLUMNS)


QIP_ACTIVITY = {  # label: (share of QIPs, mean US$) — magnitudes of the paper's Table 1
    "Infrastructure & equipment": (0.55, 45_000),
    "Training/workshops": (0.15, 24_500),
    "Sensitization, advocacy & outreach": (0.15, 23_500),
    "Sport & cultural events": (0.07, 12_000),
    "Other": (0.05, 21_000),
    "Conferences/seminars": (0.03, 4_000),
}
QIP_CATEGORY = {  # label: share — proportional to appendix Table 1 funding
    "Public services & civil administration": 0.57, "Confidence building in mission": 0.115,
    "Political & economic inclusivity": 0.085, "Early recovery": 0.08, "Rule of Law": 0.075,
    "Protection of civilians & conflict prevention": 0.067, "Other": 0.008,
}
QIP_OBJECTS = {"Infrastructure & equipment": "Rehabilitation of", "Training/workshops": "Training for",
               "Sensitization, advocacy & outreach": "Awareness campaign in",
               "Sport & cultural events": "Cultural festival in", "Other": "Support to",
               "Conferences/seminars": "Conference in"}

# DAC 3-digit group: (code, relative frequency) — frequencies shaped like appendix Table 2.
IATI_SECTORS = {
    "Administrative costs of donors": (910, 1), "Agriculture": (311, 24), "Banking and financial services": (240, 0.3),
    "Basic education": (112, 1.4), "Basic health": (122, 31), "Business and other services": (250, 7),
    "Communication": (220, 1), "Conflict prevention and resolution, peace and security": (152, 2),
    "Developmental food aid / food security assistance": (520, 0.4), "Disaster prevention and preparedness": (740, 1.2),
    "Education, level unspecified": (111, 1.4), "Emergency response": (720, 2),
    "Energy generation and supply": (230, 0.2),
    "Energy generation, distribution and efficiency": (231, 0.6), "Energy generation, renewable sources": (232, 0.2),
    "Fishing": (313, 0.3), "Forestry": (312, 0.1), "General budget support": (510, 0.1),
    "General environmental protection": (410, 2.5), "Government and civil society, general": (151, 18),
    "Health, general": (121, 5.5), "Heating, cooling and energy distribution": (236, 0.1),
    "Hybrid energy electric power plants": (234, 0.1), "Industry": (321, 4.7),
    "Mineral resources and mining": (322, 0.4),
    "Other multisector": (430, 0.3), "Other social infrastructure and services": (160, 2.7),
    "Population policies / programmes and reproductive health": (130, 27), "Post-secondary education": (114, 0.1),
    "Reconstruction relief and rehabilitation": (730, 0.1), "Secondary education": (113, 0.4),
    "Trade policy and regulations and trade-related adjustment": (331, 3.3), "Transport and storage": (210, 0.8),
    "Unallocated / unspecified": (998, 0.6), "Water and sanitation": (140, 17),
}


def _fmt_amount(rng, v: float) -> str:
    """US$ text as typed by mission staff: commas, spaces, NBSPs or bare digits."""
    s = f"{int(round(v)):,}"
    style = rng.random()
    if style < 0.6:
        return s
    if style < 0.75:
        return s.replace(",", " ")
    if style < 0.85:
        return s.replace(",", "\u00a0")
    return s.replace(",", "")


def _qip_table(rng, country, p, xy, start, admin: _AdminIndex, settlements) -> tuple[pd.DataFrame, np.ndarray]:
    """QIP rows as the Data Hub file (Table 1 labels and magnitudes) plus the missing-latitude mask."""
    n = len(xy)
    mess = p["messiness"]
    acts = list(QIP_ACTIVITY)
    act = rng.choice(len(acts), size=n, p=[QIP_ACTIVITY[a][0] for a in acts])
    cats = list(QIP_CATEGORY)
    cw = np.array(list(QIP_CATEGORY.values()))
    cat = rng.choice(len(cats), size=n, p=cw / cw.sum())
    mean = np.array([QIP_ACTIVITY[acts[a]][1] for a in act])
    amount = mean * rng.lognormal(-0.18, 0.6, n)  # lognormal with mean ~ mean
    end = start + rng.integers(90, 540, n).astype("timedelta64[D]")
    adm = admin.lookup(xy)
    loc = _nearest_place(xy, settlements, adm["admin3"], 40.0)
    miss = rng.random(n) < mess["qip_missing_lat"]
    nbsp = rng.random(n) < mess["qip_nbsp_lon"]
    comma = rng.random(n) < mess["qip_comma_decimal"]
    dmy = rng.random(n) < mess["qip_dmy_dates"]
    lat_s, lon_s = [], []
    for i in range(n):
        la, lo = f"{xy[i, 1]:.6f}", f"{xy[i, 0]:.6f}"
        if comma[i]:
            la, lo = la.replace(".", ","), lo.replace(".", ",")
        if nbsp[i]:
            lo = lo + "\u00a0" if rng.random() < 0.5 else "\u00a0" + lo
        lat_s.append("" if miss[i] else la)
        lon_s.append(lo)
    def fmt(d, k):
        return pd.Timestamp(d).strftime("%d/%m/%Y" if dmy[k] else "%Y-%m-%d")
    today = np.datetime64("2021-06-30")
    refs = [f"{country['mission']}-QIP-{pd.Timestamp(s).year}-{i + 1:04d}" for i, s in enumerate(start)]
    return pd.DataFrame({
        "ref": refs, "mission": country["mission"],
        "title": [f"{QIP_OBJECTS[acts[a]]} {cats[c].split(' ')[0].lower()} facilities, {place}"
                  for a, c, place in zip(act, cat, loc, strict=True)],
        "start_date": [fmt(s, k) for k, s in enumerate(start)], "end_date": [fmt(e, k) for k, e in enumerate(end)],
        "category": [cats[c] for c in cat], "activity_type": [acts[a] for a in act],
        "region": adm["admin1"].to_numpy(), "latitude": lat_s, "longitude": lon_s,
        "amount_disbursed": [_fmt_amount(rng, v) for v in amount],
        "status": np.where(end < today, "Completed", np.where(rng.random(n) < 0.05, "Cancelled", "Ongoing")),
    }), miss


def _iati_table(rng, country, p, place: Callable[[int], np.ndarray], date_of: Callable[[int], np.ndarray],
                n_loc: int, settlements, admin: _AdminIndex) -> pd.DataFrame:
    """d-portal q.csv rows: activities with 1..k locations each, sector groups as appendix Table 2."""
    if n_loc == 0:
        return pd.DataFrame(columns=IATI_COLUMNS)
    k = []
    while sum(k) < n_loc:
        k.append(1 + int(rng.poisson(1.3)))
    k[-1] -= sum(k) - n_loc
    n_act = len(k)
    sectors = list(IATI_SECTORS)
    sw = np.array([IATI_SECTORS[s][1] for s in sectors], float)
    sec = rng.choice(len(sectors), size=n_act, p=sw / sw.sum())
    donor = rng.integers(1, 13, n_act)
    start = date_of(n_act)
    end = start + rng.integers(365, 1800, n_act).astype("timedelta64[D]")
    commit = rng.lognormal(13.5, 1.2, n_act)
    act_idx = np.repeat(np.arange(n_act), k)
    xy = place(n_loc)
    adm = admin.lookup(xy)
    names = _nearest_place(xy, settlements, adm["admin3"], 30.0)
    miss = rng.random(n_loc) < p["messiness"]["iati_missing_coords"]
    cutoff = np.datetime64("2021-04-01")
    status = np.where(end[act_idx] < cutoff, 4, np.where(rng.random(n_loc) < 0.2, 3, 2))
    return pd.DataFrame({
        "aid": [f"XM-SYN-{donor[a]:02d}-{a + 1:05d}" for a in act_idx],
        "title": [f"{sectors[sec[a]]} programme {a + 1}" for a in act_idx],
        "reporting_ref": [f"XM-SYN-{donor[a]:02d}" for a in act_idx],
        "reporting": [f"Synthetic Donor Agency {donor[a]}" for a in act_idx],
        "status_code": status,
        "day_start": (start[act_idx] - EPOCH).astype(int), "day_end": (end[act_idx] - EPOCH).astype(int),
        "sector_code": [IATI_SECTORS[sectors[sec[a]]][0] * 100 + 10 * (1 + a % 3) for a in act_idx],
        "sector_group": [sectors[sec[a]] for a in act_idx],
        "location_latitude": ["" if m else f"{v:.5f}" for m, v in zip(miss, xy[:, 1])],
        "location_longitude": ["" if m else f"{v:.5f}" for m, v in zip(miss, xy[:, 0])],
        "location_name": names,
        "commitment": np.round(commit[act_idx], 2),
        "spend": np.round(commit[act_idx] * rng.uniform(0.1, 1.0, n_loc), 2),
    }, columns=IATI_COLUMNS)


IATI_COLUMNS = ["aid", "title", "reporting_ref", "reporting", "status_code", "day_start", "day_end", "sector_code",
                "sector_group", "location_latitude", "location_longitude", "location_name", "commitment", "spend"]

# Figure 1 context: other countries and missions (names and standard codes only; counts are generated).
AWSD_COUNTRIES = [("Afghanistan", "AF"), ("South Sudan", "SS"), ("Syrian Arab Republic", "SY"), ("Somalia", "SO"),
                  ("DR Congo", "CD"), ("Central African Republic", "CF"), ("Sudan", "SD"), ("Nigeria", "NG"),
                  ("Yemen", "YE"), ("Mali", "ML"), ("Pakistan", "PK"), ("Ethiopia", "ET")]
MISSIONS = [("MINUSMA", "Mali", 466), ("MONUSCO", "Democratic Republic of the Congo", 180),
            ("MINUSCA", "Central African Republic", 140), ("UNMISS", "South Sudan", 728),
            ("UNAMID", "Sudan", 729), ("UNIFIL", "Lebanon", 422), ("UNISFA", "Sudan", 729),
            ("UNMIL", "Liberia", 430), ("UNOCI", "Côte d'Ivoire", 384), ("UNFICYP", "Cyprus", 196)]


def _awsd_table(rng, country, years: range) -> pd.DataFrame:
    """AWSD incidents: the configured country gets the third-highest rate, so it is in the top 5."""
    others = [c for c in AWSD_COUNTRIES if c[1] != country["iso2"]]
    rates = np.sort(rng.uniform(3, 40, len(others)))[::-1]
    rates = np.insert(rates, 2, (rates[1] + rates[2]) / 2)
    entries = others[:2] + [(country["name"], country["iso2"])] + others[2:]
    rows = []
    for (name, code), rate in zip(entries, rates):
        for y in years:
            for _ in range(int(rng.poisson(rate))):
                k, w, kid = (int(v) for v in rng.poisson([0.6, 0.6, 0.4]))
                if k + w + kid == 0:
                    w = 1
                rows.append((y, int(rng.integers(1, 13)), int(rng.integers(1, 29)), code, name, k, w, kid, k + w + kid))
    df = pd.DataFrame(rows, columns=["Year", "Month", "Day", "Country Code", "Country", "Total killed",
                                     "Total wounded", "Total kidnapped", "Total affected"])
    df = df.sort_values(["Year", "Month", "Day", "Country"], kind="stable").reset_index(drop=True)
    df.insert(0, "Incident ID", np.arange(1, len(df) + 1))
    return df


def _fatalities_table(rng, country, years: range) -> pd.DataFrame:
    """UN peacekeeping fatalities: the configured mission gets the highest malicious-act rate."""
    own_m49 = ISO_NUMERIC.get(country["iso3"], next((m[2] for m in MISSIONS if m[0] == country["mission"]), 0))
    others = [m for m in MISSIONS if m[0] != country["mission"]]
    rates = np.sort(rng.uniform(0.5, 12, len(others)))[::-1]
    entries = [(country["mission"], country["name"], own_m49)] + others
    rates = np.insert(rates, 0, rates[0] * 1.3 + 2)
    types = ["Malicious Act", "Accident", "Illness", "Other"]
    personnel = ["Military", "Police", "International Civilian", "Local Civilian", "Military Observer"]
    rows = []
    for (acr, cname, m49), rate in zip(entries, rates):
        for y in years:
            for t, mult in zip(types, (1.0, 0.4, 0.5, 0.1)):
                for _ in range(int(rng.poisson(rate * mult))):
                    d = pd.Timestamp(year=y, month=int(rng.integers(1, 13)), day=int(rng.integers(1, 29)))
                    rows.append((d.strftime("%Y-%m-%d"), acr, t,
                                 str(rng.choice(personnel, p=[0.7, 0.1, 0.05, 0.13, 0.02])), cname, m49))
    df = pd.DataFrame(rows, columns=["Incident_Date", "Mission_Acronym", "Type_Of_Incident",
                                     "Casualty_Personnel_Type", "Country", "M49_Code"])
    return df.sort_values(["Incident_Date", "Mission_Acronym"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------

def _plant(rng, pe: dict, qip_xy: np.ndarray, qip_start: np.ndarray, poly) -> pd.DataFrame:
    """Poisson(mean) events per QIP, uniform in the disc (10 m inside radius_km, so 4-decimal
    coordinates stay inside) and on days 1..days after the start; redrawn if outside the country."""
    counts = rng.poisson(pe["mean_extra_events"], len(qip_xy))
    src = np.repeat(np.arange(len(qip_xy)), counts)
    m = len(src)
    r_max = (float(pe["radius_km"]) - 0.01) * 1000.0
    lon = np.empty(m)
    lat = np.empty(m)
    todo = np.arange(m)
    for _ in range(50):
        if not len(todo):
            break
        dist = r_max * np.sqrt(rng.random(len(todo)))
        az = rng.uniform(-180, 180, len(todo))
        lo, la, _ = GEOD.fwd(qip_xy[src[todo], 0], qip_xy[src[todo], 1], az, dist)
        lon[todo], lat[todo] = lo, la
        # inside on the 4-decimal coordinates the ACLED file holds
        todo = todo[~shapely.contains_xy(poly, np.round(lon[todo], 4), np.round(lat[todo], 4))]
    keep = np.ones(m, bool)
    keep[todo] = False
    lag = rng.integers(1, int(pe["days"]) + 1, m)
    dates = qip_start[src] + lag.astype("timedelta64[D]")
    return pd.DataFrame({"lon": lon, "lat": lat, "date": dates, "src": src, "lag": lag})[keep].reset_index(drop=True)


def generate_world(country: dict, params: dict, out_dir: pathlib.Path, seed: int) -> dict:
    """Write every raw dataset of the synthetic world into out_dir; return {dataset: path}.

    `country` is a parsed config/countries/<ISO3>.yaml, `params` overrides DEFAULT_PARAMS (see
    docs/synthetic_world.md), `seed` fixes every draw: the same inputs give identical files.
    """
    p = resolve_params(params)
    _validate_country(country)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # independent streams per component: changing e.g. the number of QIPs leaves the map unchanged
    (r_geo, r_road, r_water, r_rast, r_qip, r_iati, r_acled, r_plant, r_tab, r_ctx) = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(10))
    syn = country["synthetic"]
    fields = (country["boundaries"]["admin1_field"], country["boundaries"]["admin2_field"],
              country["boundaries"]["admin3_field"])
    written: dict[str, pathlib.Path] = {}

    # --- geography --------------------------------------------------------------------------
    poly = _country_polygon(r_geo, country)
    admin_gdf = _admin_gdf(country, _build_admin(r_geo, country, p, poly))
    written["boundaries"] = _write_gpkg(admin_gdf, out_dir / "adm3.gpkg", "adm3")
    a1 = admin_gdf.dissolve(by=fields[0])
    study_names = list(country["study_regions"])
    study = _polygons_only(shapely.union_all(a1.loc[study_names].geometry.values).buffer(0))
    rest = _polygons_only(poly.difference(study).buffer(0))
    if rest is not None and rest.area < 1e-6:
        rest = None
    namer = _Namer(r_geo, set(admin_gdf[fields[2]]) | set(admin_gdf[fields[1]]) | set(admin_gdf[fields[0]])
                   | {t["name"] for t in syn["towns"]} | {b["name"] for b in country["bases"]})
    capital_names = {t["name"] for t in syn["towns"] if t.get("capital")}
    geo = p["geography"]
    settlements = [{"name": t["name"], "lon": float(t["lon"]), "lat": float(t["lat"]),
                    "kind": "capital" if t["name"] in capital_names else "town",
                    "weight": float(geo["capital_weight"] if t["name"] in capital_names else geo["town_weight"])}
                   for t in syn["towns"]]
    size = _world_size(poly, len(settlements), geo)
    water = _build_waterways(r_water, country, poly, namer, size["lake_scale"])
    written["osm_waterways"] = _write_gpkg(water, out_dir / "waterways.gpkg", "waterways")
    rivers = water.geometry[water["waterway"] == "river"].values
    water_main = shapely.union_all(rivers)
    settlements += _make_villages(r_geo, size["n_villages"], settlements, rivers,
                                  study if rest is not None else poly, rest, namer)
    roads = _build_roads(r_road, settlements, poly)
    written["osm_roads"] = _write_gpkg(roads, out_dir / "roads.gpkg", "roads")
    rast = _write_rasters(r_rast, country, p, poly, settlements, water_main, out_dir, size["halo_km"])
    res = rast.pop("_res")
    warnings_ = rast.pop("_warnings")
    written.update(rast)

    # --- placement areas --------------------------------------------------------------------
    bases_xy = np.array([(b["lon"], b["lat"]) for b in country["bases"]])
    major = roads.geometry[roads["highway"].isin(["motorway", "trunk", "primary", "secondary", "tertiary"])].values
    areas = (_Area(study, settlements, bases_xy, major),
             _Area(rest, settlements, bases_xy, major) if rest is not None else None)
    admin = _AdminIndex(admin_gdf, fields)
    start = np.datetime64(country["period"]["start"], "D")
    end = np.datetime64(country["period"]["end"], "D")
    tp = p["time"]

    def n_of(key: str) -> int:
        return int(round(p["counts"][key] * p["scale"] * size["counts_factor"]))

    # --- QIPs (treatment) and IATI (control) ------------------------------------------------
    n_q = n_of("qips")
    sel = p["selection"]
    qip_xy = _place_split(r_qip, n_q, sel["qip"], areas)
    qip_xy = _snap(qip_xy, r_qip.random(n_q) < sel["qip"]["snap_share"], settlements, 15.0)
    qip_start = _dates(r_qip, n_q, start, end, tp, 0.0)
    qip_xy = _inside_rounded(qip_xy, poly, 6)  # the Data Hub file's 6 decimals
    order = np.lexsort((qip_xy[:, 0], qip_start))
    qip_xy, qip_start = qip_xy[order], qip_start[order]
    qips, qip_missing = _qip_table(r_qip, country, p, qip_xy, qip_start, admin, settlements)
    written["qip"] = _write_csv(qips, out_dir / "qips.csv")
    iati = _iati_table(r_iati, country, p,
                       lambda n: _inside_rounded(_snap(_place_split(r_iati, n, sel["iati"], areas),
                                                       r_iati.random(n) < sel["iati"]["snap_share"], settlements,
                                                       15.0), poly, 5),
                       lambda n: _dates(r_iati, n, start, end, dict(tp, outside_period_share=0.25), 0.3),
                       n_of("iati_locations"), settlements, admin)
    written["iati"] = _write_csv(iati, out_dir / "activities.csv")

    # --- ACLED background + planted events, UCDP --------------------------------------------
    frames = []
    for kind in ACLED_TYPES:
        n = n_of(kind)
        xy = _place_split(r_acled, n, p["background"][kind], areas)
        trend = tp["violence_trend"] if kind in ("civilians", "battles", "explosions") else 0.0
        dates = _dates(r_acled, n, start, end, tp, trend)
        xy, dates = _cluster(r_acled, xy, dates, tp, poly)
        prec = r_acled.choice([1, 2, 3], size=n, p=PRECISION_SHARES)
        xy = _snap(xy, prec == 2, settlements, 30.0)
        xy = _snap(xy, prec == 3, [s for s in settlements if s["kind"] != "village"], 100.0)
        frames.append(pd.DataFrame({"kind": kind, "lon": xy[:, 0], "lat": xy[:, 1], "date": dates,
                                    "inter1": 0, "planted": False, "qip_ref": "", "geo_precision": prec}))
    pe = p["planted_effect"]
    planted = _plant(r_plant, pe, qip_xy, qip_start, poly)
    plant_kind = {"civilians": "civilians", "battles": "battles", "nsag": "civilians"}[pe["outcome"]]
    inter1 = (r_plant.choice([2, 3, 4], size=len(planted)) if pe["outcome"] == "nsag" else np.zeros(len(planted), int))
    frames.append(pd.DataFrame({"kind": plant_kind, "lon": planted["lon"], "lat": planted["lat"],
                                "date": planted["date"],
                                "inter1": inter1, "planted": True, "geo_precision": 1,
                                "qip_ref": qips["ref"].to_numpy()[planted["src"].to_numpy()]}))
    events = pd.concat(frames, ignore_index=True)
    acled = _acled_table(r_tab, country, p, events, admin, settlements, poly)
    written["acled"] = _write_csv(acled[ACLED_COLUMNS], out_dir / "acled.csv")
    ged = _ged_table(r_tab, country, acled, poly)
    written["ucdp"] = _write_csv(ged, out_dir / "ged.csv")

    # --- Figure 1 context -------------------------------------------------------------------
    y0, y1 = int(country["period"]["start"][:4]), int(country["period"]["end"][:4])
    years = range(y0 - 6, y1 + 1)
    awsd = _awsd_table(r_ctx, country, years)
    fatalities = _fatalities_table(r_ctx, country, years)
    written["awsd"] = _write_csv(awsd, out_dir / "awsd.csv")
    written["un_fatalities"] = _write_csv(fatalities, out_dir / "fatalities.csv")

    # --- truth --------------------------------------------------------------------------------
    def in_period(d):
        return (d >= start) & (d <= end)
    study_set = set(study_names)
    acled_in = acled["admin1"].isin(study_set) & in_period(acled["_date"].to_numpy().astype("datetime64[D]"))
    qip_in = qips["region"].isin(study_set).to_numpy() & in_period(qip_start)
    pl = acled[acled["_planted"]]
    truth = {
        "country": country["iso3"], "seed": int(seed), "params": p,
        "planted_effect": {**pe, "event_type": ACLED_TYPES[plant_kind][0],
                           "inter1": ("Rebel group/Political militia/Identity militia" if pe["outcome"] == "nsag"
                                      else "as background"),
                           "rule": "each QIP adds Poisson(mean_extra_events) events uniformly in the disc of radius_km "
                                   "(10 m inside) on days 1..days after its start date; no other outcome is affected"},
        "selection": p["selection"],
        "study_regions": study_names,
        "bases": [{"name": b["name"], "admin3": b["admin3"], "lat": b["lat"], "lon": b["lon"],
                   "admin3_pcode": admin_gdf.loc[admin_gdf[fields[2]] == b["admin3"], "ADM3_PCODE"].iloc[0]}
                  for b in country["bases"]],
        "raster_resolution_deg": res,
        "size": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in size.items()},
        "warnings": warnings_,
        "counts": {
            "admin1": int(admin_gdf[fields[0]].nunique()), "admin2": int(admin_gdf["ADM2_PCODE"].nunique()),
            "admin3": int(len(admin_gdf)), "roads": int(len(roads)), "waterways": int(len(water)),
            "qips": int(len(qips)), "qips_missing_latitude": int(qip_missing.sum()),
            "qips_in_period_and_study_regions": int(qip_in.sum()),
            "iati_locations": int(len(iati)), "iati_activities": int(iati["aid"].nunique()),
            "acled": int(len(acled)),
            "acled_by_type": {k: int(v) for k, v in acled["event_type"].value_counts().sort_index().items()},
            "acled_in_period_and_study_regions_by_type":
                {k: int(v) for k, v in acled.loc[acled_in, "event_type"].value_counts().sort_index().items()},
            "planted_events": int(len(pl)),
            "planted_events_in_period_and_study_regions": int((acled_in & acled["_planted"]).sum()),
            "ucdp": int(len(ged)), "awsd": int(len(awsd)), "un_fatalities": int(len(fatalities)),
        },
        "qips": [{"ref": r, "lat": round(float(x[1]), 6), "lon": round(float(x[0]), 6),
                  "start_date": str(s), "latitude_missing_in_file": bool(m)}
                 for r, x, s, m in zip(qips["ref"], qip_xy, qip_start, qip_missing)],
        "planted_events": [
            {"event_id_cnty": e, "qip_ref": q, "event_date": str(pd.Timestamp(d).date()),
             "lat": round(float(la), 4), "lon": round(float(lo), 4)}
            for e, q, d, la, lo in zip(pl["event_id_cnty"], pl["_qip"], pl["_date"], pl["_lat"], pl["_lon"])],
    }
    text = json.dumps(truth, ensure_ascii=False, indent=1, sort_keys=False, default=str) + "\n"
    written["truth"] = write_with(out_dir / "truth.json", lambda t: t.write_text(text, encoding="utf-8"))
    return written
