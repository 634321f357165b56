"""Every configured country runs end to end offline, all in one invocation, with the robustness
part on; the planted effect is recovered in the windows with enough matched support."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from matchedwake.plotting import with_matched_counts
from qipstudy.config import check_config

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# Every country file beyond Mali (run in the default workflow test) and AFR (the continent-scale
# benchmark world, config/continent.yaml) runs here; a new country file is picked up by itself.
NOT_HERE = {"MLI", "AFR"}
OTHER_COUNTRIES = sorted(p.stem for p in (REPO / "config/countries").glob("*.yaml") if p.stem not in NOT_HERE)
OVERLAY = {
    "countries": OTHER_COUNTRIES,
    "synthetic": {"seed": 11, "scale": 0.4, "planted_effect": {
        "outcome": "civilians", "radius_km": 6, "days": 30, "mean_extra_events": 1.0}},
    # the robustness part stays on (every variant, placebo and per-outcome analysis); fewer
    # permutations keep the test quick
    "robustness": {"permutations": {"n": 19, "shards": 1, "seed": 5}},
}
PLANTED = OVERLAY["synthetic"]["planted_effect"]


@pytest.fixture(scope="module")
def countries_run(workflow_copy, run_snakemake):
    workdir, overlay = workflow_copy("countries", OVERLAY)
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/config.yaml", str(overlay))
    return workdir


def _render_minimums(run: Path) -> tuple[int, int]:
    config = yaml.safe_load((run / "config" / "config.yaml").read_text(encoding="utf-8"))
    render = check_config({**config, **OVERLAY}, project_root=run)["render"]
    return render["min_matched_treated"], render["min_matched_control"]


def _supported_covering_windows(run: Path, iso3: str) -> tuple[pd.DataFrame, list[str]]:
    """The estimated windows that cover the planted cylinder (t ≥ its days, s ≥ its radius) and
    have the minimum matched support; and a note for each covering window left out, saying why."""
    n_t, n_c = _render_minimums(run)
    estimates = pd.read_csv(run / "results" / iso3 / "mwa/civilians/estimates.csv")
    matching = pd.read_csv(run / "results" / iso3 / "mwa/civilians/matching.csv")
    table = with_matched_counts(estimates, matching).rename(
        columns={"n_treated_matched": "treatment", "n_control_matched": "control"})
    covering = table[(table["t_window"] >= PLANTED["days"]) & (table["spat_window"] >= PLANTED["radius_km"])]
    left_out = []
    for row in covering.itertuples():
        window = f"{iso3} t={row.t_window:g} d, s={row.spat_window:g} km"
        if pd.isna(row.estimate):
            left_out.append(f"{window}: not estimable ({getattr(row, 'na_reason', '')})")
        elif row.treatment < n_t or row.control < n_c:
            left_out.append(f"{window}: thin support ({row.treatment:g} treated, {row.control:g} control "
                            f"matched wakes; minimum {n_t}/{n_c})")
    supported = covering[covering["estimate"].notna() & (covering["treatment"] >= n_t)
                         & (covering["control"] >= n_c)]
    return supported, left_out


def test_other_countries_are_configured():
    assert {"CAF", "COD", "SSD"} <= set(OTHER_COUNTRIES)


@pytest.mark.parametrize("iso3", OTHER_COUNTRIES)
def test_every_country_recovers_the_planted_effect_where_supported(iso3, countries_run):
    results = countries_run / "results" / iso3
    estimates = pd.read_csv(results / "mwa/civilians/estimates.csv")
    assert len(estimates) == 30
    supported, left_out = _supported_covering_windows(countries_run, iso3)
    note = "; ".join(left_out) or "none left out"
    assert len(supported) >= 8, f"{iso3}: only {len(supported)} supported covering windows (left out: {note})"
    # the planted effect (1 event per QIP) in every supported window: positive, of the planted
    # size in the typical window, significant in most
    wrong_sign = [f"t={r.t_window:g} d, s={r.spat_window:g} km: {r.estimate:.2f}"
                  for r in supported.itertuples() if r.estimate <= 0]
    assert len(wrong_sign) <= len(supported) // 10, f"{iso3}: estimates ≤ 0 in {wrong_sign} (left out: {note})"
    median = supported["estimate"].median()
    assert 0.5 < median < 1.5, f"{iso3}: median estimate {median:.2f} in the supported covering windows"
    not_significant = [f"t={r.t_window:g} d, s={r.spat_window:g} km: p={r.pvalue:.3f}"
                       for r in supported.itertuples() if not r.pvalue <= 0.1]
    assert len(not_significant) <= 0.3 * len(supported), (
        f"{iso3}: p > 0.1 in {len(not_significant)} of {len(supported)} supported windows: {not_significant}")
    for stem in ("figure4_map", "figure6_heatmaps", "robustness_civilians", "balance_civilians"):
        assert (results / "figures" / f"{stem}.png").stat().st_size > 10_000, f"{iso3}: {stem}"
    robustness = pd.read_csv(results / "tables" / "robustness_civilians.csv")
    assert len(robustness) == 1 + len(yaml.safe_load((countries_run / "config/config.yaml").read_text())
                                      ["robustness"]["variants"]), iso3
    events = pd.read_parquet(results / "events/events.parquet")
    assert {"qip", "iati"} <= set(events["event_type"])


def test_cross_country_comparison_excludes_thin_windows(countries_run):
    n_t, n_c = _render_minimums(countries_run)
    table = pd.read_csv(countries_run / "results/cross_country/table_cross_country_civilians.csv")
    assert len(table) == 30
    assert (countries_run / "results/cross_country/heatmaps_civilians.png").stat().st_size > 10_000
    caption = (countries_run / "results/cross_country/table_cross_country_civilians.md").read_text().splitlines()[0]
    assert f"Windows with fewer than {n_t} matched treated or {n_c} matched control wakes are excluded" in caption
