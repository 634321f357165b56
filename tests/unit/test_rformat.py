"""R's format() of a numeric column to 7 significant digits (docs/mwa_reference.md Appendix B)."""

import numpy as np
import pandas as pd
import pytest

from matchedwake.rformat import format_column, format_values


def per_value_format(x):
    """Straightforward transcription of Appendix B: one '%.6e' per value, then one format."""
    x = np.asarray(x, dtype=float)
    out = x.copy()
    fin = np.isfinite(x)
    v = x[fin]
    if v.size == 0:
        return out
    sig, kp = [], []
    for a in np.abs(v):
        if a == 0:
            sig.append(1)
            kp.append(0)
            continue
        mant, exp = ("%.6e" % a).split("e")
        sig.append(max(len(mant.replace(".", "").rstrip("0")), 1))
        kp.append(int(exp))
    neg = [bool(t < 0) for t in v]
    left = [k + 1 for k in kp]
    sleft = [int(n) + max(lf, 1) for n, lf in zip(neg, left)]
    rgt = max(max(s - lf for s, lf in zip(sig, left)), 0)
    mxsl = max(sleft) if max(left) >= 0 else 1 + int(any(neg))
    mxns = max(sig)
    w_fixed = mxsl + rgt + (1 if rgt > 0 else 0)
    e = 2 if (max(left) > 100 or min(left) <= -99) else 1
    w_sci = int(any(neg)) + (1 if mxns > 1 else 0) + (mxns - 1) + 4 + e
    if w_fixed <= w_sci:
        out[fin] = [float("%.*f" % (rgt, t)) for t in v]
    else:
        out[fin] = [float("%.*e" % (mxns - 1, t)) for t in v]
    return out


def test_readme_value_rounds_to_seven_digits():
    # docs/mwa_reference.md §2.1: the README shows match1 = 0.8723574 for 0.87235742472...
    assert format_values(np.array([0.87235742472, 1.0])).tolist() == [0.8723574, 1.0]


def test_common_decimal_count_keeps_more_digits_for_larger_values():
    # R prints c(0.001234567, 1.23456789) as "0.001234567" "1.234567890": 9 decimals for both.
    got = format_values(np.array([0.001234567, 1.23456789]))
    assert got.tolist() == [0.001234567, 1.23456789]


def test_rounding_that_widens_switches_to_scientific():
    # 9999999.6 rounds to 1.000000e+07 (one significant digit, exponent 7); the column's fixed
    # width (8) exceeds the scientific width "1e+07" (5), so both print as 1e+07 / 1e+00.
    assert format_values(np.array([9999999.6, 1.0])).tolist() == [1e7, 1.0]


def test_large_magnitudes_print_fixed_without_rounding_to_seven_digits():
    # Widths tie (13 vs 13) so R prints fixed with 0 decimals: all 12 integer digits survive.
    x = np.array([550320788123.0, -291547896456.0])
    assert format_values(x).tolist() == [550320788123.0, -291547896456.0]


def test_mixed_magnitudes_go_scientific():
    # 123456.7 needs 6+1+9 characters in fixed notation next to 0.001234567 -> 1.234567e-03 style.
    got = format_values(np.array([123456.74, 0.0012345678]))
    assert got.tolist() == [123456.7, 0.001234568]


def test_half_cases_follow_exact_binary_value():
    # 1.2345665 is stored as 1.23456649999999990..., just below the decimal tie: it rounds down;
    # 0.12345675 is stored as 0.12345675000000000398...: it rounds up (not half-to-even).
    assert format_values(np.array([1.2345665])).tolist() == [1.234566]
    assert format_values(np.array([0.12345675])).tolist() == [0.1234568]
    assert format_values(np.array([2.5, 0.5])).tolist() == [2.5, 0.5]


def test_nan_and_zero_and_negative():
    got = format_values(np.array([np.nan, 0.0, -1.23456789, 2.0]))
    assert np.isnan(got[0])
    assert got[1:].tolist() == [0.0, -1.234568, 2.0]
    assert np.isnan(format_values(np.array([np.nan, np.nan]))).all()


def test_integer_columns_pass_through_and_float_columns_keep_index():
    ints = pd.Series([123456789, 2], index=[5, 7], name="n")
    assert format_column(ints) is ints
    floats = pd.Series([1.23456789, np.nan], index=[5, 7], name="f")
    got = format_column(floats)
    assert got.index.tolist() == [5, 7] and got.name == "f"
    assert got.iloc[0] == 1.234568 and np.isnan(got.iloc[1])
    text = pd.Series(["a", "b"])
    assert format_column(text) is text


def test_matches_per_value_formatting_on_many_magnitudes():
    rng = np.random.default_rng(20240101)
    for _ in range(400):
        n = int(rng.integers(1, 40))
        lo, hi = sorted(rng.integers(-15, 15, 2))
        x = rng.uniform(1, 10, n) * 10.0 ** rng.integers(lo, hi + 1, n) * rng.choice([-1, 1], n)
        if rng.random() < 0.3:
            x = np.round(x, int(rng.integers(0, 9)))  # short decimals, exact-tie candidates
        if rng.random() < 0.2:
            x[rng.integers(0, n)] = 0.0
        if rng.random() < 0.2:
            x[rng.integers(0, n)] = np.nan
        np.testing.assert_array_equal(format_values(x), per_value_format(x))


def test_a_million_values_round_like_printf():
    # Speed is measured in benchmarks/, not here: a timed assertion fails on a busy machine.
    rng = np.random.default_rng(7)
    x = rng.uniform(1, 10, 1_000_000) * 10.0 ** rng.integers(-6, 7, 1_000_000)
    got = format_values(x)
    sample = rng.choice(x.size, 2000, replace=False)
    # Rounding is column-wide, so check the sample against a reference run on the whole column's
    # decision (scientific with 7 digits here, since magnitudes span 12 decades).
    assert got[sample].tolist() == [float("%.6e" % v) for v in x[sample]]


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_values_are_kept(bad):
    got = format_values(np.array([bad, 1.5]))
    assert got[0] == bad and got[1] == 1.5


def test_selected_rows_keep_the_layout_of_the_whole_column():
    # R formats c(0.001234567, 1.23456789) with 9 decimals (the small value needs them), so the
    # second value keeps all its digits; on its own it would print as 1.234568.
    x = np.array([0.001234567, 1.23456789])
    assert format_values(x, np.array([1])).tolist() == [1.23456789]
    assert format_values(x[1:]).tolist() == [1.234568]
    # c(123456789, 0.5) prints fixed with one decimal ("123456789.0"); a 1e-8 outside the rows
    # makes the fixed width 18 > the scientific 12, so the rows print as 1.234568e+08, 5.000000e-01.
    y = np.array([1e-8, 123456789.0, 0.5])
    assert format_values(y, np.array([2, 1, 2])).tolist() == [0.5, 123456800.0, 0.5]
    assert format_values(y[1:]).tolist() == [123456789.0, 0.5] == per_value_format(y[1:]).tolist()
    assert per_value_format(y)[1] == 123456800.0
    col = pd.Series(y, name="cov")
    assert format_column(col, np.array([1])).tolist() == [123456800.0]
    ints = pd.Series([3, 1, 2])
    assert format_column(ints, np.array([2, 0])).tolist() == [2, 3]


def test_selected_rows_equal_the_formatted_column_at_those_rows():
    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        lo, hi = sorted(rng.integers(-12, 12, 2))
        x = rng.uniform(1, 10, n) * 10.0 ** rng.integers(lo, hi + 1, n) * rng.choice([-1, 1], n)
        if rng.random() < 0.3:
            x = np.round(x, int(rng.integers(0, 9)))
        for bad in (np.nan, np.inf, 0.0):
            if rng.random() < 0.2:
                x[rng.integers(0, n)] = bad
        rows = rng.integers(0, n, int(rng.integers(0, 2 * n)))
        np.testing.assert_array_equal(format_values(x, rows), format_values(x)[rows])
