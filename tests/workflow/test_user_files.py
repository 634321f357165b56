"""The real reproduction from user files: every file in the format a user holds runs through the DAG.

A small synthetic world is written out as the files of config/sauter2022_user.yaml (the paper's
prepared QIP file, ACLED's monadic export, the older UN fatalities export, the 2019 COD-AB zip,
the AWSD export with its HXL row, d-portal's q.csv, EOG's DMSP tar, the GPW zip, WorldPop, the
UCDP GED zip, a HOT export folder; see user_formats.py for the shapes and their sources), at
exactly the paths the shipped overlay names, and the workflow runs with
`config/config.yaml config/sauter2022.yaml config/sauter2022_user.yaml` and a test overlay that only
switches robustness off. The QIP amounts make the whole-list Table 1 the paper's to the dollar.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import user_formats as uf
import yaml

from qipstudy.synthetic import generate_world

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "resources/published/sauter2022"
CONFIGS = ["config/config.yaml", "config/sauter2022.yaml", "config/sauter2022_user.yaml"]
TEST_OVERLAY = {"robustness": {"enabled": False}}
# Datasets no `all` target reads when robustness is off: asked for by name so their readers run too.
EXTRA_TARGETS = ("ucdp", "worldpop")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shipped_user_files(workdir: Path) -> dict[str, tuple[str, Path]]:
    """{dataset: (version, user file path)} as config/sauter2022_user.yaml names them."""
    overlay = yaml.safe_load((workdir / "config/sauter2022_user.yaml").read_text(encoding="utf-8"))["datasets"]
    return {name: (str(block["version"]), workdir / block["user_file"].replace("{country}", "MLI"))
            for name, block in overlay.items()}


@pytest.fixture(scope="module")
def user_file_run(workflow_copy, run_snakemake, tmp_path_factory):
    workdir, overlay_path = workflow_copy("user_files", TEST_OVERLAY)
    files = _shipped_user_files(workdir)
    country = yaml.safe_load((workdir / "config/countries/MLI.yaml").read_text(encoding="utf-8"))
    world = tmp_path_factory.mktemp("world")
    generate_world(country, {"scale": 0.4}, world, seed=3)
    scratch = tmp_path_factory.mktemp("scratch")
    for _, path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    written = {
        "qip": uf.qip_prepared_file(world / "qips.csv", files["qip"][1], PUBLISHED),
        "acled": uf.acled_monadic(world / "acled.csv", files["acled"][1]),
        "un_fatalities": uf.un_fatalities_export(world / "fatalities.csv", files["un_fatalities"][1]),
        "awsd": uf.awsd_export(world / "awsd.csv", files["awsd"][1]),
        "iati": uf.dportal_qcsv(world / "activities.csv", files["iati"][1]),
        "boundaries": uf.cod_ab_2019_zip(world / "adm3.gpkg", files["boundaries"][1], scratch),
        "osm": uf.hot_export_folder(world / "roads.gpkg", world / "waterways.gpkg", files["osm"][1]),
        "ucdp": uf.ged_zip(world / "ged.csv", files["ucdp"][1]),
    }
    uf.dmsp_tar(world / "nightlights_cf_cvg.tif", world / "nightlights_stable_lights.tif", files["nightlights"][1])
    uf.gpw_zip(world / "pop_density.tif", files["population"][1])
    files["worldpop"][1].write_bytes((world / "worldpop" / "pop_density.tif").read_bytes())
    extra = [f"resources/automatic/MLI/{d}/{files[d][0]}/provenance.json" for d in EXTRA_TARGETS]
    configs = [*CONFIGS, str(overlay_path.relative_to(workdir))]
    proc = run_snakemake(workdir, "--cores", "2", "--configfile", *configs, "--", "all", *extra)
    return {"workdir": workdir, "files": files, "written": written, "country": country, "log": proc.stdout + proc.stderr}


def _provenance(workdir: Path, dataset: str, version: str) -> dict:
    return json.loads((workdir / f"resources/automatic/MLI/{dataset}/{version}/provenance.json").read_text())


def test_every_user_file_runs_through_the_dag(user_file_run):
    workdir, files = user_file_run["workdir"], user_file_run["files"]
    results = workdir / "results/MLI"
    for outcome in ("civilians", "battles", "nsag"):
        estimates = pd.read_csv(results / f"mwa/{outcome}/estimates.csv")
        # 30 windows; on this small world some have too few events to estimate, each with its reason
        assert len(estimates) == 30 and estimates["estimate"].notna().sum() >= 5, outcome
        assert estimates.loc[estimates["estimate"].isna(), "na_reason"].notna().all(), outcome
    # no dataset came from the synthetic world: it was never generated
    assert not (workdir / "resources/automatic/MLI/synthetic_world").exists()
    retrieved = sorted((workdir / "resources/automatic/MLI").glob("*/*/provenance.json"))
    assert {p.parts[-3] for p in retrieved} == set(files)
    assert {json.loads(p.read_text())["mode"] for p in retrieved} == {"user"}
    assert len(files) == 11
    for dataset, (version, path) in files.items():
        prov = _provenance(workdir, dataset, version)
        assert prov["mode"] == "user", dataset
        assert prov["sources"][0]["user_file"] == path.name, dataset
        if path.is_file():
            assert prov["sources"][0]["sha256"] == _sha256(path), dataset
    # the readers' notes of the quirks they met
    assert _provenance(workdir, "awsd", files["awsd"][0])["notes"]["hxl_row_dropped"] is True
    assert _provenance(workdir, "ucdp", files["ucdp"][0])["notes"]["events"] == \
        int((user_file_run["written"]["ucdp"]["country_id"] == "432").sum())
    qip_notes = _provenance(workdir, "qip", files["qip"][0])["notes"]
    written_qips = user_file_run["written"]["qip"]
    assert qip_notes["rows"] == len(written_qips)
    assert qip_notes["rows_with_coordinates"] == int(written_qips["located"].sum()) < len(written_qips)
    roads = gpd.read_file(workdir / f"resources/automatic/MLI/osm/{files['osm'][0]}/roads.gpkg")
    assert len(roads) == user_file_run["written"]["osm"]["roads"]
    adm3 = gpd.read_file(workdir / f"resources/automatic/MLI/boundaries/{files['boundaries'][0]}/adm3.gpkg",
                         layer="adm3")
    assert {"admin1Name", "admin3Name", "admin3Pcod"} <= set(adm3.columns)
    assert "Ségou" in set(adm3["admin1Name"])  # accents survive the shapefile's dBASE


def _in_sample(frame: pd.DataFrame, lat: str, lon: str, date: str, country: dict, adm3: gpd.GeoDataFrame) -> pd.Series:
    """Rows in the period and inside a study region: the sample filter, computed here on its own."""
    lat_v, lon_v = pd.to_numeric(frame[lat], errors="coerce"), pd.to_numeric(frame[lon], errors="coerce")
    day = pd.to_datetime(frame[date], errors="coerce")
    period = day.between(pd.Timestamp(country["period"]["start"]), pd.Timestamp(country["period"]["end"]))
    located = lat_v.notna() & lon_v.notna()
    pts = gpd.GeoDataFrame({"row": frame.index[located]},
                           geometry=gpd.points_from_xy(lon_v[located], lat_v[located]), crs=4326)
    study = adm3[adm3["admin1Name"].isin(country["study_regions"])]
    hit = gpd.sjoin(pts, study[["geometry"]], predicate="intersects")["row"].unique()
    return period & frame.index.isin(hit)


def test_monadic_acled_rows_are_merged_and_the_run_says_so(user_file_run):
    workdir, files, country = user_file_run["workdir"], user_file_run["files"], user_file_run["country"]
    monadic = user_file_run["written"]["acled"]
    repeated = int(monadic["event_id_cnty"].duplicated().sum())
    assert repeated > 100  # the export really is monadic, with labels only
    assert not monadic["inter1"].str.fullmatch(r"\d").any()
    notes = _provenance(workdir, "acled", files["acled"][0])["notes"]
    assert notes["monadic_rows_merged"] == repeated
    assert notes["events"] == monadic["event_id_cnty"].nunique()
    log = (workdir / f"logs/MLI/retrieve_acled_{files['acled'][0]}.log").read_text(encoding="utf-8")
    assert f"{repeated} repeated row(s) of {repeated} event(s) merged (monadic export: one row per actor)" in log
    # the outcome events of the sample: one per event id, as counted here from the file itself
    events = pd.read_parquet(workdir / "results/MLI/events/events.parquet")
    acled_events = events[events["source"] == "acled"]
    assert acled_events["event_id"].is_unique
    first_rows = monadic.drop_duplicates("event_id_cnty").reset_index(drop=True)
    adm3 = user_file_run["written"]["boundaries"]
    sample = first_rows[_in_sample(first_rows, "latitude", "longitude", "event_date", country, adm3)]
    assert len(acled_events) == sample["event_id_cnty"].nunique() == len(sample)
    assert int(events["outcome_civilians"].sum()) == int((sample["event_type"] == "Violence against civilians").sum())
    assert int(events["outcome_battles"].sum()) == int((sample["event_type"] == "Battles").sum())
    nsag = sample["inter1"].isin(["Rebel group", "Political militia", "Identity militia"])
    assert int(events["outcome_nsag"].sum()) == int(nsag.sum())


def test_table1_is_over_the_whole_qip_list_to_the_dollar(user_file_run):
    workdir = user_file_run["workdir"]
    tables = workdir / "results/MLI/tables"
    for name, key in (("table1_qip_funding_by_activity_type", "activity_type"),
                      ("appendix_table1_qip_funding_by_category", "category")):
        produced = pd.read_csv(tables / f"{name}.csv").set_index(key)["funding_usd"]
        published = pd.read_csv(PUBLISHED / f"{name}.csv").set_index(key)["funding_usd"]
        assert produced.loc[published.index].astype(int).to_dict() == published.astype(int).to_dict(), name
        assert int(produced.loc["Total"]) == 15_349_350
        # the analysis-sample table is the extra one, and it differs: fewer QIPs, less money
        sample = pd.read_csv(tables / f"{name}_sample.csv").set_index(key)["funding_usd"]
        written = user_file_run["written"]["qip"]
        events = pd.read_parquet(workdir / "results/MLI/events/events.parquet")
        in_sample = written["ref"].isin(events.loc[events["source"] == "qip", "event_id"])
        assert 0 < in_sample.sum() < len(written)
        assert int(sample.loc["Total"]) == round(float(written.loc[in_sample, "amount"].sum()))
        assert int(sample.loc["Total"]) < 15_349_350
    report = (workdir / "results/MLI/reproduction_report.md").read_text(encoding="utf-8")
    assert "| table1_qip_funding_by_activity_type | real | 7 | 7 | 0 | 0 | 0 |" in report
    assert "| appendix_table1_qip_funding_by_category | real | 8 | 8 | 0 | 0 | 0 |" in report


def test_the_report_labels_the_inputs_as_user_files(user_file_run):
    workdir = user_file_run["workdir"]
    report = (workdir / "results/MLI/reproduction_report.md").read_text(encoding="utf-8")
    assert "synthetic" not in report.lower()
    assert "Rests on real inputs only: qip (user file). Compared with the published numbers." in report
    # Table 2 rests on the QIPs, IATI, ACLED, boundaries, OSM and both rasters: all user files here
    section = report.split("## Table 2", 1)[1].split("\n## ", 1)[0]
    for dataset in ("qip", "iati", "acled", "boundaries", "osm", "nightlights", "population"):
        assert f"{dataset} (user file)" in section, dataset
    sources = json.loads((workdir / "results/MLI/tables/table1_qip_funding_by_activity_type.sources.json").read_text())
    assert sources["status"] == "real" and sources["synthetic"] == []
    assert sources["inputs"]["qip"]["mode"] == "user"
    assert sources["inputs"]["qip"]["user_file"] == "resources/user/sauter2022/qips.csv"  # as the overlay names it


def test_figure1_counts_the_old_fatalities_export_with_both_date_formats(user_file_run):
    """Figure 1's right panel from the older export: fatalities of all types per mission and year,
    2010-2020, top 5 missions, counted here from the written rows (ISO and D/M/YYYY dates)."""
    export = user_file_run["written"]["un_fatalities"]
    assert export["Incident_Date"].str.contains("/").any() and export["Incident_Date"].str.contains("-").any()
    iso = pd.to_datetime(export["Incident_Date"], format="%Y-%m-%d", errors="coerce")
    dmy = pd.to_datetime(export["Incident_Date"], format="%d/%m/%Y", errors="coerce")
    year = iso.fillna(dmy).dt.year
    assert year.notna().all()
    kept = export.assign(year=year)[year.between(2010, 2020)]
    per_mission = kept.groupby("Mission_Acronym").size().sort_values(ascending=False)
    assert per_mission.iloc[4] > per_mission.iloc[5]  # no tie at the cut: the top 5 are well defined
    top5 = list(per_mission.index[:5])
    figure = pd.read_csv(user_file_run["workdir"] / "results/MLI/figures/figure1_attacks.csv")
    panel = figure[figure["panel"] == "peacekeeper_fatalities"]
    assert sorted(panel["group"].unique()) == sorted(top5)
    produced = panel.set_index(["group", "year"])["value"].fillna(0).astype(int)
    expected = kept[kept["Mission_Acronym"].isin(top5)].groupby(["Mission_Acronym", "year"]).size()
    for (mission, yr), n in produced.items():
        assert n == int(expected.get((mission, yr), 0)), (mission, yr)
