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
from shapely.geometry import LineString, Point, Polygon

from local_http import LocalServer
from qipstudy.retrieve import acled, figure1, iati, osm, psdh, rasters, retrieve_dataset, ucdp
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


# ----------------------------------------------------------------------------- PSDH (QIPs)

QIP_HEADER = ["Ref", "Mission", "Title", "Start_Date", "End_Date", "Category", "Activity_Type",
              "Region", "Latitude", "Longitude", "Amount_Disbursed", "Status"]


def qip_rows(n, mission="MINUSMA"):
    rows = []
    for i in range(n):
        lon = "-4.18\u00a0" if i % 2 else "-4,18"
        lat = "" if i == 0 else "14.48"
        rows.append([f"Q{i}", mission, f"Well {i}", "2018-01-15", "2018-06-30",
                     "Early recovery", "Infrastructure & equipment", "Mopti", lat, lon,
                     "45\u00a0000", "Completed"])
    return rows


def psdh_routes(header, rows, meta_columns=None, *, dataset="DPO-QIP"):
    def data(req):
        per, page = int(req["query"]["per_page"]), int(req["query"]["page_num"])
        return {"status": 200, "headers": {"Content-Type": "text/csv; charset=utf-8"},
                "body": csv_text(header, rows[(page - 1) * per: page * per])}

    meta = {"dataset_id": dataset, "columns": [{"name": c, "type": "string"}
                                               for c in (meta_columns or header)]}
    return {f"/public/metadata/{dataset}": lambda req: as_json(meta),
            f"/public/data/{dataset}/csv": data}


def test_psdh_reads_metadata_then_pages_and_maps_columns(tmp_path):
    rows = qip_rows(4) + qip_rows(1, mission="MONUSCO")
    with LocalServer(psdh_routes(QIP_HEADER, rows)) as srv:
        prov = retrieve_dataset("qip", "download", country=COUNTRY,
                                options={**FAST, "base_url": srv.url + "/public", "per_page": 2},
                                out_dir=tmp_path / "qip", version="v")
    assert srv.log[0]["path"] == "/public/metadata/DPO-QIP"
    pages = [r["query"]["page_num"] for r in srv.log[1:]]
    assert pages == ["1", "2", "3"]
    text = (tmp_path / "qip" / "qips.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0].split(",")[:12] == psdh.QIP_COLUMNS
    assert "MONUSCO" not in text and "\u00a0" in text  # raw text kept for the prepare step
    notes = json.loads(prov.read_text())["notes"]
    assert notes["rows"] == 4 and notes["rows_with_coordinates"] == 3
    assert notes["column_mapping"]["start_date"] == "Start_Date"


def test_psdh_schema_drift_in_metadata_stops_before_data(tmp_path):
    header = [c for c in QIP_HEADER if c != "Amount_Disbursed"] + ["Budget"]
    with LocalServer(psdh_routes(header, [])) as srv:
        with pytest.raises(SchemaError, match="missing column\\(s\\) amount_disbursed"):
            retrieve_dataset("qip", "download", country=COUNTRY,
                             options={**FAST, "base_url": srv.url + "/public"},
                             out_dir=tmp_path / "qip", version="v")
    assert [r["path"] for r in srv.log] == ["/public/metadata/DPO-QIP"]


def test_psdh_column_mapping_from_config(tmp_path):
    header = [c for c in QIP_HEADER if c != "Amount_Disbursed"] + ["Budget_USD"]
    rows = [r[:10] + [r[11], r[10]] for r in qip_rows(2)]
    with LocalServer(psdh_routes(header, rows)) as srv:
        retrieve_dataset("qip", "download", country=COUNTRY,
                         options={**FAST, "base_url": srv.url + "/public",
                                  "columns": {"amount_disbursed": "Budget_USD"}},
                         out_dir=tmp_path / "qip", version="v")
    assert "amount_disbursed" in (tmp_path / "qip" / "qips.csv").read_text().splitlines()[0]


def test_psdh_truncated_csv_page(tmp_path):
    routes = psdh_routes(QIP_HEADER, [])
    routes["/public/data/DPO-QIP/csv"] = lambda req: {
        "status": 200, "body": csv_text(QIP_HEADER, qip_rows(2))[:-40]}
    with LocalServer(routes) as srv:
        with pytest.raises(CorruptFileError, match="truncated or malformed CSV from DPO-QIP page 1"):
            retrieve_dataset("qip", "download", country=COUNTRY,
                             options={**FAST, "base_url": srv.url + "/public"},
                             out_dir=tmp_path / "qip", version="v")
    assert not (tmp_path / "qip" / "qips.csv").exists()


def test_psdh_empty_mission_is_an_error(tmp_path):
    with LocalServer(psdh_routes(QIP_HEADER, qip_rows(2, mission="UNMISS"))) as srv:
        with pytest.raises(EmptyResultError, match="no QIPs for mission 'MINUSMA'"):
            retrieve_dataset("qip", "download", country=COUNTRY,
                             options={**FAST, "base_url": srv.url + "/public"},
                             out_dir=tmp_path / "qip", version="v")


def test_lenient_numbers():
    assert psdh.lenient_number("45\u00a0000") == 45000
    assert psdh.lenient_number("-4,18", comma="decimal") == -4.18
    assert psdh.lenient_number("15,349,350") == 15349350
    assert np.isnan(psdh.lenient_number("n/a")) and np.isnan(psdh.lenient_number(""))


# ----------------------------------------------------------------------------- IATI

LOC_COLS = [c for c in iati.COLUMNS if c not in ("sector_code", "sector_group")]


def dportal_routes(n_locations, *, fallback):
    """d-portal q.csv: with `fallback`, any limit above 100 is answered with a 100-row page."""
    locs = [[f"XM-1-{i:04d}", f"Project {i}", "XM-1", "Donor", "2", "17532", "18000", "14.1",
             "-4.2", "Mopti", "1000", "500"] for i in range(n_locations)]
    secs = [[f"XM-1-{i:04d}", "12220", "", "60"] for i in range(n_locations)] + \
           [[f"XM-1-{i:04d}", "31120", "Agriculture", "40"] for i in range(n_locations)]

    def q(req):
        lim, off = int(req["query"]["limit"]), int(req["query"]["offset"])
        if fallback and lim > 100:
            lim = 100
        if req["query"]["from"] == "act,location,country":
            assert req["query"]["country_code"] == "ML"
            return {"status": 200, "body": csv_text(LOC_COLS, locs[off: off + lim])}
        return {"status": 200, "body": csv_text(["aid", "sector_code", "sector_group", "sector_percent"],
                                                secs[off: off + lim])}

    return {"/q.csv": q}


def test_dportal_offset_paging(tmp_path):
    with LocalServer(dportal_routes(7, fallback=False)) as srv:
        prov = retrieve_dataset("iati", "download", country=COUNTRY,
                                options={**FAST, "dportal_url": srv.url + "/q.csv", "limit": 3,
                                         "api": "dportal"},
                                out_dir=tmp_path / "iati", version="v")
    locs = [r["query"]["offset"] for r in srv.log if r["query"]["from"] == "act,location,country"]
    assert locs == ["0", "3", "6"]
    lines = (tmp_path / "iati" / "activities.csv").read_text().splitlines()
    assert lines[0].split(",") == iati.COLUMNS and len(lines) == 8
    assert lines[1].split(",")[7:9] == ["12220", "Basic health"]  # derived from the DAC code
    doc = json.loads(prov.read_text())
    assert doc["notes"]["fallback_detected"] is False
    assert doc["sources"][0]["params"]["country_code"] == "ML"


def test_dportal_detects_the_100_row_fallback(tmp_path):
    with LocalServer(dportal_routes(250, fallback=True)) as srv:
        prov = retrieve_dataset("iati", "download", country=COUNTRY,
                                options={**FAST, "dportal_url": srv.url + "/q.csv", "limit": 1000,
                                         "api": "dportal"},
                                out_dir=tmp_path / "iati", version="v")
    locs = [(r["query"]["offset"], r["query"]["limit"]) for r in srv.log
            if r["query"]["from"] == "act,location,country"]
    assert locs == [("0", "1000"), ("100", "100"), ("200", "100")]
    assert len((tmp_path / "iati" / "activities.csv").read_text().splitlines()) == 251
    assert json.loads(prov.read_text())["notes"]["fallback_detected"] is True


def test_dportal_ignoring_offset_is_an_error():
    page = [["a"]] * 3
    with pytest.raises(RetrieveError, match="ignores `offset`"):
        iati.page_dportal(lambda off, lim: page, limit=3)


def test_iati_datastore_with_key(tmp_path, monkeypatch):
    monkeypatch.setenv("IATI_API_KEY", "iati-key-FAKE-0042")
    docs = [{"iati_identifier": "XM-2-1", "title_narrative": ["Wells"], "reporting_org_ref": "XM-2",
             "reporting_org_narrative": ["Agency"], "activity_status_code": 2,
             "activity_date_type": ["1", "2", "3"], "activity_date_iso_date":
                 ["2018-01-01T00:00:00Z", "2018-02-01T00:00:00Z", "2019-01-01T00:00:00Z"],
             "sector_code": ["14030"], "sector_vocabulary": ["1"],
             "location_point_pos": ["14.5 -4.2", "16.2 -0.04"], "location_name_narrative": ["Mopti", "Gao"],
             "transaction_transaction_type_code": ["2", "3"], "transaction_value": [1000.0, 400.0]}]

    def select(req):
        assert req["headers"]["Ocp-Apim-Subscription-Key"] == "iati-key-FAKE-0042"
        start = int(req["query"]["start"])
        return as_json({"response": {"numFound": 1, "start": start, "docs": docs[start:]}})

    with LocalServer({"/select": select}) as srv:
        retrieve_dataset("iati", "download", country=COUNTRY,
                         options={**FAST, "datastore_url": srv.url + "/select"},
                         out_dir=tmp_path / "iati", version="v")
    lines = (tmp_path / "iati" / "activities.csv").read_text().splitlines()
    assert len(lines) == 3
    assert lines[1].split(",")[5:12] == ["2018-02-01", "2019-01-01", "14030", "Water supply & sanitation",
                                         "14.5", "-4.2", "Mopti"]
    for path in (tmp_path / "iati").rglob("*"):
        if path.is_file():
            assert b"iati-key-FAKE-0042" not in path.read_bytes()


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


# (boundaries: tests/unit/test_boundaries.py)


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


# ----------------------------------------------------------------------------- Figure 1

def test_un_fatalities_from_the_hub(tmp_path):
    header = figure1.FATALITY_COLUMNS + ["Nationality"]
    rows = [["2019-01-20", "MINUSMA", "Malicious Act", "Military", "Mali", "466", "Chad"]] * 5
    with LocalServer(psdh_routes(header, rows, dataset="DPPADPOSS-FATALITIES")) as srv:
        retrieve_dataset("un_fatalities", "download", country=COUNTRY,
                         options={**FAST, "base_url": srv.url + "/public", "per_page": 2},
                         out_dir=tmp_path / "f", version="v")
    assert len((tmp_path / "f" / "fatalities.csv").read_text().splitlines()) == 6


def test_awsd_export_schema_checked(tmp_path):
    rows = [["1", "2019", "3", "5", "ML", "Mali", "1", "0", "0", "1"]]
    good = csv_text(figure1.AWSD_COLUMNS, rows)
    bad = csv_text([c for c in figure1.AWSD_COLUMNS if c != "Total kidnapped"], [r[:8] + r[9:] for r in rows])
    with LocalServer({"/good": lambda r: {"status": 200, "body": good},
                      "/bad": lambda r: {"status": 200, "body": bad}}) as srv:
        retrieve_dataset("awsd", "download", country=COUNTRY, options={**FAST, "url": srv.url + "/good"},
                         out_dir=tmp_path / "a", version="v")
        with pytest.raises(SchemaError, match="Total kidnapped"):
            retrieve_dataset("awsd", "download", country=COUNTRY, options={**FAST, "url": srv.url + "/bad"},
                             out_dir=tmp_path / "b", version="v")
