"""Multiple-testing adjustment of the p-values of a window grid (R's ``p.adjust``; fix of Q12).

R mwa 0.5.0 offers ``plot(adjust=...)`` but only accepts "none". Testing dozens of nested
space-time windows inflates false positives, so we implement the methods of R's ``stats::p.adjust``
with its semantics: missing p-values (NA/NaN) stay missing and are *not* counted in ``n`` (R's
default ``n = length(p)`` is evaluated after the NAs are removed), results are capped at 1, and
with ``n <= 1`` the input is returned unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Canonical method names, as in R's ``p.adjust.methods`` ("fdr" is an alias of "BH").
METHODS = ("none", "bonferroni", "holm", "hochberg", "hommel", "BH", "BY")

_ALIASES = {m.lower(): m for m in METHODS}
_ALIASES["fdr"] = "BH"


def canonical_method(method: str) -> str:
    """Return the canonical name of ``method`` (case-insensitive; "fdr" → "BH"), or raise ValueError."""
    key = str(method).lower()
    if key not in _ALIASES:
        raise ValueError(
            f"unknown p-value adjustment {method!r}; choose one of {', '.join(METHODS)} (or 'fdr')"
        )
    return _ALIASES[key]


def p_adjust(p: Sequence[float] | np.ndarray, method: str = "none", n: int | None = None) -> np.ndarray:
    """Adjusted p-values in the input order; NaN stays NaN.

    ``n`` is the number of tests; by default the number of non-missing p-values (as in R). A larger
    ``n`` treats the unobserved p-values as larger than all observed ones, as R does.
    """
    method = canonical_method(method)
    p0 = np.asarray(p, dtype=float).copy()
    if p0.ndim != 1:
        p0 = p0.ravel()
    ok = ~np.isnan(p0)
    pv = p0[ok]
    lp = pv.size
    if n is None:
        n = lp
    if n < lp:
        raise ValueError(f"n ({n}) must be at least the number of non-missing p-values ({lp})")
    if n <= 1 or method == "none":
        return p0
    if n == 2 and method == "hommel":
        method = "hochberg"  # R does the same: the two coincide for two tests
    p0[ok] = _ADJUSTERS[method](pv, n)
    return p0


def _bonferroni(p: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(1.0, n * p)


def _holm(p: np.ndarray, n: int) -> np.ndarray:
    # Step-down: the k-th smallest p (k = 1..lp) is multiplied by n - k + 1, then made monotone.
    o = np.argsort(p, kind="stable")
    k = np.arange(1, p.size + 1)
    adj = np.minimum(1.0, np.maximum.accumulate((n - k + 1) * p[o]))
    out = np.empty_like(p)
    out[o] = adj
    return out


def _step_up(p: np.ndarray, factors_desc: np.ndarray) -> np.ndarray:
    """Shared step-up core: visit p in decreasing order, scale, keep the running minimum."""
    o = np.argsort(-p, kind="stable")
    adj = np.minimum(1.0, np.minimum.accumulate(factors_desc * p[o]))
    out = np.empty_like(p)
    out[o] = adj
    return out


def _hochberg(p: np.ndarray, n: int) -> np.ndarray:
    # Position j (1-based) in decreasing order has rank i = lp - j + 1; factor n - i + 1.
    i = np.arange(p.size, 0, -1)
    return _step_up(p, (n - i + 1).astype(float))


def _bh(p: np.ndarray, n: int) -> np.ndarray:
    i = np.arange(p.size, 0, -1)
    return _step_up(p, n / i)


def _by(p: np.ndarray, n: int) -> np.ndarray:
    q = float(np.sum(1.0 / np.arange(1, n + 1)))
    i = np.arange(p.size, 0, -1)
    return _step_up(p, q * n / i)


def _hommel(p: np.ndarray, n: int) -> np.ndarray:
    """Hommel's (1988) closed-testing adjustment, computed as in R.

    For each subset size m (n-1 down to 2) the p-values of the m largest hypotheses give a Simes
    bound; every hypothesis takes the largest bound over all m, and never less than its own p.
    """
    lp = p.size
    # Unobserved tests (n > lp) are treated as p = 1, as R does.
    full = np.concatenate([p, np.ones(n - lp)]) if n > lp else p.copy()
    o = np.argsort(full, kind="stable")
    s = full[o]
    idx = np.arange(1, n + 1)
    pa = np.full(n, np.min(n * s / idx))
    q = pa.copy()
    for m in range(n - 1, 1, -1):
        head = n - m + 1  # the first n-m+1 sorted values
        tail = s[head:]  # the last m-1 sorted values
        q1 = np.min(m * tail / np.arange(2, m + 1))
        q[:head] = np.minimum(m * s[:head], q1)
        q[head:] = q[head - 1]
        pa = np.maximum(pa, q)
    adj_sorted = np.maximum(pa, s)
    out = np.empty(n)
    out[o] = adj_sorted
    return out[:lp]


_ADJUSTERS = {
    "bonferroni": _bonferroni,
    "holm": _holm,
    "hochberg": _hochberg,
    "hommel": _hommel,
    "BH": _bh,
    "BY": _by,
}
