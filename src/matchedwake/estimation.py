"""Per-window effect estimation as `mwa` 0.5.0 does it (docs/mwa_reference.md §2.8).

* ``lm``: (weighted) least squares with R's aliasing rule. R decides which coefficients are
  estimable with LINPACK's limited-pivoting Householder QR (``dqrdc2``, tolerance 1e-7); mwa
  rejects the window unless every coefficient survives. We implement that QR ourselves so the
  same windows fail, and solve with it so the numbers agree with R to rounding.
* ``att``: cem's default linear ``att`` model, numerically the weighted ``lm`` (no adj. R²).
* ``nb``: ``MASS::glm.nb`` with the identity link, reported through ``summary.glm`` (dispersion
  estimated, t distribution).
* ``poisson`` (an extension, not in mwa): R's ``glm(family = poisson(link = "identity"))`` —
  the same additive effect scale as ``lm``, dispersion fixed at 1, p from the z statistic. With
  CEM weights as prior weights and ``vcov="HC1"``/``"cluster"`` it is the weighted quasi-Poisson
  fit with sandwich standard errors (see below), comparable with the weighted ``lm``.

Identity-link GLMs start where R starts (``mustart = y + 0.1``), so R's numbers are kept where R
converges. R has no previous coefficients to halve a first step towards, so a first step to an
invalid mean (μ ≤ 0) is fatal there; when that happens (or IRLS does not converge) the fit is
retried from least-squares starting values: the (weighted) OLS coefficients, pulled towards the
intercept-only fit just enough that every mean is at least a tenth of the (weighted) mean count,
with step halving towards them (R's ``glm(start = …)``). The log-likelihood is concave in the
coefficients, so both starts reach the same maximum when an interior one exists; a maximum on the
boundary (some μ → 0) is reported as a failed window.

Robust standard errors (an extension; the default ``vcov="classical"`` is mwa's): ``"HC1"`` is
the sandwich (X'WX)⁻¹ X'W diag(e²) W X (X'WX)⁻¹ · n/(n−k) with t(n−k) p-values (R's
``coeftest(fit, vcovHC(fit, "HC1"))``); ``"cluster"`` is CR1, the sandwich with the scores summed
per cluster and the factor G/(G−1)·(n−1)/(n−k), with t(G−1) p-values (Stata's and
statsmodels' default). Both apply to ``lm``/``att`` and ``poisson`` (``ROBUST_VCOV_ESTIMATIONS``).
For Poisson the sandwich is R's ``sandwich::vcovHC(fit, "HC1")`` / ``vcovCL`` of the glm: bread
from the last IRLS step's weighted QR, scores x·w·(y − μ) with the working weights w (prior / μ),
the same n/(n−k) and G/(G−1)·(n−1)/(n−k) factors, and normal (z) p-values as ``coeftest`` gives
for a GLM; the robust fit also records Pearson χ²/df (the quasi-Poisson dispersion).

A window that cannot be estimated is returned as failed (all NA); nothing here raises for data
reasons, because R aborting the whole run on one bad window is a bug we fix (Q10).
"""
from __future__ import annotations

import contextlib
import math
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import special
from .spec import ROBUST_VCOV_ESTIMATIONS

__all__ = [
    "FORMULA_LEVEL",
    "FORMULA_DIFF",
    "FORMULAS",
    "QRDecomposition",
    "qr_limited_pivot",
    "WindowFit",
    "build_design",
    "fit_lm",
    "fit_att",
    "fit_nb",
    "fit_poisson",
    "estimate",
    "VCOV_TYPES",
    "DEFAULT_BLAS_THREADS",
    "blas_threads",
    "check_blas_threads",
    "numerics_provenance",
]

FORMULA_LEVEL = "dependent_post ~ dependent_pre + treatment"
FORMULA_DIFF = "dependent_post - dependent_pre ~ treatment"
FORMULAS = (FORMULA_LEVEL, FORMULA_DIFF)

LM_TOL = 1e-7  # lm's qr tolerance
GLM_EPS = 1e-8  # glm.control epsilon
GLM_MAXIT = 25  # glm.control maxit (also glm.nb's alternation and theta.ml limits)
GLM_QR_TOL = min(1e-7, GLM_EPS / 1000)  # glm.fit's tolerance for its weighted QR
VCOV_TYPES = ("classical", "HC1", "cluster")
#: BLAS threads while a window is fitted. Window designs are tall and thin (n × 3..10): threads
#: only add start-up and synchronisation (matching + estimation ran up to 6× slower with OpenBLAS's
#: default on a busy 2-core machine), and one thread gives the same numbers.
DEFAULT_BLAS_THREADS = 1
_blas_controller = None
_blas_controller_modules = -1  # len(sys.modules) when the controller was made


def check_blas_threads(limit) -> None:
    """Raise ValueError unless ``limit`` is a positive integer or None."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"blas_threads must be a positive integer or None, got {limit!r}")


def blas_threads(limit: int | None):
    """Context manager holding BLAS (OpenBLAS, MKL, BLIS) to at most ``limit`` threads inside the
    ``with`` block (``threadpoolctl``); ``None`` leaves the libraries' own setting."""
    check_blas_threads(limit)
    return contextlib.nullcontext() if limit is None else _BlasLimit(limit)


def _controller():
    """The process's threadpoolctl controller (~10 ms to make). It only knows the libraries loaded
    when it was made, so it is made again once modules were imported since (an extension module
    may bring its own BLAS: scipy loads a second OpenBLAS beside numpy's)."""
    global _blas_controller, _blas_controller_modules
    if _blas_controller is None or len(sys.modules) != _blas_controller_modules:
        from threadpoolctl import ThreadpoolController
        _blas_controller = ThreadpoolController()
        _blas_controller_modules = len(sys.modules)
    return _blas_controller


def numerics_provenance() -> dict:
    """What the estimates' last bits depend on: the numpy and matchedwake versions and each BLAS
    library's name, version and CPU kernel (OpenBLAS sums its dot products in a kernel-specific
    order, so e.g. its Haswell and SkylakeX kernels differ by a few units in the last place).
    The BLAS libraries are those loaded when the engine first limited BLAS threads (numpy's
    among them, which the fits run on)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        engine_version = version("qip-wake")
    except PackageNotFoundError:  # run from a source tree that is not installed
        engine_version = None
    blas = [{"library": m.internal_api, "version": m.version,
             "kernel": getattr(m, "architecture", None)}
            for m in _controller().lib_controllers if m.user_api == "blas"]
    return {"numpy": np.__version__, "matchedwake": engine_version, "blas": blas}


class _BlasLimit:
    """Applies the limit on entry and restores the previous one on exit (threadpoolctl's own
    context object applies it as soon as it is created, so it is created here, on entry)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active = None

    def __enter__(self):
        self._active = _controller().limit(limits=self.limit, user_api="blas")
        return self

    def __exit__(self, *exc) -> None:
        self._active.restore_original_limits()
        self._active = None

LS_START_FLOOR = 0.1  # least-squares start: every mean at least this share of the mean count
BOUNDARY_MU = 1e-8  # a fitted mean below this share of the mean count: maximum on the boundary


# --------------------------------------------------------------------------------------------
# Householder QR with LINPACK dqrdc2's limited column pivoting


@dataclass
class QRDecomposition:
    """Compact Householder QR of an n×p matrix in LINPACK layout.

    ``qr`` holds R in its upper triangle and the Householder vectors below it; ``qraux`` the
    leading elements of those vectors; ``pivot`` the column order after moving near-dependent
    columns to the end; ``rank`` the number of columns kept.
    """

    qr: np.ndarray
    qraux: np.ndarray
    pivot: np.ndarray
    rank: int

    def _reflect(self, vector: np.ndarray, reverse: bool) -> np.ndarray:
        """Apply the stored Householder reflections to `vector` (in order: Qᵀv; reversed: Qv)."""
        out = np.array(vector, dtype=float, copy=True)
        steps = self._householder()
        for j, v, lead in (reversed(steps) if reverse else steps):
            t = -np.dot(v, out[j:]) / lead
            out[j:] += t * v
        return out

    def _householder(self) -> list:
        """(column, vector, its leading element) of each reflection that is not the identity
        (built once; qty and qy both use them)."""
        steps = self.__dict__.get("_steps")
        if steps is None:
            q = self.qr
            steps = []
            for j in range(min(self.rank, q.shape[0] - 1)):
                if self.qraux[j] == 0:
                    continue
                v = q[j:, j].copy()
                v[0] = self.qraux[j]
                steps.append((j, v, v[0]))
            self.__dict__["_steps"] = steps
        return steps

    def qty(self, y: np.ndarray) -> np.ndarray:
        """Qᵀy, applying the Householder reflections in order."""
        return self._reflect(y, reverse=False)

    def qy(self, z: np.ndarray) -> np.ndarray:
        """Qz, applying the reflections in reverse order."""
        return self._reflect(z, reverse=True)

    def r_matrix(self) -> np.ndarray:
        """The k×k upper-triangular factor for the kept columns (computed once; do not modify)."""
        r = self.__dict__.get("_r")
        if r is None:
            r = self.__dict__["_r"] = np.triu(self.qr[:self.rank, :self.rank])
        return r

    def solve(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Least-squares coefficients (kept columns, pivoted order), residuals and Qᵀy."""
        k = self.rank
        qty = self.qty(y)
        r = self.r_matrix()
        coef = _back_substitute(r, qty[:k])
        z = qty.copy()
        z[:k] = 0.0
        resid = self.qy(z)
        return coef, resid, qty

    def unscaled_cov(self) -> np.ndarray:
        """(RᵀR)⁻¹ of the kept columns (R's chol2inv)."""
        r = self.r_matrix()
        k = r.shape[0]
        rinv = np.zeros((k, k))
        eye = np.eye(k)
        for j in range(k):
            rinv[:, j] = _back_substitute(r, eye[:, j])
        return rinv @ rinv.T


def _back_substitute(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve R x = b for upper-triangular R (R is at most a handful of columns wide)."""
    k = r.shape[0]
    x = np.zeros(k)
    for i in range(k - 1, -1, -1):
        x[i] = (b[i] - np.dot(r[i, i + 1:], x[i + 1:])) / r[i, i]
    return x


def qr_limited_pivot(x: np.ndarray, tol: float = LM_TOL) -> QRDecomposition:
    """Householder QR that moves a column to the end when, after removing the earlier kept
    columns, its remaining norm is below ``tol`` times its original norm (LINPACK dqrdc2).

    Columns are processed in the given order, so which of two collinear columns is dropped
    matches R (the later one). Remaining norms are downdated cheaply and recomputed when the
    downdate loses accuracy, as dqrdc2 does.
    """
    return _qr_in_place(np.array(x, dtype=float, order="F", copy=True), tol)


def _qr_in_place(a: np.ndarray, tol: float) -> QRDecomposition:
    """:func:`qr_limited_pivot` of the Fortran-ordered float array ``a``, overwriting it.

    The per-column bookkeeping (norms, pivots) is kept in Python floats: the same IEEE operations
    as on numpy scalars, without their overhead."""
    n, p = a.shape
    pivot = list(range(p))
    qraux = np.sqrt(np.einsum("ij,ij->j", a, a)).tolist()
    work1 = list(qraux)  # norms at the last recomputation
    work2 = [v if v != 0 else 1.0 for v in qraux]  # original norms (1 for a zero column)
    active = p  # columns [0, active) are candidates; dropped ones sit after them
    for l in range(min(n, p)):  # noqa: E741 (l as in LINPACK dqrdc2)
        while l < active and qraux[l] < work2[l] * tol:
            order = list(range(l + 1, p)) + [l]
            a[:, l:] = a[:, order]
            for arr in (qraux, work1, work2, pivot):
                arr[l:] = [arr[i] for i in order]
            active -= 1
        if l == n - 1:
            break
        col = a[l:, l]
        nrm = math.sqrt(float(np.dot(col, col)))
        if nrm == 0:
            continue
        head = float(col[0])
        if head != 0:
            nrm = math.copysign(nrm, head)
        col /= nrm
        col[0] += 1.0
        head = float(col[0])
        if l + 1 < p:
            rest = a[l:, l + 1:]
            t = -(col @ rest) / head
            rest += np.outer(col, t)
            top = a[l, l + 1:].tolist()
            for j in range(l + 1, p):
                if qraux[j] == 0:
                    continue
                tt = 1.0 - (abs(top[j - l - 1]) / qraux[j]) ** 2
                tt = max(tt, 0.0)
                if abs(tt) < 1e-6:
                    v = a[l + 1:, j]
                    qraux[j] = math.sqrt(float(np.dot(v, v)))
                    work1[j] = qraux[j]
                else:
                    qraux[j] = qraux[j] * math.sqrt(tt)
        qraux[l] = head
        a[l, l] = -nrm
    rank = min(active, n)
    return QRDecomposition(qr=a, qraux=np.array(qraux), pivot=np.array(pivot), rank=rank)


# --------------------------------------------------------------------------------------------
# Design and results


@dataclass
class WindowFit:
    """Numbers one window contributes to the estimates table; ``ok`` False means all NA."""

    ok: bool
    estimate: float = math.nan
    pvalue: float = math.nan
    adj_r_squared: float = math.nan
    intercept: float = math.nan
    intercept_pval: float = math.nan
    control_coef: np.ndarray = field(default_factory=lambda: np.empty(0))
    control_pval: np.ndarray = field(default_factory=lambda: np.empty(0))
    reason: str = ""
    theta: float = math.nan  # nb only: the final θ (of the last theta.ml update)
    dispersion: float = math.nan  # nb only: summary.glm's estimated dispersion
    t_value: float = math.nan  # treatment estimate / its standard error (z for poisson)


def _failed(n_controls: int, reason: str) -> WindowFit:
    return WindowFit(ok=False, control_coef=np.full(n_controls, np.nan),
                     control_pval=np.full(n_controls, np.nan), reason=reason)


def build_design(post, pre, treatment, controls=(), formula: str = FORMULA_LEVEL):
    """Response and model matrix of the mwa formula, controls placed before treatment.

    Level formula: post ~ 1 + pre + c1..cm + treatment. Difference formula:
    (post − pre) ~ 1 + c1..cm + treatment — R builds a broken formula here (Q6); we fit the
    intended model. Returns (y, X, control_index) with the column index of each control.
    """
    if formula not in FORMULAS:
        raise ValueError(f"formula must be one of {FORMULAS!r}, got {formula!r}")
    post = np.asarray(post, dtype=float)
    pre = np.asarray(pre, dtype=float)
    n = post.size
    cols = [np.ones(n)]
    if formula == FORMULA_LEVEL:
        y = post
        cols.append(pre)
    else:
        y = post - pre
    first = len(cols)
    for c in controls:
        c = np.asarray(c)
        if not np.issubdtype(c.dtype, np.number) and c.dtype != bool:
            raise ValueError("estimation controls must be numeric")
        cols.append(c.astype(float))
    cols.append(np.asarray(treatment, dtype=float))
    X = np.column_stack(cols)
    return y, X, np.arange(first, first + len(controls))


def _two_sided_p(tval: np.ndarray, df: float) -> np.ndarray:
    """2·P(T_df ≤ −|t|); ±Inf t gives 0, as R's pt does."""
    return 2.0 * special.ufuncs().stdtr(df, -np.abs(tval))


def _pack(coef, pval, adj, control_index, n_controls, tval) -> WindowFit:
    est = float(coef[-1])
    p = float(pval[-1])
    if not (math.isfinite(est) and not math.isnan(p)):
        return _failed(n_controls, "treatment estimate or p-value is not a number")
    return WindowFit(ok=True, estimate=est, pvalue=p, adj_r_squared=adj,
                     intercept=float(coef[0]), intercept_pval=float(pval[0]),
                     control_coef=np.asarray(coef[control_index], dtype=float),
                     control_pval=np.asarray(pval[control_index], dtype=float),
                     t_value=float(tval[-1]))


def _robust_se(xs, es, bread, vcov, cluster):
    """Sandwich standard errors and their t degrees of freedom from the √w-scaled design ``xs``
    and residuals ``es``; None when a cluster-robust fit has fewer than two clusters."""
    n, k = xs.shape
    scores = xs * es[:, None]
    if vcov == "HC1":
        meat = scores.T @ scores
        factor = n / (n - k)
        df = n - k
    else:
        codes, uniq = pd.factorize(np.asarray(cluster), use_na_sentinel=False)
        g = uniq.size
        if g < 2:
            return None
        summed = np.column_stack([np.bincount(codes, weights=scores[:, j], minlength=g)
                                  for j in range(k)])
        meat = summed.T @ summed
        factor = g / (g - 1) * (n - 1) / (n - k)
        df = g - 1
    cov = bread @ meat @ bread * factor
    return np.sqrt(np.maximum(np.diag(cov), 0.0)), df


def fit_lm(y, X, weights=None, control_index=np.empty(0, dtype=int), vcov: str = "classical",
           cluster=None) -> WindowFit:
    """``lm`` + ``summary.lm`` on one window, failing when R would alias a coefficient.

    Rows with zero weight are dropped as lm.wfit does. Standard errors come from the QR of the
    √w-scaled design; a perfect fit with a non-zero coefficient has t = ±Inf and p = 0.
    ``vcov`` "HC1"/"cluster" replace the standard errors and p-values by the sandwich ones (see
    the module docstring); ``cluster`` holds one cluster id per row of X.
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    m = len(control_index)
    if vcov not in VCOV_TYPES:
        raise ValueError(f"vcov must be one of {VCOV_TYPES}, got {vcov!r}")
    if vcov == "cluster":
        if cluster is None or len(cluster) != len(y):
            raise ValueError("vcov='cluster' needs one cluster id per row")
        cluster = np.asarray(cluster)
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        keep = w != 0
        if not keep.all():
            y, X, w = y[keep], X[keep], w[keep]
            if vcov == "cluster":
                cluster = cluster[keep]
        sw = np.sqrt(w)
        scaled = np.empty(X.shape, order="F")
        np.multiply(X, sw[:, None], out=scaled)  # the √w-scaled design, laid out for the QR
        qr = _qr_in_place(scaled, LM_TOL)
        ys = y * sw
    else:
        w = None
        qr = qr_limited_pivot(X, LM_TOL)
        ys = y
    n, p = X.shape
    if qr.rank != p:
        return _failed(m, "coefficients aliased")
    rdf = n - p
    if rdf <= 0:
        return _failed(m, "no residual degrees of freedom")
    coef, resid_s, _ = qr.solve(ys)
    if w is not None:
        resid = resid_s / sw
        fitted = y - resid
        rss = float(np.sum(w * resid**2))
        mean_f = float(np.sum(w * fitted / np.sum(w)))
        mss = float(np.sum(w * (fitted - mean_f) ** 2))
    else:
        resid = resid_s
        fitted = y - resid
        rss = float(np.sum(resid**2))
        mss = float(np.sum((fitted - np.mean(fitted)) ** 2))
    resvar = rss / rdf
    bread = qr.unscaled_cov()  # full rank here, so the pivot is the identity
    se = np.sqrt(np.diag(bread) * resvar)
    df = rdf
    if vcov != "classical":
        xs = X * sw[:, None] if w is not None else X
        robust = _robust_se(xs, resid_s, bread, vcov, cluster)
        if robust is None:
            return _failed(m, "fewer than two clusters")
        se, df = robust
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = coef / se
    r2 = mss / (mss + rss) if mss + rss != 0 else math.nan  # R: 0/0 → NaN
    pval = _two_sided_p(tval, df)
    adj = 1.0 - (1.0 - r2) * ((n - 1) / rdf)
    return _pack(coef, pval, float(adj), control_index, m, tval)


def fit_att(y, X, cem_weights, weighted: bool, control_index=np.empty(0, dtype=int),
            vcov: str = "classical", cluster=None) -> WindowFit:
    """cem's linear ``att``: the weighted fit with cem weights (matched rows weight 1 if unweighted).

    Same numbers as :func:`fit_lm`; the estimates table simply has no adj. R² for att.
    """
    w = np.asarray(cem_weights, dtype=float)
    if not weighted:
        w = (w > 0).astype(float)
    res = fit_lm(y, X, w, control_index, vcov, cluster)
    res.adj_r_squared = math.nan
    return res


# --------------------------------------------------------------------------------------------
# Negative binomial GLM with identity link (MASS::glm.nb + summary.glm)


class _GlmFailure(Exception):
    """The fit R would abort on, or one that did not converge: the window becomes NA."""


@dataclass
class _GlmFit:
    coef: np.ndarray
    mu: np.ndarray
    qr: QRDecomposition
    w_last: np.ndarray  # working weights of the last IRLS step (√ scale, as glm.fit keeps them)
    df_residual: int
    converged: bool


def _poisson_variance(mu, theta):
    return mu


def _nb_variance(mu, theta):
    with np.errstate(divide="ignore", invalid="ignore"):
        return mu + mu**2 / theta


def _poisson_dev(y, mu, theta):
    """Poisson deviance residuals; rows with y = 0 contribute 2μ (finite even for μ ≤ 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
    return 2.0 * (ylogy - (y - mu))


def _nb_dev(y, mu, theta):
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.0 * (y * np.log(np.maximum(1.0, y) / mu) - (y + theta) * np.log((y + theta) / (mu + theta)))


def _valid_mu(mu) -> bool:
    return bool(np.all(np.isfinite(mu) & (mu > 0)))


def _glm_fit_identity(y, X, variance, dev_resids, theta, eta_start, prior=None,
                      coef_start=None) -> _GlmFit:
    """glm.fit's IRLS for an identity link with unit (or the given positive) prior weights.

    As in R: a non-finite deviance, then an invalid mean, is answered by halving the step
    towards the previous coefficients; with no previous coefficients (first step) that is the
    fatal "no valid set of coefficients"; non-convergence after 25 steps is only flagged.
    ``coef_start`` (R's ``start =``) replaces ``eta_start`` by X·start and makes it the first
    "previous coefficients", so a first step to an invalid mean is halved towards it.
    """
    n, p = X.shape
    coefold = None
    if coef_start is not None:
        coefold = np.asarray(coef_start, dtype=float)
        eta_start = X @ coefold
    eta = np.asarray(eta_start, dtype=float)
    mu = eta.copy()
    if not _valid_mu(mu):
        raise _GlmFailure("cannot find valid starting values")
    if prior is None:
        def deviance(mu_):
            return float(np.sum(dev_resids(y, mu_, theta)))
    else:
        def deviance(mu_):
            return float(np.sum(prior * dev_resids(y, mu_, theta)))
    devold = deviance(mu)
    coef = None
    converged = False
    qr = None
    w = None
    for _ in range(GLM_MAXIT):
        varmu = variance(mu, theta)
        if np.any(np.isnan(varmu)):
            raise _GlmFailure("NAs in V(mu)")
        if np.any(varmu == 0):
            raise _GlmFailure("0s in V(mu)")
        z = eta + (y - mu)
        w = np.sqrt(1.0 / varmu) if prior is None else np.sqrt(prior / varmu)
        qr = qr_limited_pivot(X * w[:, None], GLM_QR_TOL)
        if qr.rank < p:
            raise _GlmFailure("coefficients aliased")
        start, _, _ = qr.solve(z * w)
        if not np.all(np.isfinite(start)):
            raise _GlmFailure("non-finite coefficients")
        eta = X @ start
        mu = eta
        dev = deviance(mu)
        if not math.isfinite(dev):
            if coefold is None:
                raise _GlmFailure("no valid set of coefficients has been found")
            for ii in range(GLM_MAXIT + 1):
                if math.isfinite(dev):
                    break
                if ii == GLM_MAXIT:
                    raise _GlmFailure("inner loop 1; cannot correct step size")
                start = (start + coefold) / 2.0
                eta = X @ start
                mu = eta
                dev = deviance(mu)
        if not _valid_mu(mu):
            if coefold is None:
                raise _GlmFailure("no valid set of coefficients has been found")
            for ii in range(GLM_MAXIT + 1):
                if _valid_mu(mu):
                    break
                if ii == GLM_MAXIT:
                    raise _GlmFailure("inner loop 2; cannot correct step size")
                start = (start + coefold) / 2.0
                eta = X @ start
                mu = eta
            dev = deviance(mu)
        if abs(dev - devold) / (abs(dev) + 0.1) < GLM_EPS:
            converged = True
            coef = start
            break
        devold = dev
        coef = coefold = start
    return _GlmFit(coef=coef, mu=mu, qr=qr, w_last=w, df_residual=n - qr.rank, converged=converged)


def _theta_ml(y, mu, n, notes: list[str], limit=GLM_MAXIT) -> float:
    """MASS::theta.ml: Newton–Raphson for the NB shape from the moment start n/Σ(y/μ−1)².

    Like R, hitting the iteration limit or a negative estimate (set to 0) is only noted. The
    digamma/trigamma sums are taken over the distinct counts (weighted by their frequency),
    which is what makes the alternation cheap.
    """
    sp = special.full()
    eps = np.finfo(float).eps ** 0.25
    yu, ycount = np.unique(y, return_counts=True)
    ycount = ycount.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t0 = n / float(np.sum((y / mu - 1.0) ** 2))
    it = 0
    delta = 1.0
    while True:
        it += 1
        if not (it < limit and abs(delta) > eps):
            break
        t0 = abs(t0)
        mt = mu + t0
        yt = y + t0
        score = (float(np.dot(ycount, sp.digamma(t0 + yu))) - n * sp.digamma(t0)
                 + n * (math.log(t0) + 1.0) - float(np.sum(np.log(mt))) - float(np.sum(yt / mt)))
        info = (-float(np.dot(ycount, sp.polygamma(1, t0 + yu))) + n * sp.polygamma(1, t0)
                - n / t0 + float(np.sum(2.0 / mt - yt / mt**2)))
        delta = score / info
        t0 = t0 + delta
        if not math.isfinite(t0):
            raise _GlmFailure("theta estimate is not finite")
    if t0 < 0:
        t0 = 0.0
        notes.append("theta estimate truncated at zero")
    if it == limit:
        notes.append("theta iteration limit reached")
    return t0


def _nb_loglik(th, mu, y):
    sp = special.full()
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(sp.gammaln(th + y) - sp.gammaln(th) - sp.gammaln(y + 1)
                            + th * math.log(th) + y * np.log(mu + (y == 0)) - (th + y) * np.log(th + mu)))


def fit_nb(y, X, control_index=np.empty(0, dtype=int)) -> WindowFit:
    """glm.nb (identity link, unit weights) summarised as summary.glm does.

    Poisson start (mustart = y + 0.1), then alternate an IRLS fit at fixed θ with θ's maximum
    likelihood (θ estimated from the previous means, as glm.nb does) until the log-likelihood
    and θ settle. Dispersion = Σ w·r² / df from the last IRLS step; p-values from t(df).
    What R aborts on (no valid coefficients, failed step halving) → failed window. What R only
    warns about (IRLS or θ iteration limits, alternation limit) keeps the numbers, and the
    notes are returned in ``reason`` so the caller can warn.
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    m = len(control_index)
    n, p = X.shape
    notes: list[str] = []
    try:
        try:
            fit = _glm_fit_identity(y, X, _poisson_variance, _poisson_dev, None, y + 0.1)
            if not fit.converged:
                notes.append("initial Poisson fit did not converge")
        except _GlmFailure:  # R stops here; a least-squares start often finds the fit
            fit = _poisson_irls(y, X, None, notes)
        mu = fit.mu
        th = _theta_ml(y, mu, n, notes)
        d1 = math.sqrt(2.0 * max(1, fit.df_residual))
        d2 = delta = 1.0
        lm_ = _nb_loglik(th, mu, y)
        lm0 = lm_ + 2.0 * d1
        it = 0
        while True:
            it += 1
            if it > GLM_MAXIT:
                break
            crit = abs(lm0 - lm_) / d1 + abs(delta) / d2
            if math.isnan(crit):  # R stops here ("missing value where TRUE/FALSE needed")
                raise _GlmFailure("log-likelihood or theta is not a number")
            if not crit > GLM_EPS:
                break
            # R passes only etastart = η here; the previous coefficients as `start` give the
            # same first η and let a first step to an invalid mean be halved instead of fatal
            fit = _glm_fit_identity(y, X, _nb_variance, _nb_dev, th, None, coef_start=fit.coef)
            if not fit.converged:
                notes.append(f"IRLS did not converge in alternation {it}")
            t0 = th
            th = _theta_ml(y, mu, n, notes)
            mu = fit.mu
            delta = t0 - th
            lm0 = lm_
            lm_ = _nb_loglik(th, mu, y)
        if it > GLM_MAXIT:
            notes.append("alternation limit reached")
    except _GlmFailure as exc:
        return _failed(m, f"negative binomial fit failed: {exc}")
    df_r = fit.df_residual
    if df_r <= 0:
        return _failed(m, "no residual degrees of freedom")
    resid = y - fit.mu
    dispersion = float(np.sum(fit.w_last**2 * resid**2)) / df_r
    se = np.sqrt(np.diag(fit.qr.unscaled_cov()) * dispersion)
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = fit.coef / se
    pval = _two_sided_p(tval, df_r)
    out = _pack(fit.coef, pval, math.nan, control_index, m, tval)
    if out.ok:
        out.reason = "; ".join(dict.fromkeys(notes))
        out.theta = th
        out.dispersion = dispersion
    return out


def _least_squares_start(y, X, prior=None):
    """Coefficients to start an identity-link IRLS from: the (weighted) OLS fit, pulled towards
    the intercept-only fit until every fitted mean is ≥ LS_START_FLOOR × the mean count.

    Raises _GlmFailure when no positive start exists (all counts zero, or no intercept column
    and no positive combination found).
    """
    w = np.ones(y.size) if prior is None else prior
    ybar = float(np.sum(w * y) / np.sum(w))
    if not ybar > 0:
        raise _GlmFailure("all counts are zero")
    sw = np.sqrt(w)
    beta_ols = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    beta_flat = np.linalg.lstsq(X, np.full(y.size, ybar), rcond=None)[0]  # intercept-only fit
    mu_ols, mu_flat = X @ beta_ols, X @ beta_flat
    floor = LS_START_FLOOR * ybar
    if not np.all(mu_flat >= floor * (1 - 1e-12)):
        raise _GlmFailure("no positive least-squares start (the design has no intercept)")
    low = mu_ols < floor
    lam = 0.0
    if low.any():
        lam = float(np.max((floor - mu_ols[low]) / (mu_flat[low] - mu_ols[low])))
    return (1.0 - lam) * beta_ols + lam * beta_flat


def _poisson_irls(y, X, prior, notes: list[str]) -> _GlmFit:
    """The Poisson identity-link fit from R's start, else from the least-squares start."""
    r_reason = ""
    try:
        fit = _glm_fit_identity(y, X, _poisson_variance, _poisson_dev, None, y + 0.1, prior)
        if fit.converged:
            return fit
        r_reason = "did not converge in 25 iterations"
    except _GlmFailure as exc:
        r_reason = str(exc)
    try:
        start = _least_squares_start(y, X, prior)
        fit = _glm_fit_identity(y, X, _poisson_variance, _poisson_dev, None, None, prior,
                                coef_start=start)
    except _GlmFailure as exc:
        raise _GlmFailure(f"{r_reason} (from R's start); from a least-squares start: {exc}") from None
    if not fit.converged:
        raise _GlmFailure(f"{r_reason} (from R's start); from a least-squares start: did not "
                          "converge in 25 iterations")
    w = np.ones(y.size) if prior is None else prior
    if float(np.min(fit.mu)) < BOUNDARY_MU * float(np.sum(w * y) / np.sum(w)):
        raise _GlmFailure(f"{r_reason} (from R's start); the maximum lies on the boundary "
                          "(a fitted mean → 0)")
    notes.append(f"converged from least-squares starting values (R's start: {r_reason})")
    return fit


def fit_poisson(y, X, weights=None, control_index=np.empty(0, dtype=int),
                vcov: str = "classical", cluster=None) -> WindowFit:
    """``glm(family = poisson(link = "identity"))`` + ``summary.glm`` (dispersion 1, z p-values).

    An extension: an effect on the additive scale of ``lm`` from a count model. Start
    mustart = y + 0.1 as R's poisson family, then least-squares starting values if that fails
    (module docstring); ``weights`` are prior weights (rows with weight 0 are left out, which
    changes nothing else in R either). A fit that fails from both starts is a failed window.
    ``vcov="HC1"``/``"cluster"``: sandwich standard errors (weighted quasi-Poisson), z p-values;
    ``dispersion`` then holds Pearson χ²/df. ``reason`` notes a least-squares start.
    """
    if vcov not in VCOV_TYPES:
        raise ValueError(f"vcov must be one of {VCOV_TYPES}, got {vcov!r}")
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    m = len(control_index)
    if vcov == "cluster":
        if cluster is None or len(cluster) != len(y):
            raise ValueError("vcov='cluster' needs one cluster id per row")
        cluster = np.asarray(cluster)
    prior = None
    if weights is not None:
        prior = np.asarray(weights, dtype=float)
        keep = prior != 0
        y, X, prior = y[keep], X[keep], prior[keep]
        if cluster is not None:
            cluster = cluster[keep]
    if y.size == 0:
        return _failed(m, "no observations")
    notes: list[str] = []
    try:
        fit = _poisson_irls(y, X, prior, notes)
    except _GlmFailure as exc:
        return _failed(m, f"Poisson fit failed: {exc}")
    bread = fit.qr.unscaled_cov()
    n, k = X.shape
    dispersion = math.nan
    if vcov == "classical":
        se = np.sqrt(np.diag(bread))
    else:
        resid = y - fit.mu
        robust = _robust_se(X * fit.w_last[:, None], fit.w_last * resid, bread, vcov, cluster)
        if robust is None:
            return _failed(m, "fewer than two clusters")
        se = robust[0]
        pw = np.ones(n) if prior is None else prior
        if n > k:
            dispersion = float(np.sum(pw * resid**2 / fit.mu)) / (n - k)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = fit.coef / se
    pval = 2.0 * special.ufuncs().ndtr(-np.abs(zval))
    out = _pack(fit.coef, pval, math.nan, control_index, m, zval)
    if out.ok:
        out.reason = "; ".join(notes)
        out.dispersion = dispersion
    return out


def estimate(method: str, y, X, control_index, cem_weights=None, weighted: bool = False,
             vcov: str = "classical", cluster=None) -> WindowFit:
    """Dispatch one window's estimation; ``cem_weights`` are the weights of the rows of X.

    Rows with a missing response or regressor are left out first, as R's default
    ``na.action = na.omit`` does in lm and glm.nb. ``vcov`` other than "classical" is for
    lm/att/poisson only; ``cluster`` gives the cluster id of each row of X for ``vcov="cluster"``.
    """
    if vcov not in VCOV_TYPES:
        raise ValueError(f"vcov must be one of {VCOV_TYPES}, got {vcov!r}")
    if vcov != "classical" and method not in ROBUST_VCOV_ESTIMATIONS:
        raise ValueError(f"vcov={vcov!r} is available for {', '.join(ROBUST_VCOV_ESTIMATIONS)} "
                         f"only, not {method!r}")
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    if np.isnan(y).any() or np.isnan(X).any():
        keep = ~(np.isnan(y) | np.isnan(X).any(axis=1))
        y, X = y[keep], X[keep]
        if cem_weights is not None:
            cem_weights = np.asarray(cem_weights, dtype=float)[keep]
        if cluster is not None:
            cluster = np.asarray(cluster)[keep]
    if method == "lm":
        return fit_lm(y, X, cem_weights if weighted else None, control_index, vcov, cluster)
    if method == "att":
        w = np.ones(len(y)) if cem_weights is None else cem_weights
        return fit_att(y, X, w, weighted, control_index, vcov, cluster)
    if method == "nb":
        return fit_nb(y, X, control_index)
    if method == "poisson":
        return fit_poisson(y, X, cem_weights if weighted else None, control_index, vcov, cluster)
    raise ValueError(f"estimation must be 'lm', 'att', 'nb' or 'poisson', got {method!r}")
