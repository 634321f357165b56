"""A new small country, added as a file, runs the default configuration with robustness on.

Issue 14's acceptance: a state of about 150 × 100 km with two study regions (the size where, before,
matching covariates went constant, the balance plot crashed on a zero SD and estimates from a
handful of matched wakes were shown unflagged) runs end to end without a crash; windows whose
matched sample is below the minimum support are flagged in the tables and the heatmaps' numbers,
and every robustness variant either runs or is listed as skipped with its reason.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from small_state import SMALL_STATE as COUNTRY

from qipstudy.config import check_config

ISO3 = COUNTRY["iso3"]

pytestmark = pytest.mark.slow

# Only the country and the permutation count differ from config/config.yaml (robustness stays on,
# with every variant and placebo of the default).
OVERLAY = {"countries": [ISO3], "robustness": {"permutations": {"n": 19, "shards": 2, "seed": 5}}}


@pytest.fixture(scope="module")
def small_country_run(workflow_copy, run_snakemake):
    workdir, overlay = workflow_copy("small_country", OVERLAY)
    (workdir / "config" / "countries" / f"{ISO3}.yaml").write_text(yaml.safe_dump(COUNTRY, sort_keys=False),
                                                                 encoding="utf-8")
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/config.yaml", str(overlay))
    return workdir


def _config(run):
    """The run's configuration as the workflow sees it (config.yaml, the overlay, schema defaults)."""
    config = yaml.safe_load((run / "config" / "config.yaml").read_text(encoding="utf-8"))
    return check_config({**config, **OVERLAY}, project_root=run)


def test_robustness_part_ran_for_every_variant(small_country_run):
    results = small_country_run / "results" / ISO3
    variants = _config(small_country_run)["robustness"]["variants"]
    table = pd.read_csv(results / "tables" / "robustness_civilians.csv").set_index("variant")
    assert set(variants) <= set(table.index), f"variants missing: {sorted(set(variants) - set(table.index))}"
    for name, variant in variants.items():
        row = table.loc[name]
        assert row["description"] == variant["title"], name
        # every variant ran on the synthetic world (nothing is skipped offline) and was estimated
        assert row["windows"] == 30 and row["estimated"] > 0, f"variant {name}: {row.to_dict()}"
    for outcome in ("civilians", "battles", "nsag"):
        assert (results / "figures" / f"balance_{outcome}.png").stat().st_size > 10_000, outcome


def test_thin_windows_are_flagged_with_their_matched_counts(small_country_run):
    results = small_country_run / "results" / ISO3
    render = _config(small_country_run)["render"]
    n_t, n_c = render["min_matched_treated"], render["min_matched_control"]
    heatmap = pd.read_csv(results / "figures" / "figure6_heatmaps.csv")
    assert {"n_treated_matched", "n_control_matched", "thin_support"} <= set(heatmap.columns)
    expected = (heatmap["n_treated_matched"].fillna(0) < n_t) | (heatmap["n_control_matched"].fillna(0) < n_c)
    assert (heatmap["thin_support"].astype(bool) == expected).all()
    # a state this small has windows below the minimum support (the matched sample collapses at
    # the largest windows, where nearly every wake overlaps another) ...
    assert heatmap["thin_support"].astype(bool).any(), "no thin window in a 15,000 km² state"
    # ... and the significant-windows table states the rule and flags its rows
    sig = pd.read_csv(results / "tables" / "significant_windows_civilians.csv")
    assert {"n_treated_matched", "n_control_matched", "thin_support"} <= set(sig.columns)
    n_thin = int(heatmap.loc[heatmap["outcome"] == "civilians", "thin_support"].astype(bool).sum())
    caption = (results / "tables" / "significant_windows_civilians.md").read_text(encoding="utf-8").splitlines()[0]
    assert (f"thin_support marks windows with fewer than {n_t} matched treated or {n_c} matched control "
            f"wakes ({n_thin} of 30 windows of the grid)") in caption
    sources = json.loads((results / "tables" / "significant_windows_civilians.sources.json").read_text())
    assert {entry["mode"] for entry in sources["inputs"].values()} == {"synthetic"}


def test_covariates_vary_in_a_small_state(small_country_run):
    # the synthetic world scales with the country's area: no matching covariate is (near-)constant,
    # so balance and SMDs are defined (a saturated population surface used to give SD 0)
    results = small_country_run / "results" / ISO3
    summary = pd.read_csv(results / "tables" / "appendix_table3_covariate_summary.csv").set_index("statistic")
    assert len(summary) == 5
    assert (summary["sd"] > 1.0).all(), summary["sd"]
    assert summary.loc["ln(Population Density)", "p75"] < summary.loc["ln(Population Density)", "max"]
    caption = (results / "tables" / "appendix_table3_covariate_summary.md").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in caption.splitlines()[0]
