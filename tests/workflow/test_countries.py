"""Every configured country runs end to end offline; several countries run in one invocation."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# Every country file beyond Mali (run in the default workflow test) and AFR (the continent-scale
# benchmark world, config/continent.yaml) runs here; a new country file is picked up by itself.
NOT_HERE = {"MLI", "AFR"}
OTHER_COUNTRIES = sorted(p.stem for p in (REPO / "config/countries").glob("*.yaml") if p.stem not in NOT_HERE)
SMALL = {"synthetic": {"seed": 11, "scale": 0.4, "planted_effect": {
    "outcome": "civilians", "radius_km": 6, "days": 30, "mean_extra_events": 1.0}},
    "robustness": {"enabled": False}}


def _check_country(workdir: Path, iso3: str) -> None:
    results = workdir / "results" / iso3
    estimates = pd.read_csv(results / "mwa/civilians/estimates.csv")
    assert len(estimates) == 30
    # a small world (scale 0.4) leaves some windows without pre-period events: not estimable
    assert estimates["estimate"].notna().sum() >= 12, f"{iso3}: too few windows estimable"
    covering = estimates[(estimates["t_window"] >= 30) & (estimates["spat_window"] >= 6)].dropna(subset=["estimate"])
    assert len(covering) >= 8
    # the planted effect (1 event per QIP): clear in the typical window; single sparse windows of
    # a small world can be noisy
    assert 0.5 < covering["estimate"].median() < 1.5, f"{iso3}: the planted effect is missed"
    assert (covering["estimate"] > 0).mean() >= 0.8
    assert (covering["pvalue"] <= 0.1).mean() >= 0.7
    for stem in ("figure4_map", "figure6_heatmaps"):
        assert (results / "figures" / f"{stem}.png").stat().st_size > 10_000
    events = pd.read_parquet(results / "events/events.parquet")
    assert {"qip", "iati"} <= set(events["event_type"])


def test_other_countries_are_configured():
    assert {"CAF", "COD", "SSD"} <= set(OTHER_COUNTRIES)


def test_two_countries_in_one_invocation(workflow_copy, run_snakemake):
    countries = OTHER_COUNTRIES[:2]
    workdir, overlay = workflow_copy("two_countries", {**SMALL, "countries": countries})
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/config.yaml", str(overlay))
    for iso3 in countries:
        _check_country(workdir, iso3)
    table = pd.read_csv(workdir / "results/cross_country/table_cross_country_civilians.csv")
    assert len(table) == 30
    assert (workdir / "results/cross_country/heatmaps_civilians.png").stat().st_size > 10_000


@pytest.mark.parametrize("iso3", OTHER_COUNTRIES[2:])
def test_remaining_countries_end_to_end(iso3, workflow_copy, run_snakemake):
    workdir, overlay = workflow_copy(f"country_{iso3}", {**SMALL, "countries": [iso3]})
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/config.yaml", str(overlay))
    _check_country(workdir, iso3)
