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
import pytest
from shapely.geometry import box

from local_http import LocalServer
from qipstudy.retrieve import retrieve_dataset
from qipstudy.retrieve.http import RetrieveError

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


