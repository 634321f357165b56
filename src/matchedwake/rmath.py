"""R numerics that the `mwa` outputs depend on bit for bit (docs/mwa_reference.md Appendices A and C).

Python's ``round`` and numpy's ``around`` differ from R's ``round`` on decimal halves, and the L1
histogram breaks come from R's ``pretty``; parity on the rounded L1/LCS columns needs both exactly.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["linspace", "r_round", "r_pretty", "nclass_scott", "nclass_scott_range", "nclass_sturges", "r_var"]

_DBL_EPSILON = np.finfo(float).eps
_DBL_MIN = np.finfo(float).tiny
_LOG10_2 = math.log10(2.0)


def r_round(x, digits: int = 0):
    """R's ``round(x, digits)`` (fround, R >= 4.0), scalar or array.

    Of the two decimal candidates around x it returns the closer double; exact ties go to the
    candidate with an even last digit. This is why R gives round(0.4525, 3) == 0.452.
    """
    digits = int(digits)
    if isinstance(x, (float, int)) and not isinstance(x, bool):
        return _r_round_scalar(float(x), digits)
    scalar = np.ndim(x) == 0
    a = np.atleast_1d(np.asarray(x, dtype=float))
    if digits == 0:
        out = np.rint(a)  # nearbyint: ties to even
    else:
        out = a.copy()
        ax = np.abs(a)
        finite = np.isfinite(a) & (a != 0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # logb(x) = binary exponent of x; beyond ~15 significant digits x is returned as is
            e2 = np.frexp(np.where(finite, ax, 1.0))[1] - 1
            todo = finite & (_LOG10_2 * (0.5 + e2) + digits <= 15)
            if todo.any():
                v = ax[todo]
                if digits > 0:
                    p = 10.0**digits
                    x10 = v * p
                    i = np.floor(x10)
                    xd = i / p
                    xu = np.ceil(x10) / p
                else:
                    p = 10.0 ** (-digits)
                    x10 = v / p
                    i = np.floor(x10)
                    xd = i * p
                    xu = np.ceil(x10) * p
                du = xu - v
                dd = v - xd
                odd = np.fmod(i, 2.0) == 1.0
                r = np.where((du < dd) | ((du == dd) & odd), xu, xd)
                out[todo] = np.copysign(r, a[todo])
    return float(out[0]) if scalar else out


def linspace(start: float, stop: float, num: int) -> np.ndarray:
    """``np.linspace(start, stop, num)`` for float scalars, the same operations without its
    generic overhead (it is called for every variable of every window)."""
    start, stop = float(start), float(stop)
    if num < 2:
        return np.linspace(start, stop, num)
    div = num - 1
    delta = stop - start
    y = np.arange(num, dtype=float)
    step = delta / div
    if step == 0:  # numpy's path for denormal steps
        y /= div
        y *= delta
    else:
        y *= step
    y += start
    y[-1] = stop
    return y


def _r_round_scalar(x: float, digits: int) -> float:
    """:func:`r_round` for one Python float: the same IEEE operations, without array overhead."""
    if digits == 0:
        return float(np.rint(x))
    if not math.isfinite(x) or x == 0:
        return x
    ax = abs(x)
    e2 = math.frexp(ax)[1] - 1
    if not _LOG10_2 * (0.5 + e2) + digits <= 15:
        return x
    if digits > 0:
        p = 10.0**digits
        x10 = ax * p
        i = float(math.floor(x10))
        xd = i / p
        xu = math.ceil(x10) / p
    else:
        p = 10.0 ** (-digits)
        x10 = ax / p
        i = float(math.floor(x10))
        xd = i * p
        xu = math.ceil(x10) * p
    du = xu - ax
    dd = ax - xd
    odd = math.fmod(i, 2.0) == 1.0
    return math.copysign(xu if (du < dd or (du == dd and odd)) else xd, x)


def r_pretty(lo: float, up: float, n: int, min_n: int = 1) -> np.ndarray:
    """R's ``pretty`` (R >= 4.2) on the range [lo, up] with n intervals: the L1 histogram breaks."""
    h = 1.5
    h5 = 0.5 + 1.5 * h
    shrink = 0.75
    f_min = 2.0**-20
    lo = float(lo)
    up = float(up)
    dx = up - lo
    if dx == 0 and up == 0:
        cell = 1.0
        i_small = True
    else:
        cell = max(abs(lo), abs(up))
        u = 1.0 + ((1.0 / (1.0 + h)) if h5 >= 1.5 * h + 0.5 else (1.5 / (1.0 + h5)))
        u *= max(1, n) * _DBL_EPSILON
        i_small = dx < cell * u * 3.0
    if i_small:
        if cell > 10:
            cell = 9.0 + cell / 10.0
        cell *= shrink
        if min_n > 1:
            cell /= min_n
    else:
        cell = dx
        if n > 1:
            cell /= n
    cell = max(cell, f_min * _DBL_MIN)
    base = 10.0 ** math.floor(math.log10(cell))
    unit = base
    if 2 * base - cell < h * (cell - unit):
        unit = 2 * base
        if 5 * base - cell < h5 * (cell - unit):
            unit = 5 * base
            if 10 * base - cell < h * (cell - unit):
                unit = 10 * base
    ns = math.floor(lo / unit + 1e-10)
    nu = math.ceil(up / unit - 1e-10)
    while ns * unit > lo + 1e-10 * unit:
        ns -= 1
    while nu * unit < up - 1e-10 * unit:
        nu += 1
    k = int(0.5 + nu - ns)
    if k < min_n:
        k = min_n - k
        if lo == 0 and ns == 0 and up != 0:
            nu += k
        elif up == 0 and nu == 0 and lo != 0:
            ns -= k
        elif ns >= 0:
            nu += k // 2
            ns -= k // 2 + k % 2
        else:
            ns -= k // 2
            nu += k // 2 + k % 2
        ndiv = min_n
    else:
        ndiv = k
    lo_b = ns * unit if ns * unit < lo else lo
    up_b = nu * unit if nu * unit > up else up
    # R: seq.int(l, u, length.out = ndiv + 1): ends exact, interior l + i*((u-l)/ndiv), as linspace
    s = linspace(lo_b, up_b, ndiv + 1)
    delta = (up_b - lo_b) / ndiv
    s[np.abs(s) < 1e-14 * delta] = 0.0
    return s


def r_var(x: np.ndarray) -> float:
    """Sample variance with R's two-pass scheme (mean, then a mean correction, then squares)."""
    v = np.asarray(x, dtype=float)
    n = v.size
    if n < 2:
        return math.nan
    mean = v.sum() / n
    mean = mean + (v - mean).sum() / n
    d = v - mean
    return float(np.dot(d, d) / (n - 1))


def nclass_scott(x) -> int:
    """R's ``nclass.scott``: number of histogram classes from Scott's rule (NAs removed)."""
    v = np.asarray(x, dtype=float)
    nan = np.isnan(v)
    if nan.any():
        v = v[~nan]
    if v.size < 2:
        return 1
    return nclass_scott_range(v, float(v.min()), float(v.max()))


def nclass_scott_range(v: np.ndarray, lo: float, hi: float) -> int:
    """:func:`nclass_scott` for NaN-free ``v`` whose min and max the caller already has."""
    n = v.size
    if n < 2:
        return 1
    h = 3.5 * math.sqrt(r_var(v)) * n ** (-1.0 / 3.0)
    if h > 0:
        return max(1, math.ceil((hi - lo) / h))
    return 1


def nclass_sturges(n: int) -> int:
    """R's ``nclass.Sturges`` for n observations: ceil(log2(n) + 1), the cem default coarsening."""
    return int(math.ceil(math.log2(n) + 1))
