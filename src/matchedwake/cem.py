"""Coarsened exact matching with the defaults of R's `cem` package as `mwa` calls it (docs/mwa_reference.md §2.6).

Each matching variable is coarsened into Sturges bins over the whole window, wakes are grouped
into strata by their bin codes, and a stratum is kept when it holds both a treated and a control
wake. Control weights rescale the matched controls to the treated distribution.

:func:`cem_windows` matches many windows in one pass: the rows of all windows are coded,
combined and ranked together (one sort instead of one per window), with every window's own
breaks, strata and weights, so each window gets exactly what :func:`cem` gives it alone.
:class:`Windows` describes such a batch; :func:`combine_codes_windows` and :func:`rank` are
shared with the imbalance measures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd

from .rmath import linspace, nclass_sturges

__all__ = ["CemResult", "WindowsCemResult", "Windows", "cem", "cem_windows", "bin_index", "bin_index_windows",
           "coarsen_sturges", "as_match_variable", "combine_codes", "combine_codes_windows", "dense_ids",
           "format_r_number", "on_half_lattice", "rank", "same_values", "sorted_unique", "window_ranges"]


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


def _sturges_breaks(lo: float, hi: float, n_rows: int) -> np.ndarray:
    """cem's Sturges cutpoints of a variable with range [lo, hi] in a window of ``n_rows`` rows:
    k = ceil(log2(n) + 1) points, R's seq(min, max, length.out = k), duplicates removed."""
    return _sturges_points(lo, hi, nclass_sturges(n_rows))


@lru_cache(maxsize=4096)
def _sturges_points(lo: float, hi: float, k: int) -> np.ndarray:
    """:func:`_sturges_breaks` by the number of points (cached, read-only: windows repeat them)."""
    # R's seq(min, max, length.out = k): ends exact, interior min + i*(max-min)/(k-1)
    breaks = sorted_unique(linspace(lo, hi, k)) if k >= 2 else np.array([lo])
    breaks.flags.writeable = False
    return breaks


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
    breaks = _sturges_breaks(ok.min(), ok.max(), n_rows)
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


def rank(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for non-negative int64 keys, with one plain sort.

    Each key is packed with its position into one int64 (when they fit), so sorting the packed
    values orders the keys and carries where each came from: ~4× faster than the argsort inside
    np.unique. The results are np.unique's (the distinct keys ascending, each key's index).
    """
    keys = np.asarray(keys, dtype=np.int64)
    n = keys.size
    if n == 0:
        return keys.copy(), np.zeros(0, dtype=np.int64)
    bits = max(1, (n - 1).bit_length())
    if keys.min() < 0 or int(keys.max()) >= 1 << (63 - bits):
        uniq, inv = np.unique(keys, return_inverse=True)
        return uniq, inv.astype(np.int64).reshape(-1)
    packed = (keys << bits) | np.arange(n, dtype=np.int64)
    packed.sort()
    ordered = packed >> bits
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inv = np.empty(n, dtype=np.int64)
    inv[packed & ((1 << bits) - 1)] = np.cumsum(new) - 1
    return ordered[new], inv


def dense_ids(ids: np.ndarray, span: int) -> np.ndarray:
    """``np.unique(ids, return_inverse=True)[1]`` for ids in 0..span-1.

    When the id space is not much larger than the data, occupancy counts replace the sort; the
    ids come out the same (0..k-1 in ascending order of the value).
    """
    if span <= 4 * ids.size + 4096:
        occupied = np.zeros(span, dtype=np.int64)
        occupied[ids] = 1
        return (np.cumsum(occupied) - 1)[ids]
    return rank(ids)[1]


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
    ids, span = _mixed_radix([c if isinstance(c, tuple) else _small_int_codes(np.asarray(c, dtype=float))
                              for c in columns], n)
    return dense_ids(ids, span)


def _mixed_radix(coded: list[tuple[np.ndarray, int]], n: int) -> tuple[np.ndarray, int]:
    """One id per row for the tuple of codes (code_j in 0..radix_j-1), ordered as the tuples
    are, with its span; re-densified (order kept) before the id could overflow int64."""
    ids = np.zeros(n, dtype=np.int64)
    span = 1
    for code, radix in coded:
        if span * radix >= 2**62:
            uniq, ids = rank(ids)
            span = uniq.size
        ids = ids * radix + code
        span *= radix
    return ids, span


# --------------------------------------------------------------------------------------------
# Many windows at once


@dataclass(frozen=True)
class Windows:
    """A batch of windows, each a run of consecutive rows: window i is rows
    ``starts[i] : starts[i] + lengths[i]``, the runs back to back from row 0, none empty."""

    starts: np.ndarray
    lengths: np.ndarray

    @classmethod
    def from_lengths(cls, lengths) -> Windows:
        lengths = np.asarray(lengths, dtype=np.int64)
        if lengths.size and lengths.min() < 1:
            raise ValueError("every window needs at least one row")
        return cls(starts=np.cumsum(lengths) - lengths, lengths=lengths)

    @property
    def count(self) -> int:
        return int(self.lengths.size)

    @property
    def n_rows(self) -> int:
        return int(self.lengths.sum())

    @cached_property
    def row_window(self) -> np.ndarray:
        """The window number of every row."""
        return np.repeat(np.arange(self.count, dtype=np.int64), self.lengths)

    def bounds(self) -> list[tuple[int, int]]:
        """(start, stop) of every window, as Python ints."""
        return list(zip(self.starts.tolist(), (self.starts + self.lengths).tolist(), strict=True))

    def per_row(self, values: np.ndarray) -> np.ndarray:
        """A per-window array spread to the rows."""
        return np.repeat(values, self.lengths)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per window, the sum of a per-row array (a count, for a mask), as int64."""
        return np.add.reduceat(values, self.starts, dtype=np.int64)


def window_ranges(x: np.ndarray, windows: Windows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Per window: the min and max of the non-missing values (±inf if none), their number, and
    the row mask of missing values (None if there are none)."""
    nan = np.isnan(x)
    if not nan.any():
        return (np.minimum.reduceat(x, windows.starts), np.maximum.reduceat(x, windows.starts),
                windows.lengths, None)
    lo = np.minimum.reduceat(np.where(nan, np.inf, x), windows.starts)
    hi = np.maximum.reduceat(np.where(nan, -np.inf, x), windows.starts)
    n_ok = windows.lengths - np.add.reduceat(nan, windows.starts, dtype=np.int64)
    return lo, hi, n_ok, nan


def _sturges_interval(code: np.ndarray, x: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """cem's interval codes from searchsorted ones: 1..k-1, x == min in the first, NaN → 0."""
    np.maximum(code, 1, out=code)  # include.lowest: x == min goes to the first interval
    nan = np.isnan(x)
    if nan.any():
        code[nan] = 0
    return code


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """``np.array_equal(a, b)`` for float arrays without NaN, deciding most unequal pairs from a
    few probes (consecutive windows' count columns usually differ everywhere)."""
    n = a.size
    if n != b.size:
        return False
    if n > 16:
        step = n // 8
        if not np.array_equal(a[::step], b[::step]):
            return False
    return bool(np.array_equal(a, b))


def on_half_lattice(x: np.ndarray) -> bool:
    """Whether every value of x is a multiple of one half below 2**50 (counts and
    dependent_trend are): then lattice points ``lo + k/2`` are exactly such values."""
    if x.size == 0 or not np.array_equal(x[:64] * 2.0, np.floor(x[:64] * 2.0)):
        return False  # continuous values fail on the first few
    doubled = x * 2.0
    return bool(np.array_equal(doubled, np.floor(doubled)) and -2.0**51 < doubled.min() and doubled.max() < 2.0**51)


def bin_index_windows(x: np.ndarray, windows: Windows, breaks: list, recode=None, lo=None, hi=None,
                      halves: bool | None = None) -> np.ndarray:
    """:func:`bin_index` for every window at once: ``np.searchsorted(breaks[w], x, "left")`` for
    the rows of each window w whose ``breaks[w]`` is not None, 0 for the other rows; with
    ``recode(codes, x, breaks)`` (an elementwise function of the values), that function's codes
    instead. ``lo``/``hi`` are the windows' value ranges if the caller has them; ``halves`` says
    whether x holds only multiples of ½ (checked when None; a caller that knows it from the whole
    column saves the check).

    When the values are multiples of one half (counts, trends), each window's possible values
    lo, lo + ½, …, hi are coded once and every row looks its code up, all windows in one gather.
    Otherwise consecutive windows with the same breaks (the same array object: callers hand out
    one array per distinct set of breaks) are searched as one run, and a window whose values
    repeat those of the window before it, with the same breaks, copies its codes.
    """
    code = np.zeros(x.size, dtype=np.int64)
    has = np.array([br is not None for br in breaks], dtype=bool)
    if not has.any():
        return code
    todo = has
    if on_half_lattice(x) if halves is None else halves:
        if lo is None or hi is None:
            lo, hi = np.minimum.reduceat(x, windows.starts), np.maximum.reduceat(x, windows.starts)
        n_values = np.where(has, np.rint((hi - lo) * 2.0), 0.0).astype(np.int64) + 1
        tabled = has & (n_values <= np.maximum(windows.lengths, 64))
        if tabled.any():
            offset = np.zeros(windows.count, dtype=np.int64)
            tables, made = [], {}
            at = 0
            for w in np.flatnonzero(tabled).tolist():
                key = (id(breaks[w]), float(lo[w]), int(n_values[w]))
                if key not in made:  # windows share breaks and ranges: one table each
                    values = key[1] + 0.5 * np.arange(key[2])  # exactly the lattice values
                    table = bin_index(breaks[w], values)
                    tables.append(table if recode is None else recode(table, values, breaks[w]))
                    made[key] = at
                    at += key[2]
                offset[w] = made[key]
            rows = None if tabled.all() else tabled[windows.row_window]
            base = (offset - 2.0 * lo)[tabled]  # table position = 2·x + offset − 2·lo, exactly
            xs = x if rows is None else x[rows]
            index = (xs * 2.0 + np.repeat(base, windows.lengths[tabled])).astype(np.int64)
            looked_up = np.concatenate(tables)[index]
            if rows is None:
                return looked_up
            code[rows] = looked_up
            todo = has & ~tabled
    starts = windows.starts.tolist()
    stops = (windows.starts + windows.lengths).tolist()

    def search(first: int, last: int, br: np.ndarray) -> None:  # windows first..last
        a, b = starts[first], stops[last]
        c = bin_index(br, x[a:b])
        code[a:b] = c if recode is None else recode(c, x[a:b], br)

    w, count = 0, windows.count
    while w < count:
        br = breaks[w]
        if not todo[w]:
            w += 1
            continue
        run_end = w + 1
        while run_end < count and todo[run_end] and breaks[run_end] is br:
            run_end += 1
        first = w
        for v in range(w + 1, run_end):
            if same_values(x[starts[v]:stops[v]], x[starts[v - 1]:stops[v - 1]]):
                if first < v:
                    search(first, v - 1, br)
                code[starts[v]:stops[v]] = code[starts[v - 1]:stops[v - 1]]
                first = v + 1
        if first < run_end:
            search(first, run_end - 1, br)
        w = run_end
    return code


def order_codes_windows(x: np.ndarray, windows: Windows, only: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Per window, codes of raw values that order them as :func:`combine_codes` does for that
    window alone (small non-negative integers: NaN first; other values: sorted, NaN last), with
    one radix for all windows. ``only`` (a window mask) limits the work to those windows' rows;
    the other rows get 0."""
    n = x.size
    rows = None if only is None or only.all() else only[windows.row_window]
    xs = x if rows is None else x[rows]
    nan = np.isnan(xs)
    v = np.where(nan, 0.0, xs)
    whole = np.ones(windows.count, dtype=bool) if only is None else only.copy()
    # cem's integer shortcut holds for a window when its values are integers in [0, 2**20)
    ok = np.isfinite(v) & (v >= 0) & (v < 2**20) & (v == np.floor(v))
    if ok.all():
        code = np.where(nan, 0, v.astype(np.int64) + 1)
        radix = int(v.max()) + 2 if v.size else 1
        if rows is None:
            return code, radix
        out = np.zeros(n, dtype=np.int64)
        out[rows] = code
        return out, radix
    out = np.zeros(n, dtype=np.int64)
    radix = 1
    for w, (a, b) in enumerate(windows.bounds()):
        if not whole[w]:
            continue
        c, r = _small_int_codes(x[a:b])
        out[a:b] = c
        radix = max(radix, r)
    return out, radix


def combine_codes_windows(coded: list[tuple[np.ndarray, int]], windows: Windows) -> tuple[np.ndarray, int]:
    """:func:`combine_codes` for every window at once, before densifying: one id per row,
    ordered within each window as the window's tuples of codes are, and the ids' span."""
    return _mixed_radix(coded, windows.n_rows)


def _window_keys(ids: np.ndarray, span: int, windows: Windows, spare_bits: int = 0) -> tuple[np.ndarray, int]:
    """Keys ``window · span + id`` (window-major, id order within a window) that fit in int64
    with ``spare_bits`` to spare, re-densifying the ids first if need be; returns (keys, span)."""
    if windows.count * span >= 1 << (62 - spare_bits):
        uniq, ids = rank(ids)
        span = max(int(uniq.size), 1)
    return windows.row_window * span + ids, span


@dataclass
class WindowsCemResult:
    """:func:`cem_windows` for all rows of a batch: per-row stratum id (0.. within its window),
    matched flag and weight; per window the number of matched strata and the bins text."""

    strata: np.ndarray
    matched: np.ndarray
    weights: np.ndarray
    n_matched_strata: np.ndarray
    bins: list[dict[str, str]]


def _sturges_codes_windows(x: np.ndarray, windows: Windows, halves: bool | None = None
                           ) -> tuple[tuple[np.ndarray, int], list]:
    """:func:`coarsen_sturges` in every window at once: ((codes, radix), breaks per window —
    None where the window's variable is constant and its raw values are kept)."""
    lo, hi, n_ok, _ = window_ranges(x, windows)
    breaks = [None] * windows.count
    for w, (a, b, k, n) in enumerate(zip(lo.tolist(), hi.tolist(), n_ok.tolist(), windows.lengths.tolist(),
                                          strict=True)):
        if k == 0:
            continue
        br = _sturges_breaks(a, b, n)
        if br.size >= 2:
            breaks[w] = br
    binned = np.array([br is not None for br in breaks], dtype=bool)
    code = bin_index_windows(x, windows, breaks, _sturges_interval, lo, hi, halves)
    radix = max([br.size for br in breaks if br is not None], default=1)
    if not binned.all():  # constant variables keep their raw values, coded as combine_codes does
        raw, raw_radix = order_codes_windows(x, windows, ~binned)
        at = ~binned[windows.row_window]
        code[at] = raw[at]
        radix = max(radix, raw_radix)
    return (code, radix), breaks


def cem_windows(treatment: np.ndarray, data: dict[str, np.ndarray], windows: Windows,
                factors: set[str] = frozenset(), describe_bins: bool = True,
                halves: dict[str, bool] | None = None) -> WindowsCemResult:
    """:func:`cem` in every window of ``windows`` at once (rows of ``treatment`` and ``data`` are
    the windows' rows back to back); each window's result is exactly cem's on its rows alone.
    ``halves`` tells, by name, which variables hold only multiples of ½ (others are checked)."""
    g = np.asarray(treatment).astype(np.int64)
    n = g.size
    coded: list[tuple[np.ndarray, int]] = []
    bins: list[dict[str, str]] = [{} for _ in range(windows.count)]
    for name, x in data.items():
        x = np.asarray(x, dtype=float)
        if name in factors:
            coded.append(order_codes_windows(x, windows))
            if describe_bins:
                for w, (a, b) in enumerate(windows.bounds()):
                    seg = x[a:b]
                    bins[w][name] = ", ".join(format_r_number(v) for v in np.unique(seg[~np.isnan(seg)]))
            continue
        codes, breaks = _sturges_codes_windows(x, windows, (halves or {}).get(name))
        coded.append(codes)
        if describe_bins:
            for w, (a, b) in enumerate(windows.bounds()):
                if breaks[w] is None:
                    seg = x[a:b]
                    ok = seg[~np.isnan(seg)]
                    bins[w][name] = format_r_number(float(ok[0])) if ok.size else "NA"
                else:
                    bins[w][name] = ", ".join(format_r_number(float(v)) for v in breaks[w])
    ids, span = _mixed_radix(coded, n)
    keys, _ = _window_keys(ids, span, windows)
    uniq, stratum = rank(keys)  # strata of all windows, window-major, tuple order within each
    n_strata = uniq.size
    stratum_window = np.empty(n_strata, dtype=np.int64)
    stratum_window[stratum] = windows.row_window
    first = np.searchsorted(stratum_window, np.arange(windows.count), side="left")
    n_t = np.bincount(stratum[g == 1], minlength=n_strata)
    n_c = np.bincount(stratum[g == 0], minlength=n_strata)
    good = (n_t > 0) & (n_c > 0)
    matched = good[stratum]
    treated, control = matched & (g == 1), matched & (g == 0)
    m_t = windows.sums(treated)
    m_c = windows.sums(control)
    weights = np.zeros(n, dtype=float)
    weights[treated] = 1.0
    ratio = np.zeros(n_strata)
    ratio[good] = n_t[good] / n_c[good]
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = m_c / m_t  # a window with matched controls has matched treated wakes
    weights[control] = ratio[stratum[control]] * scale[windows.row_window[control]]
    return WindowsCemResult(strata=stratum - first[windows.row_window], matched=matched, weights=weights,
                            n_matched_strata=np.bincount(stratum_window[good], minlength=windows.count),
                            bins=bins)


def cem(treatment: np.ndarray, data: dict[str, np.ndarray], factors: set[str] = frozenset(),
        describe_bins: bool = True) -> CemResult:
    """Match on the coarsened variables in ``data`` (name → numeric array) with groups ``treatment``.

    Weights follow cem with treatment as baseline: treated matched 1, control matched in stratum
    j (n_T,j / n_C,j)·(M_C / M_T), unmatched 0. (One window of :func:`cem_windows`.)
    """
    n = np.asarray(treatment).size
    if n == 0:
        raise ValueError("cem needs at least one row")
    res = cem_windows(treatment, data, Windows.from_lengths([n]), factors, describe_bins)
    return CemResult(strata=res.strata, matched=res.matched, weights=res.weights,
                     n_matched_strata=int(res.n_matched_strata[0]), bins=res.bins[0] if describe_bins else {})
