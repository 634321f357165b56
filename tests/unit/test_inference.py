"""Randomization inference, Westfall–Young max-T, p-value adjustment and balance diagnostics."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from matchedwake import matched_wake
from matchedwake.adjust import p_adjust
from matchedwake.inference import (
    _prepare,
    adjust_estimates,
    balance_table,
    combine_permutations,
    observed_statistics,
    permutation_draws,
    permutation_inference,
    permuted_labels,
)
from matchedwake.plotting import plot_balance
from matchedwake.simulate import simulate_events
from matchedwake.windows import WindowWarning

TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))


def run(df, t=(5, 15, 5), s=(2, 10, 4), match=("cov1", "cov2"), **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        return matched_wake(df, t, s, *TYPES, list(match), **kw)


@pytest.fixture(scope="module")
def planted():
    df = simulate_events(150, 150, 1500, days=365, box_km=60, effect=1.0, effect_radius_km=5,
                         effect_days=10, seed=1)
    return run(df)


@pytest.fixture(scope="module")
def null_result():
    return run(simulate_events(80, 80, 800, days=300, box_km=40, seed=4))


# ------------------------------------------------------------------ counting by hand
def test_p_values_counted_by_hand():
    obs = pd.DataFrame({"t_window": [5.0, 5.0, 10.0], "spat_window": [2.0, 4.0, 2.0],
                        "estimate": [0.4, -0.2, np.nan], "pvalue": [0.05, 0.3, np.nan],
                        "t_value": [2.0, -1.0, np.nan]})
    # permutation: |t| of window A (5, 2), window B (5, 4); window C failed in the data
    rows = [(0, 5, 2, 1.0), (0, 5, 4, 0.5), (0, 10, 2, 100.0),
            (1, 5, 2, -2.5), (1, 5, 4, np.nan),
            (2, 5, 2, 0.1), (2, 5, 4, -1.0),
            (3, 5, 2, 1.9), (3, 5, 4, 3.0)]
    draws = pd.DataFrame(rows, columns=["permutation", "t_window", "spat_window", "t_value"])
    draws["estimate"] = draws["t_value"] / 10
    out = combine_permutations(obs, draws)
    # A: |t_b| >= 2 only in b=1 → (1+1)/(4+1); B: fitted in 3 draws, |t_b| >= 1 in b=2 (a tie)
    # and b=3 → (1+2)/(3+1)
    np.testing.assert_allclose(out["pvalue_ri"].to_numpy()[:2], [2 / 5, 3 / 4])
    # max over the family {A, B} per draw: 1.0, 2.5, 1.0, 3.0 (C is not in the family)
    # A: max >= 2 in b=1, b=3 → 3/5; B: max >= 1 in all four → 5/5
    np.testing.assert_allclose(out["pvalue_wy"].to_numpy()[:2], [3 / 5, 1.0])
    assert out["n_permutations"].tolist() == [4, 3, 0]
    assert out.iloc[2][["pvalue_ri", "pvalue_wy"]].isna().all()
    assert list(out.columns) == ["t_window", "spat_window", "estimate", "pvalue", "t_value",
                                 "pvalue_ri", "pvalue_wy", "pvalue_wy_stepdown",
                                 "n_permutations"]
    # shards given as a list give the same answer; overlapping shards are refused
    pd.testing.assert_frame_equal(combine_permutations(obs, [draws.iloc[:4], draws.iloc[4:]]), out)
    with pytest.raises(ValueError, match="overlapping"):
        combine_permutations(obs, [draws, draws.iloc[:2]])
    with pytest.raises(ValueError, match="lacks columns"):
        combine_permutations(obs, draws.drop(columns="t_value"))


def test_wy_is_never_below_ri_and_ri_never_below_one_over_b_plus_one(planted):
    out = permutation_inference(planted, 39, seed=2)
    ok = out["pvalue_wy"].notna()
    assert (out.loc[ok, "pvalue_wy"] >= out.loc[ok, "pvalue_ri"] - 1e-12).all()
    assert (out.loc[ok, "pvalue_ri"] >= 1 / 40).all()


# ------------------------------------------------------------------ determinism and sharding
def test_determinism_and_shard_independence(null_result):
    opts = dict(match_columns=["cov1", "cov2"], seed=7)
    wakes = null_result.wakes
    whole = permutation_draws(wakes, permutations=range(0, 10), **opts)
    again = permutation_draws(wakes, permutations=range(0, 10), **opts)
    pd.testing.assert_frame_equal(whole, again)
    shards = [permutation_draws(wakes, permutations=range(k * 5, (k + 1) * 5), **opts)
              for k in range(2)]
    pd.testing.assert_frame_equal(pd.concat(shards, ignore_index=True), whole)
    # a shard in another order, e.g. a job that only ran permutation 6
    single = permutation_draws(wakes, permutations=[6], **opts)
    pd.testing.assert_frame_equal(single.reset_index(drop=True),
                                  whole[whole["permutation"] == 6].reset_index(drop=True))
    obs = observed_statistics(wakes, match_columns=["cov1", "cov2"])
    pd.testing.assert_frame_equal(combine_permutations(obs, shards),
                                  combine_permutations(obs, whole))
    pd.testing.assert_frame_equal(combine_permutations(obs, whole),
                                  permutation_inference(null_result, 10, seed=7))
    other = permutation_draws(wakes, permutations=range(0, 10), match_columns=["cov1", "cov2"],
                              seed=8)
    assert not np.allclose(other["t_value"], whole["t_value"], equal_nan=True)
    assert set(whole.columns) == {"permutation", "t_window", "spat_window", "estimate", "t_value",
                                 "scheme"}


def test_observed_statistics_match_the_estimates_table(null_result):
    obs = observed_statistics(null_result.wakes, match_columns=["cov1", "cov2"])
    est = null_result.estimates
    np.testing.assert_array_equal(obs["estimate"], est["estimate"])
    np.testing.assert_array_equal(obs["pvalue"], est["pvalue"])
    assert obs["t_value"].notna().sum() == est["pvalue"].notna().sum()


def test_robust_options_are_taken_from_the_result():
    df = simulate_events(80, 80, 800, days=300, box_km=40, seed=4)
    df["district"] = np.arange(len(df)) % 7
    r = run(df, vcov="cluster", cluster_column="district", weighted=True)
    out = permutation_inference(r, 5, seed=1)
    np.testing.assert_array_equal(out["pvalue"], r.estimates["pvalue"])


def test_invalid_arguments(null_result):
    with pytest.raises(ValueError, match="n_permutations"):
        permutation_inference(null_result, 0)
    with pytest.raises(ValueError, match="seed"):
        permutation_inference(null_result, 5, seed=-1)
    with pytest.raises(ValueError, match="non-negative"):
        permutation_draws(null_result.wakes, match_columns=["cov1"], permutations=[-1], seed=0)


# ------------------------------------------------------------------ the permutation scheme
def test_within_stratum_permutation_preserves_treated_counts(null_result):
    setup = _prepare(null_result.wakes, ["cov1", "cov2"], "lm",
                     "dependent_post ~ dependent_pre + treatment", False, [], False, True,
                     "classical", None)
    changed = 0
    for b in range(20):
        keys = np.random.default_rng([3, b]).random(setup.n_keys)
        for w in setup.windows:
            if not w.fit_ok:
                continue
            observed = w.X[:, -1]
            labels = permuted_labels(w, keys)
            k = w.n_treated.size
            np.testing.assert_array_equal(np.bincount(w.strata, weights=labels, minlength=k),
                                          np.bincount(w.strata, weights=observed, minlength=k))
            changed += not np.array_equal(labels, observed)
    assert changed > 0


def test_each_unit_of_a_stratum_is_equally_likely_to_be_treated():
    """A stratum of 4 wakes with 1 treated: each wake is treated in about 1/4 of draws, and
    the same event gets the same key in every window (coupling across windows)."""
    from matchedwake.inference import _PermWindow

    def window(events):
        n = len(events)
        return _PermWindow(t_window=0, spat_window=0, fit_ok=True, event=np.array(events),
                           strata=np.zeros(n, dtype=np.int64), stratum_start=np.array([0]),
                           n_treated=np.array([1]), control_weight=np.ones(1), y=np.zeros(n),
                           X=np.zeros((n, 1)), control_index=np.empty(0, dtype=int), cluster=None)

    a, b = window([1, 2, 3, 4]), window([4, 3, 2, 1])
    hits = np.zeros(4)
    for i in range(4000):
        keys = np.random.default_rng([0, i]).random(5)
        la, lb = permuted_labels(a, keys), permuted_labels(b, keys)
        np.testing.assert_array_equal(la, lb[::-1])  # same events treated in both windows
        hits += la
    np.testing.assert_allclose(hits / 4000, 0.25, atol=0.03)


# ------------------------------------------------------------------ power and FWER
def test_planted_effect_gives_small_ri_and_wy_p_values(planted):
    out = permutation_inference(planted, 199, seed=11)
    cover = (out["t_window"] >= 10) & (out["spat_window"] >= 5)
    assert cover.sum() == 4
    assert (out.loc[cover, "pvalue_ri"] <= 0.01).all()
    assert (out.loc[cover, "pvalue_wy"] <= 0.05).all()


def test_fwer_of_westfall_young_is_near_nominal_while_uncorrected_is_not():
    """20 null data sets (no planted effect), 16 windows each, 49 permutations: measured share
    with any window at p ≤ 0.05 is 0.55 uncorrected and 0.05 with WY (0.435 and 0.03 over the
    same design with 200 data sets; with 49 permutations WY's attainable level is 0.04), i.e.
    WY holds the family-wise level that reading off uncorrected p-values does not."""
    any_unc = any_wy = 0
    n_sets = 20
    for k in range(n_sets):
        df = simulate_events(50, 50, 600, days=200, box_km=25, seed=1000 + k, n_covariates=1)
        res = run(df, t=(4, 16, 4), s=(2, 8, 2), match=("cov1",))
        out = permutation_inference(res, 49, seed=k)
        assert len(out) == 16
        any_unc += bool((out["pvalue"] <= 0.05).any())
        any_wy += bool((out["pvalue_wy"] <= 0.05).any())
    fwer_unc, fwer_wy = any_unc / n_sets, any_wy / n_sets
    assert fwer_wy <= 0.2
    assert fwer_unc >= 0.3 and fwer_unc >= fwer_wy + 0.2


# ------------------------------------------------------------------ adjustment
def test_adjust_estimates_adds_holm_and_bh(null_result):
    est = null_result.estimates.copy()
    est.loc[1, "pvalue"] = np.nan
    out = adjust_estimates(est)
    assert list(out.columns) == list(est.columns) + ["pvalue_holm", "pvalue_BH"]
    assert "pvalue_holm" not in est.columns
    p = est["pvalue"].to_numpy()
    np.testing.assert_array_equal(out["pvalue_holm"], p_adjust(p, "holm"))
    np.testing.assert_array_equal(out["pvalue_BH"], p_adjust(p, "BH"))
    assert math.isnan(out.loc[1, "pvalue_holm"])
    ok = ~np.isnan(p)
    assert (out["pvalue_holm"][ok] >= out["pvalue_BH"][ok] - 1e-15).all()
    assert (out["pvalue_BH"][ok] >= p[ok] - 1e-15).all()
    assert list(adjust_estimates(est, methods="fdr").columns)[-1] == "pvalue_BH"


# ------------------------------------------------------------------ balance
def test_balance_table_by_hand(planted):
    bal = balance_table(planted)
    assert len(bal) == len(planted.estimates) * 3
    assert bal["variable"].tolist()[:3] == ["cov1", "cov2", "dependent_trend"]
    m = planted.matching.set_index(["t_window", "spat_window"])
    first = bal.drop_duplicates(["t_window", "spat_window"]).set_index(["t_window", "spat_window"])
    for c in ("L1_pre", "L1_post", "commonSupport_pre", "commonSupport_post"):
        np.testing.assert_array_equal(first[c], m.loc[first.index, c])
    # window (10, 6), cov1, by hand
    from matchedwake.windows import window_designs

    designs = {(d.t_window, d.spat_window): d
               for d in window_designs(planted.wakes, match_columns=["cov1", "cov2"], fit=False)}
    d = designs[(10.0, 6.0)]
    wk = planted.wakes.iloc[d.rows]
    x, g = wk["cov1"].to_numpy(), wk["treatment"].to_numpy()
    sd = math.sqrt((x[g == 1].var(ddof=1) + x[g == 0].var(ddof=1)) / 2)
    smd_pre = (x[g == 1].mean() - x[g == 0].mean()) / sd
    mt = np.average(x[d.matched & (g == 1)], weights=d.weights[d.matched & (g == 1)])
    mc = np.average(x[d.matched & (g == 0)], weights=d.weights[d.matched & (g == 0)])
    row = bal[(bal.t_window == 10) & (bal.spat_window == 6) & (bal.variable == "cov1")].iloc[0]
    np.testing.assert_allclose([row.smd_pre, row.smd_post], [smd_pre, (mt - mc) / sd], rtol=1e-12)
    # CEM shrinks the imbalance of the matched variables on average
    assert bal["smd_post"].abs().mean() < bal["smd_pre"].abs().mean()


def test_balance_table_from_wakes_and_factors():
    df = simulate_events(60, 60, 500, days=200, box_km=30, seed=9)
    df["region"] = pd.Categorical(np.where(df["lat"] > 0, "north", "south"))
    r = run(df, match=("cov1", "region"), t=(5, 5, 0), s=(4, 4, 0))
    bal = balance_table(r.wakes, match_columns=["cov1", "region"])
    reg = bal[bal.variable == "region"].iloc[0]
    assert reg["factor"] and math.isnan(reg["smd_pre"])
    assert not bal[bal.variable == "cov1"]["factor"].iloc[0]
    with pytest.raises(ValueError, match="match_columns"):
        balance_table(r.wakes)


def test_plot_balance(planted, tmp_path):
    bal = balance_table(planted)
    fig = plot_balance(bal)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["cov1", "cov2",
                                                                      "dependent_trend"]
    # one dot per window in the L1 panel
    assert sum(len(c.get_offsets()) for c in fig.axes[1].collections) == len(planted.estimates)
    fig.savefig(tmp_path / "balance.png")
    assert (tmp_path / "balance.png").stat().st_size > 10_000
    single = Figure()
    ax = single.add_subplot()
    assert plot_balance(bal, ax=ax) is single and len(single.axes) == 1
    with pytest.raises(ValueError, match="no column"):
        plot_balance(bal.drop(columns="smd_post"))


# ------------------------------------------------------------------ step-down, single assignment
def test_stepdown_maxt_by_hand():
    from matchedwake.inference import stepdown_maxt

    t_obs = np.array([3.0, 2.0, 1.0, np.nan])  # the fourth window has no observed fit
    draws = np.array([[1.0, 1.9, 0.5, 9.0],
                      [2.9, 0.1, 0.2, 9.0],
                      [np.nan, 1.5, 1.2, 9.0],  # window 1 not fitted in draw 2: never counts
                      [2.0, 1.0, 0.9, np.nan]])
    # ranks: w0 > w1 > w2. j=0: maxima 1.9, 2.9, 1.5, 2.0, none ≥ 3 → 1/5; j=1 (w1, w2): 1.9,
    # 0.2, 1.5, 1.0, none ≥ 2 → 1/5; j=2 (w2): 0.5, 0.2, 1.2, 0.9, one ≥ 1 → 2/5
    np.testing.assert_allclose(stepdown_maxt(t_obs, draws)[:3], [0.2, 0.2, 0.4])
    assert np.isnan(stepdown_maxt(t_obs, draws)[3])
    # single-step for comparison: max over all three ≥ 2 in draws 1 and 3 → 3/5; ≥ 1 in all → 1
    obs = pd.DataFrame({"t_window": [1.0, 2.0, 3.0, 4.0], "spat_window": 1.0, "estimate": 0.0,
                        "pvalue": 0.5, "t_value": t_obs})
    rows = [(b, float(w + 1), 1.0, 0.0, draws[b, w]) for b in range(4) for w in range(4)]
    d = pd.DataFrame(rows, columns=["permutation", "t_window", "spat_window", "estimate", "t_value"])
    out = combine_permutations(obs, d)
    np.testing.assert_allclose(out["pvalue_wy"].to_numpy()[:3], [0.2, 0.6, 1.0])
    np.testing.assert_allclose(out["pvalue_wy_stepdown"].to_numpy()[:3], [0.2, 0.2, 0.4])
    # monotone in the order of |t_obs| even when a lower-ranked raw p is smaller
    assert stepdown_maxt(np.array([2.0, 1.0]), np.array([[2.5, 0.0], [0.0, 0.0]]))[1] == \
        pytest.approx(2 / 3)


def test_clopper_pearson_known_values():
    from matchedwake.inference import clopper_pearson

    assert clopper_pearson(0, 10) == pytest.approx((0.0, 1 - 0.025 ** (1 / 10)))
    np.testing.assert_allclose(clopper_pearson(5, 10), (0.187086, 0.812914), atol=1e-6)
    np.testing.assert_allclose(clopper_pearson(1, 100), (0.000253, 0.054459), atol=1e-6)
    assert clopper_pearson(10, 10)[1] == 1.0
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


def test_single_assignment_gives_each_project_one_label_in_every_window(null_result):
    from matchedwake.inference import _fit_assigned

    wakes = null_result.wakes
    setup = _prepare(wakes, ["cov1", "cov2"], "lm", "dependent_post ~ dependent_pre + treatment",
                     False, [], False, True, "HC1", None, "single_assignment", (), 2)
    projects = setup.projects
    ids = wakes["eventID"].to_numpy()
    g_project = wakes.groupby("eventID")["treatment"].first().to_numpy()
    assert projects.event.size == np.unique(ids).size
    for b in range(5):
        keys = np.random.default_rng([9, b]).random(projects.event.size)
        labels = permuted_labels(projects, keys)
        # one study-wide permutation: the number of treated projects per assignment stratum kept
        k = projects.n_treated.size
        np.testing.assert_array_equal(np.bincount(projects.strata, weights=labels, minlength=k),
                                      np.bincount(projects.strata, weights=g_project, minlength=k))
        # a project's label is the same in every window where it appears
        event_of_project = np.unique(ids)
        pairs = pd.concat([pd.DataFrame({"event": event_of_project[w.project], "label": labels[w.project]})
                           for w in setup.assign_windows])
        assert pairs["event"].nunique() == event_of_project.size
        assert (pairs.groupby("event")["label"].nunique() == 1).all()
        assert len(pairs) > event_of_project.size  # projects do recur across windows
    # the observed labels refit to exactly the observed statistics (same code path)
    for w, (_, row) in zip(setup.assign_windows, setup.observed.iterrows()):
        if not w.fit_ok:
            continue
        fit = _fit_assigned(setup, w, g_project.astype(float))
        assert fit.estimate == pytest.approx(row["estimate"], rel=1e-12)
        assert fit.t_value == pytest.approx(row["t_value"], rel=1e-12)


def test_single_assignment_draws_are_deterministic_and_shardable(null_result):
    opts = dict(match_columns=["cov1", "cov2"], seed=3, scheme="single_assignment", vcov="HC1")
    wakes = null_result.wakes
    whole = permutation_draws(wakes, permutations=range(6), **opts)
    parts = [permutation_draws(wakes, permutations=r, **opts) for r in (range(0, 4), range(4, 6))]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    assert (whole["scheme"] == "single_assignment").all()
    shared = permutation_draws(wakes, permutations=range(6), match_columns=["cov1", "cov2"], seed=3,
                               vcov="HC1")
    assert not np.allclose(shared["t_value"], whole["t_value"], equal_nan=True)
    with pytest.raises(ValueError, match="mix permutation schemes"):
        combine_permutations(observed_statistics(wakes, match_columns=["cov1", "cov2"]),
                             [whole, shared.assign(permutation=shared["permutation"] + 100)])
    with pytest.raises(ValueError, match="scheme must be one of"):
        permutation_draws(wakes, permutations=[0], match_columns=["cov1"], seed=0, scheme="nope")
    with pytest.raises(ValueError, match="no column"):
        permutation_draws(wakes, permutations=[0], match_columns=["cov1"], seed=0,
                          scheme="single_assignment", assignment_strata=["region"])


def test_min_matched_leaves_thin_windows_out_of_the_family(null_result):
    wakes = null_result.wakes
    full = observed_statistics(wakes, match_columns=["cov1", "cov2"], vcov="HC1")
    m = null_result.matching
    thin = np.minimum(m["treatment_post"], m["control_post"]).to_numpy()
    cut = int(np.median(thin)) + 1
    kept = observed_statistics(wakes, match_columns=["cov1", "cov2"], vcov="HC1", min_matched=cut)
    expect = (thin >= cut) & full["t_value"].notna().to_numpy()
    assert 0 < expect.sum() < len(expect)
    np.testing.assert_array_equal(kept["t_value"].notna().to_numpy(), expect)
    np.testing.assert_array_equal(kept["t_value"][expect], full["t_value"][expect])
    out = permutation_inference(null_result, 9, seed=1, scheme="single_assignment", vcov="HC1",
                                min_matched=cut)
    assert out.loc[~expect, "pvalue_wy_stepdown"].isna().all()
    assert out.loc[expect, "pvalue_wy_stepdown"].notna().all()
    assert (out.loc[expect, "pvalue_wy_stepdown"] <= out.loc[expect, "pvalue_wy"] + 1e-12).all()
    with pytest.raises(ValueError, match="min_matched"):
        observed_statistics(wakes, match_columns=["cov1"], min_matched=-1)
