"""Covariates at hand-checkable places: a road along the equator, a base square, 4×4 rasters.

Rasters cover lon −0.5..0.5, lat −0.5..0.5 with 0.25° pixels: pixel (row r, col c) has its
upper-left corner at (−0.5 + 0.25c, 0.5 − 0.25r). Night lights hold 4r + c.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from pyproj import Geod
from shapely.geometry import LineString, box

from qipstudy.covariates import (
    COVARIATE_COLUMNS,
    build_covariates,
    nearest_geodesic_distance,
    sample_raster,
    unique_places,
    write_covariates,
)

GEOD = Geod(ellps="WGS84")
UTM = "EPSG:32631"
POP_NODATA = -3.4028230607370965e38


def geod(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def write_tif(path, values, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype=values.dtype, crs="EPSG:4326",
                       transform=Affine(0.25, 0.0, -0.5, 0.0, -0.25, 0.5), nodata=nodata) as dst:
        dst.write(values, 1)
    return path


@pytest.fixture
def world(tmp_path):
    roads = gpd.GeoDataFrame(
        {"osm_id": [1, 2], "name": ["equator road", "track"], "highway": ["primary", "residential"],
         "surface": ["paved", None]},
        geometry=[LineString([(-1, 0), (1, 0)]), LineString([(-1, 0.005), (1, 0.005)])],  # the track is closer
        crs="EPSG:4326",
    )
    water = gpd.GeoDataFrame(
        {"osm_id": [3, 4, 5], "name": ["river", "lake", "stream"], "waterway": ["river", None, "stream"],
         "natural": [None, "water", None], "water": [None, "lake", None]},
        geometry=[LineString([(0.2, 0.0), (0.2, 0.02)]), box(0.3, -0.3, 0.4, -0.2),
                  LineString([(0.01, 0), (0.01, 0.02)])],
        crs="EPSG:4326",
    )
    admin3 = gpd.GeoDataFrame(
        {"ADM1_FR": ["Gao", "Gao"], "ADM3_FR": ["Base town", "Elsewhere"], "admin1": ["Gao", "Gao"],
         "admin3": ["Base town", "Elsewhere"]},
        geometry=[box(0.0, 0.0, 0.1, 0.1), box(0.1, 0.0, 1.0, 1.0)],
        crs="EPSG:4326",
    )
    nl = write_tif(tmp_path / "nightlights.tif", np.arange(16, dtype="uint8").reshape(4, 4))
    pop = np.full((4, 4), 100.0, dtype="float32")
    pop[3, 0] = POP_NODATA
    pop[3, 1] = 0.0
    pop[1, 2] = np.float32(np.e)
    popp = write_tif(tmp_path / "pop_density.tif", pop, nodata=POP_NODATA)
    bases = [{"name": "Base", "admin3": "Base town", "lat": 0.05, "lon": 0.05, "source": "test"}]
    return dict(roads=roads, waterways=water, admin3=admin3, bases=bases, nightlights_path=nl,
                population_path=popp, projected_crs=UTM, road_classes=["primary", "trunk"],
                water_classes=["river", "lake", "water"], max_share_missing_raster=1.0)


EVENTS = pd.DataFrame({
    "event_id": ["north", "inbase", "nodata", "zero", "outside"],
    "lat": [0.01, 0.05, -0.375, -0.375, 0.01],
    "lon": [0.0, 0.05, -0.375, -0.125, 0.6],  # the last one is east of the rasters
})


def test_road_along_equator_is_geodesic_distance():
    d = nearest_geodesic_distance([0.0], [0.01], gpd.GeoSeries([LineString([(-1, 0), (1, 0)])], crs=4326), UTM)
    expected = geod(0.0, 0.01, 0.0, 0.0)
    assert abs(expected - 1105.7) < 0.1
    assert d[0] == pytest.approx(expected, abs=0.01)


def test_inside_polygon_is_zero_and_outside_is_distance_to_its_edge():
    square = gpd.GeoSeries([box(0.0, 0.0, 0.1, 0.1)], crs=4326)
    d = nearest_geodesic_distance([0.05, 0.05], [0.05, 0.2], square, UTM)
    assert d[0] == 0.0
    assert d[1] == pytest.approx(geod(0.05, 0.2, 0.05, 0.1), abs=0.05)  # 11,057 m to the top edge


def test_unique_places_equals_numpy_unique_of_the_rows():
    # events geocoded to the same towns repeat coordinates; ties in lon are ordered by lat
    rng = np.random.default_rng(8)
    towns = np.column_stack([rng.choice([-3.25, 0.0, 1.5, 2.0], 50), rng.uniform(-5, 5, 50).round(2)])
    pts = towns[rng.integers(0, 50, 2000)]
    pts[:5] = [[1.5, 2.0], [1.5, -2.0], [-3.25, 2.0], [1.5, 2.0], [0.0, 0.0]]
    want_places, want_again = np.unique(pts, axis=0, return_inverse=True)
    lon, lat, again = unique_places(pts[:, 0], pts[:, 1])
    np.testing.assert_array_equal(np.column_stack([lon, lat]), want_places)
    np.testing.assert_array_equal(again, want_again.reshape(-1))
    np.testing.assert_array_equal(np.column_stack([lon[again], lat[again]]), pts)


def test_sample_raster_pixel_containing_point(tmp_path):
    path = write_tif(tmp_path / "r.tif", np.arange(16, dtype="uint8").reshape(4, 4))
    # (0.0, 0.01) lies in row 1 (lat 0.25..0.0), col 2 (lon 0.0..0.25) → 4·1 + 2 = 6
    vals = sample_raster(path, [0.0, -0.49, 0.49, 0.6, np.nan], [0.01, 0.49, -0.49, 0.0, 0.0])
    assert vals[:3].tolist() == [6.0, 0.0, 15.0]
    assert np.isnan(vals[3]) and np.isnan(vals[4])


def test_build_covariates_values_and_dropped_rows(world):
    out = build_covariates(EVENTS, **world)
    assert out["event_id"].tolist() == ["north", "inbase"]
    assert out.attrs["covariate_counts"] == {
        "input": 5, "missing": {"nl": 1, "pop_dens": 3, "road_dist": 0, "water_dist": 0, "unbase": 0},
        "dropped": 3, "kept": 2,
        # 'outside' is east of both rasters; 'nodata' is on the population raster's nodata pixel; 'zero'
        # has density 0 (no logarithm) but is a real raster value, so it does not count against coverage
        "rasters": {"nl": {"events": 5, "outside": 1, "nodata": 0, "share_missing": 0.2},
                    "pop_dens": {"events": 5, "outside": 1, "nodata": 1, "share_missing": 0.4}},
    }
    north = out.iloc[0]
    road_m = geod(0.0, 0.01, 0.0, 0.0)  # the residential track at 0.005° is not a road class
    assert north["road_dist"] == pytest.approx(np.log1p(road_m), abs=1e-5)
    assert north["road_dist_km"] == pytest.approx(road_m / 1000, abs=1e-5)
    water_m = geod(0.0, 0.01, 0.2, 0.01)  # the river at lon 0.2; the stream at 0.01 is not a water class
    assert north["water_dist_km"] == pytest.approx(water_m / 1000, rel=1e-4)
    # On the base's west edge: 0 up to the centimetres by which the UTM chord of the edge misses it.
    assert north["unbase_km"] == pytest.approx(0.0, abs=1e-4)
    assert north["nl"] == 6.0
    assert north["pop_density"] == pytest.approx(np.e, rel=1e-6)
    assert north["pop_dens"] == pytest.approx(1.0, rel=1e-6)
    inbase = out.iloc[1]
    assert inbase["unbase"] == 0.0 and inbase["unbase_km"] == 0.0
    assert inbase["pop_dens"] == pytest.approx(1.0, rel=1e-6)  # same pixel (1, 2) as 'north'
    assert inbase["nl"] == 6.0
    assert list(out.columns) == ["event_id", "lat", "lon", *COVARIATE_COLUMNS]


def test_base_points_mode_and_paths(world, tmp_path):
    roads_path = tmp_path / "roads.gpkg"
    world["roads"].to_file(roads_path, driver="GPKG", engine="pyogrio")
    args = dict(world, roads=roads_path, base_mode="points")
    out = build_covariates(EVENTS.iloc[:2], **args)
    assert out["unbase_km"].iloc[0] == pytest.approx(geod(0.0, 0.01, 0.05, 0.05) / 1000, abs=1e-9)
    assert out["unbase"].iloc[1] == 0.0
    assert out["road_dist_km"].iloc[0] == pytest.approx(geod(0.0, 0.01, 0.0, 0.0) / 1000, abs=1e-5)


def test_lake_polygon_contains_point(world):
    ev = pd.DataFrame({"event_id": ["lake"], "lat": [-0.25], "lon": [0.35]})
    out = build_covariates(ev, **world)
    assert out["water_dist"].iloc[0] == 0.0


def test_schema_drift_and_config_errors(world, tmp_path):
    roads_path = tmp_path / "roads.gpkg"
    world["roads"].drop(columns="highway").to_file(roads_path, driver="GPKG", engine="pyogrio")
    with pytest.raises(ValueError, match=r"OSM roads file .*roads\.gpkg: missing column\(s\) 'highway'"):
        build_covariates(EVENTS, **dict(world, roads=roads_path))
    with pytest.raises(ValueError, match=r"OSM waterways: missing column\(s\) 'water'"):
        build_covariates(EVENTS, **dict(world, waterways=world["waterways"].drop(columns="water")))
    with pytest.raises(ValueError, match=r"no feature with highway in \['motorway'\]"):
        build_covariates(EVENTS, **dict(world, road_classes=["motorway"]))
    bases = [{"name": "Kidal", "admin3": "Kidal", "lat": 18.4, "lon": 1.4}]
    with pytest.raises(ValueError, match=r"no admin-3 polygon .* for Kidal \(admin3 'Kidal'\)"):
        build_covariates(EVENTS, **dict(world, bases=bases))
    with pytest.raises(ValueError, match=r"base_mode must be one of"):
        build_covariates(EVENTS, **dict(world, base_mode="polygon"))


def test_write_covariates_atomic_and_refuses_missing(world, tmp_path):
    out = build_covariates(EVENTS, **world)
    path = tmp_path / "cov" / "events.parquet"
    write_covariates(out, path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), out)
    assert [p.name for p in path.parent.iterdir()] == ["events.parquet"]
    bad = out.copy()
    bad.loc[1, "nl"] = np.nan
    with pytest.raises(ValueError, match=r"row 2 has a missing or infinite covariate"):
        write_covariates(bad, tmp_path / "bad.parquet")


def test_admin_name_at_finds_the_containing_polygon():
    import geopandas as gpd
    from shapely.geometry import box

    from qipstudy.covariates import admin_name_at

    admin = gpd.GeoDataFrame({"admin2": ["West", "East"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326)
    names = admin_name_at([0.5, 1.5, 5.0], [0.5, 0.5, 0.5], admin, "admin2")
    assert list(names) == ["West", "East", ""]


# ----------------------------------------------------------------------------- the fast nearest-feature search

def single_winner_distance(lon, lat, geoms, projected_crs):
    """The previous implementation, kept as the reference: the nearest feature in the projection
    (STRtree over whole features), the geodesic length to its projected foot point."""
    import shapely
    from pyproj import Transformer

    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    fwd = Transformer.from_crs(4326, projected_crs, always_xy=True)
    inv = Transformer.from_crs(projected_crs, 4326, always_xy=True)
    targets = np.asarray(geoms.to_crs(projected_crs).values, dtype=object)
    x, y = fwd.transform(lon, lat)
    points = shapely.points(x, y)
    (src, dst), proj_dist = shapely.STRtree(targets).query_nearest(points, all_matches=False, return_distance=True)
    order = np.argsort(src, kind="stable")
    dst, proj_dist = dst[order], proj_dist[order]
    near = shapely.get_coordinates(shapely.get_point(shapely.shortest_line(points, targets[dst]), 1))
    nlon, nlat = inv.transform(near[:, 0], near[:, 1])
    d = np.abs(GEOD.inv(lon, lat, nlon, nlat)[2])
    return np.where(proj_dist == 0.0, 0.0, d)


def every_edge_distance(lon, lat, geoms, projected_crs):
    """Brute force, the definition: every edge of every feature (straight in the projection), GEOS's
    closest point on it (shapely.shortest_line), taken back to lon/lat and measured on the ellipsoid;
    the smallest length, 0 inside a polygon or on a line."""
    import shapely
    from pyproj import Transformer

    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    fwd = Transformer.from_crs(4326, projected_crs, always_xy=True)
    inv = Transformer.from_crs(projected_crs, 4326, always_xy=True)
    targets = np.asarray(geoms.to_crs(projected_crs).values, dtype=object)
    parts = shapely.get_parts(targets)
    lines = [g for p in parts for g in ([p] if p.geom_type == "LineString" else shapely.get_rings(p))]
    coords, which = shapely.get_coordinates(lines, return_index=True)
    same = which[1:] == which[:-1]
    edges = shapely.linestrings(np.stack([coords[:-1][same], coords[1:][same]], axis=1))
    x, y = fwd.transform(lon, lat)
    points = shapely.points(x, y)
    best = np.full(len(lon), np.inf)
    for chunk in np.array_split(np.arange(len(lon)), max(1, len(lon) * len(edges) // 1_000_000)):
        pi = np.repeat(chunk, len(edges))
        ei = np.tile(np.arange(len(edges)), len(chunk))
        near = shapely.get_coordinates(shapely.get_point(shapely.shortest_line(points[pi], edges[ei]), 1))
        nlon, nlat = inv.transform(near[:, 0], near[:, 1])
        d = np.abs(GEOD.inv(lon[pi], lat[pi], nlon, nlat)[2])
        best[chunk] = d.reshape(len(chunk), len(edges)).min(axis=1)
    best[shapely.distance(points, shapely.union_all(targets)) == 0.0] = 0.0
    return best


@pytest.fixture(scope="module")
def seeded_world(tmp_path_factory):
    """A generated Mali (scale 0.05, seed 3) and 700 seeded points in its outline plus its events."""
    import pathlib

    import shapely
    import yaml

    from qipstudy.synthetic import generate_world

    root = pathlib.Path(__file__).resolve().parents[2]
    country = yaml.safe_load((root / "config/countries/MLI.yaml").read_text(encoding="utf-8"))
    paths = generate_world(country, {"scale": 0.05}, tmp_path_factory.mktemp("mli"), seed=3)
    roads = gpd.read_file(paths["osm_roads"])
    water = gpd.read_file(paths["osm_waterways"])
    acled = pd.read_csv(paths["acled"], dtype=str)
    rng = np.random.default_rng(3)
    outline = shapely.Polygon(country["synthetic"]["outline"])
    x0, y0, x1, y1 = outline.bounds
    lon, lat = rng.uniform(x0, x1, 12000), rng.uniform(y0, y1, 12000)
    inside = shapely.contains_xy(outline, lon, lat)
    lon = np.concatenate([lon[inside][:700], acled["longitude"].astype(float)])
    lat = np.concatenate([lat[inside][:700], acled["latitude"].astype(float)])
    return {
        "lon": lon, "lat": lat,
        "roads": roads[roads["highway"].isin(["trunk", "motorway", "primary", "secondary", "tertiary"])].geometry,
        "water": water[water["waterway"].isin(["river", "riverbank"]) | water["water"].isin(["lake"])].geometry,
    }


@pytest.mark.parametrize(("layer", "crs"), [("roads", "EPSG:32630"), ("water", "EPSG:32630"),  # Mali's UTM zone
                                           ("roads", "ESRI:102022")])  # Africa Albers equal-area
def test_fast_search_equals_brute_force_and_the_single_winner_implementation(seeded_world, crs, layer):
    lon, lat, geoms = seeded_world["lon"], seeded_world["lat"], seeded_world[layer]
    new = nearest_geodesic_distance(lon, lat, geoms, crs)
    # the definition, bit for bit: the smallest geodesic length to any edge's projected foot point
    np.testing.assert_array_equal(new, every_edge_distance(lon, lat, geoms, crs))
    old = single_winner_distance(lon, lat, geoms, crs)
    same = new == old
    assert (new <= old).all()  # the projected winner is always a candidate
    if crs == "EPSG:32630":
        # a conformal zone: the projected winner is the geodesic one nearly everywhere
        assert same.mean() > 0.999, same.mean()
    else:
        # an equal-area projection of a continent stretches east-west against north-south by up to
        # ~19 % here: the projected winner is sometimes not the geodesic nearest feature
        assert 0.9 < same.mean() < 1.0, same.mean()
        assert ((old - new)[~same] / old[~same]).max() > 0.01


def test_projected_winner_that_is_not_the_geodesic_nearest():
    """At 25°E 30°N Africa Albers magnifies east-west by 1.089 and shrinks north-south to 0.918: a road
    1,000 m east projects to ~1,089 m, a road 1,050 m north to ~964 m. The nearest is the eastern one."""
    from shapely.geometry import LineString

    east_lon = GEOD.fwd(25.0, 30.0, 90.0, 1000.0)[0]
    north_lat = GEOD.fwd(25.0, 30.0, 0.0, 1050.0)[1]
    roads = gpd.GeoSeries([LineString([(east_lon, 29.9), (east_lon, 30.1)]),
                           LineString([(24.9, north_lat), (25.1, north_lat)])], crs=4326)
    new = nearest_geodesic_distance([25.0], [30.0], roads, "ESRI:102022")[0]
    old = single_winner_distance([25.0], [30.0], roads, "ESRI:102022")[0]
    assert old == pytest.approx(1050.0, abs=1.0)  # the previous implementation took the northern road
    assert new == pytest.approx(1000.0, abs=1.0)


@pytest.mark.parametrize(("crs", "tolerance"), [("EPSG:32630", 1e-6), ("ESRI:102022", 1e-2)])
def test_distance_is_geodesic_within_its_documented_tolerance(seeded_world, crs, tolerance):
    """The reported length is ≥ the exact geodesic distance to the feature (a golden-section search along
    every candidate edge, which includes the true nearest one) and exceeds it by less than the documented
    tolerance: 1e-6 of the distance in a UTM zone (conformal: only the second-order error of the projected
    foot point), 1e-2 in an equal-area projection of the continent (which turns angles by up to ~5°)."""
    from pyproj import Transformer

    from qipstudy.covariates import _Distortion, _segment_arrays, _SegmentIndex

    lon, lat, geoms = seeded_world["lon"], seeded_world["lat"], seeded_world["roads"]
    new = nearest_geodesic_distance(lon, lat, geoms, crs)
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    edges, _ = _segment_arrays(np.asarray(geoms.to_crs(crs).values, dtype=object))
    _, _, pt, seg = _SegmentIndex(edges).nearest(np.asarray(x), np.asarray(y),
                                                  _Distortion(crs, lon, lat, geoms.total_bounds))
    inv = Transformer.from_crs(crs, 4326, always_xy=True)
    a, b = edges[seg, :2], edges[seg, 2:]

    def along(t):
        plon, plat = inv.transform(a[:, 0] + t * (b[:, 0] - a[:, 0]), a[:, 1] + t * (b[:, 1] - a[:, 1]))
        return np.abs(GEOD.inv(lon[pt], lat[pt], plon, plat)[2])

    lo, hi = np.zeros(len(pt)), np.ones(len(pt))
    golden = (np.sqrt(5) - 1) / 2
    for _ in range(80):
        m1, m2 = hi - golden * (hi - lo), lo + golden * (hi - lo)
        left = along(m1) < along(m2)
        hi, lo = np.where(left, m2, hi), np.where(left, lo, m1)
    per_pair = np.minimum.reduce([along(lo), along(np.zeros(len(pt))), along(np.ones(len(pt)))])
    exact = np.full(len(lon), np.inf)
    np.minimum.at(exact, pt, per_pair)
    far = exact > 100.0
    assert (new[far] >= exact[far] - 1e-6).all()  # micrometres: the search's own rounding at a flat minimum
    assert ((new - exact)[far] / exact[far]).max() < tolerance


def test_far_points_and_few_edges_are_exact():
    """Points thousands of km from two tiny polygons (brute force over few edges) and a long line network
    (the coarse levels): both equal the brute-force definition."""
    from shapely.geometry import LineString, box

    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(-15, 40, 500), rng.uniform(-30, 30, 500)
    squares = gpd.GeoSeries([box(10, 10, 10.2, 10.2), box(-5, -20, -4.9, -19.9)], crs=4326)
    lines = gpd.GeoSeries([LineString(np.column_stack([np.linspace(-10, 35, 2000),
                                                       5 * np.sin(np.linspace(0, 20, 2000))]))], crs=4326)
    for geoms in (squares, lines):
        np.testing.assert_array_equal(nearest_geodesic_distance(lon, lat, geoms, "ESRI:102022"),
                                      every_edge_distance(lon, lat, geoms, "ESRI:102022"))


def test_crs_that_cannot_measure_the_country_is_refused():
    from shapely.geometry import LineString

    line = gpd.GeoSeries([LineString([(0, 0), (1, 0)])], crs=4326)
    with pytest.raises(ValueError, match="projected_crs must be a projected CRS in metres, got EPSG:4326"):
        nearest_geodesic_distance([0.5], [0.5], line, "EPSG:4326")
    with pytest.raises(ValueError, match=r"EPSG:32630: not usable over .* \(infinite scale\)"):
        nearest_geodesic_distance([100.0], [60.0], line, "EPSG:32630")  # UTM 30N 103° off its meridian
    with pytest.raises(ValueError, match=r"distorts distances by a factor 2\.\d+ .* choose a CRS made for the country"):
        nearest_geodesic_distance([60.0], [0.0], line, "EPSG:32630")  # 63° off: a scale of 2


# ----------------------------------------------------------------------------- raster coverage and health
# Rasters as GPW v4 and DMSP deliver them: GeoTIFF, EPSG:4326, north-up, float32 density with nodata
# -3.4028230607370965e38 (GPW) or uint8 counts (DMSP); here 4x4 pixels of 0.25° (write_tif above).

def half_world(world, tmp_path, **raster):
    """The world of the tests above with 20 events in the rasters' east half (lon 0.05..0.45)."""
    lon = np.linspace(0.05, 0.45, 20)
    events = pd.DataFrame({"event_id": [f"e{i}" for i in range(20)], "lat": np.full(20, 0.01), "lon": lon})
    return events, dict(world, max_share_missing_raster=0.01, **raster)


def test_raster_covering_half_the_events_stops_with_numbers_and_cause(world, tmp_path):
    events, args = half_world(world, tmp_path)
    # the night-light raster now covers lon -0.5..0.25 only: 10 of the 20 events lie east of it
    narrow = tmp_path / "nl_narrow.tif"
    with rasterio.open(narrow, "w", driver="GTiff", width=3, height=4, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=Affine(0.25, 0.0, -0.5, 0.0, -0.25, 0.5)) as dst:
        dst.write(np.full((4, 3), 60, dtype="uint8"), 1)
    from qipstudy.covariates import RasterCoverageError

    with pytest.raises(RasterCoverageError) as err:
        build_covariates(events, **dict(args, nightlights_path=narrow))
    message = str(err.value)
    assert (f"night-light raster {narrow}: 10 of 20 events (50.0%) have no value (10 outside the raster, 0 on "
            f"nodata") in message
    assert "at most 1.0% may (max_share_missing_raster)" in message
    assert "Likely cause: wrong extent" in message and "x -0.5..0.25" in message
    # a threshold that allows it: the 10 are dropped and counted
    out = build_covariates(events, **dict(args, nightlights_path=narrow, max_share_missing_raster=0.5))
    assert len(out) == 10 and out.attrs["covariate_counts"]["rasters"]["nl"] == {
        "events": 20, "outside": 10, "nodata": 0, "share_missing": 0.5}


def test_raster_covering_nothing_fails_at_once(world, tmp_path):
    events, args = half_world(world, tmp_path)
    far = tmp_path / "elsewhere.tif"
    with rasterio.open(far, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", crs="EPSG:4326",
                       transform=Affine(0.25, 0.0, 30.0, 0.0, -0.25, 10.0), nodata=POP_NODATA) as dst:
        dst.write(np.full((4, 4), 50.0, dtype="float32"), 1)
    with pytest.raises(ValueError, match=r"population raster .*elsewhere\.tif: 20 of 20 events \(100\.0%\) have no "
                                         r"value \(20 outside the raster.*Likely cause: wrong extent"):
        build_covariates(events, **dict(args, population_path=far))


def test_swapped_axes_and_wrong_crs_are_named(world, tmp_path):
    events, args = half_world(world, tmp_path)
    # a raster at lat 0.05..0.45 / lon -0.1..0.1: the events fit it only with lat and lon swapped
    swapped = tmp_path / "swapped.tif"
    with rasterio.open(swapped, "w", driver="GTiff", width=2, height=4, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=Affine(0.1, 0.0, -0.1, 0.0, -0.1, 0.46)) as dst:
        dst.write(np.full((4, 2), 60, dtype="uint8"), 1)
    with pytest.raises(ValueError, match="Likely cause: swapped axes: the events fall inside the raster when "
                                         "latitude and longitude are swapped"):
        build_covariates(events, **dict(args, nightlights_path=swapped))
    # metres labelled as degrees (a UTM raster whose CRS was lost and set to EPSG:4326)
    metres = tmp_path / "metres.tif"
    with rasterio.open(metres, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=Affine(1000.0, 0.0, 500000.0, 0.0, -1000.0, 10000.0)) as dst:
        dst.write(np.full((4, 4), 60, dtype="uint8"), 1)
    with pytest.raises(ValueError, match=r"Likely cause: wrong CRS: the raster says EPSG:4326 but its bounds are not "
                                         r"degrees"):
        build_covariates(events, **dict(args, nightlights_path=metres))
    # degrees labelled as a UTM zone
    degrees = tmp_path / "degrees.tif"
    with rasterio.open(degrees, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", crs="EPSG:32631",
                       transform=Affine(0.25, 0.0, -0.5, 0.0, -0.25, 0.5)) as dst:
        dst.write(np.full((4, 4), 60, dtype="uint8"), 1)
    with pytest.raises(ValueError, match=r"Likely cause: wrong CRS: the raster's bounds look like degrees but it says "
                                         r"EPSG:32631"):
        build_covariates(events, **dict(args, nightlights_path=degrees))


def test_nodata_covering_the_events_is_named(world, tmp_path):
    events, args = half_world(world, tmp_path)
    masked = np.full((4, 4), 100.0, dtype="float32")
    masked[:, 2:] = POP_NODATA  # the east half, where the events are, is masked
    path = write_tif(tmp_path / "masked.tif", masked, nodata=POP_NODATA)
    with pytest.raises(ValueError, match=r"20 of 20 events \(100\.0%\) have no value \(0 outside the raster, 20 on "
                                         r"nodata pixels\).*Likely cause: nodata pixels"):
        build_covariates(events, **dict(args, population_path=path))


def test_truncated_geotiff_names_the_file(world, tmp_path):
    events, args = half_world(world, tmp_path)
    big = np.random.default_rng(0).uniform(1, 500, (512, 512)).astype("float32")
    whole = tmp_path / "whole.tif"
    with rasterio.open(whole, "w", driver="GTiff", width=512, height=512, count=1, dtype="float32", crs="EPSG:4326",
                       transform=Affine(1 / 512, 0.0, -0.5, 0.0, -1 / 512, 0.5), nodata=POP_NODATA,
                       tiled=True, blockxsize=256, blockysize=256, compress="deflate") as dst:
        dst.write(big, 1)
    cut = tmp_path / "pop_density_cut.tif"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # an interrupted download
    from qipstudy.covariates import RasterReadError

    with pytest.raises(RasterReadError, match=r"raster .*pop_density_cut\.tif: cannot be read .*truncated or corrupt: "
                                              r"delete it and retrieve it again"):
        build_covariates(events, **dict(args, population_path=cut))
    not_tiff = tmp_path / "pop_density.html.tif"
    not_tiff.write_text("<html>login</html>", encoding="utf-8")
    with pytest.raises(RasterReadError, match=r"pop_density\.html\.tif: cannot be read"):
        build_covariates(events, **dict(args, population_path=not_tiff))


def test_constant_covariate_is_warned_by_name(world, tmp_path, caplog):
    # all events in one population pixel (and one night-light pixel): pop_dens and nl are constant
    events = pd.DataFrame({"event_id": ["a", "b", "c"], "lat": [0.01, 0.02, 0.03], "lon": [0.01, 0.02, 0.03]})
    with caplog.at_level("WARNING", logger="qipstudy.covariates"):
        out = build_covariates(events, **world)
    messages = out.attrs["covariate_warnings"]
    assert "covariate 'nl' is constant (6 for all 3 events)" in messages[0]
    assert messages[1].startswith("covariate 'pop_dens' is constant (1 for all 3 events)")
    assert [r.getMessage() for r in caplog.records if "is constant" in r.getMessage()] == [
        f"build_covariates: {m}" for m in messages]
    from qipstudy.covariates import constant_covariate_warnings

    table = pd.DataFrame({"nl": [5.0] * 19 + [6.0], "road_dist": np.arange(20.0)})
    assert constant_covariate_warnings(table) == [
        "covariate 'nl' is near-constant: 95.0% of the 20 events have the value 5"]
    assert constant_covariate_warnings(table, near_constant_share=0.96) == []


def test_shared_border_goes_to_the_first_polygon_in_file_order():
    from qipstudy.covariates import admin_name_at

    admin = gpd.GeoDataFrame({"admin2": ["East", "West"]}, geometry=[box(1, 0, 2, 1), box(0, 0, 1, 1)], crs=4326)
    assert list(admin_name_at([1.0, 0.5, 1.5], [0.5, 0.5, 0.5], admin, "admin2")) == ["East", "West", "East"]
