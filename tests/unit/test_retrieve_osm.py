"""OSM roads and water via osmnx against a local Overpass server of the real shape; offline behaviour.

Shapes: Overpass API `POST {root}/interpreter` with the query in the form field `data`, answered in
Overpass JSON (`{"version": 0.6, "generator": ..., "osm3s": {...}, "elements": [{"type": "node", "id",
"lat", "lon"}, {"type": "way", "id", "nodes", "tags"}]}`, OSM wiki "Overpass API/Output Formats",
JSON section; osmnx 2 splits a polygon into sub-queries such as `way['highway'](poly:'...')`); `GET {root}/status` is plain text whose fifth line reads "N slots available now."
(OSM wiki "Overpass API/status"; osmnx 2 `_overpass._get_overpass_pause` parses exactly that line).
A query error is HTTP 400 with an HTML/text body. All features below are synthetic.
"""

from __future__ import annotations

import json
import socket
import time

import geopandas as gpd
import pandas as pd
import pytest
import requests
from local_http import LocalServer, refused_port
from shapely.geometry import LineString, Point, Polygon

from qipstudy.retrieve import osm, retrieve_dataset
from qipstudy.retrieve.http import EmptyResultError, OfflineError, RetrieveError

COUNTRY = {"iso3": "MLI", "sources": {}, "synthetic": {"bbox": [-12.2, 10.2, 4.2, 24.9]}}
STATUS = ("Connected as: 2130706433\nCurrent time: 2026-01-01T00:00:00Z\nAnnounced endpoint: none\n"
          "Rate limit: 2\n2 slots available now.\n"
          "Currently running queries (pid, space limit, time limit, start time):\n")


def overpass_json(elements):
    return json.dumps({"version": 0.6, "generator": "Overpass API 0.7.62.1 084b4234",
                       "osm3s": {"timestamp_osm_base": "2026-01-01T00:00:00Z",
                                 "copyright": "The data included in this document is from www.openstreetmap.org. "
                                              "The data is made available under ODbL."},
                       "elements": elements})


ROADS = [{"type": "node", "id": 1, "lat": 14.40, "lon": -4.60}, {"type": "node", "id": 2, "lat": 14.45, "lon": -4.50},
         {"type": "node", "id": 3, "lat": 14.50, "lon": -4.40},
         {"type": "way", "id": 101, "nodes": [1, 2, 3],
          "tags": {"highway": "primary", "name": "RN6", "surface": "asphalt"}},
         {"type": "way", "id": 102, "nodes": [2, 3], "tags": {"highway": "track"}}]
WATER = [{"type": "node", "id": 11, "lat": 14.30, "lon": -4.70}, {"type": "node", "id": 12, "lat": 14.35, "lon": -4.60},
         {"type": "node", "id": 13, "lat": 14.30, "lon": -4.60},
         {"type": "way", "id": 201, "nodes": [11, 12], "tags": {"waterway": "river", "name": "Bani"}},
         {"type": "way", "id": 202, "nodes": [11, 12, 13, 11], "tags": {"natural": "water", "water": "lake"}}]


def overpass_routes(fail=None):
    def interpreter(req):
        query = req["form"].get("data", "")
        if fail:
            return fail
        elements = ROADS if "['highway']" in query else WATER  # osmnx 2 writes way['highway'](poly:...)
        return {"status": 200, "body": overpass_json(elements), "headers": {"Content-Type": "application/json"}}

    return {"/api/status": lambda req: {"status": 200, "body": STATUS, "headers": {"Content-Type": "text/plain"}},
            "/api/interpreter": interpreter}


@pytest.fixture
def osmnx_settings(monkeypatch):
    import osmnx as ox

    for key in ("overpass_url", "requests_timeout", "overpass_memory", "cache_folder", "use_cache",
                "overpass_rate_limit", "log_console"):
        monkeypatch.setattr(ox.settings, key, getattr(ox.settings, key))
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)  # osmnx rewires it to pin an IP
    return ox


def test_osmnx_against_a_local_overpass_server(tmp_path, osmnx_settings):
    with LocalServer(overpass_routes()) as srv:
        prov = retrieve_dataset("osm", "download", country=COUNTRY,
                                options={"base_url": srv.url + "/api", "bbox": [-5.0, 14.0, -4.0, 15.0],
                                         "cache_dir": str(tmp_path / "cache"), "overpass_timeout": 30},
                                out_dir=tmp_path / "osm", version="v")
    assert osmnx_settings.settings.overpass_url == srv.url + "/api"
    posts = [r for r in srv.log if r["path"] == "/api/interpreter"]
    assert posts and all(p["form"]["data"].startswith("[out:json][timeout:30]") for p in posts)
    roads = gpd.read_file(tmp_path / "osm" / "roads.gpkg")
    water = gpd.read_file(tmp_path / "osm" / "waterways.gpkg")
    assert list(roads.columns) == osm.ROAD_COLUMNS + ["geometry"]
    assert sorted(roads["osm_id"]) == [101, 102] and roads.set_index("osm_id").loc[101, "surface"] == "asphalt"
    assert roads.crs.to_epsg() == 4326 and set(roads.geom_type) == {"LineString"}
    assert sorted(water["osm_id"]) == [201, 202]
    assert set(water.set_index("osm_id").geom_type) == {"LineString", "Polygon"}
    assert json.loads(prov.read_text())["notes"]["tiles_fetched"] == 2


def fake_features(polygon, tags):
    """Stand-in for osmnx.features_from_polygon: osmnx 2 index (element, id), mixed geometries."""
    x, y = polygon.centroid.x, polygon.centroid.y
    base = int(abs(x) * 1000 + abs(y) * 10)
    if "highway" in tags:
        rows = [("way", base + 1, {"highway": "primary", "name": "RN16", "surface": "asphalt"},
                 LineString([(x, y), (x + 0.1, y)])),
                ("node", base + 2, {"highway": "crossing"}, Point(x, y)),
                ("way", 999, {"highway": "trunk"}, LineString([(0, 0), (0.1, 0.1)]))]  # in every tile
    else:
        rows = [("way", base + 3, {"waterway": "river", "name": "Niger"}, LineString([(x, y), (x, y + 0.1)])),
                ("way", base + 4, {"natural": "water", "water": "lake"},
                 Polygon([(x, y), (x + 0.1, y), (x + 0.1, y + 0.1)]))]
    index = pd.MultiIndex.from_tuples([(e, i) for e, i, _, _ in rows], names=["element", "id"])
    return gpd.GeoDataFrame([t for _, _, t, _ in rows], geometry=[g for *_, g in rows], index=index, crs=4326)


def test_tiles_cache_and_settings(tmp_path, monkeypatch, osmnx_settings):
    calls = []

    def spy(polygon, tags):
        calls.append(tags)
        return fake_features(polygon, tags)

    monkeypatch.setattr(osm, "_features_from_polygon", spy)
    with LocalServer(overpass_routes()) as srv:
        opts = {"bbox": [-5.0, 14.0, -3.0, 15.0], "tile_deg": 1.0, "overpass_url": srv.url + "/api",
                "overpass_timeout": 33, "overpass_memory": 1_000_000, "cache_dir": str(tmp_path / "cache")}
        prov = retrieve_dataset("osm", "download", country=COUNTRY, options=opts, out_dir=tmp_path / "osm", version="v")
    ox = osmnx_settings
    assert ox.settings.overpass_url == srv.url + "/api"
    assert ox.settings.requests_timeout == 33 and ox.settings.overpass_memory == 1_000_000
    assert len(calls) == 4  # 2 tiles x (roads, water)
    roads = gpd.read_file(tmp_path / "osm" / "roads.gpkg")
    assert len(roads) == 3 and (roads["osm_id"] == 999).sum() == 1  # node dropped, duplicate merged
    assert json.loads(prov.read_text())["notes"]["tiles_fetched"] == 4
    # every tile is cached: a second run needs no server at all (here: a refused port)
    opts["overpass_url"] = f"http://127.0.0.1:{refused_port()}/api"
    retrieve_dataset("osm", "download", country=COUNTRY, options=opts, out_dir=tmp_path / "osm2", version="v")
    assert len(calls) == 4


def test_empty_area_is_an_error(tmp_path, monkeypatch, osmnx_settings):
    monkeypatch.setattr(osm, "_features_from_polygon", lambda p, t: gpd.GeoDataFrame(geometry=[], crs=4326))
    with LocalServer(overpass_routes()) as srv:
        with pytest.raises(EmptyResultError, match="no roads"):
            retrieve_dataset("osm", "download", country=COUNTRY,
                             options={"bbox": [-5, 14, -4, 15], "cache_dir": str(tmp_path / "c"),
                                      "base_url": srv.url + "/api"},
                             out_dir=tmp_path / "osm", version="v")


def test_dns_failure_is_a_clear_offline_error_in_seconds(tmp_path, monkeypatch, osmnx_settings):
    """Offline, osmnx would pause 60 s per tile and end in a raw traceback."""
    calls = []
    monkeypatch.setattr(osm, "_features_from_polygon", lambda p, t: calls.append(t))

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    began = time.monotonic()
    with pytest.raises(OfflineError) as err:
        retrieve_dataset("osm", "download", country=COUNTRY, options={"bbox": [-5, 14, -4, 15],
                                                                      "cache_dir": str(tmp_path / "c")},
                         out_dir=tmp_path / "osm", version="v")
    assert time.monotonic() - began < 3.0 and calls == []
    assert str(err.value).startswith("osm: cannot reach overpass-api.de: its host name could not be resolved")
    assert "`datasets.osm.mode: user`" in str(err.value) and ".osm.pbf" in str(err.value)


def test_connection_refused_is_an_offline_error(tmp_path, osmnx_settings):
    with pytest.raises(OfflineError, match=r"osm: cannot reach 127\.0\.0\.1: the connection was refused"):
        retrieve_dataset("osm", "download", country=COUNTRY,
                         options={"bbox": [-5, 14, -4, 15], "cache_dir": str(tmp_path / "c"),
                                  "base_url": f"http://127.0.0.1:{refused_port()}/api"},
                         out_dir=tmp_path / "osm", version="v")


def test_a_network_error_inside_osmnx_is_not_a_raw_traceback(tmp_path, monkeypatch, osmnx_settings):
    def lost(polygon, tags):
        exc = requests.ConnectionError("HTTPSConnectionPool: Max retries exceeded")
        exc.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        raise exc

    monkeypatch.setattr(osmnx_settings, "features_from_polygon", lost)
    with LocalServer(overpass_routes()) as srv:
        with pytest.raises(OfflineError, match=r"osm: cannot reach 127\.0\.0\.1: its host name could not be resolved"):
            retrieve_dataset("osm", "download", country=COUNTRY,
                             options={"bbox": [-5, 14, -4, 15], "cache_dir": str(tmp_path / "c"),
                                      "base_url": srv.url + "/api"},
                             out_dir=tmp_path / "osm", version="v")


def test_an_overpass_error_status_is_a_clear_error(tmp_path, osmnx_settings):
    fail = {"status": 400, "body": "<html><body><p>Error: line 1: parse error</p></body></html>",
            "headers": {"Content-Type": "text/html"}}
    with LocalServer(overpass_routes(fail=fail)) as srv:
        with pytest.raises(RetrieveError, match=r"osm: the Overpass server http://127\.0\.0\.1:\d+/api refused a "
                                                r"query .*smaller `tile_deg`"):
            retrieve_dataset("osm", "download", country=COUNTRY,
                             options={"bbox": [-5, 14, -4, 15], "cache_dir": str(tmp_path / "c"),
                                      "base_url": srv.url + "/api"},
                             out_dir=tmp_path / "osm", version="v")
