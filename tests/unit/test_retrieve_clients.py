"""Provider clients against local servers speaking each real API's shape (no internet).

ACLED, UCDP, OSM and the rasters have their own files (test_retrieve_acled.py, ..._ucdp.py,
..._osm.py, ..._rasters.py).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from local_http import LocalServer
from qipstudy.retrieve import figure1, iati, psdh, retrieve_dataset
from qipstudy.retrieve.http import CorruptFileError, EmptyResultError, RetrieveError, SchemaError

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
