"""A tiny real run of the Snakefile: outputs exist, the planted effect is found, reruns do nothing."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from PIL import Image

from qipstudy.prepare import read_qips

pytestmark = pytest.mark.slow

TABLES = [
    "table1_qip_funding_by_activity_type",
    "appendix_table1_qip_funding_by_category",
    "table2_conditional_means",
    "appendix_table2_aid_projects_by_category",
    "appendix_table3_covariate_summary",
    "significant_windows_civilians",
    "significant_windows_battles",
    "significant_windows_nsag",
]
FIGURES = [
    "figure1_attacks",
    "figure4_map",
    "figure5_event_dates",
    "figure6_heatmaps",
    "appendix_figure1_covariate_histograms",
    "appendix_figure2_covariate_correlations",
    "heatmap_r_style_civilians",
]


def test_every_table_and_figure_exists_and_is_valid(small_world_run):
    results = small_world_run / "results" / "MLI"
    for stem in TABLES:
        table = pd.read_csv(results / "tables" / f"{stem}.csv")
        assert list(table.columns), stem
        assert (results / "tables" / f"{stem}.tex").read_text().strip().startswith("\\begin")
        assert "|" in (results / "tables" / f"{stem}.md").read_text()
    for stem in FIGURES:
        png = results / "figures" / f"{stem}.png"
        with Image.open(png) as image:
            assert image.size[0] > 300 and image.size[1] > 200, stem
        assert (results / "figures" / f"{stem}.pdf").read_bytes().startswith(b"%PDF")


def test_table1_sums_the_whole_qip_list_and_the_sample_table_the_events(small_world_run):
    tables = small_world_run / "results/MLI/tables"
    whole = read_qips(next((small_world_run / "resources/automatic/MLI/qip").glob("*/qips.csv")))
    events = pd.read_parquet(small_world_run / "results/MLI/events/events.parquet")
    sample = events[events["source"] == "qip"]
    assert len(sample) < len(whole)  # the filters drop QIPs, so the two totals differ
    for stem, qips in (("table1_qip_funding_by_activity_type", whole),
                       ("table1_qip_funding_by_activity_type_sample", sample)):
        table = pd.read_csv(tables / f"{stem}.csv").set_index("activity_type")["funding_usd"]
        assert table["Total"] == round(qips["funding_usd"].sum()), stem


def test_events_respect_period_and_study_regions(small_world_run):
    events = pd.read_parquet(small_world_run / "results/MLI/events/events.parquet")
    assert events["date"].min() >= pd.Timestamp("2017-01-01")
    assert events["date"].max() <= pd.Timestamp("2020-12-31")
    assert set(events["admin1"]) <= {"Gao", "Kidal", "Mopti", "Ségou", "Tombouctou"}
    assert {"qip", "iati"} <= set(events["event_type"])


def _estimates(run, outcome):
    return pd.read_csv(run / f"results/MLI/mwa/{outcome}/estimates.csv")


def test_planted_effect_is_recovered_for_civilians(small_world_run):
    truth = json.loads((small_world_run / "resources/automatic/MLI/synthetic_world/truth.json").read_text())
    planted = truth["planted_effect"]["mean_extra_events"]
    est = _estimates(small_world_run, "civilians")
    covering = est[(est["t_window"] >= 30) & (est["spat_window"] >= 6)]
    assert len(covering) == 16  # t in 30..60 x s in 6..15
    assert (covering["pvalue"] <= 0.05).all(), covering
    assert (covering["estimate"] > 0).all()
    assert covering["estimate"].median() == pytest.approx(planted, abs=0.4 * planted)


def test_battles_show_no_planted_effect(small_world_run):
    est = _estimates(small_world_run, "battles").dropna(subset=["estimate"])
    civilians = _estimates(small_world_run, "civilians")
    big = civilians[(civilians["t_window"] >= 30) & (civilians["spat_window"] >= 6)]["estimate"].median()
    assert est["estimate"].abs().median() < 0.3 * big
    assert (est["pvalue"] <= 0.05).mean() <= 0.25


def test_second_run_has_nothing_to_do(small_world_run, run_snakemake):
    overlay = small_world_run / "config" / "test_overlay.yaml"
    proc = run_snakemake(small_world_run, "--cores", "1", "-n", "--configfile", "config/config.yaml", str(overlay))
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_robustness_variants_and_placebos(small_world_run):
    table = pd.read_csv(small_world_run / "results/MLI/tables/robustness_civilians.csv").set_index("variant")
    config = yaml.safe_load((small_world_run / "config/config.yaml").read_text())
    assert set(table.index) == {"main", *config["robustness"]["variants"]}
    # the planted effect survives the specification changes ...
    for variant in ("unweighted", "no_tcm", "hc1", "cluster_admin2", "stable_lights", "worldpop", "major_roads"):
        assert table.loc[variant, "significant_positive"] >= 0.6 * table.loc["main", "significant_positive"], variant
    # every covariate variant really changes the inputs (not a copy of the main run)
    windows = pd.read_csv(small_world_run / "results/MLI/tables/robustness_windows_civilians.csv")
    main = windows[windows["variant"] == "main"].set_index(["t_window", "spat_window"])["estimate"]
    for variant in ("stable_lights", "worldpop", "major_roads", "no_tcm", "ucdp"):
        other = windows[windows["variant"] == variant].set_index(["t_window", "spat_window"])["estimate"]
        assert not main.equals(other), f"{variant} reproduces the main estimates exactly"
    # ... and the placebos find (almost) nothing
    for placebo in ("placebo_dates", "placebo_aid_sites"):
        assert table.loc[placebo, "significant_positive"] <= 3, placebo


def test_grid_wide_inference_keeps_the_planted_effect(small_world_run):
    table = pd.read_csv(small_world_run / "results/MLI/inference/civilians/inference.csv")
    assert {"pvalue_holm", "pvalue_BH", "pvalue_ri", "pvalue_wy"} <= set(table.columns)
    covering = table[(table["t_window"] >= 30) & (table["spat_window"] >= 6)]
    # Westfall-Young step-down (never above the single-step p) finds the effect in every covering
    # window; with 39 permutations the smallest attainable p is 1/40
    assert (covering["pvalue_wy_stepdown"] <= 0.05).all(), covering[["t_window", "spat_window", "pvalue_wy_stepdown"]]
    assert (covering["pvalue_wy_stepdown"] <= covering["pvalue_wy"]).all()
    assert (covering["pvalue_wy"] <= 0.05).mean() >= 0.75
    fitted = table.dropna(subset=["estimate"])
    assert (fitted["n_permutations"] == 39).all()
    assert (table.loc[table["estimate"].isna(), "n_permutations"] == 0).all()
    assert (fitted["pvalue_holm"] >= fitted["pvalue"]).all()
    balance = pd.read_csv(small_world_run / "results/MLI/tables/balance_civilians.csv")
    assert {"smd_pre", "smd_post", "L1_pre", "L1_post"} <= set(balance.columns)
