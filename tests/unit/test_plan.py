"""The workflow's plan (qipstudy.plan): which files each (country, spec) reads, what a variant reruns."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from qipstudy.config import check_config, load_countries
from qipstudy.plan import MAIN, Plan, country_view, deep_merge
from qipstudy.robustness import robustness_summary

REPO = Path(__file__).resolve().parents[2]


def _config(**overrides):
    with open(REPO / "config" / "config.yaml", encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    return check_config(deep_merge(raw, overrides), project_root=REPO)


def _plan(**overrides):
    config = _config(**overrides)
    return Plan(config, load_countries(config, REPO / "config" / "countries", project_root=REPO))


def test_deep_merge_overlays_nested_keys_only():
    merged = deep_merge({"a": {"x": 1, "y": 2}, "b": [1]}, {"a": {"y": 3}, "b": [2]})
    assert merged == {"a": {"x": 1, "y": 3}, "b": [2]}


def test_main_paths_are_the_readmes_and_variants_live_under_robustness():
    plan = _plan()
    assert plan.spec_dir(MAIN) == "" and plan.spec_of("") == MAIN
    assert plan.spec_dir("hc1") == "robustness/hc1/" and plan.spec_of("robustness/hc1/") == "hc1"
    assert plan.mwa_file("MLI", MAIN, "civilians") == "results/MLI/mwa/civilians/estimates.csv"
    assert plan.mwa_file("MLI", "hc1", "civilians") == "results/MLI/robustness/hc1/mwa/civilians/estimates.csv"


def test_each_variant_reuses_exactly_the_main_files_it_does_not_change():
    plan = _plan()
    own_events = {v for v in plan.variants if plan.events_spec(v) == v}
    own_covariates = {v for v in plan.variants if plan.covariates_spec(v) == v}
    assert own_events == {"ucdp", "placebo_dates", "placebo_locations", "placebo_aid_sites", "placebo_event_sites"}
    assert own_covariates == own_events | {"stable_lights", "worldpop", "major_roads"}
    # estimation-only variants read the main run's covariates
    for variant in ("unweighted", "no_tcm", "delete_sutva", "poisson", "negative_binomial", "hc1", "cluster_admin2",
                    "calendar_quarter"):
        assert plan.covariates_path("MLI", variant) == "results/MLI/covariates/events.parquet"
    assert plan.covariates_path("MLI", "worldpop") == "results/MLI/robustness/worldpop/covariates/events.parquet"
    assert plan.events_path("MLI", "worldpop") == "results/MLI/events/events.parquet"


def test_variant_settings_carry_the_overlay_to_each_step():
    plan = _plan()
    assert plan.settings("hc1").mwa["vcov"] == "HC1"
    assert plan.settings("cluster_admin2").mwa["cluster_column"] == "admin2"
    assert plan.settings("unweighted").mwa["weighted"] is False and plan.settings(MAIN).mwa["weighted"] is True
    assert plan.settings("major_roads").covariates["road_classes"] == ["motorway", "trunk", "primary"]
    assert plan.nightlights_file("MLI", "stable_lights").endswith("nightlights_stable_lights.tif")
    assert plan.nightlights_file("MLI", MAIN).endswith("nightlights_cf_cvg.tif")
    assert plan.population_file("MLI", "worldpop").startswith("resources/automatic/MLI/worldpop/")
    assert plan.outcome_events_file("MLI", "ucdp").endswith("/ged.csv")
    with pytest.raises(ValueError, match="unknown robustness variant 'nope'"):
        plan.settings("nope")


def test_a_real_run_skips_variants_whose_added_input_is_synthetic():
    datasets = {d: {"mode": "user", "version": "user", "user_file": "config/config.yaml"}
                for d in ("acled", "qip", "iati", "boundaries")}
    plan = _plan(datasets=datasets)
    assert plan.is_real_run()
    assert "ucdp is synthetic" in plan.skip_reason("ucdp")
    assert "worldpop is synthetic" in plan.skip_reason("worldpop")
    assert plan.skip_reason("hc1") is None and "ucdp" not in plan.run_variants()
    # offline (everything synthetic) nothing is skipped
    assert all(_plan().skip_reason(v) is None for v in _plan().variants)


def test_skipped_variants_appear_in_the_robustness_table_with_their_reason():
    import pandas as pd

    main = pd.DataFrame({"t_window": [10], "spat_window": [3], "estimate": [1.0], "pvalue": [0.01]})
    table = robustness_summary({"main": main}, alpha=0.05, skipped={"ucdp": "skipped: its input ucdp is synthetic"})
    row = table.set_index("variant").loc["ucdp"]
    assert row["estimated"] == 0 and "synthetic" in row["note"]


def test_country_view_projects_only_the_keys_a_step_reads():
    country = {"iso3": "MLI", "sources": {"acled_country": "Mali", "ucdp_country_id": 432},
               "bases": [{"name": "Gao", "lat": 1.0, "lon": 2.0, "admin3": "Gao", "source": "a note"}],
               "period": {"start": "2017-01-01", "end": "2020-12-31"}}
    assert country_view(country, ["sources.acled_country", "period"]) == {
        "sources": {"acled_country": "Mali"}, "period": {"start": "2017-01-01", "end": "2020-12-31"}}
    assert country_view(country, ["bases"]) == {"bases": [{"name": "Gao", "lat": 1.0, "lon": 2.0, "admin3": "Gao"}]}
    assert country_view(country, ["extent"]) == {}
    edited = copy.deepcopy(country)
    edited["bases"][0]["source"] = "another note"
    assert country_view(edited, ["bases"]) == country_view(country, ["bases"])


def test_outputs_come_from_the_registry():
    plan = _plan()
    outputs = plan.country_outputs("MLI")
    assert "results/MLI/tables/table1_qip_funding_by_activity_type.csv" in outputs
    assert "results/MLI/figures/heatmap_r_style_nsag.pdf" in outputs
    assert "results/MLI/tables/robustness_civilians.md" in outputs
    assert not any("robustness_battles" in p for p in outputs)
    assert not any("robustness" in p for p in _plan(robustness={"enabled": False}).country_outputs("MLI"))
