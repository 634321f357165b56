"""Placebos as distributions: QIPs moved to random sites where events occur, many draws."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sim_study import SETTINGS, study_covariates

from matchedwake.inference import observed_statistics
from matchedwake.windows import WindowWarning
from qipstudy.estimate import run_mwa
from qipstudy.placebos import (
    DRAW_COLUMNS,
    location_columns,
    move_treated,
    placebo_draws,
    placebo_reference,
    placebo_shard,
    plot_placebo_reference,
)
from qipstudy.robustness import inference_options


@pytest.fixture(scope="module")
def covariates():
    return study_covariates(seed=21, effect=1.5)


def test_move_treated_takes_every_place_column_from_a_site(covariates):
    cols = location_columns(covariates, SETTINGS["match_columns"])
    assert cols == ["lat", "lon", "admin1", "admin2", "nl", "road_dist"]
    moved = move_treated(covariates, SETTINGS, pool="aid_sites", draw=0, seed=1, columns=cols)
    qip = (covariates["event_type"] == "qip").to_numpy()
    pd.testing.assert_frame_equal(moved.loc[~qip], covariates.loc[~qip])
    for c in ("event_id", "date", "timestamp", "event_type", "activity_type"):
        pd.testing.assert_series_equal(moved[c], covariates[c])
    sites = covariates.loc[covariates["event_type"] == "iati", cols]
    site_keys = set(map(tuple, sites.to_numpy()))
    assert all(tuple(row) in site_keys for row in moved.loc[qip, cols].to_numpy())
    events = move_treated(covariates, SETTINGS, pool="event_sites", draw=0, seed=1, columns=cols)
    ev_keys = set(map(tuple, covariates.loc[covariates["source"] == "acled", cols].to_numpy()))
    assert all(tuple(row) in ev_keys for row in events.loc[qip, cols].to_numpy())
    again = move_treated(covariates, SETTINGS, pool="aid_sites", draw=0, seed=1, columns=cols)
    pd.testing.assert_frame_equal(again, moved)
    other = move_treated(covariates, SETTINGS, pool="aid_sites", draw=1, seed=1, columns=cols)
    assert not other["lat"].equals(moved["lat"])
    with pytest.raises(ValueError, match="pool must be one of"):
        move_treated(covariates, SETTINGS, pool="uniform", draw=0, seed=1, columns=cols)


def test_draws_are_shardable_and_estimable(covariates):
    whole = placebo_draws(covariates, "civilians", SETTINGS, draws=range(4), seed=3)
    assert list(whole.columns) == DRAW_COLUMNS
    shards = [placebo_shard(covariates, "civilians", SETTINGS, shard=k, n_shards=2, n_draws=4, seed=3)
              for k in range(2)]
    pd.testing.assert_frame_equal(pd.concat(shards, ignore_index=True), whole)
    # placebo sites where aid is: every window of every draw is estimable (uniform points: 0/30
    # on the default world, README)
    assert whole["estimate"].notna().mean() == 1.0
    # the t values are the HC1 ones
    one = whole[whole["draw"] == 0]
    assert one["t_value"].notna().all()


def test_placebo_reference_by_hand():
    observed = pd.DataFrame({"t_window": [10.0, 20.0], "spat_window": [3.0, 3.0],
                             "estimate": [1.0, 0.5], "pvalue": [0.01, 0.3], "t_value": [3.0, 1.0]})
    rows = [(0, 10, 3, 0.2, 0.5, 1.0), (0, 20, 3, -0.1, 0.04, -2.1),
            (1, 10, 3, 1.2, 0.02, 3.5), (1, 20, 3, 0.3, 0.6, 0.5),
            (2, 10, 3, -0.4, 0.3, -1.0), (2, 20, 3, np.nan, np.nan, np.nan)]
    draws = pd.DataFrame(rows, columns=DRAW_COLUMNS[:-1]).assign(matched_treated=10)
    windows, grid = placebo_reference(observed, draws, alpha=0.05)
    w = windows.set_index("t_window")
    # window 10: |t| ≥ 3 in draw 1 only → (1+1)/(1+3); window 20: |t| ≥ 1 in draw 0 → 2/3
    assert w.loc[10.0, "pvalue_placebo"] == pytest.approx(2 / 4)
    assert w.loc[20.0, "pvalue_placebo"] == pytest.approx(2 / 3)
    assert w.loc[20.0, "estimable_share"] == pytest.approx(2 / 3)
    assert w.loc[10.0, "placebo_mean"] == pytest.approx((0.2 + 1.2 - 0.4) / 3)
    g = grid.set_index("statistic")
    # significant windows per draw: 1, 1, 0; observed 1 → draws ≥ 1: 2 → 3/4
    assert g.loc["significant_windows", "observed"] == 1
    assert g.loc["significant_windows", "pvalue_placebo"] == pytest.approx(3 / 4)
    # max |t|: 2.1, 3.5, 1.0 vs 3.0 → 1 draw ≥ → 2/4
    assert g.loc["max_abs_t", "pvalue_placebo"] == pytest.approx(2 / 4)
    with pytest.raises(ValueError, match="overlapping"):
        placebo_reference(observed, pd.concat([draws, draws.iloc[:1]]))


def test_a_planted_effect_stands_out_of_the_placebo_distribution(covariates, tmp_path):
    settings = {**SETTINGS, "vcov": "HC1"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        main = run_mwa(covariates, "civilians", settings)
        observed = observed_statistics(main.wakes, **inference_options(main.parameters))
    draws = placebo_draws(covariates, "civilians", SETTINGS, draws=range(9), seed=5)
    windows, grid = placebo_reference(observed, draws)
    g = grid.set_index("statistic")
    # 1.5 planted events per QIP within 6 km and 20 days: the main run has more significant
    # windows and a larger max |t| than every one of the 9 placebo draws → p = 1/10
    assert g.loc["max_abs_t", "pvalue_placebo"] == pytest.approx(1 / 10)
    assert g.loc["significant_positive_windows", "observed"] > g.loc["significant_positive_windows", "placebo_q95"]
    covering = windows[(windows["t_window"] >= 20) & (windows["spat_window"] >= 6)]
    assert (covering["estimate"] > covering["placebo_q975"]).all()
    fig = plot_placebo_reference(draws, observed, title="test")
    fig.savefig(tmp_path / "placebo.png")
