"""Provider clients against local servers speaking each real API's shape (no internet)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point, Polygon, box

from local_http import LocalServer
from qipstudy.retrieve import acled, osm, rasters, retrieve_dataset, ucdp
from qipstudy.retrieve.http import (AuthError, ChecksumError, CorruptFileError, EmptyResultError,
                                    RetrieveError, SchemaError)
from qipstudy.retrieve.secrets import MissingCredentialsError

COUNTRY = {
    "iso3": "MLI", "iso2": "ML", "name": "Mali", "mission": "MINUSMA",
    "period": {"start": "2017-01-01", "end": "2020-12-31"},
    "boundaries": {"cod_ab_layer": "mli_admbnda_adm3_1m_dnct_20190802", "admin1_field": "ADM1_FR",
                   "admin2_field": "ADM2_FR", "admin3_field": "ADM3_FR"},
    "sources": {"acled_country": "Mali", "ucdp_country_id": 432, "qip_mission": "MINUSMA",
                "iati_recipient_country": "ML", "hdx_cod_ab_dataset": "cod-ab-mli",
                "geoboundaries_iso3": "MLI"},
    "synthetic": {"bbox": [-12.2, 10.2, 4.2, 24.9]},
}
FAST = {"retries": 2, "backoff": 0.001, "progress": False, "timeout": 5}

def as_json(obj, status=200):
    return {"status": status, "body": json.dumps(obj), "headers": {"Content-Type": "application/json"}}


def csv_text(header, rows):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


# ----------------------------------------------------------------------------- ACLED

def acled_event(i, *, drop=()):
    rec = {c: "" for c in acled.COLUMNS}
    rec.update(event_id_cnty=f"MLI{i}", event_date="2019-03-05", year="2019",
               event_type="Violence against civilians", inter1="Political militia",
               country="Mali", admin1="Mopti", latitude="14.4843", longitude="-4.1830",
               fatalities="1", timestamp="1618000000", notes=f"event {i}")
    for col in drop:
        rec.pop(col)
    return rec


class AcledServer:
    """Token endpoint + read endpoint; tokens are `access-N`; `expire_on_page` revokes one."""

    def __init__(self, events, *, expire_on_page=None, refresh_ok=True, login_ok=True):
        self.events, self.expire_on_page = events, expire_on_page
        self.refresh_ok, self.login_ok = refresh_ok, login_ok
        self.issued = 0
        self.valid = set()
        self.grants = []

    def token(self, req):
        grant = req["form"].get("grant_type")
        self.grants.append(grant)
        if grant == "password" and not self.login_ok:
            return as_json({"error": "invalid_grant"}, 401)
        if grant == "refresh_token" and (not self.refresh_ok or req["form"].get("refresh_token") != "refresh-secret-1"):
            return as_json({"error": "invalid_grant"}, 400)
        self.issued += 1
        token = f"access-token-{self.issued}"
        self.valid = {token}
        return as_json({"token_type": "Bearer", "expires_in": 86400, "access_token": token,
                        "refresh_token": f"refresh-secret-{self.issued}"})

    def read(self, req):
        token = req["headers"].get("Authorization", "").removeprefix("Bearer ")
        page, limit = int(req["query"]["page"]), int(req["query"]["limit"])
        if self.expire_on_page == page and token == "access-token-1":
            self.valid = set()
        if token not in self.valid:
            return as_json({"status": 401, "success": False, "error": "token expired"}, 401)
        assert req["query"]["event_date_where"] == "BETWEEN"
        chunk = self.events[(page - 1) * limit: page * limit]
        return as_json({"status": 200, "success": True, "count": len(chunk), "messages": [],
                        "data": chunk})

    def routes(self):
        return {"/oauth/token": self.token, "/api/acled/read": self.read}


@pytest.fixture
def acled_env(monkeypatch):
    monkeypatch.setenv("ACLED_EMAIL", "analyst-fake@example.org")
    monkeypatch.setenv("ACLED_PASSWORD", "pw-FAKE-SECRET-93jd")


def run_acled(srv, tmp_path, **extra):
    opts = {**FAST, "base_url": srv.url, "limit": 3, **extra}
    return retrieve_dataset("acled", "download", country=COUNTRY, options=opts,
                            out_dir=tmp_path / "acled" / "v1", version="v1")


def test_acled_pages_to_the_last_short_page(tmp_path, acled_env):
    api = AcledServer([acled_event(i) for i in range(7)])
    with LocalServer(api.routes()) as srv:
        prov = run_acled(srv, tmp_path)
    reads = [r for r in srv.log if r["path"] == "/api/acled/read"]
    assert [r["query"]["page"] for r in reads] == ["1", "2", "3"]
    assert reads[0]["query"]["country"] == "Mali"
    assert reads[0]["query"]["event_date"] == "2017-01-01|2020-12-31"
    out = tmp_path / "acled" / "v1" / "acled.csv"
    header = out.read_text().splitlines()[0].split(",")
    assert header == acled.COLUMNS
    doc = json.loads(prov.read_text())
    assert doc["files"]["acled.csv"]["rows"] == 7
    assert doc["sources"][0]["params"]["event_date_where"] == "BETWEEN"
    assert api.grants == ["password"]


def test_acled_expired_token_uses_refresh_token_then_succeeds(tmp_path, acled_env):
    api = AcledServer([acled_event(i) for i in range(5)], expire_on_page=2)
    with LocalServer(api.routes()) as srv:
        run_acled(srv, tmp_path)
    assert api.grants == ["password", "refresh_token"]
    statuses = [r["query"].get("page") for r in srv.log if r["path"] == "/api/acled/read"]
    assert statuses == ["1", "2", "2"]  # page 2 repeated after the refresh
    assert (tmp_path / "acled" / "v1" / "acled.csv").read_text().count("\nMLI") == 5


def test_acled_refused_refresh_falls_back_to_password_login(tmp_path, acled_env):
    api = AcledServer([acled_event(i) for i in range(5)], expire_on_page=2, refresh_ok=False)
    with LocalServer(api.routes()) as srv:
        run_acled(srv, tmp_path)
    assert api.grants == ["password", "refresh_token", "password"]


def test_acled_rejected_login_names_the_variables(tmp_path, acled_env):
    api = AcledServer([acled_event(1)], login_ok=False)
    with LocalServer(api.routes()) as srv:
        with pytest.raises(AuthError, match="ACLED_EMAIL and ACLED_PASSWORD"):
            run_acled(srv, tmp_path)
    assert not (tmp_path / "acled" / "v1" / "acled.csv").exists()


def test_acled_forbidden_data_call_names_the_variables(tmp_path, acled_env):
    api = AcledServer([acled_event(1)])
    routes = {**api.routes(), "/api/acled/read": lambda req: as_json({"error": "no access"}, 403)}
    with LocalServer(routes) as srv:
        with pytest.raises(AuthError, match="403.*ACLED_EMAIL, ACLED_PASSWORD"):
            run_acled(srv, tmp_path)


def test_acled_missing_credentials_is_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("ACLED_EMAIL", raising=False)
    monkeypatch.delenv("ACLED_PASSWORD", raising=False)
    with LocalServer({}) as srv:
        with pytest.raises(MissingCredentialsError, match="ACLED_EMAIL"):
            run_acled(srv, tmp_path, project_root=str(tmp_path))
    assert srv.log == []


def test_acled_schema_drift_names_the_missing_column(tmp_path, acled_env):
    api = AcledServer([acled_event(i, drop=("inter1",)) for i in range(2)])
    with LocalServer(api.routes()) as srv:
        with pytest.raises(SchemaError, match="missing required column\\(s\\) inter1"):
            run_acled(srv, tmp_path)
    assert not (tmp_path / "acled" / "v1" / "acled.csv").exists()


def test_acled_empty_result_is_an_error(tmp_path, acled_env):
    api = AcledServer([])
    with LocalServer(api.routes()) as srv:
        with pytest.raises(EmptyResultError, match="no events for country='Mali'"):
            run_acled(srv, tmp_path)


def test_acled_malformed_json_page(tmp_path, acled_env):
    api = AcledServer([acled_event(1)])
    routes = {**api.routes(), "/api/acled/read": lambda req: {"status": 200, "body": '{"data": [{"ev'}}
    with LocalServer(routes) as srv:
        with pytest.raises(CorruptFileError, match="malformed JSON from ACLED read page 1"):
            run_acled(srv, tmp_path)


def test_acled_429_then_success(tmp_path, acled_env):
    api = AcledServer([acled_event(1)])
    state = {"n": 0}

    def read(req):
        state["n"] += 1
        if state["n"] == 1:
            return {"status": 429, "headers": {"Retry-After": "0"}, "body": "rate limited"}
        return api.read(req)

    with LocalServer({**api.routes(), "/api/acled/read": read}) as srv:
        run_acled(srv, tmp_path)
    assert state["n"] == 2


def test_secrets_never_reach_files_or_logs(tmp_path, monkeypatch, caplog):
    """Credentials from .env and the tokens they buy appear in no written file and no log record."""
    monkeypatch.delenv("ACLED_EMAIL", raising=False)
    monkeypatch.delenv("ACLED_PASSWORD", raising=False)
    (tmp_path / ".env").write_text("ACLED_EMAIL=dotenv-user-7731@example.org\n"
                                   "ACLED_PASSWORD='dotenv-PASS-4481-zz'\n", encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    api = AcledServer([acled_event(i) for i in range(4)], expire_on_page=2)
    with LocalServer(api.routes()) as srv:
        run_acled(srv, tmp_path, project_root=str(tmp_path))
    token_post = [r for r in srv.log if r["path"] == "/oauth/token"][0]
    assert token_post["form"]["password"] == "dotenv-PASS-4481-zz"  # the secret was really used
    forbidden = ["dotenv-user-7731@example.org", "dotenv-PASS-4481-zz", "access-token-1",
                 "access-token-2", "refresh-secret-1", "refresh-secret-2"]
    written = [p for p in (tmp_path / "acled").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"acled.csv", "provenance.json"}
    for path in written:
        data = path.read_bytes()
        for secret in forbidden:
            assert secret.encode() not in data, (secret, path)
    records = [r.getMessage() for r in caplog.records] + [caplog.text]
    for secret in forbidden:
        assert all(secret not in msg for msg in records), secret


# PSDH (QIPs), IATI and Figure 1 clients: test_retrieve_psdh.py, test_retrieve_iati.py,
# test_retrieve_figure1.py.

# ----------------------------------------------------------------------------- UCDP

def ged_zip(rows):
    header = ucdp.COLUMNS + ["relid"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("GEDEvent_v25_1.csv", csv_text(header, rows))
    return buf.getvalue()


def ged_row(i, cid):
    return [str(i), "2018", "3", "Mali" if cid == 432 else "Niger", str(cid), "Mopti region",
            "14.5", "-4.2", "2018-05-01", "2018-05-01", "2", "1", f"R{i}"]


def test_ucdp_zip_download_filters_country(tmp_path):
    payload = ged_zip([ged_row(1, 432), ged_row(2, 436), ged_row(3, 432)])
    pin = hashlib.sha256(payload).hexdigest()
    with LocalServer({"/downloads/ged/ged251-csv.zip": lambda req: {"status": 200, "body": payload}}) as srv:
        prov = retrieve_dataset("ucdp", "download", country=COUNTRY,
                                options={**FAST, "url": srv.url + "/downloads/ged/ged{vv}-csv.zip",
                                         "sha256": pin},
                                out_dir=tmp_path / "ucdp", version="25.1")
    lines = (tmp_path / "ucdp" / "ged.csv").read_text().splitlines()
    assert len(lines) == 3 and all(",432," in line for line in lines[1:])
    assert json.loads(prov.read_text())["sources"][0]["archive_sha256"] == pin


def test_ucdp_pinned_checksum_mismatch(tmp_path):
    payload = ged_zip([ged_row(1, 432)])
    with LocalServer({"/g.zip": lambda req: {"status": 200, "body": payload}}) as srv:
        with pytest.raises(ChecksumError):
            retrieve_dataset("ucdp", "download", country=COUNTRY,
                             options={**FAST, "url": srv.url + "/g.zip", "sha256": "ab" * 32},
                             out_dir=tmp_path / "ucdp", version="25.1")


def test_ucdp_corrupt_zip(tmp_path):
    with LocalServer({"/g.zip": lambda req: {"status": 200, "body": b"PK\x03\x04 not really"}}) as srv:
        with pytest.raises(CorruptFileError, match="not a valid zip|bad zip"):
            retrieve_dataset("ucdp", "download", country=COUNTRY,
                             options={**FAST, "url": srv.url + "/g.zip"},
                             out_dir=tmp_path / "ucdp", version="25.1")


# ----------------------------------------------------------------------------- boundaries

def adm_frame(level):
    cells = []
    for i in range(2):
        for j in range(2):
            geom = box(-5 + i, 14 + j, -4 + i, 15 + j)
            cells.append({"ADM0_FR": "Mali", "ADM0_PCODE": "ML",
                          "ADM1_FR": "Mopti" if i == 0 else "Gao", "ADM1_PCODE": f"ML0{i}",
                          "ADM2_FR": f"Cercle {i}", "ADM2_PCODE": f"ML0{i}0{j}",
                          "ADM3_FR": f"Commune {i}{j}", "ADM3_PCODE": f"ML0{i}0{j}01", "geometry": geom})
    gdf = gpd.GeoDataFrame(cells, crs=4326)
    if level == 1:
        gdf = gdf.dissolve("ADM1_FR", as_index=False)[["ADM0_FR", "ADM1_FR", "ADM1_PCODE", "geometry"]]
    return gdf


def shapefile_zip(tmp_path, layers):
    folder = tmp_path / "shp"
    folder.mkdir()
    for name, gdf in layers.items():
        gdf.to_crs(32630).to_file(folder / f"{name}.shp")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in folder.iterdir():
            zf.write(path, path.name)
    return buf.getvalue()


def test_hdx_package_show_then_zip_then_adm3_gpkg(tmp_path):
    payload = shapefile_zip(tmp_path, {"mli_admbnda_adm1_1m_dnct_20190802": adm_frame(1),
                                       "mli_admbnda_adm3_1m_dnct_20190802": adm_frame(3)})
    holder = {}

    def package_show(req):
        assert req["query"]["id"] == "cod-ab-mli"
        return as_json({"success": True, "result": {
            "name": "cod-ab-mli", "license_title": "Creative Commons Attribution for Intergovernmental Organisations",
            "resources": [{"name": "mli_adm_1m_dnct_2019_xlsx.zip", "format": "XLSX", "url": holder["url"] + "/x.zip"},
                          {"name": "mli_adm_1m_dnct_2019_shp.zip", "format": "SHP",
                           "url": holder["url"] + "/dataset/files/mli_adm_1m_dnct_2019_shp.zip"}]}})

    routes = {"/api/3/action/package_show": package_show,
              "/dataset/files/mli_adm_1m_dnct_2019_shp.zip": lambda req: {"status": 200, "body": payload}}
    with LocalServer(routes) as srv:
        holder["url"] = srv.url
        prov = retrieve_dataset("boundaries", "download", country=COUNTRY,
                                options={**FAST, "hdx_url": srv.url + "/api/3/action"},
                                out_dir=tmp_path / "boundaries", version="v")
    gdf = gpd.read_file(tmp_path / "boundaries" / "adm3.gpkg", layer="adm3")
    assert len(gdf) == 4 and gdf.crs.to_epsg() == 4326
    assert set(gdf["ADM1_FR"]) == {"Mopti", "Gao"}
    notes = json.loads(prov.read_text())["notes"]
    assert notes["hdx_licence"].startswith("Creative Commons Attribution for Intergovernmental")
    assert notes["layer"] == "mli_admbnda_adm3_1m_dnct_20190802"


def test_hdx_without_matching_resource(tmp_path):
    package = {"success": True, "result": {"name": "cod-ab-mli", "resources": [{"name": "a.pdf", "url": "x"}]}}
    with LocalServer({"/api/3/action/package_show": lambda req: as_json(package)}) as srv:
        with pytest.raises(RetrieveError, match="no resource matches.*a.pdf"):
            retrieve_dataset("boundaries", "download", country=COUNTRY,
                             options={**FAST, "hdx_url": srv.url + "/api/3/action"},
                             out_dir=tmp_path / "b", version="v")


def test_geoboundaries_joins_parent_names(tmp_path):
    adm3 = adm_frame(3)
    frames = {"ADM1": adm_frame(1).rename(columns={"ADM1_FR": "shapeName", "ADM1_PCODE": "shapeID"}),
              "ADM2": adm3.dissolve("ADM2_FR", as_index=False).rename(
                  columns={"ADM2_FR": "shapeName", "ADM2_PCODE": "shapeID"}),
              "ADM3": adm3.rename(columns={"ADM3_FR": "shapeName", "ADM3_PCODE": "shapeID"})}
    holder = {}
    routes = {}
    for level, gdf in frames.items():
        geojson = gdf[["shapeName", "shapeID", "geometry"]].to_json()
        routes[f"/api/current/gbOpen/MLI/{level}/"] = (
            lambda req, level=level: as_json({"boundaryISO": "MLI", "boundaryType": level,
                                              "gjDownloadURL": f"{holder['url']}/files/{level}.geojson"}))
        routes[f"/files/{level}.geojson"] = lambda req, g=geojson: {"status": 200, "body": g}
    with LocalServer(routes) as srv:
        holder["url"] = srv.url
        retrieve_dataset("boundaries", "download", country=COUNTRY,
                         options={**FAST, "provider": "geoboundaries",
                                  "geoboundaries_url": srv.url + "/api/current/gbOpen"},
                         out_dir=tmp_path / "b", version="v")
    gdf = gpd.read_file(tmp_path / "b" / "adm3.gpkg", layer="adm3")
    assert sorted(gdf["ADM1_FR"]) == ["Gao", "Gao", "Mopti", "Mopti"]
    assert set(gdf["ADM3_FR"]) == {"Commune 00", "Commune 01", "Commune 10", "Commune 11"}


# ----------------------------------------------------------------------------- OSM

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


def test_osm_tiles_cache_and_settings(tmp_path, monkeypatch):
    import osmnx as ox

    calls = []

    def spy(polygon, tags):
        calls.append(tags)
        return fake_features(polygon, tags)

    monkeypatch.setattr(osm, "_features_from_polygon", spy)
    for key in ("overpass_url", "requests_timeout", "overpass_memory", "cache_folder"):
        monkeypatch.setattr(ox.settings, key, getattr(ox.settings, key))
    opts = {"bbox": [-5.0, 14.0, -3.0, 15.0], "tile_deg": 1.0, "overpass_url": "http://127.0.0.1:9/api",
            "overpass_timeout": 33, "overpass_memory": 1_000_000, "cache_dir": str(tmp_path / "cache")}
    prov = retrieve_dataset("osm", "download", country=COUNTRY, options=opts,
                            out_dir=tmp_path / "osm", version="v")
    assert ox.settings.overpass_url == "http://127.0.0.1:9/api"
    assert ox.settings.requests_timeout == 33 and ox.settings.overpass_memory == 1_000_000
    assert len(calls) == 4  # 2 tiles x (roads, water)
    roads = gpd.read_file(tmp_path / "osm" / "roads.gpkg")
    water = gpd.read_file(tmp_path / "osm" / "waterways.gpkg")
    assert list(roads.columns) == osm.ROAD_COLUMNS + ["geometry"]
    assert len(roads) == 3 and (roads["osm_id"] == 999).sum() == 1  # node dropped, duplicate merged
    assert set(water.geometry.geom_type) == {"LineString", "Polygon"}
    assert json.loads(prov.read_text())["notes"]["tiles_fetched"] == 4
    retrieve_dataset("osm", "download", country=COUNTRY, options=opts, out_dir=tmp_path / "osm2", version="v")
    assert len(calls) == 4  # every tile came from the cache


def test_osm_empty_area_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(osm, "_features_from_polygon", lambda p, t: gpd.GeoDataFrame(geometry=[], crs=4326))
    with pytest.raises(EmptyResultError, match="no roads"):
        retrieve_dataset("osm", "download", country=COUNTRY,
                         options={"bbox": [-5, 14, -4, 15], "cache_dir": str(tmp_path / "c")},
                         out_dir=tmp_path / "osm", version="v")


# ----------------------------------------------------------------------------- rasters

def tif_bytes(value, dtype="uint8", crs="EPSG:4326", nodata=None):
    path_buf = io.BytesIO()
    data = np.full((40, 60), value, dtype=dtype)
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", height=40, width=60, count=1, dtype=dtype, crs=crs,
                      transform=from_origin(-10.0, 20.0, 0.25, 0.25), nodata=nodata) as dst:
            dst.write(data, 1)
        path_buf.write(mem.read())
    return path_buf.getvalue()


def test_dmsp_both_bands_downloaded_unpacked_and_clipped(tmp_path):
    routes = {"/F182013.v4/F182013.v4c_web.cf_cvg.tif.gz": lambda r: {"status": 200, "body": gzip.compress(tif_bytes(70))},
              "/F182013.v4/F182013.v4c_web.stable_lights.avg_vis.tif.gz":
                  lambda r: {"status": 200, "body": gzip.compress(tif_bytes(12))}}
    with LocalServer(routes) as srv:
        prov = retrieve_dataset("nightlights", "download", country=COUNTRY,
                                options={**FAST, "url": srv.url + "/{sat}{year}.v4/{sat}{year}.v4c_web.{band}.tif.gz",
                                         "bbox": [-9.0, 15.0, -6.0, 18.0]},
                                out_dir=tmp_path / "nl", version="v")
    with rasterio.open(tmp_path / "nl" / "nightlights.tif") as src:
        assert (src.width, src.height) == (12, 12) and src.crs.to_epsg() == 4326
        assert src.read(1).min() == 70
    with rasterio.open(tmp_path / "nl" / "nightlights_stable_lights.tif") as src:
        assert src.read(1).max() == 12
    assert json.loads(prov.read_text())["files"]["nightlights.tif"]["pixels"] == 144


def test_gpw_needs_earthdata_and_sends_bearer(tmp_path, monkeypatch):
    for var in rasters.EARTHDATA_ENV:
        monkeypatch.delenv(var, raising=False)
    opts_base = {**FAST, "project_root": str(tmp_path), "clip": False}
    with pytest.raises(MissingCredentialsError, match="EARTHDATA_TOKEN, or EARTHDATA_USERNAME"):
        retrieve_dataset("population", "download", country=COUNTRY, options=opts_base,
                         out_dir=tmp_path / "pop", version="v")
    monkeypatch.setenv("EARTHDATA_TOKEN", "edl-token-FAKE-5521")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("gpw_v4_population_density_rev11_2015_30_sec.tif", tif_bytes(3.5, "float32", nodata=-3.4028230607370965e38))
        zf.writestr("readme.txt", "doc")

    def gated(req):
        if req["headers"].get("Authorization") != "Bearer edl-token-FAKE-5521":
            return {"status": 401, "body": "login"}
        return {"status": 200, "body": buf.getvalue()}

    with LocalServer({"/gpw-v4-population-density-rev11_2015_30_sec_tif.zip": gated}) as srv:
        retrieve_dataset("population", "download", country=COUNTRY,
                         options={**opts_base, "url": srv.url + "/gpw-v4-population-density-rev11_{year}_{resolution}_tif.zip"},
                         out_dir=tmp_path / "pop", version="v")
        monkeypatch.setenv("EARTHDATA_TOKEN", "wrong-token-FAKE")
        with pytest.raises(AuthError, match="EARTHDATA_TOKEN"):
            retrieve_dataset("population", "download", country=COUNTRY,
                             options={**opts_base, "url": srv.url + "/gpw-v4-population-density-rev11_{year}_{resolution}_tif.zip",
                                      "cache_dir": str(tmp_path / "other-cache")},
                             out_dir=tmp_path / "pop2", version="v")
    with rasterio.open(tmp_path / "pop" / "pop_density.tif") as src:
        assert src.dtypes[0] == "float32" and float(src.read(1)[0, 0]) == 3.5
    for path in (tmp_path / "pop").rglob("*"):
        if path.is_file():
            assert b"edl-token-FAKE-5521" not in path.read_bytes()


def test_worldpop_url_builder():
    assert rasters.worldpop_url(COUNTRY, {}).endswith("/2015/MLI/mli_pd_2015_1km_UNadj.tif")
    assert rasters.gpw_url({"year": 2020}).endswith("rev11_2020_30_sec_tif.zip")
    assert rasters.dmsp_urls({})["stable_lights"].endswith("F182013.v4c_web.stable_lights.avg_vis.tif.gz")


def test_unreadable_raster_is_reported(tmp_path):
    bad = tmp_path / "x.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(CorruptFileError, match="unreadable raster"):
        rasters.validate_raster(bad)
