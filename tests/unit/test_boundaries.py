"""Boundaries (adm3.gpkg) from HDX, geoBoundaries and user files, in the shapes the providers really serve.

Shapes written from the providers' documentation and real public fixtures (no third-party data):

* HDX CKAN `package_show`: `{"help", "success": true, "result": {...}}`; an unknown id answers HTTP 404
  with `{"success": false, "error": {"__type": "Not Found Error", "message": "Not found"}}` (CKAN API
  guide, docs.ckan.org/en/2.10/api). The `result` keys (name, title, license_title, metadata_modified,
  dataset_date, resources[name, format, url, download_url, last_modified, size]) follow the real
  cod-ab-caf record in OCHA-DAP/hdx-scraper-cod-ab-country, tests/fixtures/input/dataset-cod-ab-caf.json
  (per-level zips caf_admbnda_adm{0..4}_..., a boundary-lines zip caf_admbndl_admALL_..., an xlsx).
* The 2019 COD-AB of Mali (the paper's): shapefiles mli_admbnda_adm{0..3}_1m_dnct_20190802 with
  admin{0..3}Name / admin{0..3}Pcod (issue 9; the same ITOS naming appears in HDX's field preview of
  the CAF layers above: admin0name, admin0pcod, admin1name, ..., date, validon, validto).
* The COD-AB standard of 2024+ (HDX serves cod-ab-mli in it since 2025): resources
  {iso3}_admin_boundaries.{gdb.zip,shp.zip,geojson.zip,xlsx} (hdx-scraper-cod-ab-country,
  src/hdx/scraper/cod_ab_country/dataset.py), one layer per level {iso3}_admin{N} (geodata/formats.py),
  fields adm{L}_name, adm{L}_name1.., adm{L}_pcode, valid_on, valid_to, version, lang
  (format-specs/boundaries.md).
* geoBoundaries: GET /api/current/gbOpen/{ISO3}/{ADM}/ answers one JSON object with boundaryID,
  boundaryName, boundaryISO, boundaryYearRepresented, boundaryType, boundaryLicense, buildDate,
  staticDownloadLink, gjDownloadURL, tjDownloadURL, simplifiedGeometryGeoJSON (geoboundaries.org API;
  the curl example in the MAAP GEDI subsetter docs); features carry shapeName, shapeISO, shapeID,
  shapeGroup, shapeType.
"""
from __future__ import annotations

import copy
import json
import zipfile

import geopandas as gpd
import pandas as pd
import pytest
from local_http import LocalServer
from shapely.geometry import LineString, box

from qipstudy.retrieve import boundaries, retrieve_dataset
from qipstudy.retrieve.http import ChecksumError, CorruptFileError, RetrieveError, SchemaError

FAST = {"retries": 1, "backoff": 0.001, "progress": False, "timeout": 5}
LAYER_2019 = "mli_admbnda_adm3_1m_dnct_20190802"
MALI = {
    "iso3": "MLI", "iso2": "ML", "name": "Mali", "mission": "MINUSMA", "projected_crs": "EPSG:32630",
    "extent": [-12.29, 10.14, 4.24, 25.0],
    "boundaries": {"cod_ab_layer": LAYER_2019, "admin0_field": "admin0Name", "admin1_field": "admin1Name",
                   "admin2_field": "admin2Name", "admin3_field": "admin3Name", "admin0_pcode_field": "admin0Pcod",
                   "admin1_pcode_field": "admin1Pcod", "admin2_pcode_field": "admin2Pcod",
                   "admin3_pcode_field": "admin3Pcod"},
    "sources": {"hdx_cod_ab_dataset": "cod-ab-mli", "geoboundaries_iso3": "MLI"},
}
OUT_COLUMNS = ["admin0Name", "admin1Name", "admin2Name", "admin3Name", "admin0Pcod", "admin1Pcod", "admin2Pcod",
               "admin3Pcod", "geometry"]
# Four communes: two in Mopti (lon -4..-2), two in Gao (lon -1..1), lat 14..16.
COMMUNES = [("Mopti", "ML05", "Mopti", "ML0501", "Mopti", "ML050101", box(-4, 14, -3, 15)),
            ("Mopti", "ML05", "Mopti", "ML0501", "Socoura", "ML050102", box(-3, 14, -2, 15)),
            ("Gao", "ML07", "Gao", "ML0701", "Gao", "ML070101", box(-1, 15, 0, 16)),
            ("Gao", "ML07", "Ansongo", "ML0702", "Ansongo", "ML070201", box(0, 15, 1, 16))]


def cod_ab_2019(level=3):
    """A tiny admin-`level` layer of the 2019 COD-AB of Mali (ITOS field names, WGS84)."""
    rows = [{"admin3Name": a3, "admin3Pcod": p3, "admin2Name": a2, "admin2Pcod": p2, "admin1Name": a1,
             "admin1Pcod": p1, "admin0Name": "Mali", "admin0Pcod": "ML", "date": "2015-03-01",
             "validOn": "2019-08-02", "validTo": None, "Shape_Leng": 4.0, "Shape_Area": 1.0, "geometry": g}
            for a1, p1, a2, p2, a3, p3, g in COMMUNES]
    gdf = gpd.GeoDataFrame(rows, crs=4326)
    if level < 3:
        keep = [f"admin{k}{s}" for k in range(level + 1) for s in ("Name", "Pcod")]
        gdf = gdf.dissolve(f"admin{level}Name", as_index=False)[keep + ["validOn", "geometry"]]
    return gdf


def cod_ab_2025(level=3):
    """The same communes as the 2024+ standard would carry them (valid_on 2025)."""
    rows = [{"adm3_name": a3, "adm3_name1": None, "adm3_pcode": p3, "adm2_name": a2, "adm2_pcode": p2,
             "adm1_name": a1 + " (2025)", "adm1_pcode": p1, "adm0_name": "Mali", "adm0_pcode": "ML",
             "valid_on": "2025-03-14", "valid_to": None, "area_sqkm": 12000.0, "version": "v02", "lang": "fr",
             "geometry": g} for a1, p1, a2, p2, a3, p3, g in COMMUNES]
    gdf = gpd.GeoDataFrame(rows, crs=4326)
    if level < 3:
        gdf = gdf.dissolve(f"adm{level}_name", as_index=False)[[f"adm{level}_name", "valid_on", "geometry"]]
    return gdf


def shapefiles(folder, layers, crs=None):
    folder.mkdir(parents=True, exist_ok=True)
    for name, gdf in layers.items():
        (gdf.to_crs(crs) if crs else gdf).to_file(folder / f"{name}.shp", engine="pyogrio")
    return folder


def zip_folder(folder, archive):
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, path.name)
    return archive


def mali_2019_zip(tmp_path, crs=None):
    folder = shapefiles(tmp_path / "mli_2019", {f"mli_admbnda_adm{k}_1m_dnct_20190802": cod_ab_2019(k)
                                                for k in range(4)}, crs=crs)
    return zip_folder(folder, tmp_path / "mli_adm_1m_dnct_2019_shp.zip")


def mali_2025_zip(tmp_path):
    folder = shapefiles(tmp_path / "mli_2025", {f"mli_admin{k}": cod_ab_2025(k) for k in range(4)})
    return zip_folder(folder, tmp_path / "mli_admin_boundaries.shp.zip")


def as_json(obj, status=200):
    return {"status": status, "body": json.dumps(obj), "headers": {"Content-Type": "application/json"}}


def hdx_routes(package, files):
    """package_show answering for cod-ab-mli (404 + CKAN error otherwise) and the resource downloads."""
    def package_show(req):
        if req["query"].get("id") != package["name"]:
            return as_json({"help": "https://data.humdata.org/api/3/action/help_show?name=package_show",
                            "success": False, "error": {"__type": "Not Found Error", "message": "Not found"}}, 404)
        return as_json({"help": "https://data.humdata.org/api/3/action/help_show?name=package_show",
                        "success": True, "result": package})
    routes = {"/api/3/action/package_show": package_show}
    for path, payload in files.items():
        routes[path] = lambda req, b=payload: {"status": 200, "body": b,
                                               "headers": {"Content-Type": "application/zip"}}
    return routes


def resource(name, fmt, base, path):
    url = f"{base}{path}"
    return {"name": name, "format": fmt, "url": url, "download_url": url, "url_type": "upload",
            "last_modified": "2019-08-02T10:00:00.000000", "size": 1000, "description": f"{name} boundaries"}


def package_2019(base):
    d = "/dataset/d3a8b3e5/resource"
    return {"name": "cod-ab-mli", "title": "Mali - Subnational Administrative Boundaries",
            "license_title": "Creative Commons Attribution for Intergovernmental Organisations (CC BY-IGO)",
            "metadata_modified": "2020-02-10T09:00:00.000000", "dataset_date": "[2019-08-02T00:00:00 TO 2019-08-02T23:59:59]",
            "resources": [resource("mli_adm_1m_dnct_2019_xlsx.zip", "XLSX", base, f"{d}/1/download/mli_adm_1m_dnct_2019_xlsx.zip"),
                          resource("mli_adm_1m_dnct_2019_shp.zip", "SHP", base, f"{d}/2/download/mli_adm_1m_dnct_2019_shp.zip")]}


def package_2025(base):
    d = "/dataset/d3a8b3e5/resource"
    return {"name": "cod-ab-mli", "title": "Mali - Subnational Administrative Boundaries",
            "license_title": "Creative Commons Attribution for Intergovernmental Organisations (CC BY-IGO)",
            "metadata_modified": "2025-03-20T09:00:00.000000", "dataset_date": "[2025-03-14T00:00:00 TO 2025-03-14T23:59:59]",
            "resources": [resource(f"mli_admin_boundaries.{ext}", fmt, base, f"{d}/{i}/download/mli_admin_boundaries.{ext}")
                          for i, (ext, fmt) in enumerate([("gdb.zip", "Geodatabase"), ("shp.zip", "SHP"),
                                                          ("geojson.zip", "GeoJSON"), ("xlsx", "XLSX")])]}


def run_hdx(srv, tmp_path, *, version="cod-ab-2019", country=MALI, **options):
    return retrieve_dataset("boundaries", "download", country=country,
                            options={**FAST, "base_url": srv.url + "/api/3/action", **options},
                            out_dir=tmp_path / "out" / version, version=version)


# ----------------------------------------------------------------------------- HDX


def test_hdx_2019_edition_as_the_paper_used_it(tmp_path):
    archive = mali_2019_zip(tmp_path, crs=32630).read_bytes()
    path = "/dataset/d3a8b3e5/resource/2/download/mli_adm_1m_dnct_2019_shp.zip"
    with LocalServer({}) as srv:
        srv.routes.update(hdx_routes(package_2019(srv.url), {path: archive}))
        prov = run_hdx(srv, tmp_path)
    gdf = gpd.read_file(tmp_path / "out" / "cod-ab-2019" / "adm3.gpkg", layer="adm3")
    assert list(gdf.columns) == OUT_COLUMNS and gdf.crs.to_epsg() == 4326
    assert gdf["admin3Name"].tolist() == ["Mopti", "Socoura", "Gao", "Ansongo"]
    assert gdf["admin1Pcod"].tolist() == ["ML05", "ML05", "ML07", "ML07"]
    # reprojected from UTM 30N back to degrees (the commune boxes' corners)
    assert [round(v, 6) for v in gdf.total_bounds] == [-4.0, 14.0, 1.0, 16.0]
    notes = json.loads(prov.read_text())["notes"]
    assert notes["layer"] == LAYER_2019 and notes["polygons"] == 4
    assert notes["edition_years"] == {"2019": "validOn 2019-08-02"}
    assert notes["hdx_licence"].startswith("Creative Commons Attribution for Intergovernmental")


def test_hdx_2025_edition_is_never_taken_for_the_2019_one(tmp_path):
    archive = mali_2025_zip(tmp_path).read_bytes()
    path = "/dataset/d3a8b3e5/resource/1/download/mli_admin_boundaries.shp.zip"
    with LocalServer({}) as srv:
        srv.routes.update(hdx_routes(package_2025(srv.url), {path: archive}))
        # 1. the country file names the 2019 layer: refused, with the layers found and the way out
        with pytest.raises(boundaries.LayerNotFoundError) as err:
            run_hdx(srv, tmp_path)
        msg = str(err.value)
        assert "resource 'mli_admin_boundaries.shp.zip'" in msg
        assert f"no layer '{LAYER_2019}' (layers: mli_admin0, mli_admin1, mli_admin2, mli_admin3)" in msg
        assert "datasets.boundaries.mode: user" in msg and "\n" not in msg
        # 2. the 2025 layer with the 2019 field names: the fields present and the convention's names
        with pytest.raises(SchemaError) as err:
            run_hdx(srv, tmp_path, layer="mli_admin3")
        msg = str(err.value)
        assert "(layer mli_admin3): no field 'admin1Name' for boundaries.admin1_field in config/countries/MLI.yaml" in msg
        assert "also missing: 'admin2Name' (admin2_field), 'admin3Name' (admin3_field), 'admin0Name' (admin0_field)" in msg
        assert "COD-AB standard 2024+" in msg and "admin1_field: adm1_name" in msg and "admin3_pcode_field: adm3_pcode" in msg
        # 3. layer and fields of the 2025 edition, but still labelled 2019: refused
        fields = {"admin0_field": "adm0_name", "admin1_field": "adm1_name", "admin2_field": "adm2_name",
                  "admin3_field": "adm3_name", "admin0_pcode_field": "adm0_pcode", "admin1_pcode_field": "adm1_pcode",
                  "admin2_pcode_field": "adm2_pcode", "admin3_pcode_field": "adm3_pcode"}
        with pytest.raises(boundaries.EditionError, match=r"version 'cod-ab-2019' names 2019, but these boundaries are "
                                                          r"of 2025 \(valid_on 2025-03-14\)"):
            run_hdx(srv, tmp_path, layer="mli_admin3", fields=fields)
        # 4. under an honest label the 2025 edition is used, written with the country's field names
        prov = run_hdx(srv, tmp_path, version="cod-ab-2025", layer="mli_admin3", fields=fields)
    gdf = gpd.read_file(tmp_path / "out" / "cod-ab-2025" / "adm3.gpkg", layer="adm3")
    assert list(gdf.columns) == OUT_COLUMNS
    assert sorted(set(gdf["admin1Name"])) == ["Gao (2025)", "Mopti (2025)"]
    notes = json.loads(prov.read_text())["notes"]
    assert notes["fields"]["admin1Name"] == "adm1_name" and notes["edition_years"] == {"2025": "valid_on 2025-03-14"}


def test_hdx_unknown_dataset_is_a_clear_error(tmp_path):
    with LocalServer({}) as srv:
        srv.routes.update(hdx_routes(package_2019(srv.url), {}))
        country = copy.deepcopy(MALI)
        country["sources"]["hdx_cod_ab_dataset"] = "cod-ab-mali"
        with pytest.raises(RetrieveError, match=r"dataset 'cod-ab-mali' failed \(HTTP 404: Not found\); HDX names "
                                                r"COD-AB datasets cod-ab-<iso3>"):
            run_hdx(srv, tmp_path, country=country)


def test_choose_resource_among_per_level_zips():
    # the resource list of the real cod-ab-caf record (names as on HDX), urls shortened
    names = [("CAF_AdminBoundaries_TabularData.xlsx", "XLSX"), ("caf_admbnda_adm0_200k_sigcaf_reach_itos_v2.zip", "SHP"),
             ("caf_admbnda_adm1_200k_sigcaf_reach_itos_v2.zip", "SHP"), ("caf_admbnda_adm2_200k_sigcaf_reach_itos_v2.zip", "SHP"),
             ("caf_admbnda_adm3_200k_sigcaf_reach_itos_v2.zip", "SHP"), ("caf_admbnda_adm4_reach_ocha_v2.zip", "SHP"),
             ("caf_admbndl_admALL_200k_sigcaf_reach_ocha_itos.zip", "SHP")]
    package = {"name": "cod-ab-caf", "resources": [{"name": n, "format": f, "url": f"https://x/{n.lower()}"}
                                                   for n, f in names]}
    assert boundaries.choose_resource(package)["name"] == "caf_admbnda_adm3_200k_sigcaf_reach_itos_v2.zip"
    assert boundaries.choose_resource(package, layer="caf_admbnda_adm2_200k_sigcaf_reach_itos_v2")["name"] == \
        "caf_admbnda_adm2_200k_sigcaf_reach_itos_v2.zip"
    assert boundaries.choose_resource(package, pattern=r"adm4")["name"] == "caf_admbnda_adm4_reach_ocha_v2.zip"
    # all-levels archives: the 2019 Mali zip and the 2024+ standard's shp.zip (not the gdb.zip)
    assert boundaries.choose_resource(package_2019("http://h"))["name"] == "mli_adm_1m_dnct_2019_shp.zip"
    assert boundaries.choose_resource(package_2025("http://h"))["name"] == "mli_admin_boundaries.shp.zip"
    with pytest.raises(RetrieveError, match=r"no resource matches .*\(resources: CAF_AdminBoundaries_TabularData.xlsx\)"):
        boundaries.choose_resource({"name": "cod-ab-caf", "resources": package["resources"][:1]})


# ----------------------------------------------------------------------------- user files


def user(tmp_path, path, name, country=MALI, version="cod-ab-2019", **options):
    return retrieve_dataset("boundaries", "user", country=country, options=options, out_dir=tmp_path / name,
                            user_path=path, version=version)


def test_user_file_as_shp_folder_zip_or_gpkg_gives_the_same_table(tmp_path):
    archive = mali_2019_zip(tmp_path)
    folder = tmp_path / "mli_2019"
    gpkg = tmp_path / "mali.gpkg"
    cod_ab_2019(1).to_file(gpkg, layer="mli_admbnda_adm1_1m_dnct_20190802", engine="pyogrio")
    cod_ab_2019(3).to_file(gpkg, layer=LAYER_2019, engine="pyogrio")
    tables = {}
    for name, path in [("zip", archive), ("folder", folder), ("shp", folder / f"{LAYER_2019}.shp"), ("gpkg", gpkg)]:
        user(tmp_path, path, name)
        tables[name] = gpd.read_file(tmp_path / name / "adm3.gpkg", layer="adm3")
    for name, gdf in tables.items():
        assert list(gdf.columns) == OUT_COLUMNS, name
        pd.testing.assert_frame_equal(pd.DataFrame(gdf.drop(columns="geometry")),
                                      pd.DataFrame(tables["zip"].drop(columns="geometry")))
    with pytest.raises(ChecksumError, match="sha256 [0-9a-f]{64} differs from the pinned"):
        user(tmp_path, archive, "pinned", sha256="00" * 32)
    # p-codes are extras: a file without them gives the name fields, and the provenance says what is absent
    names_only = tmp_path / "names_only.gpkg"
    cod_ab_2019(3).drop(columns=["admin2Pcod", "admin3Pcod"]).to_file(names_only, layer=LAYER_2019, engine="pyogrio")
    notes = json.loads(user(tmp_path, names_only, "names_only").read_text())["notes"]
    assert notes["optional_fields_absent"] == {"admin2Pcod": "admin2Pcod", "admin3Pcod": "admin3Pcod"}
    assert "admin3Pcod" not in gpd.read_file(tmp_path / "names_only" / "adm3.gpkg").columns
    # a GeoPackage of one layer saved by hand is taken whatever the layer's name, and says so
    single = tmp_path / "mine.gpkg"
    cod_ab_2019(3).to_file(single, layer="communes", engine="pyogrio")
    prov = user(tmp_path, single, "single")
    notes = json.loads(prov.read_text())["notes"]
    assert (notes["layer"], notes["configured_layer"]) == ("communes", LAYER_2019)
    assert gpd.read_file(tmp_path / "single" / "adm3.gpkg")["admin3Name"].tolist() == tables["zip"]["admin3Name"].tolist()


def test_user_file_errors_name_the_file_the_layers_fields_and_key(tmp_path):
    folder = shapefiles(tmp_path / "two", {"regions": cod_ab_2019(1), "cercles": cod_ab_2019(2)})
    country = copy.deepcopy(MALI)
    del country["boundaries"]["cod_ab_layer"]
    with pytest.raises(boundaries.LayerNotFoundError, match=r"two: several layers \(cercles, regions\) and none is "
                                                            r"recognisably admin-3; set boundaries.cod_ab_layer"):
        user(tmp_path, folder, "a", country=country)
    # the ADM*_FR naming configured, the 2019 file given
    french = copy.deepcopy(MALI)
    french["boundaries"] = {"cod_ab_layer": LAYER_2019, "admin1_field": "ADM1_FR", "admin2_field": "ADM2_FR",
                            "admin3_field": "ADM3_FR"}
    archive = mali_2019_zip(tmp_path)
    with pytest.raises(SchemaError) as err:
        user(tmp_path, archive, "b", country=french)
    msg = str(err.value)
    assert f"mli_adm_1m_dnct_2019_shp.zip (layer {LAYER_2019}): no field 'ADM1_FR' for boundaries.admin1_field" in msg
    assert "(fields: admin3Name, admin3Pcod, admin2Name" in msg and "also missing: 'ADM2_FR' (admin2_field)" in msg
    assert "COD-AB of ITOS 2015-2019" in msg and "admin1_field: admin1Name" in msg
    broken = tmp_path / "broken.zip"
    broken.write_bytes(archive.read_bytes()[:300])
    with pytest.raises(CorruptFileError, match="broken.zip: not a readable zip file"):
        user(tmp_path, broken, "c")
    lines = tmp_path / "lines"
    gpd.GeoDataFrame({"admin0Name": ["Mali"], "admin1Name": ["Gao"], "admin2Name": ["Gao"], "admin3Name": ["Gao"],
                      "admin0Pcod": ["ML"], "admin1Pcod": ["ML07"], "admin2Pcod": ["ML0701"], "admin3Pcod": ["ML070101"]},
                     geometry=[LineString([(0, 15), (1, 16)])], crs=4326).to_file(
        shapefiles(lines, {}) / f"{LAYER_2019}.shp", engine="pyogrio")
    with pytest.raises(SchemaError, match=r"1 feature\(s\) are not polygons \(first: row 1, LineString\)"):
        user(tmp_path, lines, "d")
    no_prj = shapefiles(tmp_path / "noprj", {LAYER_2019: cod_ab_2019(3)})
    (no_prj / f"{LAYER_2019}.prj").unlink()
    with pytest.raises(SchemaError, match=r"no CRS \(a shapefile without its .prj\?\)"):
        user(tmp_path, no_prj, "e")
    table = tmp_path / "communes.csv"
    table.write_text("admin3Name\nGao\n")
    with pytest.raises(SchemaError, match=r"communes.csv: boundaries must be a .shp, a .gpkg, a .geojson, a folder"):
        user(tmp_path, table, "f")


def test_user_file_with_swapped_axes_is_refused(tmp_path):
    swapped = cod_ab_2019(3)
    swapped["geometry"] = swapped.geometry.map(lambda g: box(g.bounds[1], g.bounds[0], g.bounds[3], g.bounds[2]))
    path = tmp_path / "swapped.gpkg"
    swapped.to_file(path, layer=LAYER_2019, engine="pyogrio")
    with pytest.raises(SchemaError, match=r"bounds \[14.000, -4.000, 16.000, 1.000\] lie outside the country's extent "
                                          r"\[-12.29, 10.14, 4.24, 25\] but fit it with x and y exchanged: the axes are swapped"):
        user(tmp_path, path, "s")


def test_edition_years_prefer_valid_on_over_names():
    gdf = pd.DataFrame({"validOn": ["2019-08-02", "2019-08-02"]})
    assert boundaries.edition_years("mli_admin3", "mli_2025.zip", gdf=gdf) == {2019: "validOn 2019-08-02"}
    assert boundaries.edition_years(LAYER_2019, "mli_adm_1m_dnct_2019_shp.zip") == {2019: f"name {LAYER_2019}"}
    assert boundaries.edition_years("caf_admbnda_adm3_200k_sigcaf_reach_itos_v2") == {}
    boundaries.check_edition("cod-ab-2019", {2019: "x"}, "w")
    boundaries.check_edition("synthetic", {2025: "x"}, "w")  # no year in the label: nothing to contradict
    boundaries.check_edition("cod-ab-2019", {}, "w")  # edition unknown: nothing to compare
    # a snapshot date is not an edition: only a year standing alone in the label counts
    assert boundaries.label_years("cod-ab-2019") == {2019} and boundaries.label_years("gbopen-2023") == {2023}
    assert boundaries.label_years("snapshot-2026-11") == set() and boundaries.label_years("2026-11-02") == set()
    boundaries.check_edition("snapshot-2026-11", {2019: "x"}, "w")
    with pytest.raises(boundaries.EditionError, match=r"^w: the dataset version 'cod-ab-2019' names 2019, but these "
                                                      r"boundaries are of 2025 \(x\)"):
        boundaries.check_edition("cod-ab-2019", {2025: "x"}, "w")


# ----------------------------------------------------------------------------- geoBoundaries


def gb_routes(holder, frames, *, year="2019"):
    def meta(level, count):
        return lambda req: as_json({
            "boundaryID": f"MLI-{level}-123", "boundaryName": "Mali", "boundaryISO": "MLI",
            "boundaryYearRepresented": year, "boundaryType": level,
            "boundaryCanonical": {"ADM1": "Regions", "ADM2": "Cercles", "ADM3": "Communes"}[level],
            "boundarySource": "OCHA ROWCA", "boundaryLicense": "Creative Commons Attribution 3.0 IGO",
            "buildDate": "Dec 12, 2023", "admUnitCount": str(count),
            "staticDownloadLink": f"{holder['url']}/raw/geoBoundaries-MLI-{level}-all.zip",
            "gjDownloadURL": f"{holder['url']}/raw/geoBoundaries-MLI-{level}.geojson",
            "tjDownloadURL": f"{holder['url']}/raw/geoBoundaries-MLI-{level}.topojson",
            "simplifiedGeometryGeoJSON": f"{holder['url']}/raw/geoBoundaries-MLI-{level}_simplified.geojson"})

    def geojson(text):
        return lambda req: {"status": 200, "body": text, "headers": {"Content-Type": "application/json"}}

    routes = {}
    for level, gdf in frames.items():
        routes[f"/api/current/gbOpen/MLI/{level}/"] = meta(level, len(gdf))
        routes[f"/raw/geoBoundaries-MLI-{level}.geojson"] = geojson(gdf.to_json())
    return routes


def gb_frames():
    adm3 = cod_ab_2019(3)
    out = {}
    for level, k in (("ADM1", 1), ("ADM2", 2), ("ADM3", 3)):
        g = adm3.dissolve(f"admin{k}Name", as_index=False) if k < 3 else adm3
        out[level] = gpd.GeoDataFrame({"shapeName": g[f"admin{k}Name"], "shapeISO": "", "shapeID": g[f"admin{k}Pcod"],
                                       "shapeGroup": "MLI", "shapeType": level}, geometry=g.geometry, crs=4326)
    return out


def test_geoboundaries_joins_parents_and_writes_the_country_fields(tmp_path):
    holder = {}
    with LocalServer({}) as srv:
        holder["url"] = srv.url
        srv.routes.update(gb_routes(holder, gb_frames()))
        options = {**FAST, "provider": "geoboundaries", "base_url": srv.url + "/api/current/gbOpen"}
        prov = retrieve_dataset("boundaries", "download", country=MALI, options=options, out_dir=tmp_path / "gb",
                                version="gbopen-2019")
        with pytest.raises(boundaries.EditionError, match=r"'gbopen-2024' names 2024, but these boundaries are of "
                                                          r"2019 \(boundaryYearRepresented = 2019\)"):
            retrieve_dataset("boundaries", "download", country=MALI, options=options, out_dir=tmp_path / "gb2",
                             version="gbopen-2024")
    gdf = gpd.read_file(tmp_path / "gb" / "adm3.gpkg", layer="adm3")
    assert list(gdf.columns) == OUT_COLUMNS
    by = gdf.set_index("admin3Name")
    assert by.loc["Socoura", ["admin1Name", "admin2Name", "admin3Pcod"]].tolist() == ["Mopti", "Mopti", "ML050102"]
    assert by.loc["Ansongo", ["admin1Name", "admin1Pcod", "admin0Pcod"]].tolist() == ["Gao", "ML07", "ML"]
    notes = json.loads(prov.read_text())["notes"]
    assert notes["boundary_year"] == "2019" and notes["licence"] == "Creative Commons Attribution 3.0 IGO"


def test_contract_fields_and_overrides():
    assert boundaries.contract_fields(MALI) == ["admin1Name", "admin2Name", "admin3Name"]
    src = boundaries.source_fields(MALI, {"fields": {"admin1_field": "adm1_name"}})
    assert src["admin1_field"] == "adm1_name" and src["admin3_field"] == "admin3Name"
    with pytest.raises(SchemaError, match=r"options.fields: unknown key\(s\) \['admin1'\]"):
        boundaries.source_fields(MALI, {"fields": {"admin1": "adm1_name"}})
    bare = {"iso3": "LBN", "boundaries": {"admin1_field": "ADM1_EN", "admin2_field": "ADM2_EN", "admin3_field": "ADM3_EN"}}
    with pytest.raises(SchemaError, match=r"options.fields.admin1_pcode_field: the country file sets no "
                                          r"boundaries.admin1_pcode_field"):
        boundaries.source_fields(bare, {"fields": {"admin1_pcode_field": "ADM1_PCODE"}})
    assert boundaries.detect_convention(["ADM3_EN", "ADM3_PCODE", "ADM2_EN", "ADM1_EN", "ADM1_PCODE"])[1] == {
        "admin1_field": "ADM1_EN", "admin2_field": "ADM2_EN", "admin3_field": "ADM3_EN",
        "admin1_pcode_field": "ADM1_PCODE", "admin3_pcode_field": "ADM3_PCODE"}
    assert boundaries.detect_convention(["NAME", "geometry"]) is None
