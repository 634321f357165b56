"""Country file against its boundaries and the providers' keys; the `qipstudy country-check` command.

The boundaries are hand-made polygons around Mali's real base towns, named as in the 2019 COD-AB
(admin1Name ... admin3Pcod; see tests/unit/test_boundaries.py for the sources of that shape).
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import yaml
from shapely.geometry import box

from qipstudy import cli
from qipstudy.countrycheck import (
    CountryCheckError,
    Finding,
    check_boundaries,
    check_provider_keys,
    check_synthetic_regions,
    raise_on_errors,
)

ROOT = Path(__file__).resolve().parents[2]
MALI = yaml.safe_load((ROOT / "config" / "countries" / "MLI.yaml").read_text(encoding="utf-8"))

# (admin1, admin2, admin3, p-code, lon, lat): a 0.4-degree box around each base town and two more communes
COMMUNES = [("Mopti", "Mopti", "Mopti", "ML050101", -4.18, 14.48), ("Tombouctou", "Tombouctou", "Tombouctou",
            "ML060101", -3.01, 16.77), ("Gao", "Gao", "Gao", "ML070101", -0.04, 16.27),
            ("Gao", "Ménaka", "Ménaka", "ML070401", 2.40, 15.92), ("Kidal", "Kidal", "Kidal", "ML080101", 1.41, 18.44),
            ("Bamako", "Bamako", "Commune VI", "ML090106", -7.94, 12.58),
            ("Ségou", "Ségou", "Pelengana", "ML040101", -6.22, 13.43),
            ("Mopti", "Djenné", "Djenné", "ML050301", -4.55, 13.91)]


def communes(rows=COMMUNES):
    return gpd.GeoDataFrame(
        {"admin0Name": "Mali", "admin0Pcod": "ML", "admin1Name": [r[0] for r in rows],
         "admin1Pcod": [r[3][:4] for r in rows], "admin2Name": [r[1] for r in rows], "admin2Pcod": [r[3][:6] for r in rows],
         "admin3Name": [r[2] for r in rows], "admin3Pcod": [r[3] for r in rows]},
        geometry=[box(lon - 0.2, lat - 0.2, lon + 0.2, lat + 0.2) for *_, lon, lat in rows], crs=4326)


def levels(findings, level):
    return [f for f in findings if f.level == level]


def test_matching_boundaries_give_no_error_nor_warning():
    findings = check_boundaries(MALI, communes())
    assert [f.level for f in findings if f.key != "projected_crs"] == ["ok"]
    assert findings[-1].message == "all 5 study regions and 6 bases found in the boundaries"


def test_study_region_typos_get_a_did_you_mean():
    country = copy.deepcopy(MALI)
    country["study_regions"] = ["Gao", "Kidal", "Mopti", "Segou", "Tombouctu"]
    errors = levels(check_boundaries(country, communes()), "error")
    assert [(f.key, f.message) for f in errors] == [
        ("study_regions[3]", ("'Segou' is no admin-1 name in field 'admin1Name' (did you mean 'Ségou'?) "
                             "(names: Bamako, Gao, Kidal, Mopti, Ségou, Tombouctou)")),
        ("study_regions[4]", ("'Tombouctu' is no admin-1 name in field 'admin1Name' (did you mean 'Tombouctou'?) "
                             "(names: Bamako, Gao, Kidal, Mopti, Ségou, Tombouctou)"))]
    with pytest.raises(CountryCheckError) as err:
        raise_on_errors(check_boundaries(country, communes()), "config/countries/MLI.yaml")
    assert str(err.value).splitlines()[1] == (
        "config/countries/MLI.yaml: key 'study_regions[4]': 'Tombouctu' is no admin-1 name in field 'admin1Name' "
        "(did you mean 'Tombouctou'?) (names: Bamako, Gao, Kidal, Mopti, Ségou, Tombouctou)")


def test_base_admin3_names_duplicates_and_offsets():
    country = copy.deepcopy(MALI)
    country["bases"][3]["admin3"] = "Menaka"
    country["bases"][4]["lat"] = 18.44 + 0.5  # 0.3 deg north of the Kidal box: 0.3 * 110.7 km ~ 33 km
    rows = [*COMMUNES, ("Mopti", "Djenné", "Gao", "ML050302", -4.2, 13.6)]  # a second commune named Gao
    findings = check_boundaries(country, communes(rows))
    errors, warnings = levels(findings, "error"), [f for f in levels(findings, "warning") if f.key != "projected_crs"]
    assert [(f.key, f.message) for f in errors] == [
        ("bases[3].admin3", ("'Menaka' (Ménaka) is no admin-3 name in field 'admin3Name' (did you mean 'Ménaka'?); "
                            "the polygon at its coordinates is 'Ménaka' (admin1Name 'Gao')"))]
    assert [(f.key, f.message) for f in warnings] == [
        ("bases[2].admin3", ("'Gao' names 2 admin-3 polygons (ML070101, ML050302); the base-distance covariate uses "
                            "all of them; the polygon at its coordinates is 'Gao' (admin1Name 'Gao')")),
        ("bases[4]", ("the coordinates of Kidal (lat 18.94, lon 1.4078) lie 33 km from the admin-3 polygon 'Kidal'; "
                     "its coordinates lie on no polygon"))]


def test_fields_of_another_convention_are_named_with_the_block_to_set():
    french = communes().rename(columns={"admin1Name": "ADM1_FR", "admin2Name": "ADM2_FR", "admin3Name": "ADM3_FR",
                                        "admin1Pcod": "ADM1_PCODE", "admin3Pcod": "ADM3_PCODE"})
    errors = levels(check_boundaries(MALI, french), "error")
    assert [f.key for f in errors] == ["boundaries.admin1_field", "boundaries.admin2_field", "boundaries.admin3_field"]
    assert errors[0].message.startswith("no field 'admin1Name' in the boundaries (fields: admin0Name, admin0Pcod, "
                                        "ADM1_FR, ADM1_PCODE, ADM2_FR, admin2Pcod, ADM3_FR, ADM3_PCODE)")
    assert ("these boundaries follow the COD-AB in French (ADM1_FR, ADM1_PCODE): admin1_field: ADM1_FR, admin2_field: "
            "ADM2_FR, admin3_field: ADM3_FR, admin1_pcode_field: ADM1_PCODE, admin3_pcode_field: ADM3_PCODE") in \
        errors[0].message


def test_swapped_boundary_axes_are_named():
    swapped = communes()
    swapped["geometry"] = swapped.geometry.map(lambda g: box(g.bounds[1], g.bounds[0], g.bounds[3], g.bounds[2]))
    errors = levels(check_boundaries(MALI, swapped), "error")
    assert [f.key for f in errors] == ["extent"]
    assert errors[0].message == ("the boundaries: bounds [12.380, -8.140, 18.640, 2.600] lie outside the country's "
                                 "extent [-12.29, 10.14, 4.24, 25] but fit it with x and y exchanged: the axes are "
                                 "swapped (coordinates stored as lat/lon instead of lon/lat)")


def test_provider_keys_offline():
    assert levels(check_provider_keys(MALI), "error") == []
    wrong = copy.deepcopy(MALI)
    wrong["iso2"], wrong["sources"]["ucdp_country_id"] = "MA", 433
    wrong["sources"]["hdx_cod_ab_dataset"], wrong["sources"]["qip_mission"] = "cod-ab-mali", "MINUSCA"
    found = {f.key: (f.level, f.message) for f in check_provider_keys(wrong) if f.level != "ok"}
    assert found == {
        "iso2": ("error", "'MA' is not the ISO 3166-1 alpha-2 code of MLI (Mali), which is 'ML'"),
        "sources.ucdp_country_id": ("error", ("433 is not the Gleditsch-Ward number of Mali, which UCDP GED uses as "
                                             "country_id: 432")),
        "sources.iati_recipient_country": ("error", ("'ML' differs from iso2 'MA': IATI recipient countries are "
                                                    "ISO 3166-1 alpha-2 codes")),
        "sources.hdx_cod_ab_dataset": ("warning", ("'cod-ab-mali': HDX names COD-AB datasets cod-ab-<iso3>, i.e. "
                                                  "'cod-ab-mli'")),
        "sources.qip_mission": ("warning", "'MINUSCA' differs from mission 'MINUSMA'")}
    afr = yaml.safe_load((ROOT / "config" / "countries" / "AFR.yaml").read_text(encoding="utf-8"))
    assert [(f.level, f.key) for f in check_provider_keys(afr)] == [("warning", "iso3")]
    for iso3 in ("CAF", "COD", "SSD"):
        country = yaml.safe_load((ROOT / "config" / "countries" / f"{iso3}.yaml").read_text(encoding="utf-8"))
        assert levels(check_provider_keys(country), "error") == [], iso3


def test_study_regions_against_the_synthetic_world():
    assert check_synthetic_regions(MALI) == []
    country = copy.deepcopy(MALI)
    country["study_regions"][3] = "Segou"
    assert check_synthetic_regions(country) == [Finding(
        "error", "study_regions[3]", "'Segou' is not a region of the synthetic world (synthetic.regions: Kayes, "
                                     "Koulikoro, Bamako, Sikasso, Ségou, Mopti, Tombouctou, Gao, Kidal) "
                                     "(did you mean 'Ségou'?)")]


# ----------------------------------------------------------------------------- the command


def cod_ab_zip(tmp_path):
    """The 2019 COD-AB layout: mli_admbnda_adm{1,3}_1m_dnct_20190802 shapefiles in one zip."""
    folder = tmp_path / "shp"
    folder.mkdir()
    adm3 = communes()
    adm3.to_file(folder / "mli_admbnda_adm3_1m_dnct_20190802.shp", engine="pyogrio")
    adm3.dissolve("admin1Name", as_index=False)[["admin1Name", "admin1Pcod", "geometry"]].to_file(
        folder / "mli_admbnda_adm1_1m_dnct_20190802.shp", engine="pyogrio")
    archive = tmp_path / "mli_adm_1m_dnct_2019_shp.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, p.name)
    return archive


def countries_dir(tmp_path, edit=None):
    folder = tmp_path / "countries"
    folder.mkdir(exist_ok=True)
    text = (ROOT / "config" / "countries" / "MLI.yaml").read_text(encoding="utf-8")
    (folder / "MLI.yaml").write_text(edit(text) if edit else text, encoding="utf-8")
    return folder


def test_country_check_prints_layers_fields_values_and_passes(tmp_path, capsys):
    status = cli.main(["country-check", "MLI", "--boundaries", str(cod_ab_zip(tmp_path)),
                       "--countries-dir", str(countries_dir(tmp_path))])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "  layers: mli_admbnda_adm1_1m_dnct_20190802, mli_admbnda_adm3_1m_dnct_20190802\n" in out
    assert "  admin-3 layer: mli_admbnda_adm3_1m_dnct_20190802 (8 features, CRS EPSG:4326" in out
    assert "  field convention: COD-AB of ITOS 2015-2019 (e.g. Mali 2019; admin1Name, admin1Pcod)\n" in out
    assert "    admin3_pcode_field: admin3Pcod\n" in out
    assert "  admin-1 (admin1Name, 6 values): Bamako, Gao, Kidal, Mopti, Ségou, Tombouctou\n" in out
    assert "  admin-3 (admin3Name, 8 values): Commune VI, Djenné, Gao, Kidal, Mopti, Ménaka, Pelengana, Tombouctou\n" in out
    assert "ok: sources.ucdp_country_id: 432 is the Gleditsch-Ward number of Mali" in out
    assert "UTM zone of the centre EPSG:32630; suggested ESRI:102022" in out
    assert out.rstrip().endswith("0 error(s), 1 warning(s)")  # the UTM 30N scale warning


def test_country_check_fails_on_a_typo_with_one_line(tmp_path, capsys):
    zipped = str(cod_ab_zip(tmp_path))
    folder = countries_dir(tmp_path, lambda t: t.replace("study_regions: [Gao, Kidal, Mopti, Ségou, Tombouctou]",
                                                         "study_regions: [Gao, Kidal, Mopti, Ségou, Tombouctu]"))
    assert cli.main(["country-check", "MLI", "--boundaries", zipped, "--countries-dir", str(folder)]) == 1
    out = capsys.readouterr().out
    assert ("  error: study_regions[4]: 'Tombouctu' is no admin-1 name in field 'admin1Name' (did you mean "
            "'Tombouctou'?)") in out
    folder = countries_dir(tmp_path, lambda t: t.replace("  admin1_field: admin1Name", "  admin1_feild: admin1Name"))
    assert cli.main(["country-check", "mli", "--countries-dir", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"  error: {folder / 'MLI.yaml'}: key 'boundaries.admin1_feild': unknown key; allowed: cod_ab_layer" in out
    assert "did you mean 'admin1_field'?" in out


def test_python_dash_m_qipstudy_runs_the_command():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "qipstudy", "country-check", "CAF"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: sources.ucdp_country_id: 482 is the Gleditsch-Ward number of Central African Republic" in done.stdout


def test_retrieving_boundaries_runs_the_country_check(tmp_path):
    from qipstudy.retrieve import retrieve_dataset

    world = tmp_path / "world"
    world.mkdir()
    communes().to_file(world / "adm3.gpkg", layer="adm3", engine="pyogrio")
    prov = retrieve_dataset("boundaries", "synthetic", country=MALI, options={}, out_dir=tmp_path / "ok",
                            synthetic_dir=world, version="synthetic")
    assert '"country_check_warnings": []' in prov.read_text()
    country = copy.deepcopy(MALI)
    country["bases"][5]["admin3"] = "Commune 6"
    with pytest.raises(CountryCheckError, match=r"^config/countries/MLI.yaml: key 'bases\[5\].admin3': 'Commune 6' "
                                                r"\(Bamako \(Commune VI\)\) is no admin-3 name in field 'admin3Name' "
                                                r"\(did you mean 'Commune VI'\?\)"):
        retrieve_dataset("boundaries", "synthetic", country=country, options={}, out_dir=tmp_path / "typo",
                         synthetic_dir=world, version="synthetic")
