"""Coarsened exact matching with cem defaults, on examples worked out by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from matchedwake.cem import (
    CodeMemo,
    as_match_variable,
    bin_index,
    cem,
    coarsen_sturges,
    combine_codes,
    dense_ids,
    format_r_number,
    sorted_unique,
)

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


def test_code_memo_reuses_codes_only_for_equal_values():
    calls = []

    def coarsen(v):
        calls.append(v.size)
        return coarsen_sturges(v, v.size)

    memo = CodeMemo()
    x = np.array([0.5, 1.5, 2.5, 9.0])
    first = memo.get("cov1", x, coarsen)
    again = memo.get("cov1", x.copy(), coarsen)  # equal values in another array: cached
    assert calls == [4] and again is first
    other = memo.get("cov1", np.array([0.5, 1.5, 2.5, 9.5]), coarsen)  # one value differs
    shorter = memo.get("cov1", x[:3], coarsen)
    assert calls == [4, 4, 3]
    np.testing.assert_array_equal(other[0], coarsen_sturges(np.array([0.5, 1.5, 2.5, 9.5]), 4)[0])
    assert shorter[1].tolist() == coarsen_sturges(x[:3], 3)[1].tolist()
    # the memoised cem equals the plain one
    g = np.array([1, 0, 1, 0])
    plain = cem(g, {"cov1": x}, describe_bins=False)
    cached = cem(g, {"cov1": x}, describe_bins=False, memo=memo)
    np.testing.assert_array_equal(plain.weights, cached.weights)
    np.testing.assert_array_equal(plain.strata, cached.strata)
