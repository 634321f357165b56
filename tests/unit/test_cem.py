"""Coarsened exact matching with cem defaults, on examples worked out by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchedwake.cem import (
    Windows,
    as_match_variable,
    bin_index,
    bin_index_windows,
    cem,
    cem_windows,
    coarsen_sturges,
    combine_codes,
    dense_ids,
    format_r_number,
    rank,
    sorted_unique,
)
from matchedwake.rmath import nclass_sturges

# 6 rows: Sturges k = ceil(log2 6 + 1) = 4 breaks 0, 10/3, 20/3, 10
G6 = np.array([1, 1, 0, 0, 0, 1])
X6 = np.array([0.0, 10.0, 1.0, 2.0, 9.0, 5.0])


def test_sturges_codes_by_hand():
    codes, breaks = coarsen_sturges(X6, 6)
    np.testing.assert_array_equal(breaks, [0.0, 10 / 3, 20 / 3, 10.0])
    # 0 joins the first interval (include.lowest); 1, 2 → (0, 3.33]; 5 → (3.33, 6.67]; 9, 10 → last
    np.testing.assert_array_equal(codes, [1, 3, 1, 1, 3, 2])


def test_right_closed_intervals():
    x = np.array([0.0, 1.0, 2.0, 3.0])  # n = 4 → k = 3 breaks 0, 1.5, 3
    codes, breaks = coarsen_sturges(x, 4)
    np.testing.assert_array_equal(breaks, [0.0, 1.5, 3.0])
    np.testing.assert_array_equal(codes, [1, 1, 2, 2])
    codes, _ = coarsen_sturges(np.array([0.0, 1.5, 1.5000001, 3.0]), 4)
    np.testing.assert_array_equal(codes, [1, 1, 2, 2])  # 1.5 sits on a break: the left interval


def test_constant_variable_keeps_raw_values():
    codes, breaks = coarsen_sturges(np.array([7.0, 7.0, np.nan]), 3)
    assert breaks is None
    np.testing.assert_array_equal(codes[:2], [7.0, 7.0])
    assert np.isnan(codes[2])


def test_weights_by_hand():
    """Strata: code 1 {T0, C2, C3}, code 2 {T5}, code 3 {T1, C4}.

    Matched: M_T = 2, M_C = 3. Controls of code 1: (1/2)·(3/2) = 0.75, of code 3: (1/1)·(3/2) = 1.5.
    """
    res = cem(G6, {"x": X6, "const": np.full(6, 7.0)})
    np.testing.assert_array_equal(res.matched, [True, True, True, True, True, False])
    np.testing.assert_array_equal(res.weights, [1.0, 1.0, 0.75, 0.75, 1.5, 0.0])
    assert res.n_matched_strata == 2
    # matched control weights add up to the number of matched controls
    assert res.weights[G6 == 0].sum() == 3.0
    assert res.bins == {"x": "0, 3.33333333333333, 6.66666666666667, 10", "const": "7"}


def test_missing_value_is_its_own_stratum():
    y = np.array([1.0, 1.0, 1.0, np.nan, 1.0, 1.0])  # constant with one NA: raw values
    res = cem(G6, {"x": X6, "y": y})
    # row 3 (control, code 1) leaves stratum 1 → weights there become (1/1)·(2/2) = 1
    np.testing.assert_array_equal(res.matched, [True, True, True, False, True, False])
    np.testing.assert_array_equal(res.weights, [1.0, 1.0, 1.0, 0.0, 1.0, 0.0])


def test_no_matched_stratum():
    res = cem(np.array([1, 1, 0, 0]), {"x": np.array([0.0, 0.1, 9.9, 10.0])})
    assert res.n_matched_strata == 0
    assert not res.matched.any()
    np.testing.assert_array_equal(res.weights, np.zeros(4))


def test_factor_is_matched_exactly_on_codes():
    col = pd.Series(pd.Categorical(["b", "a", "a", "b", None, "a"]))
    vals, is_factor = as_match_variable(col)
    assert is_factor
    np.testing.assert_array_equal(vals[[0, 1, 2, 3, 5]], [2.0, 1.0, 1.0, 2.0, 1.0])
    assert np.isnan(vals[4])
    g = np.array([1, 1, 0, 0, 0, 0])
    res = cem(g, {"f": vals}, factors={"f"})
    # stratum a {T1, C2, C5}, b {T0, C3}, NA {C4}; M_T = 2, M_C = 3
    np.testing.assert_array_equal(res.matched, [True, True, True, True, False, True])
    np.testing.assert_allclose(res.weights, [1.0, 1.0, 0.75, 1.5, 0.0, 0.75], rtol=0, atol=0)


def test_text_covariate_is_ignored():
    vals, is_factor = as_match_variable(pd.Series(["x", "y", "z"], dtype=object))
    assert not is_factor and np.isnan(vals).all()
    vals, _ = as_match_variable(pd.Series(["1.5", "2", "x"], dtype=object))
    np.testing.assert_array_equal(vals[:2], [1.5, 2.0])
    assert np.isnan(vals[2])


def test_combine_codes_dense_and_nan_aware():
    a = np.array([1.0, 1.0, 2.0, np.nan, 2.0])
    b = np.array([5.0, 6.0, 5.0, 5.0, 5.0])
    ids = combine_codes([a, b], 5)
    assert ids[2] == ids[4]
    assert len(set(ids.tolist())) == 4
    assert ids.min() == 0 and ids.max() == 3
    c = np.array([-2.5, -2.5, 0.5, 0.5, np.nan])  # non-integer raw values take the generic path
    ids = combine_codes([c], 5)
    assert ids[0] == ids[1] and ids[2] == ids[3] and len(set(ids.tolist())) == 3


def test_format_r_number():
    assert format_r_number(0.0001) == "1e-04"
    assert format_r_number(100000.0) == "1e+05"
    assert format_r_number(123456.0) == "123456"
    assert format_r_number(0.1) == "0.1"
    assert format_r_number(1 / 3) == "0.333333333333333"
    assert format_r_number(-2.5) == "-2.5"
    assert format_r_number(1e15) == "1e+15"
    assert format_r_number(0.00012345) == "0.00012345"
    assert format_r_number(1.5e-300) == "1.5e-300"


def test_dense_ids_equal_numpy_unique_inverse_on_both_paths():
    rng = np.random.default_rng(8)
    for span, n in ((50, 1000), (10**9, 1000), (7, 1), (5000, 200)):  # occupancy path and sort path
        ids = rng.integers(0, span, n)
        _, want = np.unique(ids, return_inverse=True)
        got = dense_ids(ids, span)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want.reshape(-1))


def test_sorted_unique_drops_repeated_breaks():
    np.testing.assert_array_equal(sorted_unique(np.array([0.0, 0.0, 1.5, 3.0, 3.0])), [0.0, 1.5, 3.0])
    np.testing.assert_array_equal(sorted_unique(np.array([2.0])), [2.0])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_bin_index_equals_searchsorted(data):
    # Even breaks (as linspace/pretty make them), uneven ones, repeated ones; values on the
    # breaks, between them, outside them, NaN and infinities.
    m = data.draw(st.integers(1, 40), label="m")
    lo = data.draw(st.floats(-1e6, 1e6), label="lo")
    width = data.draw(st.floats(1e-9, 1e6), label="width")
    kind = data.draw(st.sampled_from(["even", "uneven", "repeated"]), label="kind")
    breaks = np.linspace(lo, lo + width, m)
    if kind == "uneven":
        breaks = np.sort(lo + width * np.array(data.draw(
            st.lists(st.floats(0, 1), min_size=m, max_size=m), label="u")))
    elif kind == "repeated" and m > 2:
        breaks[1] = breaks[0]
    n = data.draw(st.integers(60, 300), label="n")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    x = rng.uniform(lo - 0.2 * width, lo + 1.2 * width, n)
    on = rng.random(n) < 0.2
    x[on] = rng.choice(breaks, int(on.sum()))
    x[:3] = [np.nan, np.inf, -np.inf]
    np.testing.assert_array_equal(bin_index(breaks, x), np.searchsorted(breaks, x, side="left"))


def reference_cem(g, data, factors=()):
    """cem's defaults transcribed directly (docs/mwa_reference.md §2.6), one window: Sturges breaks by
    np.linspace, codes by np.searchsorted, a constant variable's raw values, strata as the
    sorted distinct tuples (R pastes the codes; NA is its own value), then the weights."""
    n = g.size
    keys = []
    for name, x in data.items():
        ok = x[~np.isnan(x)]
        if name in factors or ok.size == 0:
            keys.append([("nan",) if np.isnan(v) else ("v", v) for v in x])
            continue
        breaks = np.unique(np.linspace(ok.min(), ok.max(), nclass_sturges(n)))
        if breaks.size < 2:
            keys.append([("nan",) if np.isnan(v) else ("v", v) for v in x])
            continue
        codes = np.maximum(np.searchsorted(breaks, x, side="left"), 1)
        keys.append([("nan",) if np.isnan(v) else ("v", float(c)) for v, c in zip(x, codes, strict=True)])
    tuples = list(zip(*keys, strict=True)) if keys else [()] * n
    # the order cem's codes give: a NaN before the integers 0, 1, ... when all values of the
    # variable are such integers (combine_codes' shortcut), after other values otherwise
    def order(col):
        vals = [v for v in col if v != ("nan",)]
        small = all(0 <= v[1] < 2**20 and v[1] == int(v[1]) for v in vals)
        return {("nan",): -np.inf if small else np.inf, **{v: v[1] for v in vals}}
    orders = [order(col) for col in keys]
    sort_key = [tuple(o[t] for o, t in zip(orders, tup, strict=True)) for tup in tuples]
    distinct = sorted(set(sort_key))
    strata = np.array([distinct.index(k) for k in sort_key], dtype=np.int64)
    n_t = np.bincount(strata, weights=g == 1, minlength=len(distinct))
    n_c = np.bincount(strata, weights=g == 0, minlength=len(distinct))
    good = (n_t > 0) & (n_c > 0)
    matched = good[strata]
    m_t, m_c = int((matched & (g == 1)).sum()), int((matched & (g == 0)).sum())
    weights = np.zeros(n)
    if m_t and m_c:
        weights[matched & (g == 1)] = 1.0
        ctl = matched & (g == 0)
        weights[ctl] = n_t[strata[ctl]] / n_c[strata[ctl]] * (m_c / m_t)
    return strata, matched, weights, int(good.sum())


def _random_windows(rng, n_windows):
    """Windows of random sizes with every kind of variable cem treats differently."""
    lengths = rng.integers(1, 90, n_windows)
    n = int(lengths.sum())
    g = (rng.random(n) < 0.4).astype(np.int64)
    data = {
        "normal": rng.normal(size=n) * 10 ** rng.uniform(-3, 3),
        "count": rng.poisson(1.5, n).astype(float),
        "trend": rng.integers(-8, 8, n) / 2.0,
        "zero": np.zeros(n),
        "flat": np.full(n, -0.25),
        "factor": rng.integers(1, 5, n).astype(float),
    }
    for name in ("normal", "count", "factor"):
        data[name][rng.random(n) < 0.05] = np.nan
    starts = np.cumsum(lengths) - lengths
    for w in np.flatnonzero(rng.random(n_windows) < 0.3):  # some windows constant, some repeated
        a, b = starts[w], starts[w] + lengths[w]
        data["count"][a:b] = 2.0
        if w and lengths[w] == lengths[w - 1]:
            data["normal"][a:b] = data["normal"][starts[w - 1]:starts[w - 1] + lengths[w]]
    return g, data, Windows.from_lengths(lengths)


def test_cem_windows_equal_cem_transcribed_window_by_window():
    rng = np.random.default_rng(2014)
    g, data, windows = _random_windows(rng, 40)
    res = cem_windows(g, data, windows, factors={"factor"})
    for w, (a, b) in enumerate(windows.bounds()):
        want = reference_cem(g[a:b], {k: v[a:b] for k, v in data.items()}, factors={"factor"})
        np.testing.assert_array_equal(res.strata[a:b], want[0], err_msg=f"window {w}")
        np.testing.assert_array_equal(res.matched[a:b], want[1], err_msg=f"window {w}")
        np.testing.assert_array_equal(res.weights[a:b], want[2], err_msg=f"window {w}")
        assert res.n_matched_strata[w] == want[3]
        alone = cem(g[a:b], {k: v[a:b] for k, v in data.items()}, factors={"factor"})
        assert res.bins[w] == alone.bins
    assert res.matched.any() and (res.weights[res.matched & (g == 0)] != 1.0).any()


def test_bins_text_of_each_window():
    g = np.array([1, 0, 1, 0, 1, 0, 0])
    x = np.array([0.0, 1.0, 2.0, 3.0, 5.0, 5.0, np.nan])
    f = np.array([2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0])
    res = cem_windows(g, {"x": x, "f": f}, Windows.from_lengths([4, 3]), factors={"f"})
    # window 1: 4 rows → 3 Sturges breaks over 0..3; window 2: x is 5 or NA → its raw value
    assert res.bins == [{"x": "0, 1.5, 3", "f": "1, 2"}, {"x": "5", "f": "3"}]


def test_rank_equals_numpy_unique_with_inverse():
    rng = np.random.default_rng(3)
    for keys in (rng.integers(0, 50, 1000), rng.integers(0, 2**40, 5000), np.array([7]),
                 np.array([2**62, 5, 2**62, 0]), np.zeros(0, dtype=np.int64)):
        uniq, inv = rank(keys)
        want_u, want_i = np.unique(keys, return_inverse=True)
        np.testing.assert_array_equal(uniq, want_u)
        np.testing.assert_array_equal(inv, want_i.reshape(-1))
        assert inv.dtype == np.int64


def test_bin_index_windows_equals_searchsorted_in_every_window():
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 120, 30)
    windows = Windows.from_lengths(lengths)
    x = np.round(rng.uniform(-1, 11, int(lengths.sum())), 1)
    x[rng.random(x.size) < 0.02] = np.nan
    shared = np.linspace(0.0, 10.0, 7)
    breaks = []
    for w in range(30):
        kind = w % 4
        breaks.append(None if kind == 3 else shared if kind < 2 else np.linspace(w / 10, 5 + w, 9))
    got = bin_index_windows(x, windows, breaks)
    for w, (a, b) in enumerate(windows.bounds()):
        want = np.zeros(b - a, dtype=np.int64) if breaks[w] is None else \
            np.searchsorted(breaks[w], x[a:b], side="left")
        np.testing.assert_array_equal(got[a:b], want, err_msg=f"window {w}")
    # a window repeating its predecessor's values with the same breaks copies its codes
    rep = Windows.from_lengths([5, 5, 5])
    y = np.array([0.5, 9.0, 3.3, 10.0, 0.0] * 2 + [1.0] * 5)
    np.testing.assert_array_equal(bin_index_windows(y, rep, [shared] * 3),
                                  np.searchsorted(shared, y, side="left"))


@pytest.mark.parametrize("step", [1.0, 0.5])
def test_bin_index_windows_on_counts_and_halves_looks_codes_up(step):
    # counts (step 1) and trends (step ½) are coded through a table of their distinct values;
    # breaks fall on values, between them and outside them
    rng = np.random.default_rng(int(step * 10))
    lengths = rng.integers(64, 400, 12)
    windows = Windows.from_lengths(lengths)
    x = rng.integers(-20, 40, int(lengths.sum())) * step
    breaks = [np.linspace(-10.0 + w, 25.0 - w, 4 + w) for w in range(12)]
    breaks[5] = np.array([-30.0, -3.5, 0.0, 0.25, 7.0, 50.0])
    got = bin_index_windows(x, windows, breaks)
    for w, (a, b) in enumerate(windows.bounds()):
        np.testing.assert_array_equal(got[a:b], np.searchsorted(breaks[w], x[a:b], side="left"))
