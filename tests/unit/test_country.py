"""Country files: one-line schema errors naming file and key, extents, and the projected-CRS checks."""
from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from qipstudy.country import (
    CountryFileError,
    country_extent,
    crs_findings,
    expand_extent,
    load_country_file,
    suggest_projected_crs,
)

ROOT = Path(__file__).resolve().parents[2]
COUNTRIES = sorted((ROOT / "config" / "countries").glob("*.yaml"))
MALI = yaml.safe_load((ROOT / "config" / "countries" / "MLI.yaml").read_text(encoding="utf-8"))


def write(tmp_path, doc, name="MLI.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def one_error(tmp_path, doc, name="MLI.yaml") -> str:
    with pytest.raises(CountryFileError) as err:
        load_country_file(write(tmp_path, doc, name))
    message = str(err.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("path", COUNTRIES, ids=lambda p: p.stem)
def test_shipped_country_files_load(path):
    country = load_country_file(path)
    assert country["extent"] is not None and len(country["extent"]) == 4
    x0, y0, x1, y1 = country["extent"]
    for base in country["bases"]:  # every base inside its country's box
        assert x0 <= base["lon"] <= x1 and y0 <= base["lat"] <= y1, base["name"]


def test_defaults_are_filled():
    country = load_country_file(ROOT / "config" / "countries" / "COD.yaml")
    assert country["boundaries"]["admin0_field"] is None and country["boundaries"]["admin3_pcode_field"] is None
    assert all(town["capital"] in (True, False) for town in country["synthetic"]["towns"])


def test_misspelt_keys_are_one_line_with_did_you_mean(tmp_path):
    doc = copy.deepcopy(MALI)
    doc["boundaries"]["admin1_feild"] = doc["boundaries"].pop("admin1_field")
    path = tmp_path / "MLI.yaml"
    assert one_error(tmp_path, doc) == (
        f"{path}: key 'boundaries.admin1_feild': unknown key; allowed: cod_ab_layer, admin1_field, admin2_field, "
        "admin3_field, admin0_field, admin0_pcode_field, admin1_pcode_field, admin2_pcode_field, admin3_pcode_field; "
        "did you mean 'admin1_field'?")
    doc = copy.deepcopy(MALI)
    doc["study_region"] = doc.pop("study_regions")
    message = one_error(tmp_path, doc)
    assert message.startswith(f"{path}: key 'study_region': unknown key; allowed: iso3, iso2, name")
    assert message.endswith("did you mean 'study_regions'?")
    doc = copy.deepcopy(MALI)
    doc["sources"]["ucdp_id"] = 432
    assert "key 'sources.ucdp_id': unknown key; allowed: " in one_error(tmp_path, doc)
    assert one_error(tmp_path, doc).endswith("did you mean 'ucdp_country_id'?")


def test_wrong_values_name_the_key_and_the_value(tmp_path):
    path = tmp_path / "MLI.yaml"
    doc = copy.deepcopy(MALI)
    doc["bases"][2]["lat"] = 95
    assert one_error(tmp_path, doc) == f"{path}: key 'bases[2].lat': 95 is greater than the maximum of 90"
    doc = copy.deepcopy(MALI)
    doc["projected_crs"] = "EPSG32630"
    assert one_error(tmp_path, doc) == (f"{path}: key 'projected_crs': 'EPSG32630' does not match "
                                        "'^(EPSG|ESRI):[0-9]+$'")
    doc = copy.deepcopy(MALI)
    del doc["mission"]
    assert one_error(tmp_path, doc) == f"{path}: key 'mission': missing (required)"
    doc = copy.deepcopy(MALI)
    doc["extent"] = [-12.29, 10.14, 4.24]
    assert one_error(tmp_path, doc).startswith(f"{path}: key 'extent': [-12.29, 10.14, 4.24] is too short")
    # several problems: one line each
    doc = copy.deepcopy(MALI)
    doc["bases"][0]["lon"] = 200
    doc["period"]["start"] = "2017"
    with pytest.raises(CountryFileError) as err:
        load_country_file(write(tmp_path, doc))
    assert str(err.value).splitlines() == [
        f"{path}: key 'bases[0].lon': 200 is greater than the maximum of 180",
        f"{path}: key 'period.start': '2017' does not match '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'"]


def test_yaml_syntax_error_and_file_name(tmp_path):
    path = tmp_path / "MLI.yaml"
    path.write_text("iso3: MLI\nname: [Mali\nmission: MINUSMA\n", encoding="utf-8")
    with pytest.raises(CountryFileError, match=r"MLI.yaml: line \d+, column \d+: invalid YAML"):
        load_country_file(path)
    assert one_error(tmp_path, MALI, name="MAL.yaml") == (
        f"{tmp_path / 'MAL.yaml'}: key 'iso3': is 'MLI' but the file is named MAL.yaml "
        "(rename the file to MLI.yaml or fix iso3)")
    with pytest.raises(CountryFileError, match="XYZ.yaml: country file not found"):
        load_country_file(tmp_path / "XYZ.yaml")


def test_bases_outside_the_extent_and_swapped_lat_lon(tmp_path):
    path = tmp_path / "MLI.yaml"
    doc = copy.deepcopy(MALI)
    doc["bases"][0]["lat"], doc["bases"][0]["lon"] = MALI["bases"][0]["lon"], MALI["bases"][0]["lat"]
    assert one_error(tmp_path, doc) == (
        f"{path}: key 'bases[0]' (Mopti): lat -4.183 / lon 14.4843 lie outside the extent "
        "[-12.29, 10.14, 4.24, 25.0] but fit it swapped: lat and lon look swapped")
    doc = copy.deepcopy(MALI)
    doc["bases"][1]["lat"] = 30.0
    assert "key 'bases[1]' (Tombouctou): lat 30 / lon -3.0074 lie outside the extent" in one_error(tmp_path, doc)
    doc = copy.deepcopy(MALI)
    doc["extent"] = [4.24, 10.14, -12.29, 25.0]
    assert "key 'extent': [4.24, 10.14, -12.29, 25.0] is not [lon_min, lat_min, lon_max, lat_max]" in \
        one_error(tmp_path, doc)


def test_country_extent_adds_the_margin_and_has_no_fallback():
    assert country_extent(MALI) == [-12.39, 10.04, 4.34, 25.1]
    assert country_extent(MALI, margin_deg=0) == [-12.29, 10.14, 4.24, 25.0]
    assert expand_extent([179.95, -89.99, 180.0, 0.0], 0.1) == [179.85, -90.0, 180.0, 0.1]
    with pytest.raises(CountryFileError, match=r"config/countries/LBN.yaml: key 'extent': not set; add extent: "
                                               r"\[lon_min, lat_min, lon_max, lat_max\]"):
        country_extent({"iso3": "LBN", "synthetic": {"bbox": [35, 33, 37, 35]}})


def test_crs_errors_and_the_scale_warning():
    def find(code, **kw):
        return crs_findings(dict(MALI, projected_crs=code), **kw)

    assert find("EPSG:4326") == [("error", "projected_crs", ("EPSG:4326 (WGS 84) is not projected: distances and maps "
                                                              "need a metric projection (a UTM zone or an equal-area CRS)"))]
    assert "'EPSG:99999' is not a CRS known to PROJ" in find("EPSG:99999")[0][2]
    assert "has axes in foot, not metres" in find("EPSG:2222")[0][2]  # NAD83 / Arizona East (ft)
    level, _, msg = find("EPSG:32603")[0]
    assert level == "error" and "is meant for lon -168..-162" in msg and "suggested: ESRI:102022" in msg
    # UTM 30N over Mali: at lon -12.29, lat 10.14 (9.29 deg from the central meridian) the scale factor is
    # k0 (1 + (dl cos(phi))^2 / 2 + ...) = 0.9996 * 1.0127 ~ 1.0124 (pyproj, exact: 1.01255)
    hand = 0.9996 * (1 + (math.radians(9.29) * math.cos(math.radians(10.14))) ** 2 / 2) - 1
    assert abs(hand - 0.0124) < 0.0003
    level, _, msg = find("EPSG:32630")[0]
    assert level == "warning" and "covers lon -6..0 only" in msg and "scale error reaches 1.3%" in msg
    assert "spans UTM zones 28-31" in msg and "ESRI:102022 (Africa Albers Equal Area Conic)" in msg
    assert find("ESRI:102022") == []  # Africa Albers covers Mali
    assert find("EPSG:32630", bounds=[-4.5, 14.0, -1.5, 16.0]) == []  # within the zone


@pytest.mark.parametrize("extent, code, utm", [
    ([35.10, 33.05, 36.62, 34.69], "EPSG:32636", "EPSG:32636"),    # Lebanon: centre lon 35.86 -> zone 36N
    ([29.0, -4.47, 30.85, -2.31], "EPSG:32735", "EPSG:32735"),     # Burundi: zone 35, south of the equator
    ([10.0, 45.0, 11.35, 45.9], "EPSG:32632", "EPSG:32632"),       # a 150 x 100 km state at 10-11.35 E
    ([-12.29, 10.14, 4.24, 25.0], "ESRI:102022", "EPSG:32630"),    # Mali: 16.5 deg wide
    ([-73.99, -33.75, -34.79, 5.27], "ESRI:102033", "EPSG:32721"),  # Brazil: South America Albers
    ([46.5, 40.6, 87.4, 55.4], "ESRI:102025", "EPSG:32642"),       # Kazakhstan: Asia North Albers
    ([113.3, -43.6, 153.6, -10.7], "EPSG:6933", "EPSG:32753"),     # Australia: no continental box, global EASE
])
def test_suggest_projected_crs(extent, code, utm):
    s = suggest_projected_crs(extent)
    assert (s["code"], s["utm_code"]) == (code, utm)


def test_study_regions_are_checked_against_the_synthetic_world_when_asked(tmp_path):
    doc = copy.deepcopy(MALI)
    doc["study_regions"][3] = "Segou"
    path = write(tmp_path, doc)
    assert load_country_file(path)["study_regions"][3] == "Segou"  # real boundaries decide later
    with pytest.raises(CountryFileError) as err:
        load_country_file(path, check_synthetic_regions=True)
    assert str(err.value) == (
        f"{path}: key 'study_regions[3]': 'Segou' is not a region of the synthetic world (synthetic.regions: Kayes, "
        "Koulikoro, Bamako, Sikasso, Ségou, Mopti, Tombouctou, Gao, Kidal) (did you mean 'Ségou'?)")
