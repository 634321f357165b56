"""Tables and figures of the paper: hand-computed values, the published shapes, and written files."""
from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from fake_psdh import fatality_record
from shapely.geometry import LineString, box

from qipstudy import figures, render, tables

PUBLISHED = Path(__file__).resolve().parents[2] / "resources" / "published" / "sauter2022"


def published(name: str) -> pd.DataFrame:
    return pd.read_csv(PUBLISHED / f"{name}.csv")


def event(source, event_type, *, funding=np.nan, activity="", category="", civ=0, bat=0, date="2018-01-01",
          lat=15.0, lon=-2.0, **covs):
    row = dict(event_id=f"{source}-{date}-{lat}-{lon}", source=source, event_type=event_type,
               date=pd.Timestamp(date), timestamp=date, lat=lat, lon=lon, admin1="Mopti",
               outcome_civilians=civ, outcome_battles=bat, outcome_nsag=0, funding_usd=funding,
               activity_type=activity, category=category)
    row.update(covs)
    return row


@pytest.fixture
def qip_events() -> pd.DataFrame:
    rows = [
        event("qip", "qip", funding=100.4, activity="Infrastructure & equipment", category="Early recovery"),
        event("qip", "qip", funding=200.4, activity="Infrastructure & equipment", category="Rule of Law"),
        event("qip", "qip", funding=10.4, activity="Training/workshops", category="Rule of Law"),
        event("qip", "qip", funding=0.4, activity="Other", category="Other"),
        event("qip", "qip", funding=np.nan, activity="Other", category="Other"),
        # aid projects and outcomes carry funding or none, and never count as QIP funding
        event("iati", "iati", funding=1e6, category="Agriculture"),
        event("acled", "Battles", bat=1),
    ]
    return pd.DataFrame(rows)


def covariate_events() -> pd.DataFrame:
    """Two events per Table 2 group, with round numbers so the means are easy to check."""
    def cov(source, event_type, water, road, base, pop, nl, **kw):
        return event(source, event_type, water_dist_km=water, road_dist_km=road, unbase_km=base, pop_dens=pop,
                     nl=nl, water_dist=np.log1p(water * 1000), road_dist=np.log1p(road * 1000),
                     unbase=np.log1p(base * 1000), **kw)
    return pd.DataFrame([
        cov("iati", "iati", 10, 4, 100, 3.0, 60, category="Agriculture"),
        cov("iati", "iati", 20, 8, 50, 4.0, 70, category="Basic health"),
        cov("qip", "qip", 5, 1, 0, 2.0, 80, funding=1.0, activity="Other", category="Other"),
        cov("qip", "qip", 7, 3, 10, 2.5, 81),
        cov("acled", "Violence against civilians", 1, 2, 30, 1.111, 65, civ=1),
        cov("acled", "Violence against civilians", 2, 3, 40, 2.222, 66, civ=1),
        cov("acled", "Battles", 100, 200, 300, 5.0, 51, bat=1),
        cov("acled", "Battles", 101, 201, 301, 6.0, 52, bat=1),
        cov("acled", "Riots", 999, 999, 999, 9.0, 99),  # in no Table 2 row
    ])


def estimates_grid(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["t_window", "spat_window", "estimate", "pvalue", "adj.r.squared",
                                       "intercept", "intercept.pval"])


# ---------------------------------------------------------------------------------------------
# write_table
# ---------------------------------------------------------------------------------------------

def test_write_table_writes_csv_latex_markdown(tmp_path):
    df = pd.DataFrame({"category": ["Rule of Law", "Sport & 50% _fun_"], "funding_usd": [1234567, 8]})
    paths = tables.write_table(df, tmp_path / "sub" / "t1", "QIPs & money", formats={"funding_usd": ",d"})
    assert [p.name for p in paths] == ["t1.csv", "t1.tex", "t1.md"]
    pd.testing.assert_frame_equal(pd.read_csv(paths[0]), df)
    tex = paths[1].read_text()
    assert r"\caption{QIPs \& money}" in tex
    assert r"Sport \& 50\% \_fun\_ & 8 \\" in tex
    assert r"Rule of Law & 1,234,567 \\" in tex
    assert r"\begin{tabular}{lr}" in tex
    md = paths[2].read_text().splitlines()
    assert md[0] == "**QIPs & money**"
    assert md[2] == "| category | funding_usd |"
    assert md[3] == "|:---|---:|"
    assert md[4] == "| Rule of Law | 1,234,567 |"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["t1.csv", "t1.md", "t1.tex"]


def test_write_table_replaces_existing_files(tmp_path):
    tables.write_table(pd.DataFrame({"a": [1]}), tmp_path / "t", "first")
    tables.write_table(pd.DataFrame({"a": [2]}), tmp_path / "t", "second")
    assert pd.read_csv(tmp_path / "t.csv")["a"].tolist() == [2]
    assert "second" in (tmp_path / "t.md").read_text()
    assert len(list(tmp_path.iterdir())) == 3


# ---------------------------------------------------------------------------------------------
# Table 1 and appendix Table 1
# ---------------------------------------------------------------------------------------------

def test_qip_funding_by_activity_type_sums_and_rounds_rows_separately(qip_events):
    table = tables.table_qip_funding(qip_events, by="activity_type")
    pub = published("table1_qip_funding_by_activity_type")
    assert list(table.columns) == list(pub.columns)
    assert table["activity_type"].tolist() == pub["activity_type"].tolist() + ["Total"]
    values = dict(zip(table["activity_type"], table["funding_usd"]))
    assert values["Infrastructure & equipment"] == 301  # 100.4 + 200.4 = 300.8
    assert values["Training/workshops"] == 10
    assert values["Other"] == 0  # 0.4 plus a missing amount
    assert values["Conferences/seminars"] == 0  # no QIP of that type: row kept for comparison
    # the total rounds the unrounded sum 311.6, so rows (311) and total (312) differ as in the paper
    assert values["Total"] == 312
    assert table["funding_usd"].iloc[:-1].sum() == 311
    assert table["funding_usd"].dtype == np.int64


def test_qip_funding_by_category_has_published_rows_and_keeps_unknown_labels(qip_events):
    extra = pd.DataFrame([event("qip", "qip", funding=5.0, activity="Other", category="Brand new"),
                          event("qip", "qip", funding=7.0, activity="Other", category="")])
    table = tables.table_qip_funding(pd.concat([qip_events, extra]), by="category")
    pub = published("appendix_table1_qip_funding_by_category")
    assert list(table.columns) == list(pub.columns)
    assert table["category"].tolist() == pub["category"].tolist() + ["Brand new", "Not recorded", "Total"]
    values = dict(zip(table["category"], table["funding_usd"]))
    assert values["Rule of Law"] == 211  # 200.4 + 10.4 = 210.8
    assert values["Early recovery"] == 100
    assert values["Brand new"] == 5 and values["Not recorded"] == 7
    assert values["Total"] == 324  # 311.6 + 12


def test_qip_funding_rejects_unknown_grouping(qip_events):
    with pytest.raises(ValueError, match="by must be"):
        tables.table_qip_funding(qip_events, by="region")


def test_qip_funding_writes_files_when_given_a_stem(qip_events, tmp_path):
    table = tables.table_qip_funding(qip_events, stem=tmp_path / "table1")
    assert pd.read_csv(tmp_path / "table1.csv")["funding_usd"].tolist() == table["funding_usd"].tolist()
    assert "Infrastructure \\& equipment & 301" in (tmp_path / "table1.tex").read_text()


def test_table1_is_over_the_whole_qip_list_and_the_sample_is_an_extra_table(qip_events, tmp_path):
    # the whole list as prepare.read_qips returns it (no `source`): one QIP not located, one outside the period
    whole = pd.DataFrame({
        "event_id": ["A", "B", "C", "D", "E", "F"],
        "funding_usd": [100.4, 200.4, 10.4, 0.4, np.nan, 5000.0],
        "activity_type": ["Infrastructure & equipment", "Infrastructure & equipment", "Training/workshops",
                          "Other", "Other", "Sport & cultural events"],
        "category": ["Early recovery", "Rule of Law", "Rule of Law", "Other", "Other", "Early recovery"],
        "lat": [15.0, 15.0, 15.0, 15.0, 15.0, np.nan],
    })
    out = tables.write_qip_funding_tables(
        whole, events=qip_events, by_activity_stem=tmp_path / "t1", by_category_stem=tmp_path / "a1",
        sample_by_activity_stem=tmp_path / "t1_sample", sample_by_category_stem=tmp_path / "a1_sample")
    total = dict(zip(out["by_activity"]["activity_type"], out["by_activity"]["funding_usd"]))
    assert total["Total"] == 5312 and total["Sport & cultural events"] == 5000  # 311.6 + 5000, every QIP
    assert out["by_category"]["funding_usd"].iloc[-1] == 5312
    sample = dict(zip(out["sample_by_activity"]["activity_type"], out["sample_by_activity"]["funding_usd"]))
    assert sample["Total"] == 312 and sample["Sport & cultural events"] == 0  # the events' qip rows only
    assert pd.read_csv(tmp_path / "t1.csv")["funding_usd"].iloc[-1] == 5312
    assert pd.read_csv(tmp_path / "a1_sample.csv")["funding_usd"].iloc[-1] == 312
    assert "analysis sample" in (tmp_path / "t1_sample.md").read_text()
    assert "analysis sample" not in (tmp_path / "t1.md").read_text()
    with pytest.raises(ValueError, match="needs the events table"):
        tables.write_qip_funding_tables(whole, by_activity_stem=tmp_path / "x", by_category_stem=tmp_path / "y",
                                        sample_by_activity_stem=tmp_path / "z")


# ---------------------------------------------------------------------------------------------
# Table 2 and appendix Table 3
# ---------------------------------------------------------------------------------------------

def test_conditional_means_are_group_means_with_published_labels():
    table = tables.table_conditional_means(covariate_events(), round_printed=False)
    pub = published("table2_conditional_means")
    assert list(table.columns) == list(pub.columns)
    assert table["event_type"].tolist() == pub["event_type"].tolist()
    rows = table.set_index("event_type")
    assert rows.loc["Aid Projects"].tolist() == pytest.approx([15, 6, 75, 3.5, 65])
    assert rows.loc["QIPs"].tolist() == pytest.approx([6, 2, 5, 2.25, 80.5])
    assert rows.loc["Violence a. civs."].tolist() == pytest.approx([1.5, 2.5, 35, 1.6665, 65.5])
    assert rows.loc["Battles"].tolist() == pytest.approx([100.5, 200.5, 300.5, 5.5, 51.5])


def test_conditional_means_round_to_printed_precision():
    rows = tables.table_conditional_means(covariate_events()).set_index("event_type")
    assert rows.loc["Violence a. civs.", "pop_density"] == 1.67  # 1.6665 printed with two decimals
    assert rows.loc["Battles", "water_dist_km"] == 100  # distances printed as whole kilometres
    assert rows.loc["QIPs", "nightlights"] == 80.5


def test_covariate_summary_statistics_and_labels():
    covs = pd.DataFrame({"pop_dens": [1.0, 2.0, 3.0, 4.0], "nl": [51, 60, 70, 85],
                         "unbase": [0.0, 0.0, 10.0, 12.0], "road_dist": [1.0, 1.0, 1.0, 1.0],
                         "water_dist": [2.0, np.nan, 4.0, 6.0]})
    table = tables.table_covariate_summary(covs)
    pub = published("appendix_table3_covariate_summary")
    assert list(table.columns) == list(pub.columns)
    assert table["statistic"].tolist() == pub["statistic"].tolist()
    rows = table.set_index("statistic")
    assert rows.loc["ln(Population Density)"].tolist() == pytest.approx([4, 2.5, 1.291, 1.0, 1.75, 3.25, 4.0])
    assert rows.loc["Nightlights", "p25"] == pytest.approx(57.75)  # R quantile type 7
    assert rows.loc["ln(Road Distance)", "sd"] == 0.0
    assert rows.loc["ln(Water Distance)", "n"] == 3  # missing values are not counted
    assert rows.loc["ln(Water Distance)", "mean"] == 4.0


# ---------------------------------------------------------------------------------------------
# Tables 3, 4, appendix Table 4 and the cross-country table
# ---------------------------------------------------------------------------------------------

def test_significant_windows_filter_order_and_rounding():
    est = estimates_grid([  # s-major, as a wakes table would order it; the table must be t-major
        (20, 3, 0.26666, 0.0499, 0.21444, 0, 1),
        (10, 6, 1.0, 0.0500001, 0.5, 0, 1),  # just above alpha: out
        (10, 3, np.nan, np.nan, np.nan, np.nan, np.nan),  # failed window: out
        (20, 6, -1.005001, 0.05, 0.2, 0, 1),  # p == alpha: in
        (10, 9, 0.5, 0.001, 0.61666, 0, 1),
    ])
    table = tables.table_significant_windows(est)
    assert list(table.columns) == list(published("table3_civilians_significant_windows").columns)
    assert table[["t_days", "s_km"]].values.tolist() == [[10, 9], [20, 3], [20, 6]]
    assert table["effect"].tolist() == [0.5, 0.27, -1.01]
    assert table["p_value"].tolist() == [0.0, 0.05, 0.05]
    assert table["adj_r2"].tolist() == [0.62, 0.21, 0.2]
    assert table["t_days"].dtype == np.int64
    assert tables.table_significant_windows(est, alpha=0.01)[["t_days", "s_km"]].values.tolist() == [[10, 9]]


def test_significant_windows_of_the_published_grid_reproduce_table4_shape():
    pub = published("table4_battles_significant_windows")
    sig = {(t, s): row for t, s, *row in pub.itertuples(index=False)}
    rows = []
    for s in range(3, 16, 3):
        for t in range(10, 61, 10):
            effect, p, r2 = sig.get((t, s), (0.3, 0.4, 0.1))
            rows.append((t, s, effect, p, r2, 0.0, 1.0))
    table = tables.table_significant_windows(estimates_grid(rows))
    pd.testing.assert_frame_equal(table, pub, check_dtype=False)


def test_cross_country_table_keeps_windows_significant_anywhere():
    mli = estimates_grid([(10, 3, 0.5, 0.01, 0.1, 0, 1), (10, 6, 0.2, 0.5, 0.1, 0, 1), (20, 3, 0.1, 0.9, 0, 0, 1)])
    caf = estimates_grid([(10, 3, -0.25, 0.6, 0.1, 0, 1), (10, 6, 0.333, 0.04, 0.1, 0, 1),
                          (20, 3, 0.1, 0.9, 0, 0, 1)])
    table = tables.table_cross_country({"MLI": mli, "CAF": caf})
    assert list(table.columns) == ["t_days", "s_km", "MLI effect", "MLI p_value", "CAF effect", "CAF p_value"]
    assert table[["t_days", "s_km"]].values.tolist() == [[10, 3], [10, 6]]
    assert table["CAF effect"].tolist() == [-0.25, 0.33]
    assert len(tables.table_cross_country({"MLI": mli, "CAF": caf}, only_significant=False)) == 3


# ---------------------------------------------------------------------------------------------
# Appendix Table 2
# ---------------------------------------------------------------------------------------------

def test_aid_by_category_counts_iati_rows_alphabetically():
    events = pd.DataFrame([
        event("iati", "iati", category="Water and sanitation"),
        event("iati", "iati", category="Agriculture"),
        event("iati", "iati", category="Energy generation, renewable sources"),
        event("iati", "iati", category="Energy generation and supply"),
        event("iati", "iati", category="Agriculture"),
        event("qip", "qip", category="Rule of Law"),
    ])
    table = tables.table_aid_by_category(events)
    assert list(table.columns) == list(published("appendix_table2_aid_projects_by_category").columns)
    assert table.values.tolist() == [["Agriculture", 2], ["Energy generation and supply", 1],
                                     ["Energy generation, renewable sources", 1], ["Water and sanitation", 1]]


def test_alphabetical_order_is_the_printed_order_of_appendix_table2():
    pub = published("appendix_table2_aid_projects_by_category")
    events = pd.DataFrame([event("iati", "iati", category=c) for c, n in pub.itertuples(index=False)
                           for _ in range(min(n, 3))])
    assert tables.table_aid_by_category(events)["category"].tolist() == pub["category"].tolist()


# ---------------------------------------------------------------------------------------------
# Comparison with the published numbers
# ---------------------------------------------------------------------------------------------

def test_compare_finds_an_injected_difference_and_missing_and_extra_rows():
    pub = published("table3_civilians_significant_windows")
    produced = pub.copy()
    produced.loc[2, "effect"] += 0.02  # injected
    produced.loc[5, "p_value"] += 0.004  # within half a printed unit
    produced = produced.drop(index=16)  # (60, 15) no longer significant
    produced = pd.concat([produced, pd.DataFrame([[10, 3, 0.1, 0.01, 0.2]], columns=pub.columns)])
    comp = tables.compare_with_published(produced, pub, key_columns=["t_days", "s_km"],
                                         value_columns=["effect", "p_value", "adj_r2"],
                                         tolerances={"effect": 0.005, "p_value": 0.005, "adj_r2": 0.005})
    differs = comp.loc[comp["status"] == "differs"]
    assert differs[["t_days", "s_km", "column"]].values.tolist() == [[20, 9, "effect"]]
    assert differs["abs_diff"].iat[0] == pytest.approx(0.02)
    assert set(comp.loc[comp["status"] == "missing", "s_km"]) == {15}
    assert comp.loc[comp["status"] == "missing", "t_days"].tolist() == [60, 60, 60]
    assert comp.loc[comp["status"] == "extra", ["t_days", "s_km"]].drop_duplicates().values.tolist() == [[10, 3]]
    assert (comp["status"] == "match").sum() == 16 * 3 - 1
    assert list(comp.columns) == ["t_days", "s_km"] + tables.COMPARISON_COLUMNS


def test_compare_rejects_duplicate_keys_and_missing_tolerances():
    pub = published("table2_conditional_means")
    with pytest.raises(ValueError, match="duplicate"):
        tables.compare_with_published(pd.concat([pub, pub]), pub, key_columns=["event_type"],
                                      value_columns=["nightlights"], tolerances=0.01)
    with pytest.raises(ValueError, match="no tolerance"):
        tables.compare_with_published(pub, pub, key_columns=["event_type"],
                                      value_columns=["nightlights", "pop_density"],
                                      tolerances={"nightlights": 0.01})


def test_compare_table_appends_the_published_total_and_allows_one_dollar():
    pub_rows = published("table1_qip_funding_by_activity_type")
    produced = pd.concat([pub_rows, pd.DataFrame({"activity_type": ["Total"], "funding_usd": [15349350]})])
    produced.loc[produced["activity_type"] == "Other", "funding_usd"] += 1  # rounding of a row: tolerated
    comp = tables.compare_table("table1_qip_funding_by_activity_type", produced, PUBLISHED)
    assert (comp["status"] == "match").all() and len(comp) == 7
    produced.loc[produced["activity_type"] == "Total", "funding_usd"] += 2
    comp = tables.compare_table("table1_qip_funding_by_activity_type", produced, PUBLISHED)
    assert comp.loc[comp["status"] == "differs", "activity_type"].tolist() == ["Total"]


@pytest.mark.parametrize("table_id", sorted(tables.PUBLISHED_TABLES))
def test_every_published_table_matches_itself(table_id):
    pub = tables.load_published(table_id, PUBLISHED)
    comp = tables.compare_table(table_id, pub, PUBLISHED)
    assert (comp["status"] == "match").all()
    assert table_id in tables.KNOWN_REASONS


def test_reproduction_report_lists_differences_with_reasons(tmp_path):
    pub = published("table2_conditional_means")
    produced = pub.copy()
    produced.loc[1, "nightlights"] = 75.0
    comp = tables.compare_table("table2_conditional_means", produced, PUBLISHED)
    ok = tables.compare_table("table4_battles_significant_windows", published("table4_battles_significant_windows"),
                              PUBLISHED)
    real = {"qip": "download", "iati": "download", "acled": "user", "boundaries": "user", "osm": "download",
            "nightlights": "download", "population": "download"}
    text = tables.reproduction_report({"table2_conditional_means": comp, "table4_battles_significant_windows": ok},
                                      tmp_path / "report.md",
                                      sources_by_table={"table2_conditional_means": real,
                                                        "table4_battles_significant_windows": real})
    assert (tmp_path / "report.md").read_text() == text
    assert "| table2_conditional_means | real | 20 | 19 | 1 | 0 | 0 |" in text
    assert "| QIPs | nightlights | 75 | 70.89 | 4.11 | 0.005 | differs |" in text
    assert tables.KNOWN_REASONS["table2_conditional_means"] in text
    assert "24 of 24 cells match" in text and "All cells match." in text
    assert tables.SYNTHETIC_REASON not in text and tables.MIXED_REASON not in text  # nothing synthetic


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

def assert_written(stem: Path):
    png, pdf = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert not [p for p in stem.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.fixture
def sample_events() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for event_type, source, n in [("iati", "iati", 40), ("qip", "qip", 15),
                                  ("Violence against civilians", "acled", 25), ("Battles", "acled", 20)]:
        for _ in range(n):
            rows.append(event(source, event_type, civ=int(event_type == "Violence against civilians"),
                              bat=int(event_type == "Battles"),
                              date=str((pd.Timestamp("2017-01-01") + pd.Timedelta(days=int(rng.integers(0, 1460)))).date()),
                              lat=float(rng.uniform(13, 18)), lon=float(rng.uniform(-5, 1)),
                              nl=float(rng.integers(51, 86)), pop_dens=float(rng.normal(3, 2)),
                              unbase=float(rng.uniform(0, 13)), road_dist=float(rng.uniform(1, 12)),
                              water_dist=float(rng.uniform(2, 12))))
    return pd.DataFrame(rows)


def grid_estimates(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(t, s, rng.normal(), rng.uniform(0, 0.2), rng.uniform(), 0.0, 1.0)
            for t in range(10, 61, 10) for s in range(3, 16, 3)]
    return estimates_grid(rows)


def test_save_figure_is_atomic_and_reproducible(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    paths = figures.save_figure(fig, tmp_path / "line")
    first = [p.read_bytes() for p in paths]
    figures.save_figure(fig, tmp_path / "line")
    plt.close(fig)
    assert [p.name for p in paths] == ["line.png", "line.pdf"]
    assert [p.read_bytes() for p in paths] == first  # no time stamps: reruns are byte-identical
    assert_written(tmp_path / "line")


def test_histogram_event_dates_has_one_panel_per_event_type(sample_events, tmp_path):
    fig = figures.histogram_event_dates(sample_events, tmp_path / "fig5")
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()]
    assert titles == ["Aid projects (n = 40)", "QIPs (n = 15)", "Violence against civilians (n = 25)",
                      "Battles (n = 20)"]
    assert len(fig.axes[0].patches) == 30  # 30 bins
    plt.close(fig)
    assert_written(tmp_path / "fig5")


def test_dissolve_admin1_closes_slivers_between_admin3_polygons():
    gap = 1e-8  # two admin-3 polygons that almost touch, as in real boundary files
    admin3 = gpd.GeoDataFrame({"ADM1_FR": ["Mopti", "Mopti", "Gao"]},
                              geometry=[box(0, 0, 1, 1), box(1 + gap, 0, 2, 1), box(2, 0, 3, 1)], crs="EPSG:4326")
    regions = figures.dissolve_admin1(admin3, "ADM1_FR").set_index("ADM1_FR")
    assert regions.loc["Mopti", "geometry"].geom_type == "Polygon"  # one piece, no stray edge
    assert regions.loc["Mopti", "geometry"].area == pytest.approx(2.0, abs=1e-5)
    assert sorted(regions.index) == ["Gao", "Mopti"]


def test_map_events_writes_png_and_pdf(sample_events, tmp_path):
    admin = gpd.GeoDataFrame({"ADM1_FR": ["Mopti", "Mopti", "Kayes"]},
                             geometry=[box(-5, 13, -2, 18), box(-2, 13, 1, 18), box(-8, 13, -5, 18)], crs="EPSG:4326")
    roads = gpd.GeoDataFrame({"highway": ["primary"]}, geometry=[LineString([(-7, 14), (0, 16)])], crs="EPSG:4326")
    towns = [{"name": "Bamako", "lat": 13.2, "lon": -7.5}, {"name": "Mopti", "lat": 14.5, "lon": -4.2},
             {"name": "Sévaré", "lat": 14.5, "lon": -4.1}]
    fig = figures.map_events(sample_events, admin, roads, towns, ["Mopti"], "Bamako", tmp_path / "fig4")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[:3] == ["Aid projects (n = 40)", "QIPs (n = 15)", "Violence against civilians (n = 25)"]
    labels = [t for t in fig.axes[0].texts if t.get_text() in ("Bamako", "Mopti", "Sévaré")]
    assert sorted(t.get_text() for t in labels) == ["Bamako", "Mopti", "Sévaré"]
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])  # close towns apart
    plt.close(fig)
    assert_written(tmp_path / "fig4")
    with pytest.raises(ValueError, match="capital"):
        figures.map_events(sample_events, admin, None, towns, ["Mopti"], "Dakar")
    plt.close("all")


def test_map_events_rasterizes_only_dense_layers_in_the_pdf(sample_events, tmp_path, monkeypatch):
    # a continent's hundreds of thousands of events become one image in the PDF; a country's stay vector
    admin = gpd.GeoDataFrame({"ADM1_FR": ["Mopti"]}, geometry=[box(-5, 13, 1, 18)], crs="EPSG:4326")
    monkeypatch.setattr(figures, "RASTERIZE_POINTS_ABOVE", 30)  # 40 aid projects: dense; 15 QIPs, 25 events: not
    fig = figures.map_events(sample_events, admin, None, [], ["Mopti"], None, tmp_path / "dense")
    rasterized = {c.get_label(): c.get_rasterized() for c in fig.axes[0].collections if c.get_offsets().shape[0] > 1}
    assert sorted(rasterized.values()) == [False, False, True]
    plt.close(fig)
    assert b"/Subtype /Image" in (tmp_path / "dense.pdf").read_bytes()
    monkeypatch.setattr(figures, "RASTERIZE_POINTS_ABOVE", 1000)
    fig = figures.map_events(sample_events, admin, None, [], ["Mopti"], None, tmp_path / "vector")
    plt.close(fig)
    assert b"/Subtype /Image" not in (tmp_path / "vector.pdf").read_bytes()
    # the raster version looks the same: only how the PDF stores the points differs
    assert (tmp_path / "dense.png").read_bytes() == (tmp_path / "vector.png").read_bytes()


def test_heatmaps_one_panel_per_outcome(tmp_path):
    est = {"civilians": grid_estimates(1), "battles": grid_estimates(2), "nsag": grid_estimates(3)}
    fig = figures.heatmaps(est, tmp_path / "fig6")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert [t.split("\n")[0] for t in titles] == ["Violence against civilians", "Battles", "NSAG activity"]
    plt.close(fig)
    assert_written(tmp_path / "fig6")
    fig = figures.heatmaps(est, tmp_path / "fig6_r", style="r")
    plt.close(fig)
    assert_written(tmp_path / "fig6_r")
    with pytest.raises(ValueError, match="style"):
        figures.heatmaps(est, style="3d")
    plt.close("all")


def test_cross_country_heatmaps_share_one_colour_scale(tmp_path):
    small, large = grid_estimates(4), grid_estimates(5)
    large["estimate"] *= 10
    fig = figures.cross_country_heatmaps({"MLI": small, "CAF": large}, "civilians", tmp_path / "xc")
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "Treatment effect"]
    assert len(bars) == 2 and bars[0].get_ylim() == pytest.approx(bars[1].get_ylim())
    assert "violence against civilians" in fig.get_suptitle()
    plt.close(fig)
    assert_written(tmp_path / "xc")


def test_covariate_figures(sample_events, tmp_path):
    fig = figures.histogram_covariates(sample_events, tmp_path / "afig1")
    assert [ax.get_xlabel() for ax in fig.axes if ax.get_visible()] == [label for _, label in figures.COVARIATES]
    plt.close(fig)
    assert_written(tmp_path / "afig1")
    fig = figures.correlation_matrix(sample_events, tmp_path / "afig2")
    assert sum(t.get_text() == "1.00" for t in fig.axes[0].texts) == 5  # the diagonal
    plt.close(fig)
    assert_written(tmp_path / "afig2")
    fig = figures.correlation_matrix(sample_events.assign(double_nl=lambda d: 2 * d["nl"]), columns=["nl", "double_nl"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["1.00"] * 4  # perfectly correlated pair
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["Nightlights", "double_nl"]
    plt.close(fig)


AWSD_EXPORT_HEADER = "Incident ID,Year,Month,Day,Country Code,Country,Region,Total killed,Total affected,Details"
AWSD_HXL_ROW = "#event+id,#date+year,#date+month,#date+day,#country+code,#country+name,#adm1+name,,,"


def awsd_export_frame(tmp_path) -> pd.DataFrame:
    """An AWSD export as pandas reads it, HXL hashtag row included (second line of the real export)."""
    counts = [("AF", "Afghanistan", 30), ("SO", "Somalia", 20), ("SS", "South Sudan", 15), ("SY", "Syria", 12),
              ("CD", "DR Congo", 10), ("NG", "Nigeria", 8), ("ML", "Mali", 5)]
    lines = [AWSD_EXPORT_HEADER, AWSD_HXL_ROW]
    i = 0
    for code, name, n in counts:
        for k in range(n):
            i += 1
            lines.append(f'{i},{2010 + k % 11},3,,{code},{name},,1,2,"Attack, vehicle"')
    lines += [f"{1000 + k},2005,1,1,SD,Sudan,,1,1,old" for k in range(40)]  # outside 2010-2020
    path = tmp_path / "awsd_export.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def hub_fatalities() -> pd.DataFrame:
    """DPPADPOSS-FATALITIES rows (the hub's lower-case columns, fake_psdh) with a planted ranking.

    2010-2020, all types: MONUSCO 60, UNAMID 50, MINUSCA 40, MINUSTAH 35, MINUSMA 30, UNIFIL 22 -> the
    paper's panel. Malicious acts only: MINUSMA 30, UNIFIL 20, MINUSCA 15, MONUSCO 10, UNAMID 5. Outside
    the years: ONUC 100 (1961), UNMISS 70 (2021), UNIFIL 50 (2009).
    """
    plan = [("MONUSCO", "Malicious Act", 10), ("MONUSCO", "Illness", 30), ("MONUSCO", "Accident", 20),
            ("UNAMID", "Malicious Act", 5), ("UNAMID", "Accident", 25), ("UNAMID", "Illness", 20),
            ("MINUSCA", "Malicious Act", 15), ("MINUSCA", "Accident", 25),
            ("MINUSTAH", "Accident", 20), ("MINUSTAH", "Illness", 15),
            ("MINUSMA", "Malicious Act", 30), ("UNIFIL", "Malicious Act", 20), ("UNIFIL", "Accident", 2)]
    rows, seen = [], {}
    for mission, kind, n in plan:
        for _ in range(n):
            k = seen.get(mission, 0)
            seen[mission] = k + 1
            rows.append(fatality_record(len(rows) + 1, day=f"{2010 + k % 11}-05-01", mission=mission, kind=kind))
    rows += [fatality_record(9000 + k, day="1961-09-17", mission="ONUC") for k in range(100)]
    rows += [fatality_record(9200 + k, day="2021-02-01", mission="UNMISS", kind="Accident") for k in range(70)]
    rows += [fatality_record(9300 + k, day="2009-06-01", mission="UNIFIL") for k in range(50)]
    return pd.DataFrame(rows)


def test_figure1_as_published_all_fatality_types_2010_2020_top5(tmp_path):
    fig = figures.figure_attacks(awsd_export_frame(tmp_path), hub_fatalities(), "ml", "MINUSMA", tmp_path / "fig1")
    left, right = fig.axes
    left_lines = {line.get_label(): line for line in left.get_lines()}
    # Mali is sixth by incidents: shown anyway, highlighted, next to the top five; Sudan's 2005 is outside
    assert set(left_lines) == {"Afghanistan", "Somalia", "South Sudan", "Syria", "DR Congo", "Mali"}
    assert left_lines["Mali"].get_linewidth() > left_lines["Afghanistan"].get_linewidth()
    assert left_lines["Mali"].get_color() == figures.HIGHLIGHT
    assert {line.get_label() for line in right.get_lines()} == {"MONUSCO", "UNAMID", "MINUSCA", "MINUSTAH",
                                                                 "MINUSMA"}
    plt.close(fig)
    assert_written(tmp_path / "fig1")
    data = pd.read_csv(tmp_path / "fig1.csv")
    assert list(data.columns) == ["panel", "group", "year", "value", "rank", "highlighted"]
    pk = data.loc[data["panel"] == "peacekeeper_fatalities"]
    assert pk.drop_duplicates("group")["group"].tolist() == ["MONUSCO", "UNAMID", "MINUSCA", "MINUSTAH", "MINUSMA"]
    assert pk.groupby("group")["value"].sum().to_dict() == {"MONUSCO": 60, "UNAMID": 50, "MINUSCA": 40,
                                                              "MINUSTAH": 35, "MINUSMA": 30}
    minusma = pk.loc[pk["group"] == "MINUSMA"].set_index("year")["value"]
    assert minusma.index.tolist() == list(range(2010, 2021))  # every year, zeros included
    assert (minusma[2010], minusma[2017], minusma[2018]) == (3, 3, 2)  # 30 deaths cycled over the 11 years
    assert pk.loc[pk["group"] == "MINUSMA", "highlighted"].all() and not pk.loc[pk["group"] != "MINUSMA",
                                                                              "highlighted"].any()
    aid = data.loc[data["panel"] == "aid_workers_awsd"]
    assert aid.drop_duplicates("group")["group"].tolist() == ["Afghanistan", "Somalia", "South Sudan", "Syria",
                                                              "DR Congo", "Mali"]
    assert aid.groupby("group")["value"].sum()["Afghanistan"] == 30


def test_figure1_shows_years_the_data_does_not_cover_as_gaps(tmp_path, caplog):
    awsd = awsd_export_frame(tmp_path)
    awsd = awsd.loc[awsd["Year"] != "2020"]  # an export that stops in 2019
    with caplog.at_level("WARNING", logger="qipstudy.figures"):
        fig = figures.figure_attacks(awsd, hub_fatalities(), "Mali", "MINUSMA", tmp_path / "gap")
    plt.close(fig)
    aid = pd.read_csv(tmp_path / "gap.csv").query("panel == 'aid_workers_awsd'")
    assert aid.loc[aid["year"] == 2020, "value"].isna().all()  # a gap, not 0
    assert aid.loc[(aid["year"] == 2019) & (aid["group"] == "Mali"), "value"].tolist() == [0.0]  # covered year
    assert "the AWSD data has no record in 2020; shown as a gap" in caplog.text


def test_figure1_filters_and_years_are_arguments(tmp_path):
    fig = figures.figure_attacks(awsd_export_frame(tmp_path), hub_fatalities(), ["Republic of Mali", "ML"], "MINUSMA",
                                 tmp_path / "f", incident_types=["Malicious Act"])
    plt.close(fig)
    data = pd.read_csv(tmp_path / "f.csv")
    pk = data.query("panel == 'peacekeeper_fatalities'")
    assert pk.drop_duplicates("group")["group"].tolist() == ["MINUSMA", "UNIFIL", "MINUSCA", "MONUSCO", "UNAMID"]
    assert data.query("highlighted and panel == 'aid_workers_awsd'")["group"].unique().tolist() == ["Mali"]  # by code
    fig = figures.figure_attacks(awsd_export_frame(tmp_path), hub_fatalities(), "Mali", "MINUSMA", tmp_path / "g",
                                 years=(1948, 2021), incident_types=["Malicious Act"], top_n=2,
                                 awsd_measure="Total affected")
    plt.close(fig)
    data = pd.read_csv(tmp_path / "g.csv")
    pk = data.query("panel == 'peacekeeper_fatalities'")
    assert pk.drop_duplicates("group")["group"].tolist() == ["ONUC", "UNIFIL", "MINUSMA"]  # + the study mission
    assert pk.groupby("group")["value"].sum()["UNIFIL"] == 70
    aid = data.query("panel == 'aid_workers_awsd'")
    # victims, not incidents: Afghanistan 30 x 2 = 60; Somalia 20 x 2 and Sudan 40 x 1 tie at 40 (by name)
    assert aid.drop_duplicates("group")["group"].tolist() == ["Afghanistan", "Somalia", "Mali"]
    assert aid.groupby("group")["value"].sum().to_dict() == {"Afghanistan": 60, "Somalia": 40, "Mali": 10}
    with pytest.raises(ValueError, match="awsd_measure 'Victims'"):
        figures.figure_attacks(awsd_export_frame(tmp_path), hub_fatalities(), "Mali", "MINUSMA",
                               awsd_measure="Victims")


def test_render_reexports_the_public_functions():
    for name in render.__all__:
        assert callable(getattr(render, name))


# ---------------------------------------------------------------------------------------------
# Honest labels: per-table wording of the reproduction report, synthetic marks, sources sidecars
# ---------------------------------------------------------------------------------------------

SYNTHETIC_RUN = {d: "synthetic" for d in ("acled", "ucdp", "qip", "iati", "boundaries", "osm", "nightlights",
                                          "population", "worldpop", "awsd", "un_fatalities")}
# Real QIPs, ACLED events and boundaries (the case the old report called "synthetic world"), synthetic rest.
MIXED_RUN = SYNTHETIC_RUN | {"qip": "user", "acled": "download", "boundaries": "user"}


def test_reproduction_report_words_each_table_by_its_inputs(tmp_path):
    table1 = published("table1_qip_funding_by_activity_type")
    table1 = pd.concat([table1, pd.DataFrame({"activity_type": ["Total"], "funding_usd": [15349350]})],
                       ignore_index=True)
    table1.loc[0, "funding_usd"] = 52000  # a planted difference in a table resting on real QIPs only
    table2 = published("table2_conditional_means")
    table2.loc[1, "nightlights"] = 75.0  # a difference in a table resting partly on synthetic rasters
    comparisons = {"table1_qip_funding_by_activity_type":
                   tables.compare_table("table1_qip_funding_by_activity_type", table1, PUBLISHED),
                   "table2_conditional_means": tables.compare_table("table2_conditional_means", table2, PUBLISHED)}
    sources = {table_id: render.sources_of(table_id, MIXED_RUN) for table_id in comparisons}
    text = tables.reproduction_report(comparisons, tmp_path / "report.md", sources_by_table=sources)
    assert tables.SYNTHETIC_REASON not in text  # the old blanket label is gone
    assert f"> {tables.MIXED_REASON}" in text
    # Table 1 rests on the QIP file only: compared cell by cell, the planted difference listed
    assert "| table1_qip_funding_by_activity_type | real | 7 | 6 | 1 | 0 | 0 |" in text
    assert "Rests on real inputs only: qip (user file). Compared with the published numbers." in text
    assert "| Conferences/seminars | funding_usd | 52,000 | 52,993 | 993 | 1 | differs |" in text
    assert tables.KNOWN_REASONS["table1_qip_funding_by_activity_type"] in text
    # Table 2 rests on synthetic rasters and roads too: labelled, shape only, no cell listed
    assert "| table2_conditional_means | partly synthetic (shape only) | 20 | – | – | 0 | 0 |" in text
    assert ("Rests partly on synthetic inputs (iati, osm, nightlights, population from the built-in synthetic "
            "world; real: qip (user file), acled (downloaded from the provider), boundaries (user file)): its "
            "numbers are not expected to match") in text
    assert "| QIPs | nightlights |" not in text and tables.KNOWN_REASONS["table2_conditional_means"] not in text
    assert ("Shape: 20 cells; 0 published cells have no produced row and 0 produced cells have no published row. "
            "Values are not compared.") in text
    # all synthetic: the blanket label, and every table shape only
    text = tables.reproduction_report(comparisons, tmp_path / "all.md", sources_by_table={
        t: render.sources_of(t, SYNTHETIC_RUN) for t in comparisons})
    assert f"> {tables.SYNTHETIC_REASON}" in text and "| real |" not in text
    assert text.count("Rests only on the built-in synthetic world") == 2


def test_write_reproduction_report_reads_tables_and_maps_outcomes(tmp_path):
    pub4 = published("table4_battles_significant_windows")
    pub4.to_csv(tmp_path / "significant_windows_battles.csv", index=False)
    appendix2 = published("appendix_table2_aid_projects_by_category")
    appendix2.to_csv(tmp_path / "appendix_table2_aid_projects_by_category.csv", index=False)
    modes = SYNTHETIC_RUN | {"iati": "download"}
    text = tables.write_reproduction_report(
        [tmp_path / "significant_windows_battles.csv", tmp_path / "appendix_table2_aid_projects_by_category.csv"],
        PUBLISHED, tmp_path / "report.md", published_tables={"battles": "table4_battles_significant_windows"},
        dataset_modes=modes, outcome_source="acled")
    assert "| table4_battles_significant_windows | partly synthetic (shape only) |" in text  # iati is real
    assert "| appendix_table2_aid_projects_by_category | real |" in text  # counts IATI rows only
    with pytest.raises(ValueError, match=r"significant_windows_battles.csv: outcome 'battles' has no published "
                                         r"table \(config outcomes.battles.published_table\)"):
        tables.write_reproduction_report([tmp_path / "significant_windows_battles.csv"], PUBLISHED,
                                         tmp_path / "r.md", published_tables={}, dataset_modes=modes)


def test_synthetic_figures_say_so_and_record_their_sources(tmp_path):
    est = {"civilians": grid_estimates(1)}
    fig = figures.heatmaps(est, tmp_path / "fig6", sources=render.sources_of("figure6_heatmaps", SYNTHETIC_RUN))
    label = fig.get_suptitle()
    assert fig._suptitle.get_gid() == figures.SYNTHETIC_LABEL_GID
    assert " ".join(label.split()).startswith("SYNTHETIC DATA: every input comes from the built-in synthetic "
                                              "world (qip, iati, acled, boundaries, osm, nightlights, population)")
    plt.close(fig)
    record = json.loads((tmp_path / "fig6.sources.json").read_text())
    assert record["status"] == "synthetic" and record["inputs"]["acled"] == {"mode": "synthetic"}
    fig = figures.heatmaps(est, tmp_path / "mixed", sources=render.sources_of("figure6_heatmaps", MIXED_RUN))
    assert " ".join(fig.get_suptitle().split()).startswith(
        "PARTLY SYNTHETIC: iati, osm, nightlights, population from the built-in synthetic world; "
        "real: qip, acled, boundaries.")
    figures.save_figure(fig, tmp_path / "again", sources=render.sources_of("figure6_heatmaps", MIXED_RUN))
    assert fig.get_suptitle().count("PARTLY SYNTHETIC") == 1  # labelled once, however often it is saved
    plt.close(fig)
    real = {d: "download" for d in SYNTHETIC_RUN}
    fig = figures.heatmaps(est, tmp_path / "real", sources=render.sources_of("figure6_heatmaps", real))
    assert fig.get_suptitle() == ""
    plt.close(fig)
    assert json.loads((tmp_path / "real.sources.json").read_text())["status"] == "real"
    # tables: the caption of the LaTeX and Markdown versions carries the same label
    tables.table_conditional_means(covariate_events(), stem=tmp_path / "table2",
                                   sources=render.sources_of("table2_conditional_means", SYNTHETIC_RUN))
    assert "[SYNTHETIC DATA: every input" in (tmp_path / "table2.md").read_text().splitlines()[0]
    assert json.loads((tmp_path / "table2.sources.json").read_text())["synthetic"] == [
        "qip", "iati", "acled", "boundaries", "osm", "nightlights", "population"]


def test_map_draws_the_bases_and_writes_the_points_it_plots(sample_events, tmp_path):
    admin = gpd.GeoDataFrame({"ADM1_FR": ["Mopti", "Gao"]}, geometry=[box(-5, 13, -2, 18), box(-2, 13, 1, 18)],
                             crs="EPSG:4326")
    bases = [{"name": "Mopti", "admin3": "Mopti", "lat": 14.4843, "lon": -4.1830, "source": "map"},
             {"name": "Gao", "admin3": "Gao", "lat": 16.2666, "lon": -0.0400, "source": "map"}]
    # no `synthetic.towns` (a real run): no towns, no capital, the bases still drawn
    fig = figures.map_events(sample_events, admin, None, [], ["Mopti"], None, tmp_path / "fig4", bases=bases,
                             mission="MINUSMA")
    ax = fig.axes[0]
    assert "MINUSMA bases (n = 2)" in [t.get_text() for t in ax.get_legend().get_texts()]
    (drawn,) = [c for c in ax.collections if c.get_gid() == "mission-bases"]
    np.testing.assert_allclose(drawn.get_offsets(), [[-4.1830, 14.4843], [-0.0400, 16.2666]])
    assert {t.get_text() for t in ax.texts} >= {"Mopti", "Gao"}  # labelled, so the positions can be checked
    plt.close(fig)
    assert_written(tmp_path / "fig4")
    points = pd.read_csv(tmp_path / "fig4.csv")
    assert points.groupby("layer").size().to_dict() == {"Aid projects": 40, "QIPs": 15,
                                                        "Violence against civilians": 25, "Mission bases": 2}
    qips = sample_events[sample_events["event_type"] == "qip"]
    np.testing.assert_allclose(points.loc[points.layer == "QIPs", ["lon", "lat"]], qips[["lon", "lat"]])
    with pytest.raises(ValueError, match=r"bases: lat of \['Gao'\] is not a number"):
        figures.map_events(sample_events, admin, None, [], ["Mopti"], None,
                           bases=[bases[0], {**bases[1], "lat": "north"}])
    plt.close("all")


def bar_heights(ax):
    return [p.get_height() for p in ax.patches]


def test_figure_csvs_hold_exactly_what_is_drawn(sample_events, tmp_path):
    fig = figures.histogram_event_dates(sample_events, tmp_path / "fig5")
    data = pd.read_csv(tmp_path / "fig5.csv")
    assert data.groupby("event_type", sort=False)["count"].sum().to_dict() == {
        "iati": 40, "qip": 15, "Violence against civilians": 25, "Battles": 20}
    for ax, (_, part) in zip(fig.axes, data.groupby("event_type", sort=False)):
        assert bar_heights(ax) == part["count"].tolist()
    plt.close(fig)
    fig = figures.histogram_covariates(sample_events, tmp_path / "afig1")
    data = pd.read_csv(tmp_path / "afig1.csv")
    for ax, (column, _) in zip(fig.axes, figures.COVARIATES):
        part = data[data["covariate"] == column]
        assert bar_heights(ax) == part["count"].tolist() and part["count"].sum() == 100
        np.testing.assert_allclose(part["bin_start"].iloc[0], sample_events[column].min())
    plt.close(fig)
    fig = figures.correlation_matrix(sample_events, tmp_path / "afig2")
    data = pd.read_csv(tmp_path / "afig2.csv").set_index("covariate")
    shown = [t.get_text() for t in fig.axes[0].texts]
    assert shown == [f"{v:.2f}".replace("-0.00", "0.00") for v in data.to_numpy().ravel()]
    assert data.loc["Nightlights", "ln(Road Distance)"] == pytest.approx(
        sample_events["nl"].corr(sample_events["road_dist"]))
    plt.close(fig)
    est = {"civilians": grid_estimates(1), "battles": grid_estimates(2)}
    fig = figures.heatmaps(est, tmp_path / "fig6")
    data = pd.read_csv(tmp_path / "fig6.csv")
    assert data["outcome"].unique().tolist() == ["civilians", "battles"]
    np.testing.assert_allclose(data.loc[data.outcome == "battles", "estimate"], est["battles"]["estimate"])
    assert (data["significance"] == "sig").sum() == sum(int((e["pvalue"] <= 0.05).sum()) for e in est.values())
    plt.close(fig)


def test_empty_and_constant_inputs_draw_and_say_so(sample_events, tmp_path):
    fig = figures.histogram_event_dates(sample_events.iloc[:0], tmp_path / "empty")
    assert [t.get_text() for t in fig.axes[0].texts] == ["no events with a date: nothing to draw"]
    assert pd.read_csv(tmp_path / "empty.csv").empty
    plt.close(fig)
    flat = sample_events.assign(pop_dens=4.5, nl=np.nan)
    with pytest.warns(tables.DegenerateInputWarning, match=r"covariate 'pop_dens': constant: all 100 values are 4.5"):
        fig = figures.histogram_covariates(flat, tmp_path / "flat")
    notes = [t.get_text() for a in fig.axes for t in a.texts if t.get_gid() == "covariate-note"]
    assert notes == ["constant: all 100 values are 4.5 (SD 0)", "no values (all 100 missing)"]
    assert set(pd.read_csv(tmp_path / "flat.csv")["covariate"]) == {"unbase", "road_dist", "water_dist", "pop_dens"}
    plt.close(fig)
    with pytest.warns(tables.DegenerateInputWarning):
        fig = figures.correlation_matrix(flat)
    assert [t.get_text() for t in fig.axes[0].texts].count("n/a") == 16  # two of five covariates: 25 - 3 * 3 cells
    assert "ln(Population Density): constant" in fig.axes[0].get_xlabel()
    plt.close(fig)
    with pytest.warns(tables.DegenerateInputWarning, match="Appendix Table 3"):
        table = tables.table_covariate_summary(flat, stem=tmp_path / "at3")
    assert table.set_index("statistic").loc["ln(Population Density)", "sd"] == 0.0
    assert ("Degenerate: ln(Population Density) constant: all 100 values are 4.5 (SD 0); Nightlights no values"
            in (tmp_path / "at3.md").read_text())
    with pytest.raises(ValueError, match=r"Table 2: the covariates table has no column\(s\) \['nl'\]; it has"):
        tables.table_conditional_means(covariate_events().drop(columns="nl"))
    with pytest.raises(ValueError, match="no outcomes to draw"):
        figures.heatmaps({})
    fig = figures.heatmaps({"civilians": grid_estimates(1), "battles": grid_estimates(2).iloc[:0]})
    assert [[t.get_text() for t in ax.texts] for ax in fig.axes if ax.get_title(loc="left") == "Battles"] == [
        ["no estimates"]]  # and the other panel is still drawn
    plt.close(fig)
    admin = gpd.GeoDataFrame({"ADM1_FR": ["Mopti"]}, geometry=[box(-5, 13, 1, 18)], crs="EPSG:4326")
    with pytest.raises(ValueError, match=r"Figure 4: the boundaries have no field 'admin1Name' \(country file "
                                         r"boundaries.admin1_field\); they have ADM1_FR, geometry"):
        figures.map_events(sample_events, admin, None, [], ["Mopti"], None, admin1_field="admin1Name")
    with pytest.raises(ValueError, match="the boundaries file has no polygons"):
        figures.map_events(sample_events, admin.iloc[:0], None, [], ["Mopti"], None)
    with pytest.warns(UserWarning, match=r"study region\(s\) \['Mopti '\] are not among the admin-1 names"):
        plt.close(figures.map_events(sample_events, admin, None, [], ["Mopti "], None))


# ---------------------------------------------------------------------------------------------
# Minimum support in the tables and the cross-country comparison
# ---------------------------------------------------------------------------------------------

def with_counts(est: pd.DataFrame, treated, control) -> pd.DataFrame:
    return est.assign(n_treated_matched=treated, n_control_matched=control)


def test_significant_windows_flag_thin_support(tmp_path):
    est = with_counts(estimates_grid([(10, 3, 2.56, 0.01, 0.3, 0, 1), (10, 6, 0.5, 0.02, 0.2, 0, 1),
                                      (20, 3, 0.1, 0.5, 0.0, 0, 1)]), [3, 40, 2], [3, 55, 2])
    table = tables.table_significant_windows(est, min_matched=(10, 10), stem=tmp_path / "t3")
    assert table[["t_days", "s_km", "n_treated_matched", "n_control_matched", "thin_support"]].values.tolist() == [
        [10, 3, 3, 3, True], [10, 6, 40, 55, False]]
    caption = (tmp_path / "t3.md").read_text().splitlines()[0]
    assert ("thin_support marks windows with fewer than 10 matched treated or 10 matched control wakes "
            "(2 of 3 windows of the grid)") in caption
    comp = tables.compare_table("table3_civilians_significant_windows", table, PUBLISHED)  # extra columns: fine
    assert set(comp["column"]) == {"effect", "p_value", "adj_r2"}
    with pytest.raises(ValueError, match="with_matched_counts"):
        tables.table_significant_windows(estimates_grid([(10, 3, 1.0, 0.01, 0.3, 0, 1)]), min_matched=10)


def test_cross_country_excludes_thin_windows_with_the_rule_in_the_caption(tmp_path):
    mli = with_counts(estimates_grid([(10, 3, 0.5, 0.01, 0.1, 0, 1), (10, 6, 0.2, 0.5, 0.1, 0, 1)]), [50, 50], [60, 60])
    lbn = with_counts(estimates_grid([(10, 3, 0.1, 0.6, 0.1, 0, 1), (10, 6, 2.56, 0.001, 0.1, 0, 1)]), [40, 3], [45, 3])
    table = tables.table_cross_country({"MLI": mli, "LBN": lbn}, stem=tmp_path / "xc", min_matched=(10, 10))
    # LBN's 2.56 from 3 + 3 wakes is out: (10, 6) is significant nowhere else, so only (10, 3) stays
    assert table[["t_days", "s_km"]].values.tolist() == [[10, 3]]
    full = tables.table_cross_country({"MLI": mli, "LBN": lbn}, only_significant=False, min_matched=(10, 10))
    row = full.set_index(["t_days", "s_km"]).loc[(10, 6)]
    assert np.isnan(row["LBN effect"]) and np.isnan(row["LBN p_value"]) and row["LBN excluded"]
    assert (row["LBN n_treated_matched"], row["LBN n_control_matched"]) == (3, 3)
    assert row["MLI effect"] == 0.2 and not row["MLI excluded"]
    caption = (tmp_path / "xc.md").read_text().splitlines()[0]
    assert ("Windows with fewer than 10 matched treated or 10 matched control wakes are excluded (effect and "
            "p-value empty, `excluded` true): 1 country-window(s)") in caption
    fig = figures.cross_country_heatmaps({"MLI": mli, "LBN": lbn}, "civilians", tmp_path / "xch",
                                         min_matched=(10, 10))
    data = pd.read_csv(tmp_path / "xch.csv")
    lbn_row = data[(data.country == "LBN") & (data.spat_window == 6)].iloc[0]
    assert lbn_row["excluded"] and lbn_row["thin_support"] and np.isnan(lbn_row["estimate"])
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "Treatment effect"]
    assert bars[0].get_ylim()[1] < 1.0  # the excluded 2.56 does not stretch the shared colour scale
    assert "are excluded (cross-hatched, no estimate)" in fig.get_suptitle()
    plt.close(fig)
    hatched = figures.cross_country_heatmaps({"MLI": mli, "LBN": lbn}, "civilians", style="tiles",
                                             min_matched=(10, 10), thin="hatch")
    assert pd.DataFrame(hatched.plotted_data).query("country == 'LBN' and spat_window == 6")["estimate"].item() == 2.56
    plt.close(hatched)


def test_load_estimates_joins_matching_and_names_the_file(tmp_path):
    est = estimates_grid([(10, 3, 0.5, 0.01, 0.1, 0, 1), (10, 6, 0.2, 0.5, 0.1, 0, 1)])
    est.to_csv(tmp_path / "estimates.csv", index=False)
    pd.DataFrame({"t_window": [10.0, 10.0], "spat_window": [3.0, 6.0], "control_pre": [9, 9],
                  "treatment_pre": [5, 5], "L1_pre": [0.5, 0.5], "commonSupport_pre": [1.0, 1.0],
                  "control_post": [12, 4], "treatment_post": [11, 4], "L1_post": [0.1, 0.1],
                  "commonSupport_post": [9.0, 9.0]}).to_csv(tmp_path / "matching.csv", index=False)
    loaded = tables.load_estimates(tmp_path / "estimates.csv", tmp_path / "matching.csv")
    assert loaded[["n_treated_matched", "n_control_matched"]].values.tolist() == [[11, 12], [4, 4]]
    pd.DataFrame({"t_window": [10.0]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"bad.csv: no column\(s\) \['spat_window', 'treatment_post', "
                                         r"'control_post'\]"):
        tables.load_estimates(tmp_path / "estimates.csv", tmp_path / "bad.csv")


def test_permutation_csv_equals_the_permutation_figure():
    from qipstudy.robustness import plot_permutation_distribution

    rng = np.random.default_rng(3)
    windows = [(t, s) for t in (10, 20) for s in (3, 6)]
    draws = pd.DataFrame([(b, t, s, rng.normal(), rng.normal()) for b in range(40) for t, s in windows],
                         columns=["permutation", "t_window", "spat_window", "estimate", "t_value"])
    table = pd.DataFrame({"t_window": [10, 10, 20, 20], "spat_window": [3, 6, 3, 6], "estimate": [0.1, 0.9, 0.2, 0.3],
                          "t_value": [1.0, -3.5, 0.5, np.nan], "pvalue_ri": [0.5, 0.02, 0.7, np.nan]})
    data = figures.permutation_histograms(draws, table)
    fig = plot_permutation_distribution(draws, table)
    left, right = fig.axes[:2]
    assert bar_heights(left) == data.loc[data.series == "max_abs_t", "count"].tolist()
    assert bar_heights(right) == data.loc[data.series == "window_estimate", "count"].tolist()
    assert data.loc[data.series == "observed_abs_t", "value"].tolist() == [1.0, 3.5, 0.5]
    observed = data[data.series == "observed_estimate"].iloc[0]
    assert (observed.t_window, observed.spat_window, observed.value) == (10, 6, 0.9)  # largest |t|
    plt.close(fig)
