"""Count models done right: weighted quasi-Poisson with sandwich SEs, least-squares starts.

References for the expected numbers: the HC1 sandwich of a GLM as R's sandwich package defines
it (vcovHC(type = "HC1"): bread = (X'WX)^-1 from the working weights W = prior/mu, scores
x * prior * (y - mu)/mu, factor n/(n - k); vcovCL: scores summed per cluster,
G/(G-1) * (n-1)/(n-k); https://sandwich.r-forge.r-project.org/reference/vcovHC.html and
vcovCL.html), evaluated here by hand at statsmodels' fully converged Poisson coefficients; and
the Poisson maximum likelihood found by a derivative-free optimiser over the valid region.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize, special

from matchedwake import matched_wake
from matchedwake.estimation import (
    _glm_fit_identity,
    _GlmFailure,
    _least_squares_start,
    _poisson_dev,
    _poisson_variance,
    build_design,
    estimate,
    fit_nb,
    fit_poisson,
)
from matchedwake.simulate import simulate_events
from matchedwake.windows import WindowWarning

TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))


def count_window(seed=7, n=120):
    rng = np.random.default_rng(seed)
    pre = rng.poisson(2.0, n).astype(float)
    trt = rng.integers(0, 2, n).astype(float)
    post = rng.poisson(1.5 + 0.4 * pre + 1.0 * trt).astype(float)
    y, X, cidx = build_design(post, pre, trt)
    return y, X, cidx, rng.uniform(0.5, 2.0, n), rng.integers(0, 9, n)


def _reference_sandwich(y, X, prior, cluster=None):
    """R sandwich's HC1 / vcovCL at the exact maximum (statsmodels run to convergence)."""
    fam = sm.families.Poisson(link=sm.families.links.Identity())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = sm.GLM(y, X, family=fam, var_weights=prior).fit(tol=1e-14).params
    n, k = X.shape
    mu = X @ b
    bread = np.linalg.inv(X.T @ (X * (prior / mu)[:, None]))
    scores = X * (prior * (y - mu) / mu)[:, None]
    if cluster is None:
        meat, factor = scores.T @ scores, n / (n - k)
    else:
        groups = np.unique(cluster)
        summed = np.array([scores[cluster == g].sum(axis=0) for g in groups])
        meat, factor = summed.T @ summed, len(groups) / (len(groups) - 1) * (n - 1) / (n - k)
    cov = bread @ meat @ bread * factor
    return b, np.sqrt(np.diag(cov))


@pytest.mark.parametrize("vcov", ["HC1", "cluster"])
@pytest.mark.parametrize("weighted", [False, True])
def test_poisson_sandwich_equals_r_sandwich_by_hand(vcov, weighted):
    y, X, cidx, w, cl = count_window()
    prior = w if weighted else np.ones(y.size)
    fit = fit_poisson(y, X, w if weighted else None, cidx, vcov=vcov,
                      cluster=cl if vcov == "cluster" else None)
    b, se = _reference_sandwich(y, X, prior, cl if vcov == "cluster" else None)
    assert fit.ok
    # our IRLS stops where R's glm.fit stops (relative deviance change < 1e-8): ~1e-6 relative
    np.testing.assert_allclose(fit.estimate, b[-1], rtol=2e-5)
    np.testing.assert_allclose(fit.t_value, b[-1] / se[-1], rtol=2e-5)
    np.testing.assert_allclose(fit.pvalue, 2 * special.ndtr(-abs(b[-1] / se[-1])), rtol=1e-3)
    # quasi-Poisson dispersion: Pearson chi2 / (n - k)
    mu = X @ b
    np.testing.assert_allclose(fit.dispersion, np.sum(prior * (y - mu) ** 2 / mu) / (y.size - 3), rtol=1e-4)


def test_sandwich_differs_from_the_dispersion_one_errors_on_overdispersed_counts():
    rng = np.random.default_rng(3)
    n = 400
    pre = rng.poisson(2.0, n).astype(float)
    trt = rng.integers(0, 2, n).astype(float)
    # negative binomial counts (theta = 1): variance mu + mu^2, Pearson chi2/df well above 1
    mean = 1.0 + 0.5 * pre + 0.5 * trt
    post = rng.negative_binomial(1.0, 1.0 / (1.0 + mean)).astype(float)
    y, X, cidx = build_design(post, pre, trt)
    classical = fit_poisson(y, X, None, cidx)
    robust = fit_poisson(y, X, None, cidx, vcov="HC1")
    assert classical.estimate == robust.estimate
    assert robust.dispersion > 1.5
    # the robust |z| is smaller by about sqrt(dispersion)
    assert abs(robust.t_value) < abs(classical.t_value) / 1.2


def test_least_squares_start_converges_where_r_start_fails():
    # counts where R's first IRLS step from mustart = y + 0.1 leaves the valid region (μ ≤ 0)
    post = np.array([1, 1, 1, 4, 1, 1, 0, 2, 0, 2, 1, 1], float)
    pre = np.array([1, 0, 0, 3, 3, 1, 1, 2, 1, 0, 2, 3], float)
    trt = (np.arange(12) % 2).astype(float)
    y, X, cidx = build_design(post, pre, trt)
    with pytest.raises(_GlmFailure, match="no valid set of coefficients"):
        _glm_fit_identity(y, X, _poisson_variance, _poisson_dev, None, y + 0.1)
    fit = fit_poisson(y, X, None, cidx)
    assert fit.ok and "least-squares starting values" in fit.reason

    def nll(b):
        mu = X @ b
        return 1e10 if np.any(mu <= 0) else float(np.sum(mu - y * np.log(mu)))

    ref = optimize.minimize(nll, [y.mean(), 0.0, 0.0], method="Nelder-Mead",
                            options=dict(xatol=1e-12, fatol=1e-14, maxiter=20000)).x
    np.testing.assert_allclose([fit.intercept, fit.estimate], [ref[0], ref[2]], rtol=1e-4)


def test_least_squares_start_is_valid_and_pulled_only_as_needed():
    y = np.array([0, 0, 1, 5, 6, 9], float)
    X = np.column_stack([np.ones(6), np.arange(6.0)])
    start = _least_squares_start(y, X)
    mu = X @ start
    ybar = y.mean()
    # the OLS line goes below 0 at x = 0; the start lifts its lowest mean exactly to ybar/10
    assert mu.min() == pytest.approx(0.1 * ybar)
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    assert (X @ ols).min() < 0
    # where OLS is already valid it is used as it is
    y2 = np.array([2, 3, 3, 5, 6, 7], float)
    np.testing.assert_allclose(_least_squares_start(y2, X), np.linalg.lstsq(X, y2, rcond=None)[0])
    with pytest.raises(_GlmFailure, match="all counts are zero"):
        _least_squares_start(np.zeros(6), X)


def test_maximum_on_the_boundary_is_still_a_failed_window():
    # controls all zero: the likelihood grows as their mean → 0, no interior maximum
    y = np.array([0, 0, 0, 0, 0, 6, 9, 7, 8, 5], float)
    trt = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], float)
    pre = np.array([0, 1, 0, 1, 0, 1, 0, 1, 2, 0], float)
    yy, X, cidx = build_design(y, pre, trt)
    fit = fit_poisson(yy, X, None, cidx)
    assert not fit.ok and "Poisson fit failed" in fit.reason
    assert "no valid set of coefficients" in fit.reason  # R's reason is kept
    assert not fit_nb(yy, X, cidx).ok


def test_poisson_robust_through_matched_wake_and_failure_rate():
    df = simulate_events(150, 300, 1500, days=365, box_km=60, effect=0.5, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        base = matched_wake(df, (40, 60, 10), (3, 15, 3), *TYPES, ["cov1", "cov2"], weighted=True,
                            tcm=True, estimation="poisson")
        robust = matched_wake(df, (40, 60, 10), (3, 15, 3), *TYPES, ["cov1", "cov2"], weighted=True,
                              tcm=True, estimation="poisson", vcov="HC1")
    np.testing.assert_array_equal(base.estimates["estimate"], robust.estimates["estimate"])
    assert not np.allclose(base.estimates["pvalue"], robust.estimates["pvalue"], equal_nan=True)
    # from R's start alone 3 of these 15 windows fail (measured before the change); now none
    assert robust.estimates["estimate"].notna().all()
    assert robust.parameters["vcov"] == "HC1"


def test_nb_still_refuses_sandwich_errors():
    y, X, cidx, w, cl = count_window()
    with pytest.raises(ValueError, match="lm, att, poisson only"):
        estimate("nb", y, X, cidx, vcov="HC1")
    assert math.isnan(fit_poisson(np.zeros(0), np.zeros((0, 3))).estimate)
