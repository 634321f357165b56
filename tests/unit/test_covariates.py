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
from pyproj import Geod
from affine import Affine
from shapely.geometry import LineString, box

from qipstudy.covariates import (
    COVARIATE_COLUMNS,
    build_covariates,
    nearest_geodesic_distance,
    sample_raster,
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
        geometry=[LineString([(0.2, 0.0), (0.2, 0.02)]), box(0.3, -0.3, 0.4, -0.2), LineString([(0.01, 0), (0.01, 0.02)])],
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
