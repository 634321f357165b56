"""The retrieve dispatcher: synthetic, user and download modes, validation and provenance."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString, Polygon, box

from qipstudy.retrieve import DATASETS, acled, retrieve_dataset, ucdp, validate_file
from qipstudy.retrieve.http import ChecksumError, CorruptFileError, EmptyResultError, RetrieveError, SchemaError

COUNTRY = {
    "iso3": "MLI", "iso2": "ML", "name": "Mali",
    "period": {"start": "2017-01-01", "end": "2020-12-31"},
    "boundaries": {"cod_ab_layer": "mli_admbnda_adm3_1m_dnct_20190802", "admin1_field": "ADM1_FR",
                   "admin2_field": "ADM2_FR", "admin3_field": "ADM3_FR"},
    "sources": {"acled_country": "Mali", "ucdp_country_id": 432, "qip_mission": "MINUSMA",
                "iati_recipient_country": "ML", "hdx_cod_ab_dataset": "cod-ab-mli"},
    "extent": [-12.24, 10.14, 4.24, 25.0],
}
ADM_COLS = ["ADM0_FR", "ADM0_PCODE", "ADM1_FR", "ADM1_PCODE", "ADM2_FR", "ADM2_PCODE", "ADM3_FR",
            "ADM3_PCODE"]


# The files' headers as the synthetic world writes them (the providers' columns; the contract
# requires only a subset, e.g. psdh.QIP_COLUMNS).
QIP_HEADER = ["ref", "mission", "title", "start_date", "end_date", "category", "activity_type", "region",
              "latitude", "longitude", "amount_disbursed", "status"]
IATI_HEADER = ["aid", "title", "reporting_ref", "reporting", "status_code", "day_start", "day_end", "sector_code",
               "sector_group", "location_latitude", "location_longitude", "location_name", "commitment", "spend"]
AWSD_HEADER = ["Incident ID", "Year", "Month", "Day", "Country Code", "Country", "Total killed", "Total wounded",
               "Total kidnapped", "Total affected"]
FATALITY_HEADER = ["Incident_Date", "Mission_Acronym", "Type_Of_Incident", "Casualty_Personnel_Type", "Country",
                   "M49_Code"]


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_tif(path, value=5, crs="EPSG:4326", dtype="uint8"):
    with rasterio.open(path, "w", driver="GTiff", height=8, width=10, count=1, dtype=dtype, crs=crs,
                       transform=from_origin(-5.0, 16.0, 0.5, 0.5)) as dst:
        dst.write(np.full((8, 10), value, dtype=dtype), 1)
    return path


def adm3_frame():
    rows = [dict(zip(ADM_COLS, ["Mali", "ML", "Mopti", "ML05", "Mopti", "ML0501", f"C{i}", f"ML05010{i}"]),
                 geometry=box(-4 + i, 14, -3 + i, 15)) for i in range(3)]
    return gpd.GeoDataFrame(rows, crs=4326)


def roads_frame():
    return gpd.GeoDataFrame({"osm_id": [1, 2], "name": ["RN15", None], "highway": ["primary", "track"],
                             "surface": ["asphalt", None]},
                            geometry=[LineString([(-4, 14), (-3, 15)]), LineString([(-3, 14), (-2, 15)])], crs=4326)


def water_frame():
    return gpd.GeoDataFrame({"osm_id": [3, 4], "name": ["Niger", None], "waterway": ["river", None],
                             "natural": [None, "water"], "water": [None, "lake"]},
                            geometry=[LineString([(-4, 14), (-4, 15)]),
                                      Polygon([(-3, 14), (-2.9, 14), (-2.9, 14.1)])], crs=4326)


def acled_rows(n=3):
    rows = []
    for i in range(n):
        rec = {c: "" for c in acled.COLUMNS}
        rec.update(event_id_cnty=f"MLI{i}", event_date="2019-03-05", year="2019", event_type="Battles",
                   sub_event_type="Armed clash", actor1="A", inter1="2", country="Mali", admin1="Mopti",
                   location="Mopti", latitude="14.5", longitude="-4.2", fatalities="0")
        rows.append(rec)
    return rows


@pytest.fixture
def world(tmp_path):
    """A tiny synthetic world directory with every contract file."""
    d = tmp_path / "world"
    d.mkdir()
    write_csv(d / "acled.csv", acled.COLUMNS, [[r[c] for c in acled.COLUMNS] for r in acled_rows()])
    write_csv(d / "ged.csv", ucdp.COLUMNS, [["1", "2019", "3", "Mali", "432", "Mopti", "14.5", "-4.2",
                                             "2019-01-01", "2019-01-01", "2", "1"]])
    write_csv(d / "qips.csv", QIP_HEADER, [["Q1", "MINUSMA", "Well", "2018-01-01", "2018-05-01",
                                                  "Early recovery", "Other", "Mopti", "14.5", "-4.2\u00a0",
                                                  "10 000", "Completed"]])
    write_csv(d / "activities.csv", IATI_HEADER, [["A1", "P", "XM", "D", "2", "17532", "", "12220",
                                                    "Basic health", "14.5", "-4.2", "Mopti", "1", "1"]])
    adm3_frame().to_file(d / "adm3.gpkg", layer="adm3", driver="GPKG")
    roads_frame().to_file(d / "roads.gpkg", layer="roads", driver="GPKG")
    water_frame().to_file(d / "waterways.gpkg", layer="waterways", driver="GPKG")
    write_tif(d / "nightlights_cf_cvg.tif", 60)
    write_tif(d / "nightlights_stable_lights.tif", 7)
    write_tif(d / "pop_density.tif", 2.5, dtype="float32")
    write_csv(d / "awsd.csv", AWSD_HEADER, [["1", "2019", "1", "2", "ML", "Mali", "1", "0", "0", "1"]])
    write_csv(d / "fatalities.csv", FATALITY_HEADER,
              [["2019-01-20", "MINUSMA", "Malicious Act", "Military", "Mali", "466"]])
    return d


def test_synthetic_mode_copies_and_describes_every_dataset(world, tmp_path):
    for dataset, spec in DATASETS.items():
        out = tmp_path / "auto" / dataset / "synthetic"
        prov = retrieve_dataset(dataset, "synthetic", country=COUNTRY, options={}, out_dir=out,
                                synthetic_dir=world, version="synthetic")
        assert prov == out / "provenance.json"
        doc = json.loads(prov.read_text())
        assert doc["mode"] == "synthetic" and doc["dataset"] == dataset and doc["version"] == "synthetic"
        assert set(doc["files"]) == set(spec.files)
        for name, rec in doc["files"].items():
            assert (out / name).read_bytes() == (world / name).read_bytes()
            assert rec["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
        assert doc["retrieved_at_utc"].endswith("Z") and doc["licence"]
        assert sorted(p.name for p in out.iterdir()) == sorted([*spec.files, "provenance.json"])
    rows = json.loads((tmp_path / "auto" / "acled" / "synthetic" / "provenance.json").read_text())
    assert rows["files"]["acled.csv"]["rows"] == 3
    tif = json.loads((tmp_path / "auto" / "population" / "synthetic" / "provenance.json").read_text())
    assert tif["files"]["pop_density.tif"]["pixels"] == 80


def test_synthetic_missing_column_names_file_and_column(world, tmp_path):
    header = [c for c in acled.COLUMNS if c != "event_type"]
    write_csv(world / "acled.csv", header, [["x"] * len(header)])
    with pytest.raises(SchemaError, match=r"acled\.csv: missing required column\(s\) event_type"):
        retrieve_dataset("acled", "synthetic", country=COUNTRY, options={}, out_dir=tmp_path / "o",
                         synthetic_dir=world)
    assert not (tmp_path / "o" / "acled.csv").exists()


def test_synthetic_missing_file_and_bad_rasters(world, tmp_path):
    (world / "awsd.csv").unlink()
    with pytest.raises(RetrieveError, match="synthetic world has no awsd.csv"):
        retrieve_dataset("awsd", "synthetic", country=COUNTRY, options={}, out_dir=tmp_path / "a",
                         synthetic_dir=world)
    with rasterio.open(world / "pop_density.tif", "w", driver="GTiff", height=2, width=2, count=1,
                       dtype="uint8") as dst:
        dst.write(np.zeros((2, 2), "uint8"), 1)
    with pytest.raises(SchemaError, match="pop_density.tif: raster has no CRS"):
        retrieve_dataset("population", "synthetic", country=COUNTRY, options={},
                         out_dir=tmp_path / "p", synthetic_dir=world)
    (world / "nightlights_cf_cvg.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(CorruptFileError, match="nightlights_cf_cvg.tif: unreadable raster"):
        retrieve_dataset("nightlights", "synthetic", country=COUNTRY, options={},
                         out_dir=tmp_path / "n", synthetic_dir=world)


def test_validate_file_rejects_wrong_crs_and_missing_layer(tmp_path):
    adm3_frame().to_crs(32630).to_file(tmp_path / "adm3.gpkg", layer="adm3", driver="GPKG")
    with pytest.raises(SchemaError, match="CRS"):
        validate_file(tmp_path / "adm3.gpkg", "boundaries", country=COUNTRY)
    adm3_frame().to_file(tmp_path / "other.gpkg", layer="admin", driver="GPKG")
    with pytest.raises(SchemaError, match="no layer `adm3`"):
        validate_file(tmp_path / "other.gpkg", "boundaries", country=COUNTRY)
    write_tif(tmp_path / "utm.tif", crs="EPSG:32630")
    with pytest.raises(SchemaError, match="EPSG:4326"):
        validate_file(tmp_path / "utm.tif", "raster")
    write_csv(tmp_path / "e.csv", ["a"], [])
    with pytest.raises(EmptyResultError, match="no data rows"):
        validate_file(tmp_path / "e.csv", ["a"])


def test_user_acled_export_older_schema_is_converted(tmp_path):
    old_cols = [c for c in acled.COLUMNS if c not in ("disorder_type", "civilian_targeting", "tags")]
    rows = [[r[c] for c in old_cols] for r in acled_rows(2)]
    rows[0][old_cols.index("event_date")] = "05 March 2019"
    src = write_csv(tmp_path / "export.csv", list(reversed(old_cols)), [list(reversed(r)) for r in rows])
    prov = retrieve_dataset("acled", "user", country=COUNTRY, options={}, out_dir=tmp_path / "o",
                            user_path=src, version="2021-04")
    with open(tmp_path / "o" / "acled.csv", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == acled.COLUMNS
    assert table[0]["event_date"] == "05 March 2019" and table[0]["tags"] == ""
    doc = json.loads(prov.read_text())
    assert doc["notes"]["filled_empty_columns"] == ["disorder_type", "civilian_targeting", "tags"]
    assert doc["sources"] == [{"user_file": "export.csv",
                               "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}]


def test_user_acled_semicolon_export(tmp_path):
    src = tmp_path / "excel.csv"
    lines = [";".join(acled.COLUMNS)] + [";".join(r[c] for c in acled.COLUMNS) for r in acled_rows(2)]
    src.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    prov = retrieve_dataset("acled", "user", country=COUNTRY, options={}, out_dir=tmp_path / "o", user_path=src)
    assert json.loads(prov.read_text())["files"]["acled.csv"]["rows"] == 2
    assert (tmp_path / "o" / "acled.csv").read_text().startswith("event_id_cnty,event_date,")


def test_user_file_missing_core_column_and_pinned_checksum(tmp_path):
    cols = [c for c in acled.COLUMNS if c != "latitude"]
    src = write_csv(tmp_path / "export.csv", cols, [["1"] * len(cols)])
    with pytest.raises(SchemaError, match="latitude"):
        retrieve_dataset("acled", "user", country=COUNTRY, options={}, out_dir=tmp_path / "o",
                         user_path=src)
    with pytest.raises(ChecksumError):
        retrieve_dataset("acled", "user", country=COUNTRY, options={"sha256": "00" * 32},
                         out_dir=tmp_path / "o", user_path=src)
    with pytest.raises(RetrieveError, match="needs an existing user_path"):
        retrieve_dataset("acled", "user", country=COUNTRY, options={}, out_dir=tmp_path / "o",
                         user_path=tmp_path / "absent.csv")


def test_user_hot_export_directory(tmp_path):
    hot = tmp_path / "hot"
    hot.mkdir()
    roads = roads_frame().drop(columns=["surface"]).assign(smoothness="good")
    roads.to_file(hot / "hotosm_mli_roads_lines.shp")
    water = water_frame()
    folder = tmp_path / "w"
    folder.mkdir()
    water[water.geometry.geom_type == "LineString"].to_file(folder / "hotosm_mli_waterways_lines.shp")
    with zipfile.ZipFile(hot / "hotosm_mli_waterways_lines_shp.zip", "w") as zf:
        for path in folder.iterdir():
            zf.write(path, path.name)
    prov = retrieve_dataset("osm", "user", country=COUNTRY, options={}, out_dir=tmp_path / "o",
                            user_path=hot)
    out_roads = gpd.read_file(tmp_path / "o" / "roads.gpkg")
    assert list(out_roads.columns) == ["osm_id", "name", "highway", "surface", "geometry"]
    assert out_roads["surface"].isna().all()
    assert json.loads(prov.read_text())["notes"] == {"roads": 2, "waterways": 1}


def test_user_dmsp_tar_gives_both_bands(tmp_path):
    tar_path = tmp_path / "F182013.v4.tar"
    with tarfile.open(tar_path, "w") as tf:
        for name, value in (("F182013.v4c_web.cf_cvg.tif", 66), ("F182013.v4c_web.stable_lights.avg_vis.tif", 9)):
            tif = write_tif(tmp_path / name, value)
            gz = tmp_path / (name + ".gz")
            gz.write_bytes(gzip.compress(tif.read_bytes()))
            tf.add(gz, arcname=gz.name)
    retrieve_dataset("nightlights", "user", country=COUNTRY, options={"bbox": [-4.0, 13.0, -2.0, 15.0]},
                     out_dir=tmp_path / "nl", user_path=tar_path)
    with rasterio.open(tmp_path / "nl" / "nightlights_cf_cvg.tif") as src:
        assert src.read(1).max() == 66 and (src.width, src.height) == (4, 4)
    with rasterio.open(tmp_path / "nl" / "nightlights_stable_lights.tif") as src:
        assert src.read(1).max() == 9
    with pytest.raises(RetrieveError, match="single raster is not enough"):
        retrieve_dataset("nightlights", "user", country=COUNTRY, options={}, out_dir=tmp_path / "x",
                         user_path=tmp_path / "F182013.v4c_web.cf_cvg.tif")


def test_user_population_zip_and_qip_mapping(tmp_path):
    archive = tmp_path / "gpw.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(write_tif(tmp_path / "gpw_v4_population_density_rev11_2015_30_sec.tif", 4.0, dtype="float32"),
                 "gpw_v4_population_density_rev11_2015_30_sec.tif")
    retrieve_dataset("population", "user", country=COUNTRY, options={}, out_dir=tmp_path / "p",
                     user_path=archive)
    with rasterio.open(tmp_path / "p" / "pop_density.tif") as src:
        assert src.dtypes[0] == "float32"
    header = ["Ref", "Mission", "Title", "Start_Date", "End_Date", "Category", "Activity_Type", "Region",
              "Lat", "Longitude", "Amount_Disbursed", "Status"]
    src = write_csv(tmp_path / "qip_export.csv", header,
                    [["Q1", "MINUSMA", "T", "15/01/2018", "", "Other", "Other", "Gao", "16.2", "-0.04\u00a0",
                      "1,000", "Closed"]])
    with pytest.raises(SchemaError, match="latitude"):
        retrieve_dataset("qip", "user", country=COUNTRY, options={}, out_dir=tmp_path / "q", user_path=src)
    prov = retrieve_dataset("qip", "user", country=COUNTRY, options={"columns": {"latitude": "Lat"}},
                            out_dir=tmp_path / "q", user_path=src)
    assert json.loads(prov.read_text())["notes"]["rows_with_coordinates"] == 1


def test_user_csv_datasets_and_truncation(tmp_path):
    src = write_csv(tmp_path / "awsd_export.csv", AWSD_HEADER + ["Details"],
                    [["1", "2019", "1", "2", "ML", "Mali", "1", "0", "0", "1", "text"]])
    retrieve_dataset("awsd", "user", country=COUNTRY, options={}, out_dir=tmp_path / "a", user_path=src)
    assert (tmp_path / "a" / "awsd.csv").read_text().startswith("Incident ID,Year")
    cut = tmp_path / "cut.csv"
    cut.write_text(src.read_text()[:-12], encoding="utf-8")
    with pytest.raises(CorruptFileError, match="truncated or malformed CSV"):
        retrieve_dataset("awsd", "user", country=COUNTRY, options={}, out_dir=tmp_path / "b", user_path=cut)
    ged = write_csv(tmp_path / "ged.csv", ucdp.COLUMNS,
                    [["1", "2019", "1", "Mali", "432", "", "1", "1", "2019-01-01", "2019-01-01", "0", "1"],
                     ["2", "2019", "1", "Niger", "436", "", "1", "1", "2019-01-01", "2019-01-01", "0", "1"]])
    prov = retrieve_dataset("ucdp", "user", country=COUNTRY, options={}, out_dir=tmp_path / "u", user_path=ged)
    assert json.loads(prov.read_text())["files"]["ged.csv"]["rows"] == 1
    acts = write_csv(tmp_path / "dportal.csv", [c for c in IATI_HEADER if c != "sector_group"],
                     [["A1", "P", "XM", "D", "2", "17532", "", "31120", "14.5", "-4.2", "Mopti", "1", "1"]])
    prov = retrieve_dataset("iati", "user", country=COUNTRY, options={}, out_dir=tmp_path / "i", user_path=acts)
    assert "Agriculture" in (tmp_path / "i" / "activities.csv").read_text()
    assert json.loads(prov.read_text())["notes"]["sector_group_derived"] is True


def test_download_mode_calls_the_client_and_writes_provenance(tmp_path):
    body = io.StringIO()
    writer = csv.writer(body)
    writer.writerow(AWSD_HEADER)
    writer.writerow(["7", "2020", "1", "1", "ML", "Mali", "2", "0", "0", "2"])
    payload = body.getvalue().encode()
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}/export.csv?apikey=hidden-FAKE-77"
        prov = retrieve_dataset("awsd", "download", country=COUNTRY,
                                options={"url": url, "retries": 0, "progress": False},
                                out_dir=tmp_path / "awsd" / "2024", version="2024")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert seen == ["/export.csv?apikey=hidden-FAKE-77"]
    doc = json.loads(prov.read_text())
    assert doc["mode"] == "download" and doc["files"]["awsd.csv"]["rows"] == 1
    assert doc["sources"][0]["url"].endswith("/export.csv")  # credential-like parameter dropped
    assert "hidden-FAKE-77" not in prov.read_text()


def test_unknown_dataset_or_mode(tmp_path):
    with pytest.raises(RetrieveError, match="unknown dataset 'gdelt'"):
        retrieve_dataset("gdelt", "download", country=COUNTRY, options={}, out_dir=tmp_path)
    with pytest.raises(RetrieveError, match="unknown mode 'scrape'"):
        retrieve_dataset("acled", "scrape", country=COUNTRY, options={}, out_dir=tmp_path)
    with pytest.raises(RetrieveError, match="needs synthetic_dir"):
        retrieve_dataset("acled", "synthetic", country=COUNTRY, options={}, out_dir=tmp_path)


def test_user_geofabrik_extract(tmp_path):
    """A tiny .osm extract read through GDAL's OSM driver (the same path as a .osm.pbf)."""
    nodes = "".join(f'<node id="{i}" version="1" lat="{14 + i * 0.01}" lon="{-4 + (i % 3) * 0.01}"/>'
                    for i in range(1, 8))
    xml = ('<?xml version="1.0" encoding="UTF-8"?><osm version="0.6" generator="test">' + nodes +
           '<way id="100" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/>'
           '<tag k="surface" v="asphalt"/><tag k="name" v="RN15"/></way>'
           '<way id="101" version="1"><nd ref="3"/><nd ref="4"/><tag k="waterway" v="river"/></way>'
           '<way id="102" version="1"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="5"/>'
           '<tag k="natural" v="water"/><tag k="water" v="lake"/></way>'
           '<way id="103" version="1"><nd ref="1"/><nd ref="3"/><tag k="power" v="line"/></way></osm>')
    src = tmp_path / "mali-latest.osm"
    src.write_text(xml, encoding="utf-8")
    prov = retrieve_dataset("osm", "user", country=COUNTRY, options={}, out_dir=tmp_path / "o", user_path=src)
    roads = gpd.read_file(tmp_path / "o" / "roads.gpkg")
    water = gpd.read_file(tmp_path / "o" / "waterways.gpkg")
    assert roads[["osm_id", "highway", "surface", "name"]].values.tolist() == [[100, "primary", "asphalt", "RN15"]]
    assert sorted(water["osm_id"]) == [101, 102]
    lake = water[water["osm_id"] == 102].iloc[0]
    assert (lake["natural"], lake["water"], lake.geometry.geom_type) == ("water", "lake", "MultiPolygon")
    assert json.loads(prov.read_text())["notes"] == {"roads": 1, "waterways": 2}
