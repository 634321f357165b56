"""Robust standard errors (HC1, CR1 cluster) and the Poisson identity-link GLM, against
statsmodels; the extensions must leave the default (R) output untouched."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from matchedwake import matched_wake
from matchedwake.estimation import build_design, estimate, fit_lm, fit_poisson
from matchedwake.simulate import simulate_events
from matchedwake.windows import WindowWarning

TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))


def window(seed=3, n=80, n_clusters=9):
    """A window-like design (intercept, pre, one control, treatment) with clustered errors."""
    rng = np.random.default_rng(seed)
    pre = rng.poisson(2.0, n).astype(float)
    ctl = rng.normal(size=n)
    trt = rng.integers(0, 2, n).astype(float)
    cl = rng.integers(0, n_clusters, n)
    shock = rng.normal(size=n_clusters)[cl]
    post = 1.0 + 0.5 * pre + 0.3 * ctl + 0.8 * trt + shock + rng.normal(size=n) * (1 + trt)
    y, X, cidx = build_design(post, pre, trt, [ctl])
    w = rng.uniform(0.2, 3.0, n)
    return y, X, cidx, w, cl


def assert_matches(fit, sm_res, cidx):
    assert fit.ok
    np.testing.assert_allclose(fit.estimate, sm_res.params[-1], rtol=1e-10)
    np.testing.assert_allclose(fit.t_value, sm_res.tvalues[-1], rtol=1e-9)
    np.testing.assert_allclose(fit.pvalue, sm_res.pvalues[-1], rtol=1e-8)
    np.testing.assert_allclose(fit.intercept_pval, sm_res.pvalues[0], rtol=1e-8)
    np.testing.assert_allclose(fit.control_pval, sm_res.pvalues[cidx], rtol=1e-8)


@pytest.mark.parametrize("weighted", [False, True])
def test_hc1_matches_statsmodels(weighted):
    y, X, cidx, w, _ = window()
    fit = fit_lm(y, X, w if weighted else None, cidx, vcov="HC1")
    model = sm.WLS(y, X, weights=w) if weighted else sm.OLS(y, X)
    # statsmodels' HC1 scales by n/(n-k); use_t=True gives t(n-k) p-values like coeftest
    ref = model.fit(cov_type="HC1", use_t=True)
    assert_matches(fit, ref, cidx)
    classical = fit_lm(y, X, w if weighted else None, cidx)
    assert classical.estimate == fit.estimate and classical.pvalue != fit.pvalue


@pytest.mark.parametrize("weighted", [False, True])
def test_cluster_matches_statsmodels_cr1_with_t_g_minus_1(weighted):
    y, X, cidx, w, cl = window()
    fit = fit_lm(y, X, w if weighted else None, cidx, vcov="cluster", cluster=cl)
    model = sm.WLS(y, X, weights=w) if weighted else sm.OLS(y, X)
    ref = model.fit(cov_type="cluster", cov_kwds={"groups": cl}, use_t=True)
    # statsmodels' defaults: use_correction=True → G/(G-1)·(n-1)/(n-k); df_correction → t(G-1)
    assert ref.cov_kwds["use_correction"] is True
    g = np.unique(cl).size
    assert ref.df_resid_inference == g - 1
    assert_matches(fit, ref, cidx)
    # the exact CR1 factor, by hand: unscaled sandwich times G/(G-1)·(n-1)/(n-k)
    n, k = X.shape
    sw = np.sqrt(w) if weighted else np.ones(n)
    xs, es = X * sw[:, None], (y - X @ ref.params) * sw
    bread = np.linalg.inv(xs.T @ xs)
    s = np.stack([(xs[cl == c] * es[cl == c, None]).sum(axis=0) for c in np.unique(cl)])
    cov = bread @ s.T @ s @ bread * g / (g - 1) * (n - 1) / (n - k)
    np.testing.assert_allclose(fit.estimate / math.sqrt(cov[-1, -1]), fit.t_value, rtol=1e-9)


def test_att_zero_weights_are_dropped_with_their_clusters():
    y, X, cidx, w, cl = window(seed=5)
    w[:10] = 0.0
    fit = estimate("att", y, X, cidx, w, True, vcov="cluster", cluster=cl)
    keep = w > 0
    ref = sm.WLS(y[keep], X[keep], weights=w[keep]).fit(
        cov_type="cluster", cov_kwds={"groups": cl[keep]}, use_t=True)
    assert_matches(fit, ref, cidx)
    assert math.isnan(fit.adj_r_squared)


def test_one_cluster_fails_and_bad_vcov_raises():
    y, X, cidx, w, _ = window()
    fit = fit_lm(y, X, None, cidx, vcov="cluster", cluster=np.zeros(len(y)))
    assert not fit.ok and "cluster" in fit.reason
    with pytest.raises(ValueError, match="vcov"):
        fit_lm(y, X, None, cidx, vcov="HC3")
    with pytest.raises(ValueError, match="cluster id"):
        fit_lm(y, X, None, cidx, vcov="cluster")
    with pytest.raises(ValueError, match="lm, att, poisson only"):
        estimate("nb", y, X, cidx, vcov="HC1")


def count_window(seed=7, n=120):
    rng = np.random.default_rng(seed)
    pre = rng.poisson(2.0, n).astype(float)
    trt = rng.integers(0, 2, n).astype(float)
    post = rng.poisson(1.5 + 0.4 * pre + 1.0 * trt).astype(float)
    y, X, cidx = build_design(post, pre, trt)
    return y, X, cidx, rng.uniform(0.5, 2.0, n)


@pytest.mark.parametrize("weighted", [False, True])
def test_poisson_identity_matches_statsmodels_glm(weighted):
    y, X, cidx, w = count_window()
    fit = fit_poisson(y, X, w if weighted else None, cidx)
    fam = sm.families.Poisson(link=sm.families.links.Identity())
    kw = {"var_weights": w} if weighted else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DomainWarning: identity link is allowed, just unusual
        ref = sm.GLM(y, X, family=fam, **kw).fit(tol=1e-13)
    assert fit.ok
    # we stop where R's glm.fit stops (relative deviance change < 1e-8), statsmodels is run to
    # full convergence: the coefficients agree to ~1e-6 relative, hence the tolerance
    np.testing.assert_allclose(fit.estimate, ref.params[-1], rtol=2e-5)
    np.testing.assert_allclose(fit.t_value, ref.tvalues[-1], rtol=2e-5)  # z statistic
    np.testing.assert_allclose(fit.pvalue, ref.pvalues[-1], rtol=1e-4)
    np.testing.assert_allclose(fit.intercept_pval, ref.pvalues[0], rtol=1e-4)
    # same additive scale as lm: the estimates are close to the OLS ones
    assert abs(fit.estimate - fit_lm(y, X).estimate) < 0.5


def test_poisson_failure_is_a_failed_window():
    X = np.column_stack([np.ones(6), np.arange(6.0), [0, 1, 0, 1, 0, 1.0]])
    fit = fit_poisson(np.zeros(6), X)
    assert not fit.ok and "Poisson" in fit.reason and math.isnan(fit.estimate)


# ------------------------------------------------------------------ through matched_wake
@pytest.fixture(scope="module")
def sim():
    df = simulate_events(120, 120, 1200, days=365, box_km=50, effect=1.0, seed=11)
    rng = np.random.default_rng(0)
    df["district"] = rng.integers(0, 12, len(df))
    return df


def run(df, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        return matched_wake(df, (5, 15, 5), (3, 9, 3), *TYPES, ["cov1", "cov2"], **kw)


def test_defaults_unchanged_and_robust_changes_only_p_values(sim):
    base = run(sim)
    classical = run(sim, vcov="classical")
    pd.testing.assert_frame_equal(base.estimates, classical.estimates)
    assert "district" not in base.wakes.columns
    for vcov, extra in (("HC1", {}), ("cluster", {"cluster_column": "district"})):
        r = run(sim, vcov=vcov, **extra)
        assert r.parameters["vcov"] == vcov
        assert r.parameters["cluster_column"] == extra.get("cluster_column")
        pd.testing.assert_frame_equal(r.matching, base.matching)  # never matched on
        np.testing.assert_array_equal(r.estimates["estimate"], base.estimates["estimate"])
        np.testing.assert_array_equal(r.estimates["adj.r.squared"], base.estimates["adj.r.squared"])
        assert not np.allclose(r.estimates["pvalue"], base.estimates["pvalue"], equal_nan=True)
        assert list(r.estimates.columns) == list(base.estimates.columns)
    r = run(sim, vcov="cluster", cluster_column="district")
    assert list(r.wakes.columns[-1:]) == ["district"]
    assert base.parameters["vcov"] == "classical" and base.parameters["cluster_column"] is None


def test_cluster_window_equals_direct_statsmodels_fit(sim):
    r = run(sim, vcov="cluster", cluster_column="district", weighted=True)
    from matchedwake.windows import window_designs

    d = next(iter(window_designs(r.wakes, match_columns=["cov1", "cov2"], weighted=True,
                                 vcov="cluster", cluster_column="district")))
    w = d.weights[d.matched]
    keep = w > 0
    ref = sm.WLS(d.y[keep], d.X[keep], weights=w[keep]).fit(
        cov_type="cluster", cov_kwds={"groups": d.cluster[keep]}, use_t=True)
    np.testing.assert_allclose(r.estimates["pvalue"].iloc[0], ref.pvalues[-1], rtol=1e-8)


def test_poisson_through_matched_wake(sim):
    r = run(sim, estimation="poisson")
    lm = run(sim)
    assert list(r.estimates.columns) == ["t_window", "spat_window", "estimate", "pvalue",
                                         "intercept", "intercept.pval", "na_reason"]
    ok = r.estimates["estimate"].notna() & lm.estimates["estimate"].notna()
    assert ok.sum() >= 5
    # identity link: same additive scale as lm, so the estimates agree closely
    np.testing.assert_allclose(r.estimates["estimate"][ok], lm.estimates["estimate"][ok], atol=0.3)
    assert r.parameters["estimation"] == "poisson"


def test_poisson_window_failure_warns():
    df = simulate_events(40, 40, 0, days=200, box_km=40, seed=2)  # no dependent events at all
    df.loc[df.index[len(df) // 2], "type"] = "dependent"  # one, so the type exists
    with pytest.warns(WindowWarning, match="Poisson"):
        r = matched_wake(df, (5, 5, 0), (3, 3, 0), *TYPES, ["cov1"], estimation="poisson")
    assert r.estimates["estimate"].isna().all()


@pytest.mark.parametrize("kw, msg", [
    (dict(vcov="HC3"), "vcov: must be one of"),
    (dict(vcov="cluster"), "needs cluster_column"),
    (dict(cluster_column="district"), "only used with vcov='cluster'"),
    (dict(vcov="HC1", estimation="nb"), "'lm', 'att' and 'poisson' only"),
    (dict(vcov="cluster", cluster_column="nope"), "not in data"),
    (dict(vcov="cluster", cluster_column="treatment"), "clashes"),
])
def test_invalid_arguments(sim, kw, msg):
    df = sim.assign(treatment=1) if kw.get("cluster_column") == "treatment" else sim
    with pytest.raises(ValueError, match=msg):
        run(df, **kw)


def test_missing_cluster_ids_are_refused(sim):
    df = sim.copy()
    df["district"] = df["district"].astype(float)
    df.loc[df.index[df["type"] == "treatment"][3], "district"] = np.nan  # a wake event's cluster
    with pytest.raises(ValueError, match="missing values"):
        run(df, vcov="cluster", cluster_column="district")
