"""Calendar time: calendar bins, exact matching on them, and the start-date balance diagnostic."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from matchedwake import matched_wake
from matchedwake.calendar_time import (
    CALENDAR_COLUMN,
    _weighted_ks,
    calendar_balance,
    calendar_bins,
    wake_times,
)
from matchedwake.windows import WindowWarning, window_designs
from qipstudy.calibration import simulate_study_world

TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))
MATCH = ["base_dist", "terrain"]


@pytest.fixture(scope="module")
def world():
    # treated projects start later than controls (density ∝ t²) while violence doubles
    return simulate_study_world(seed=11, calendar_selection=2.0, trend=1.0)


def run(df, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        return matched_wake(df, (10, 20, 10), (3, 6, 3), *TYPES, MATCH, weighted=True, tcm=True, **kw)


def test_calendar_bins_labels():
    ts = pd.Series(["2019-03-31", "2019-04-01", "2019-12-31", "2020-01-01"])
    assert list(calendar_bins(ts, "quarter")) == ["2019Q1", "2019Q2", "2019Q4", "2020Q1"]
    assert list(calendar_bins(ts, "half")) == ["2019H1", "2019H1", "2019H2", "2020H1"]
    assert list(calendar_bins(ts, "month")) == ["2019-03", "2019-04", "2019-12", "2020-01"]
    assert list(calendar_bins(ts, "year")) == ["2019", "2019", "2019", "2020"]
    assert list(calendar_bins(ts, "quarter").categories) == ["2019Q1", "2019Q2", "2019Q4", "2020Q1"]
    with pytest.raises(ValueError, match="calendar_match must be one of"):
        calendar_bins(ts, "week")


def test_calendar_matching_compares_wakes_only_within_a_quarter(world):
    base = run(world)
    assert base.parameters["calendar_match"] is None
    assert CALENDAR_COLUMN not in base.wakes.columns
    matched = run(world, calendar_match="quarter")
    assert matched.parameters["calendar_match"] == "quarter"
    assert matched.parameters["match_columns"] == MATCH + [CALENDAR_COLUMN]
    wakes = matched.wakes
    assert isinstance(wakes[CALENDAR_COLUMN].dtype, pd.CategoricalDtype)
    n_checked = 0
    for d in window_designs(wakes, match_columns=matched.parameters["match_columns"], tcm=True, fit=False):
        quarters = wakes[CALENDAR_COLUMN].to_numpy()[d.rows][d.matched]
        strata = d.strata[d.matched]
        per_stratum = pd.Series(quarters).groupby(strata).nunique()
        assert (per_stratum == 1).all()
        n_checked += per_stratum.size
    assert n_checked > 20
    # matching on time costs matched treated wakes
    assert (matched.matching["treatment_post"] <= base.matching["treatment_post"]).all()
    # the option is idempotent: the recorded match columns can be passed back
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        rerun = matched_wake(world, (10, 20, 10), (3, 6, 3), *TYPES, matched.parameters["match_columns"],
                             weighted=True, tcm=True, calendar_match="quarter")
    pd.testing.assert_frame_equal(rerun.estimates, matched.estimates)


def test_wake_times_recover_each_wakes_start_and_refuse_other_data(world):
    r = run(world)
    times = wake_times(world, r.wakes, ("type", "treatment"))
    sorted_days = world["start_day"].to_numpy()[np.argsort(world["timestamp"].to_numpy(), kind="stable")]
    expect_days = sorted_days[r.wakes["eventID"].to_numpy() - 1]
    t0 = np.datetime64("2017-01-01", "ms").astype(np.int64)
    np.testing.assert_array_equal((times - t0) // 86_400_000, expect_days)
    shuffled = world.sample(frac=1.0, random_state=1).reset_index(drop=True)
    shuffled["timestamp"] = shuffled["timestamp"].sample(frac=1.0, random_state=2).to_numpy()
    with pytest.raises(ValueError, match="does not belong to this data"):
        wake_times(shuffled, r.wakes, ("type", "treatment"))
    with pytest.raises(ValueError, match="eventIDs run to"):
        wake_times(world.iloc[:10], r.wakes, ("type", "treatment"))


def test_weighted_ks_by_hand():
    # treated at 0, 1; controls at 1, 2: CDFs 0.5/1/1 and 0/0.5/1 → 0.5
    assert _weighted_ks(np.array([0.0, 1.0]), np.ones(2), np.array([1.0, 2.0]), np.ones(2)) == 0.5
    # weight 3 on the control at 1: control CDF 0/0.75/1 → max gap 0.5 at 0, 0.25 at 1 → 0.5
    assert _weighted_ks(np.array([0.0, 1.0]), np.ones(2), np.array([1.0, 2.0]), np.array([3.0, 1.0])) == 0.5
    assert _weighted_ks(np.array([1.0]), np.ones(1), np.array([1.0]), np.ones(1)) == 0.0


def test_calendar_balance_by_hand_and_the_effect_of_matching_on_time(world):
    r = run(world)
    times = wake_times(world, r.wakes, ("type", "treatment"))
    bal = calendar_balance(r.wakes, times, match_columns=MATCH, tcm=True)
    assert len(bal) == 4
    d = next(iter(window_designs(r.wakes, match_columns=MATCH, tcm=True, fit=False)))
    days = times[d.rows] / 86_400_000
    g = r.wakes["treatment"].to_numpy()[d.rows]
    row = bal.iloc[0]
    assert row["diff_days_pre"] == pytest.approx(days[g == 1].mean() - days[g == 0].mean(), rel=1e-12)
    sel_t, sel_c = d.matched & (g == 1), d.matched & (g == 0)
    post = np.average(days[sel_t], weights=d.weights[sel_t]) - np.average(days[sel_c], weights=d.weights[sel_c])
    assert row["diff_days_post"] == pytest.approx(post, rel=1e-12)
    sd = np.sqrt((days[g == 1].var(ddof=1) + days[g == 0].var(ddof=1)) / 2)
    assert row["smd_pre"] == pytest.approx(row["diff_days_pre"] / sd, rel=1e-12)
    # the planted calendar selection: treated start months later, matching on covariates does
    # not fix it, matching on the quarter does
    assert (bal["diff_days_pre"] > 90).all() and (bal["diff_days_post"] > 60).all()
    q = run(world, calendar_match="quarter")
    bal_q = calendar_balance(q.wakes, wake_times(world, q.wakes, ("type", "treatment")),
                             match_columns=q.parameters["match_columns"], tcm=True)
    assert (bal_q["diff_days_post"].abs() < 25).all()
    assert (bal_q["ks_post"] < bal["ks_post"]).all()
    with pytest.raises(ValueError, match="times_ms has"):
        calendar_balance(r.wakes, times[:-1], match_columns=MATCH)
