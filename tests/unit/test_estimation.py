"""lm / att / nb window estimation: least squares against statsmodels, R's aliasing rule, the
failed-window convention and the glm.nb identity-link fit."""
from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import special, stats

from matchedwake.estimation import (
    FORMULA_DIFF,
    FORMULA_LEVEL,
    build_design,
    estimate,
    fit_att,
    fit_lm,
    fit_nb,
    qr_limited_pivot,
)


def random_window(seed=1, n=60):
    rng = np.random.default_rng(seed)
    pre = rng.poisson(2.0, n).astype(float)
    ctl = rng.normal(size=n)
    trt = rng.integers(0, 2, n).astype(float)
    post = 1.0 + 0.5 * pre + 0.3 * ctl + 1.2 * trt + rng.normal(size=n)
    w = rng.uniform(0.2, 3.0, n)
    return post, pre, ctl, trt, w


class TestLeastSquares:
    @pytest.mark.parametrize("weighted", [False, True])
    def test_matches_statsmodels(self, weighted):
        post, pre, ctl, trt, w = random_window()
        y, X, cidx = build_design(post, pre, trt, [ctl])
        res = fit_lm(y, X, w if weighted else None, cidx)
        ref = (sm.WLS(y, X, weights=w) if weighted else sm.OLS(y, X)).fit()
        assert res.ok
        b, p = ref.params, ref.pvalues
        for got, want in [(res.estimate, b[3]), (res.pvalue, p[3]), (res.intercept, b[0]),
                          (res.intercept_pval, p[0]), (res.control_coef[0], b[2]),
                          (res.control_pval[0], p[2]), (res.adj_r_squared, ref.rsquared_adj)]:
            assert got == pytest.approx(want, rel=1e-10, abs=1e-14)

    def test_zero_weights_drop_rows(self):
        post, pre, ctl, trt, w = random_window()
        w[:10] = 0.0
        y, X, cidx = build_design(post, pre, trt)
        full = fit_lm(y, X, w, cidx)
        sub = fit_lm(y[10:], X[10:], w[10:], cidx)
        assert full.estimate == sub.estimate and full.pvalue == sub.pvalue
        assert full.adj_r_squared == sub.adj_r_squared

    def test_diff_formula_with_controls(self):
        post, pre, ctl, trt, _ = random_window()
        y, X, cidx = build_design(post, pre, trt, [ctl], FORMULA_DIFF)
        np.testing.assert_array_equal(y, post - pre)
        assert X.shape[1] == 3 and list(cidx) == [1]
        res = fit_lm(y, X, None, cidx)
        ref = sm.OLS(post - pre, np.column_stack([np.ones_like(pre), ctl, trt])).fit()
        assert res.estimate == pytest.approx(ref.params[2], rel=1e-10)
        assert res.control_coef[0] == pytest.approx(ref.params[1], rel=1e-10)

    def test_controls_go_before_treatment(self):
        post, pre, ctl, trt, _ = random_window()
        _, X, cidx = build_design(post, pre, trt, [ctl, 2 * ctl + 1], FORMULA_LEVEL)
        np.testing.assert_array_equal(X[:, 1], pre)
        np.testing.assert_array_equal(X[:, 2], ctl)
        np.testing.assert_array_equal(X[:, -1], trt)
        assert list(cidx) == [2, 3]

    def test_non_numeric_control_rejected(self):
        post, pre, _, trt, _ = random_window()
        with pytest.raises(ValueError, match="numeric"):
            build_design(post, pre, trt, [np.array(["a"] * len(pre), dtype=object)])

    def test_unknown_formula_rejected(self):
        post, pre, _, trt, _ = random_window()
        with pytest.raises(ValueError, match="formula"):
            build_design(post, pre, trt, [], "dependent_post ~ treatment")


class TestAliasing:
    def test_qr_moves_dependent_column_to_the_end(self):
        # column 1 = 2 × column 0: aliased; columns 0 and 2 are kept
        X = np.array([[1.0, 2.0, 1.0], [1.0, 2.0, 2.0], [1.0, 2.0, 3.0], [1.0, 2.0, 5.0]])
        qr = qr_limited_pivot(X)
        assert qr.rank == 2
        np.testing.assert_array_equal(qr.pivot, [0, 2, 1])

    def test_qr_keeps_later_column_order_when_last_is_dependent(self):
        X = np.array([[1.0, 1.0, 2.0], [1.0, 2.0, 3.0], [1.0, 3.0, 4.0], [1.0, 5.0, 6.0]])
        qr = qr_limited_pivot(X)  # column 2 = column 0 + column 1
        assert qr.rank == 2
        np.testing.assert_array_equal(qr.pivot, [0, 1, 2])

    def test_qr_r_factor_reproduces_gram_matrix(self):
        post, pre, ctl, trt, _ = random_window()
        _, X, _ = build_design(post, pre, trt, [ctl])
        qr = qr_limited_pivot(X)
        r = qr.r_matrix()
        np.testing.assert_allclose(r.T @ r, X.T @ X, rtol=1e-12)

    def test_pre_all_zero_fails(self):
        post, pre, _, trt, _ = random_window()
        y, X, cidx = build_design(post, np.zeros_like(pre), trt)
        res = fit_lm(y, X, None, cidx)
        assert not res.ok
        assert all(math.isnan(v) for v in (res.estimate, res.pvalue, res.adj_r_squared,
                                            res.intercept, res.intercept_pval))

    def test_pre_constant_nonzero_fails(self):
        post, pre, _, trt, _ = random_window()
        y, X, cidx = build_design(post, np.full_like(pre, 3.0), trt)
        assert not fit_lm(y, X, None, cidx).ok

    def test_nearly_collinear_above_tolerance_is_fitted(self):
        post, pre, _, trt, _ = random_window()
        rng = np.random.default_rng(7)
        # after removing the intercept, pre keeps ~1e-5 of its norm: above 1e-7 → fitted
        near = 1.0 + 1e-5 * rng.normal(size=pre.size)
        y, X, cidx = build_design(post, near, trt)
        res = fit_lm(y, X, None, cidx)
        assert res.ok
        ref = sm.OLS(y, X).fit()
        assert res.estimate == pytest.approx(ref.params[2], rel=1e-6)

    def test_nearly_collinear_below_tolerance_fails(self):
        post, pre, _, trt, _ = random_window()
        rng = np.random.default_rng(7)
        near = 1.0 + 1e-9 * rng.normal(size=pre.size)  # ~1e-9 of the norm remains: aliased
        y, X, cidx = build_design(post, near, trt)
        assert not fit_lm(y, X, None, cidx).ok

    def test_weighted_aliasing_uses_scaled_columns(self):
        post, pre, _, trt, w = random_window()
        y, X, cidx = build_design(post, np.zeros_like(pre), trt)
        assert not fit_lm(y, X, w, cidx).ok

    def test_no_residual_df_fails(self):
        y, X, cidx = build_design([1.0, 2.0, 4.0], [0.0, 1.0, 3.0], [0.0, 1.0, 1.0])
        res = fit_lm(y, X, None, cidx)  # 3 rows, 3 coefficients
        assert not res.ok


class TestPerfectFit:
    def test_perfect_fit_has_zero_p(self):
        # post = 2 + 3·treatment exactly; the QR leaves exactly zero residuals → se 0, t = ±Inf
        y, X, cidx = build_design([2.0, 5.0, 2.0, 5.0], [0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0])
        res = fit_lm(y, X, None, cidx)
        assert res.ok
        assert res.estimate == 3.0 and res.pvalue == 0.0
        assert res.intercept == 2.0 and res.intercept_pval == 0.0
        assert res.adj_r_squared == 1.0

    def test_perfect_fit_with_zero_effect_fails(self):
        # post = 2 exactly: treatment coefficient 0 with se 0 → t = 0/0 → NA window
        y, X, cidx = build_design([2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0])
        assert not fit_lm(y, X, None, cidx).ok


class TestAtt:
    def test_att_equals_weighted_lm(self):
        post, pre, ctl, trt, w = random_window()
        y, X, cidx = build_design(post, pre, trt)
        a = fit_att(y, X, w, weighted=True, control_index=cidx)
        b = fit_lm(y, X, w, cidx)
        assert (a.estimate, a.pvalue, a.intercept, a.intercept_pval) == \
               (b.estimate, b.pvalue, b.intercept, b.intercept_pval)
        assert math.isnan(a.adj_r_squared)

    def test_unweighted_att_uses_unit_weights_on_matched_rows(self):
        post, pre, ctl, trt, w = random_window()
        w[:5] = 0.0  # unmatched rows
        y, X, cidx = build_design(post, pre, trt)
        a = fit_att(y, X, w, weighted=False, control_index=cidx)
        b = fit_lm(y[5:], X[5:], None, cidx)
        assert a.estimate == pytest.approx(b.estimate, rel=1e-13)
        assert a.pvalue == pytest.approx(b.pvalue, rel=1e-11)

    def test_dispatch(self):
        post, pre, ctl, trt, w = random_window()
        y, X, cidx = build_design(post, pre, trt)
        assert estimate("lm", y, X, cidx, w, weighted=True).estimate == fit_lm(y, X, w, cidx).estimate
        assert estimate("lm", y, X, cidx, w, weighted=False).estimate == fit_lm(y, X, None, cidx).estimate
        with pytest.raises(ValueError):
            estimate("probit", y, X, cidx)

    def test_rows_with_missing_values_are_omitted(self):
        post, pre, ctl, trt, w = random_window()
        ctl[[3, 17]] = np.nan
        y, X, cidx = build_design(post, pre, trt, [ctl])
        keep = ~np.isnan(ctl)
        got = estimate("lm", y, X, cidx, w, weighted=True)
        ref = fit_lm(y[keep], X[keep], w[keep], cidx)
        assert got.ok and (got.estimate, got.pvalue) == (ref.estimate, ref.pvalue)


def nb_window(seed=3, n=800, theta=2.0):
    rng = np.random.default_rng(seed)
    pre = rng.poisson(3, n).astype(float)
    trt = rng.integers(0, 2, n).astype(float)
    mu = 2.0 + 1.0 * pre + 1.5 * trt
    y = rng.negative_binomial(theta, theta / (theta + mu)).astype(float)
    return y, pre, trt


@pytest.mark.filterwarnings("ignore:The Identity link function does not respect")
class TestNegativeBinomial:
    def test_recovers_coefficients(self):
        ests = []
        for seed in range(4):
            y, pre, trt = nb_window(seed=seed, n=3000)
            yy, X, cidx = build_design(y, pre, trt)
            res = fit_nb(yy, X, cidx)
            assert res.ok
            ests.append((res.intercept, res.estimate, res.theta))
        mean = np.mean(ests, axis=0)
        assert mean[0] == pytest.approx(2.0, abs=0.3)
        assert mean[1] == pytest.approx(1.5, abs=0.3)
        assert mean[2] == pytest.approx(2.0, abs=0.3)

    def test_theta_is_the_ml_estimate(self):
        y, pre, trt = nb_window()
        yy, X, cidx = build_design(y, pre, trt)
        res = fit_nb(yy, X, cidx)
        # the score of θ at the NB(θ̂) GLM's means vanishes
        fitted = sm.GLM(yy, X, family=sm.families.NegativeBinomial(
            link=sm.families.links.Identity(), alpha=1 / res.theta)).fit()
        mu = fitted.fittedvalues
        th = res.theta
        score = np.sum(special.digamma(th + yy) - special.digamma(th) + np.log(th) + 1
                       - np.log(th + mu) - (yy + th) / (mu + th))
        assert abs(score) < 1e-4

    def test_summary_glm_p_values(self):
        """Coefficients are the NB(θ̂) GLM's; p from the Pearson dispersion and t(df.residual)."""
        y, pre, trt = nb_window()
        yy, X, cidx = build_design(y, pre, trt)
        res = fit_nb(yy, X, cidx)
        fam = sm.families.NegativeBinomial(link=sm.families.links.Identity(), alpha=1 / res.theta)
        ref = sm.GLM(yy, X, family=fam).fit()
        mu = ref.fittedvalues
        df = len(yy) - X.shape[1]
        disp = np.sum((yy - mu) ** 2 / (mu + mu**2 / res.theta)) / df
        xtwx = X.T @ (X / (mu + mu**2 / res.theta)[:, None])
        se = np.sqrt(np.diag(np.linalg.inv(xtwx)) * disp)
        p = 2 * stats.t.cdf(-np.abs(ref.params / se), df)
        assert res.estimate == pytest.approx(ref.params[2], rel=1e-6)
        assert res.intercept == pytest.approx(ref.params[0], rel=1e-6)
        assert res.dispersion == pytest.approx(disp, rel=1e-6)
        assert res.pvalue == pytest.approx(p[2], rel=1e-5)
        assert res.intercept_pval == pytest.approx(p[0], rel=1e-5)
        # and not the z-based p of summary.negbin (dispersion 1, normal distribution)
        z_p = 2 * stats.norm.cdf(-abs(ref.params[2] / ref.bse[2]))
        assert abs(res.pvalue - z_p) > 1e-4 * z_p

    def test_invalid_identity_fit_fails(self):
        # controls all 0: the Poisson fit puts μ = 0 on them at the first step → no valid fit
        y = np.array([0, 0, 0, 0, 0, 6, 9, 7, 8, 5], float)
        trt = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], float)
        pre = np.array([0, 1, 0, 1, 0, 1, 0, 1, 2, 0], float)
        yy, X, cidx = build_design(y, pre, trt)
        res = fit_nb(yy, X, cidx)
        assert not res.ok
        assert "no valid set of coefficients" in res.reason
        assert math.isnan(res.estimate) and math.isnan(res.pvalue)

    def test_aliased_nb_fails(self):
        y, pre, trt = nb_window(n=100)
        yy, X, cidx = build_design(y, np.zeros_like(pre), trt)
        assert not fit_nb(yy, X, cidx).ok
