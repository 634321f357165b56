"""Coarsened exact matching with the defaults of R's `cem` package as `mwa` calls it (REFERENCE.md §2.6).

Each matching variable is coarsened into Sturges bins over the whole window, wakes are grouped
into strata by their bin codes, and a stratum is kept when it holds both a treated and a control
wake. Control weights rescale the matched controls to the treated distribution.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .rmath import linspace, nclass_sturges

__all__ = ["CemResult", "CodeMemo", "cem", "bin_index", "coarsen_sturges", "as_match_variable", "combine_codes",
           "dense_ids", "format_r_number", "sorted_unique"]


@dataclass
class CemResult:
    """Outcome of :func:`cem`: per-row stratum id, matched flag and weight, plus the bins text."""

    strata: np.ndarray  # int64 stratum id per row (0..n_strata-1)
    matched: np.ndarray  # bool per row
    weights: np.ndarray  # float per row (0 for unmatched)
    n_matched_strata: int
    bins: dict[str, str]  # variable -> R-style description of its cutpoints (if requested)


def as_match_variable(col: pd.Series) -> tuple[np.ndarray, bool]:
    """Numeric view of a covariate as cem sees it; the flag says it is a factor (exact codes).

    A categorical becomes its integer codes (NA → NaN); anything else goes through a numeric
    conversion like R's ``as.numeric``, so text that is not a number becomes NaN (Q14).
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(float)
        codes[codes < 0] = np.nan
        return codes + 1.0, True
    if pd.api.types.is_bool_dtype(col.dtype):
        # R passes logical columns through as the strings "TRUE"/"FALSE"; as.numeric gives NA.
        return np.full(len(col), np.nan), False
    if pd.api.types.is_numeric_dtype(col.dtype):
        return col.to_numpy(dtype=float, na_value=np.nan), False
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan), False


def format_r_number(x: float, digits: int = 15) -> str:
    """A double as R's ``as.character``/``paste`` prints it: up to 15 significant digits,
    fixed or scientific notation, whichever is narrower (fixed on ties)."""
    if math.isnan(x):
        return "NA"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    mant, exp = (f"{abs(x):.{digits - 1}e}").split("e")
    kp = int(exp)
    sig = len(mant.replace(".", "").rstrip("0")) or 1
    neg = x < 0
    left = kp + 1
    rgt = max(sig - left, 0)
    width_f = neg + max(left, 1) + rgt + (rgt > 0)
    width_e = neg + (sig > 1) + (sig - 1) + 4 + (2 if abs(kp) >= 100 else 1)
    if width_f <= width_e:
        return f"{x:.{rgt}f}"
    s = f"{x:.{sig - 1}e}"
    m, e = s.split("e")
    esign = e[0]
    edig = e[1:].lstrip("0").rjust(2, "0")
    return f"{m}e{esign}{edig}"


def coarsen_sturges(x: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Bin codes of one numeric variable with cem's default Sturges cutpoints.

    Returns (codes, breaks). With breaks, codes are the int64 interval numbers 1..len(breaks)-1
    (right-closed, first interval closed on the left) and 0 for a missing value. When the
    variable is constant breaks is None and the codes are the raw values (cem keeps a variable
    it cannot cut as it is), NaN staying NaN.
    """
    nan = np.isnan(x)
    has_nan = bool(nan.any())
    if has_nan and nan.all():
        return x.copy(), None
    ok = x[~nan] if has_nan else x
    lo = ok.min()
    hi = ok.max()
    k = nclass_sturges(n_rows)
    # R's seq(min, max, length.out = k): ends exact, interior min + i*(max-min)/(k-1)
    breaks = sorted_unique(linspace(lo, hi, k)) if k >= 2 else np.array([lo])
    if breaks.size < 2:
        return x.copy(), None
    codes = bin_index(breaks, x)
    np.maximum(codes, 1, out=codes)  # include.lowest: x == min goes to the first interval
    if has_nan:
        codes[nan] = 0
    return codes, breaks


def bin_index(breaks: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``np.searchsorted(breaks, x, side="left")`` — how many breaks are below each x — exactly.

    Break points here are (nearly) evenly spaced, so the interval is guessed arithmetically and
    confirmed against the breaks themselves; only values the guess misses (rounding at a break,
    NaN, uneven breaks) go through the binary search, which is ~4× slower on unsorted data.
    """
    m = breaks.size
    if m < 3 or x.size < 64:
        return np.searchsorted(breaks, x, side="left")
    b0 = breaks[0]
    step = (breaks[-1] - b0) / (m - 1)
    if not (step > 0 and np.isfinite(step)):
        return np.searchsorted(breaks, x, side="left")
    guess = np.ceil((x - b0) / step)  # NaN stays NaN silently; no warning state needed
    code = np.fmax(np.fmin(guess, m), 0).astype(np.int64)  # NaN -> m, checked below
    ext = np.concatenate(([-np.inf], breaks, [np.inf]))
    wrong = ~(ext[code] < x) | (ext[code + 1] < x)
    if wrong.any():
        code[wrong] = np.searchsorted(breaks, x[wrong], side="left")
    return code


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique`` of an already ascending array (break points), without sorting it again."""
    if a.size < 2:
        return a
    return a[np.concatenate(([True], a[1:] != a[:-1]))]


def dense_ids(ids: np.ndarray, span: int) -> np.ndarray:
    """``np.unique(ids, return_inverse=True)[1]`` for ids in 0..span-1.

    When the id space is not much larger than the data, occupancy counts replace the sort; the
    ids come out the same (0..k-1 in ascending order of the value).
    """
    if span <= 4 * ids.size + 4096:
        occupied = np.zeros(span, dtype=np.int64)
        occupied[ids] = 1
        return (np.cumsum(occupied) - 1)[ids]
    _, dense = np.unique(ids, return_inverse=True)
    return dense.astype(np.int64).reshape(-1)


def _small_int_codes(c: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes 0..radix-1 for one variable, NaN → 0; bin codes are small non-negative integers,
    so the common case needs no sort."""
    nan = np.isnan(c)
    v = np.where(nan, 0.0, c)
    if v.size and v.min() >= 0 and v.max() < 2**20 and np.array_equal(v, np.floor(v)):
        return np.where(nan, 0, v.astype(np.int64) + 1), int(v.max()) + 2
    _, inv = np.unique(c, return_inverse=True, equal_nan=True)
    inv = inv.astype(np.int64).reshape(-1)
    return inv, int(inv.max()) + 1 if inv.size else 1


def combine_codes(columns: list, n: int) -> np.ndarray:
    """Dense integer id (0..k-1, in sorted tuple order) per row for the tuple of per-variable
    codes, NaN being its own value.

    Each item is either a float array of arbitrary values or a pair (int codes, radix) of
    ready-made codes in 0..radix-1, which skips the conversion.
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ids = np.zeros(n, dtype=np.int64)
    span = 1
    for c in columns:
        if isinstance(c, tuple):
            code, radix = c
        else:
            code, radix = _small_int_codes(np.asarray(c, dtype=float))
        if span * radix >= 2**62:  # re-densify before the mixed-radix id could overflow
            _, ids = np.unique(ids, return_inverse=True)
            ids = ids.astype(np.int64).reshape(-1)
            span = int(ids.max()) + 1
        ids = ids * radix + code
        span *= radix
    return dense_ids(ids, span)


class CodeMemo:
    """The codes of the last array coarsened under each key, reused when the next array is equal.

    Consecutive windows often hold the same wakes (the spatial windows of one temporal window),
    so their covariate columns, and those columns' codes, are identical; comparing costs one
    pass, coarsening about twenty. Cached codes are never modified by their users.
    """

    def __init__(self) -> None:
        self._last: dict = {}

    def get(self, key, x: np.ndarray, compute):
        hit = self._last.get(key)
        if hit is not None and hit[0].shape == x.shape and np.array_equal(hit[0], x):
            return hit[1]
        out = compute(x)
        self._last[key] = (x, out)
        return out


def cem(treatment: np.ndarray, data: dict[str, np.ndarray], factors: set[str] = frozenset(),
        describe_bins: bool = True, memo: CodeMemo | None = None) -> CemResult:
    """Match on the coarsened variables in ``data`` (name → numeric array) with groups ``treatment``.

    Weights follow cem with treatment as baseline: treated matched 1, control matched in stratum
    j (n_T,j / n_C,j)·(M_C / M_T), unmatched 0. ``memo`` reuses the codes of a variable whose
    values equal those of the previous call.
    """
    g = np.asarray(treatment).astype(np.int64)
    n = g.size
    codes: list[np.ndarray] = []
    bins: dict[str, str] = {}
    for name, x in data.items():
        x = np.asarray(x, dtype=float)
        if name in factors:
            codes.append(x)
            if describe_bins:
                ok = x[~np.isnan(x)]
                bins[name] = ", ".join(format_r_number(v) for v in np.unique(ok))
            continue
        c, br = (coarsen_sturges(x, n) if memo is None
                 else memo.get(name, x, lambda v: coarsen_sturges(v, n)))
        codes.append(c if br is None else (c, br.size))
        if not describe_bins:
            continue
        if br is None:
            ok = x[~np.isnan(x)]
            bins[name] = format_r_number(float(ok[0])) if ok.size else "NA"
        else:
            bins[name] = ", ".join(format_r_number(float(v)) for v in br)
    strata = combine_codes(codes, n) if codes else np.zeros(n, dtype=np.int64)
    n_strata = int(strata.max()) + 1 if n else 0
    n_t = np.bincount(strata, weights=(g == 1), minlength=n_strata)
    n_c = np.bincount(strata, weights=(g == 0), minlength=n_strata)
    good = (n_t > 0) & (n_c > 0)
    matched = good[strata]
    weights = np.zeros(n, dtype=float)
    m_t = int(np.sum(matched & (g == 1)))
    m_c = int(np.sum(matched & (g == 0)))
    if m_t > 0 and m_c > 0:
        ratio = np.zeros(n_strata)
        ratio[good] = n_t[good] / n_c[good]
        weights[matched & (g == 1)] = 1.0
        ctl = matched & (g == 0)
        weights[ctl] = ratio[strata[ctl]] * (m_c / m_t)
    return CemResult(strata=strata, matched=matched, weights=weights,
                     n_matched_strata=int(good.sum()), bins=bins)
