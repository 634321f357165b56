"""Config → rule → engine: every variant's overlay reaches the engine, and edits rerun only what they affect."""
from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
import yaml

from qipstudy.config import check_config
from qipstudy.covariates import MATCHING_COVARIATES

pytestmark = pytest.mark.slow

OUTCOME = "civilians"


def _config(run):
    """The run's configuration as the workflow completes it (schema defaults filled in)."""
    return check_config(yaml.safe_load((run / "config" / "config.yaml").read_text(encoding="utf-8")),
                        project_root=run)


def _parameters(run, variant=None):
    base = run / "results" / "MLI" / (f"robustness/{variant}/" if variant else "") / "mwa" / OUTCOME
    return json.loads((base / "parameters.json").read_text(encoding="utf-8"))


def _estimates(run, variant=None):
    base = run / "results" / "MLI" / (f"robustness/{variant}/" if variant else "") / "mwa" / OUTCOME
    return pd.read_csv(base / "estimates.csv").set_index(["t_window", "spat_window"])


def test_every_variant_overlay_reaches_the_engine(small_world_run):
    variants = _config(small_world_run)["robustness"]["variants"]
    main = _parameters(small_world_run)
    assert main["vcov"] == "classical" and main["weighted"] is True and main["tcm"] is True
    for name, overlay in variants.items():
        params = _parameters(small_world_run, name)
        for key, value in overlay.get("mwa", {}).items():
            assert params[key] == value, f"{name}: mwa.{key} is {params[key]!r} in parameters.json, not {value!r}"
        untouched = {k: v for k, v in main.items() if k not in overlay.get("mwa", {}) and k not in ("inputs", "run")}
        if overlay.get("mwa", {}).get("calendar_match"):
            # calendar matching matches on the start's calendar bin as one more CEM variable
            untouched["match_columns"] = [*main["match_columns"], "calendar_bin"]
        assert {k: params[k] for k in untouched} == untouched, f"{name} changed options it does not set"
        inputs = params["run"]["inputs"]
        for key, value in overlay.get("covariates", {}).items():
            assert inputs["covariates"][key] == value, f"{name}: covariates.{key} did not reach the covariates"
        assert inputs["outcome_source"] == overlay.get("outcome_source", "acled"), name
        assert inputs["population"] == overlay.get("population", "gpw"), name
        assert inputs["placebo"] == overlay.get("placebo", {}), name
        band = overlay.get("covariates", {}).get("nightlights_band", "cf_cvg")
        assert inputs["nightlights_file"].endswith(f"nightlights_{band}.tif"), name
        expected_population = "worldpop" if overlay.get("population") == "worldpop" else "population"
        assert f"/{expected_population}/" in inputs["population_file"], name


def test_estimates_or_standard_errors_differ_wherever_the_overlay_must_change_them(small_world_run):
    variants = _config(small_world_run)["robustness"]["variants"]
    main = _estimates(small_world_run)
    for name, overlay in variants.items():
        other = _estimates(small_world_run, name)
        assert other.index.equals(main.index), name
        se_only = set(overlay) == {"title", "mwa"} and set(overlay["mwa"]) <= {"vcov", "cluster_column"}
        if se_only:
            # same point estimates, other standard errors
            pd.testing.assert_series_equal(other["estimate"], main["estimate"], check_names=False)
            both = main["pvalue"].notna() & other["pvalue"].notna()
            assert both.any(), name
            assert not other.loc[both, "pvalue"].equals(main.loc[both, "pvalue"]), f"{name}: p-values equal the main run's"
        else:
            assert not other["estimate"].equals(main["estimate"]), f"{name}: estimates equal the main run's"


def _dry_run_jobs(run, run_snakemake, *configfiles):
    overlay = run / "config" / "test_overlay.yaml"
    proc = run_snakemake(run, "--cores", "1", "-n", "--configfile", "config/config.yaml", str(overlay), *configfiles)
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return set()
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, flags=re.M)} - {"job"}


def test_a_free_text_edit_of_a_country_file_reruns_nothing(small_world_run, run_snakemake):
    path = small_world_run / "config" / "countries" / "MLI.yaml"
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original.replace("sector Centre HQ", "sector Centre HQ (checked 2026)"), encoding="utf-8")
        assert path.read_text(encoding="utf-8") != original
        assert _dry_run_jobs(small_world_run, run_snakemake) == set()
    finally:
        path.write_text(original, encoding="utf-8")


def test_a_new_time_grid_reruns_only_estimation_and_what_follows(small_world_run, run_snakemake):
    extra = small_world_run / "config" / "t_window_overlay.yaml"
    extra.write_text(yaml.safe_dump({"mwa": {"t_window": [10, 50, 10]}}), encoding="utf-8")
    jobs = _dry_run_jobs(small_world_run, run_snakemake, str(extra))
    downstream = {"estimate_mwa", "make_table_significant_windows", "plot_heatmaps", "permute_mwa",
                  "make_inference_table", "plot_balance", "make_robustness_table", "draw_placebos",
                  "make_placebo_distribution", "make_heterogeneity_table", "make_event_study",
                  "make_power_table", "make_calendar_balance", "all"}
    assert "estimate_mwa" in jobs
    assert jobs <= downstream, f"a new t_window also reruns {sorted(jobs - downstream)}"
    assert not jobs & {"prepare_events", "build_covariates", "generate_synthetic_world"}


def test_coverage_checks_of_the_config_reach_prepare_and_covariates(small_world_run, run_snakemake, tmp_path):
    # checks.* are read by the rules, not only by the package's functions: a limit set in the config
    # stops prepare_events, another makes build_covariates warn (in a copy of the finished run, so
    # that only those two rules run again and the shared run stays as it is)
    run = tmp_path / "checks"
    shutil.copytree(small_world_run, run, symlinks=True)
    overlay = run / "config" / "test_overlay.yaml"
    target = "results/MLI/covariates/events.parquet"

    def rerun(checks: dict, name: str):
        extra = run / "config" / f"{name}.yaml"
        extra.write_text(yaml.safe_dump({"checks": checks}), encoding="utf-8")
        return run_snakemake(run, "--cores", "2", target, "--configfile", "config/config.yaml", str(overlay),
                             str(extra), check=False)

    strict = rerun({"max_share_dropped": 0.01}, "strict_filters")
    assert strict.returncode != 0
    log = (run / "logs" / "MLI" / "prepare_events.log").read_text(encoding="utf-8")
    assert "checks.max_share_dropped = 0.01" in log, log[-2000:]  # the limit of the config, not the default
    assert "checks.max_share_dropped = 0.8" not in log

    warned = rerun({"near_constant_share": 1e-6}, "warn_everything")
    assert warned.returncode == 0, warned.stderr[-4000:]
    log = (run / "logs" / "MLI" / "build_covariates.log").read_text(encoding="utf-8")
    for column in MATCHING_COVARIATES:  # one value in at least a millionth of the events: every one
        assert re.search(rf"WARNING .*covariate '{column}' is (near-)?constant", log), (column, log[-2000:])
    # the default limit (0.9) warns about none of them on this world
    default = (small_world_run / "logs" / "MLI" / "build_covariates.log").read_text(encoding="utf-8")
    assert "near-constant" not in default
