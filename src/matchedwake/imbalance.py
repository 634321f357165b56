"""The multivariate imbalance measures L1 and LCS of R's `cem::imbalance` (docs/mwa_reference.md §2.7).

Both compare the treated and control histograms on a grid of cells built from Scott-rule
``pretty`` breaks of every matching variable, with unit weights. :func:`l1_lcs_windows` measures
many windows in one pass (the cells of all windows counted with one sort), each window with its
own breaks, exactly as :func:`l1_lcs` measures it alone.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .cem import (
    Windows,
    bin_index_windows,
    combine_codes_windows,
    dense_ids,
    order_codes_windows,
    same_values,
    sorted_unique,
    window_ranges,
)
from .rmath import nclass_scott_range, r_pretty

__all__ = ["imbalance_cells", "l1_lcs", "l1_lcs_windows"]


def _cut_right_closed(x: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, int]:
    """R's cut(right=TRUE, include.lowest=TRUE) as int codes 1..k-1 with 0 for missing or
    outside; returned with the radix k."""
    codes = np.searchsorted(breaks, x, side="left")
    return _cut_codes(codes, x, breaks[0], breaks.size), int(breaks.size)


def _cut_codes(codes: np.ndarray, x: np.ndarray, first: float, size: int) -> np.ndarray:
    """Right-closed interval codes from searchsorted ones: x == the first break → 1, below it or
    above the last break (NaN included) → 0."""
    low = codes == 0
    if low.any():  # only x <= breaks[0]; include.lowest keeps x == breaks[0]
        codes[low] = x[low] == first
    codes[codes >= size] = 0  # above the last break, and NaN (sorted to the end)
    return codes


@lru_cache(maxsize=4096)
def _pretty_breaks(lo: float, hi: float, n_class: int) -> np.ndarray:
    """The distinct ``pretty`` breaks of [lo, hi] in n_class intervals (cached: windows and
    analyses repeat them; read-only, and one array per distinct set)."""
    breaks = sorted_unique(r_pretty(lo, hi, n_class, 1))
    breaks.flags.writeable = False
    return breaks


def _scott_codes_windows(x: np.ndarray, windows: Windows, halves: bool | None = None) -> tuple[np.ndarray, int]:
    """Each window's imbalance codes of one numeric variable: cut at ``pretty`` breaks with
    Scott's class count of that window's values; a window without values codes all rows 0."""
    lo, hi, n_ok, nan = window_ranges(x, windows)
    breaks = [None] * windows.count
    previous = None  # (values, class count) of the last window measured, reused when equal
    for w, (a, b, k) in enumerate(zip(lo.tolist(), hi.tolist(), n_ok.tolist(), strict=True)):
        if k == 0:
            continue
        if k < 2 or a == b:
            n_class = 1  # nclass.scott: one class when the range is empty, whatever the sd
        else:
            start = int(windows.starts[w])
            seg = x[start:start + int(windows.lengths[w])]
            ok = seg if nan is None else seg[~nan[start:start + seg.size]]
            if previous is not None and same_values(previous[0], ok):
                n_class = previous[1]
            else:
                n_class = nclass_scott_range(ok, a, b)
                previous = (ok, n_class)
        breaks[w] = _pretty_breaks(a, b, n_class)
    code = bin_index_windows(x, windows, breaks, lambda c, v, br: _cut_codes(c, v, br[0], br.size), lo, hi,
                             halves)
    return code, max([br.size for br in breaks if br is not None], default=1)


def _window_codes(columns: list[np.ndarray], factors: list[bool] | None, windows: Windows,
                  halves: list[bool] | None = None) -> list:
    coded = []
    for j, x in enumerate(columns):
        x = np.asarray(x, dtype=float)
        if factors is not None and factors[j]:
            coded.append(order_codes_windows(x, windows))
        else:
            coded.append(_scott_codes_windows(x, windows, None if halves is None else halves[j]))
    return coded


def imbalance_cells(columns: list[np.ndarray], factors: list[bool] | None = None) -> np.ndarray:
    """Dense cell id per row: each numeric variable cut at ``pretty`` breaks with Scott's class
    count, factors by their values."""
    n = columns[0].size if columns else 0
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ids, span = combine_codes_windows(_window_codes(columns, factors, Windows.from_lengths([n])),
                                      Windows.from_lengths([n]))
    return dense_ids(ids, span)


def _share(count: np.ndarray, inv_n: np.ndarray, cell_window: np.ndarray) -> np.ndarray:
    """A cell's share of its group as R gets it: count · (1/n) in long double, stored as a double.

    A count below 2**11 times a double has at most 64 significant bits, so the long-double
    product is exact and its rounding to a double is the correctly rounded double product: the
    float64 multiplication gives the same number. Larger counts go through long double.
    """
    share = count * inv_n[cell_window]
    big = count >= 2048
    if big.any():
        share[big] = (count[big].astype(np.longdouble)
                      * np.array(inv_n, dtype=np.longdouble)[cell_window[big]]).astype(float)
    return share


def l1_lcs_windows(group: np.ndarray, columns: list[np.ndarray], windows: Windows,
                   factors: list[bool] | None = None, halves: list[bool] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(L1, LCS) of the two groups of every window of ``windows`` (rows back to back), each as
    :func:`l1_lcs` gives it for that window's rows alone. ``halves`` tells which columns hold only
    multiples of ½ (None: each is checked)."""
    g = np.asarray(group).astype(np.int64)
    n_win = windows.count
    l1 = np.zeros(n_win)
    lcs = np.full(n_win, 100.0)
    n1 = windows.sums(g == 1)
    n0 = windows.lengths - n1
    both_groups = (n1 > 0) & (n0 > 0)  # with one group the groups cannot differ: (0, 100)
    if not both_groups.any():
        return l1, lcs
    if not both_groups.all():  # measure only the windows with both groups
        keep = both_groups[windows.row_window]
        sub = Windows.from_lengths(windows.lengths[both_groups])
        l1[both_groups], lcs[both_groups] = l1_lcs_windows(
            g[keep], [np.asarray(x, dtype=float)[keep] for x in columns], sub, factors, halves)
        return l1, lcs
    ids, span = combine_codes_windows(_window_codes(columns, factors, windows, halves), windows)
    if n_win * span >= 1 << 61:
        from .cem import rank
        uniq, ids = rank(ids)
        span = max(int(uniq.size), 1)
    # Sorting window · span + cell, with the group as the lowest bit, counts every cell of every
    # window by group: runs of equal keys, window-major.
    keys = np.sort(((windows.row_window * span + ids) << 1) | g)
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    run_start = np.concatenate(([0], change))
    count = np.diff(np.append(run_start, keys.size))
    run_key = keys[run_start]
    cell_key = run_key >> 1
    new_cell = np.concatenate(([True], cell_key[1:] != cell_key[:-1]))
    cell = np.cumsum(new_cell) - 1
    n_cells = int(cell[-1]) + 1
    treated = (run_key & 1) == 1
    c1 = np.zeros(n_cells, dtype=np.int64)
    c0 = np.zeros(n_cells, dtype=np.int64)
    c1[cell[treated]] = count[treated]
    c0[cell[~treated]] = count[~treated]
    cell_window = cell_key[new_cell] // span
    f1 = _share(c1, 1.0 / n1, cell_window)
    f0 = _share(c0, 1.0 / n0, cell_window)
    diff = np.abs(f1 - f0).tolist()  # Σ|f1 − f0| is then taken exactly (math.fsum)
    cell_start = np.searchsorted(cell_window, np.arange(n_win + 1), side="left").tolist()
    for w in range(n_win):
        l1[w] = math.fsum(diff[cell_start[w]:cell_start[w + 1]]) / 2.0
    k = np.diff(cell_start)
    shared = np.bincount(cell_window[(c1 > 0) & (c0 > 0)], minlength=n_win)
    lcs[:] = 100.0 * shared / k
    return l1, lcs


def l1_lcs(group: np.ndarray, columns: list[np.ndarray], factors: list[bool] | None = None) -> tuple[float, float]:
    """(L1, LCS) of the two groups in ``group`` (0/1) over the cells of ``columns``.

    L1 = ½ Σ_cells |f1 − f0| with f_g = count_g / n_g; LCS = 100 × share of occupied cells that
    hold both groups. With a single group present the groups cannot differ: (0, 100). Empty → NaN.
    Relative frequencies are built as R builds them (count copies of 1/n_g added in long
    double, then stored as a double) and the absolute differences summed exactly (math.fsum), so
    the value rounds to 3 places exactly as R's does.
    """
    g = np.asarray(group).astype(np.int64)
    if g.size == 0:
        return math.nan, math.nan
    l1, lcs = l1_lcs_windows(g, columns, Windows.from_lengths([g.size]), factors)
    return float(l1[0]), float(lcs[0])
