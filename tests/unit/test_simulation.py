"""Simulated data with a planted effect: the engine must recover it, and find little without it."""
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import matchedwake
from matchedwake.counting import distance_km
from matchedwake.simulate import simulate_events

TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))
T_WINDOW, S_WINDOW = (5, 20, 5), (2.5, 10, 2.5)  # 16 windows; 9 of them (t >= 10, s >= 5) contain the cylinder


def _simulate(effect, seed):
    # 250 treatment + 250 control wakes, ~1 background event per 10 km x 20 day cylinder
    return simulate_events(250, 250, 10_000, days=730, box_km=300, center=(12.0, -2.0),
                           effect=effect, effect_radius_km=5.0, effect_days=10, seed=seed)


def _run(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # windows without a usable regression warn; they are NA
        return matchedwake.matched_wake(df, T_WINDOW, S_WINDOW, *TYPES, ["cov1", "cov2"],
                                        weighted=True, tcm=True)


def test_simulated_frame_layout():
    df = simulate_events(20, 30, 40, days=100, box_km=50, effect=1.5, seed=3, n_covariates=3)
    assert list(df.columns) == ["type", "timestamp", "lat", "lon", "cov1", "cov2", "cov3"]
    counts = df["type"].value_counts()
    truth = df.attrs["truth"]
    assert (counts["treatment"], counts["control"], counts["sentinel"]) == (20, 30, 2)
    assert counts["dependent"] == 40 + truth["n_planted"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", t) for t in df["timestamp"])
    assert df["timestamp"].is_monotonic_increasing  # zero-padded strings sort chronologically
    assert df["type"].iloc[0] == "sentinel" and df["type"].iloc[-1] == "sentinel"
    # sentinels sit 3650 days before the start and 3650 days after the last possible event
    ts = pd.to_datetime(df["timestamp"])
    assert ts.iloc[0] == pd.Timestamp("2010-01-01") - pd.Timedelta(days=3650)
    assert ts.iloc[-1] == pd.Timestamp("2010-01-01") + pd.Timedelta(days=100 + 11 + 3650)
    # the 50 km box around (0, 0): half-side 25 km = 0.225 degrees at the equator
    core = df[df["type"].isin(["treatment", "control"])]
    assert core["lat"].abs().max() <= 25 / 111.111 and core["lon"].abs().max() <= 25 / 111.111
    assert truth["expected_estimate"] == 1.5 and truth["effect_days"] == 10
    # same seed, same data
    pd.testing.assert_frame_equal(df, simulate_events(20, 30, 40, days=100, box_km=50, effect=1.5,
                                                      seed=3, n_covariates=3))


def test_planted_events_lie_in_their_cylinder():
    df = simulate_events(40, 10, 0, days=200, box_km=500, effect=3.0, effect_radius_km=4.0,
                         effect_days=7, seed=11)
    truth = df.attrs["truth"]
    assert truth["n_planted"] > 60  # Poisson(3) x 40
    ms = pd.to_datetime(df["timestamp"]).to_numpy().astype("datetime64[s]").astype(np.int64)
    tr = np.flatnonzero(df["type"] == "treatment")
    dep = np.flatnonzero(df["type"] == "dependent")
    assert dep.size == truth["n_planted"]
    d = distance_km(df["lat"].to_numpy()[dep][:, None], df["lon"].to_numpy()[dep][:, None],
                    df["lat"].to_numpy()[tr][None, :], df["lon"].to_numpy()[tr][None, :])
    lag_days = (ms[dep][:, None] - ms[tr][None, :]) // 86_400
    inside = (d <= 4.0) & (lag_days >= 1) & (lag_days <= 7)
    assert inside.any(axis=1).all()


def test_extent_and_validation():
    df = simulate_events(5, 5, 50, days=30, extent=(-18, 52, -35, 37), seed=1,
                         timestamp_as="datetime")
    assert pd.api.types.is_datetime64_any_dtype(df["timestamp"])
    body = df[df["type"] != "sentinel"]
    assert body["lon"].between(-18, 52).all() and body["lat"].between(-35, 37).all()
    with pytest.raises(ValueError):
        simulate_events(5, 5, 5, box_km=10, extent=(0, 1, 0, 1))
    with pytest.raises(ValueError):
        simulate_events(5, 5, 5, effect=-1)


@pytest.mark.parametrize("seed", [1, 2])
def test_planted_effect_is_recovered(seed):
    res = _run(_simulate(2.0, seed))
    est = res.estimates
    contains = (est["t_window"] >= 10) & (est["spat_window"] >= 5)
    inside = est[contains]
    assert len(inside) == 9
    assert (inside["pvalue"] <= 0.05).all()
    # each treatment adds Poisson(2) events inside the cylinder: the estimate is 2 up to noise
    # (standard error about 0.15 here)
    assert ((inside["estimate"] - 2.0).abs() <= 0.5).all()
    assert abs(inside["estimate"].mean() - 2.0) <= 0.3
    # windows with half the days (t = 5) see about half the effect
    half = est[(est["t_window"] == 5) & (est["spat_window"] >= 5)]
    assert ((half["estimate"] - 1.0).abs() <= 0.4).all()


def test_no_effect_gives_nominal_share_of_significant_windows():
    n_sig = n_est = 0
    for seed in range(1, 7):
        est = _run(_simulate(0.0, seed)).estimates
        p = est["pvalue"].dropna()
        n_sig += int((p <= 0.05).sum())
        n_est += len(p)
        assert est["estimate"].abs().max() < 0.5
    assert n_est >= 6 * 9
    assert n_sig / n_est <= 0.2
