"""The multivariate imbalance measures L1 and LCS of R's `cem::imbalance` (REFERENCE.md §2.7).

Both compare the treated and control histograms on a grid of cells built from Scott-rule
``pretty`` breaks of every matching variable, with unit weights.
"""
from __future__ import annotations

import math

import numpy as np

from .cem import CodeMemo, bin_index, combine_codes, sorted_unique
from .rmath import nclass_scott_range, r_pretty

__all__ = ["imbalance_cells", "l1_lcs"]


def _cut_right_closed(x: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, int]:
    """R's cut(right=TRUE, include.lowest=TRUE) as int codes 1..k-1 with 0 for missing or
    outside; returned with the radix k for :func:`combine_codes`."""
    codes = bin_index(breaks, x)
    low = codes == 0
    if low.any():  # only x <= breaks[0]; include.lowest keeps x == breaks[0]
        codes[low] = x[low] == breaks[0]
    codes[codes >= breaks.size] = 0  # above the last break, and NaN (sorted to the end)
    return codes, int(breaks.size)


def _scott_cut(x: np.ndarray):
    """One numeric variable's imbalance codes: cut at ``pretty`` breaks with Scott's class count."""
    nan = np.isnan(x)
    ok = x[~nan] if nan.any() else x
    if ok.size == 0:
        return x
    lo, hi = float(ok.min()), float(ok.max())
    br = sorted_unique(r_pretty(lo, hi, nclass_scott_range(ok, lo, hi), 1))
    return _cut_right_closed(x, br)


def imbalance_cells(columns: list[np.ndarray], factors: list[bool] | None = None,
                    memo: CodeMemo | None = None) -> np.ndarray:
    """Dense cell id per row: each numeric variable cut at ``pretty`` breaks with Scott's class
    count. ``memo`` reuses the codes of a column equal to the same column of the previous call."""
    n = columns[0].size if columns else 0
    coded = []
    for j, x in enumerate(columns):
        x = np.asarray(x, dtype=float)
        if factors is not None and factors[j]:
            coded.append(x)
        else:
            coded.append(_scott_cut(x) if memo is None else memo.get(j, x, _scott_cut))
    return combine_codes(coded, n)


def l1_lcs(group: np.ndarray, columns: list[np.ndarray], factors: list[bool] | None = None,
           memo: CodeMemo | None = None) -> tuple[float, float]:
    """(L1, LCS) of the two groups in ``group`` (0/1) over the cells of ``columns``.

    L1 = ½ Σ_cells |f1 − f0| with f_g = count_g / n_g; LCS = 100 × share of occupied cells that
    hold both groups. With a single group present the groups cannot differ: (0, 100). Empty → NaN.
    Relative frequencies are built as R builds them (count copies of 1/n_g added in long
    double, then stored as a double) and the absolute differences summed exactly (math.fsum), so
    the value rounds to 3 places exactly as R's does.
    """
    g = np.asarray(group).astype(np.int64)
    n = g.size
    if n == 0:
        return math.nan, math.nan
    n1 = int(np.sum(g == 1))
    n0 = n - n1
    if n1 == 0 or n0 == 0:
        return 0.0, 100.0
    cells = imbalance_cells(columns, factors, memo)
    k = int(cells.max()) + 1
    c1 = np.bincount(cells[g == 1], minlength=k)
    c0 = np.bincount(cells[g == 0], minlength=k)
    f1 = (c1.astype(np.longdouble) * np.longdouble(1.0 / n1)).astype(float)
    f0 = (c0.astype(np.longdouble) * np.longdouble(1.0 / n0)).astype(float)
    l1 = math.fsum(np.abs(f1 - f0).tolist()) / 2.0
    both = int(np.sum((c1 > 0) & (c0 > 0)))
    lcs = 100.0 * both / k
    return l1, lcs
