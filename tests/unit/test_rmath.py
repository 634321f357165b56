"""R's round, pretty and class-count rules, checked on values derived by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from matchedwake.rmath import linspace, nclass_scott, nclass_sturges, r_pretty, r_round, r_var


class TestRRound:
    def test_decimal_halves_follow_the_stored_double(self):
        # 0.4525 is stored just below the half, 0.1235 just above it
        assert r_round(0.4525, 3) == 0.452
        assert r_round(0.1235, 3) == 0.124
        assert r_round(0.15, 1) == 0.1  # 0.1499999999999999944...

    def test_exact_binary_tie_goes_to_even_digit(self):
        # 0.125 is exact; 0.13 - 0.125 == 0.125 - 0.12 in doubles, so the even candidate 0.12 wins
        assert r_round(0.125, 2) == 0.12
        assert r_round(0.375, 2) == 0.38

    def test_zero_digits_is_ties_to_even(self):
        assert [r_round(v, 0) for v in (0.5, 1.5, 2.5, 3.5, -2.5)] == [0.0, 2.0, 2.0, 4.0, -2.0]
        assert r_round(2.4999, 0) == 2.0

    def test_negative_numbers_are_symmetric(self):
        assert r_round(-0.4525, 3) == -0.452
        assert r_round(-0.1235, 3) == -0.124
        assert r_round(-1.005, 2) == -1.0  # 1.005 is stored as 1.00499999999999989...

    def test_large_values_unchanged(self):
        x = 123456789012345.67  # binary exponent 46: log10(2)*(46.5) + 3 > 15
        assert r_round(x, 3) == x
        assert r_round(1e300, 2) == 1e300

    def test_special_values(self):
        assert r_round(0.0, 3) == 0.0
        assert math.isnan(r_round(math.nan, 3))
        assert r_round(math.inf, 3) == math.inf

    def test_vectorised(self):
        # 0.0145 is stored as 0.01450000000000000004..., above the half
        out = r_round(np.array([0.4525, 0.1235, np.nan, 0.0, -0.0145, 17.35]), 3)
        np.testing.assert_array_equal(out[[0, 1, 3, 4, 5]], [0.452, 0.124, 0.0, -0.015, 17.35])
        assert np.isnan(out[2])
        np.testing.assert_array_equal(r_round(np.array([26.45, 1 / 3 * 100]), 1), [26.4, 33.3])

    def test_result_is_the_nearest_double_of_the_decimal(self):
        # the exact double R holds for 0.527 (%.17g 0.52700000000000002)
        assert r_round(0.52749, 3) == float("0.52700000000000002")


class TestRPretty:
    def test_unit_interval_five_classes(self):
        np.testing.assert_array_equal(r_pretty(0, 1, 5), np.linspace(0, 1, 6))

    def test_range_widened_to_nice_units(self):
        # dx = 8, cell = 8/3, unit 2 (5 is too coarse): ns = 0, nu = 5
        np.testing.assert_array_equal(r_pretty(1, 9, 3), [0, 2, 4, 6, 8, 10])
        # n = 1: unit 1, ns = -1, nu = 1
        np.testing.assert_array_equal(r_pretty(-0.3, 0.7, 1), [-1, 0, 1])

    def test_two_classes_of_five(self):
        # cell 5 → unit 5 (5·1 − 5 < 2.75·(5 − 2)), breaks 0, 5, 10
        np.testing.assert_array_equal(r_pretty(0, 10, 2), [0, 5, 10])

    def test_zero_width_range_at_zero(self):
        # cell = 1 → 0.75 after shrink → unit 1; k = 0 < min_n widens downwards: ns = −1
        np.testing.assert_array_equal(r_pretty(0, 0, 1), [-1, 0])

    def test_zero_width_range_away_from_zero(self):
        # cell = 3·0.75 = 2.25 → unit 2; ns = 1, nu = 2
        np.testing.assert_array_equal(r_pretty(3, 3, 1), [2, 4])
        # cell = 9 + 50/10 = 14 → 10.5 after shrink → unit 10; ns = nu = 5, k = 0 < 1 → ns = 4
        np.testing.assert_array_equal(r_pretty(50, 50, 1), [40, 50])

    def test_small_values_near_zero_snap_to_zero(self):
        # unit 0.1, l = −7·0.1 = −0.7000000000000001, u = 0.2; l + 7·(u−l)/9 = 1.1e-16, which is
        # below 1e-14·(u−l)/9 and so becomes exactly 0
        lo_b = -7 * 0.1
        raw = lo_b + 7 * ((0.2 - lo_b) / 9)
        assert raw != 0.0 and abs(raw) < 1e-14 * (0.2 - lo_b) / 9
        out = r_pretty(-0.7, 0.2, 9)
        assert out.size == 10 and out[0] == lo_b and out[-1] == 0.2
        assert out[7] == 0.0
        np.testing.assert_allclose(out, np.arange(-7, 3) / 10, atol=1e-15)

    def test_interior_points_are_lower_plus_i_times_step(self):
        # unit 0.1, nu = 7 and 7·0.1 = 0.7000000000000001 > 0.7, so u = 7·0.1 (not 0.7)
        out = r_pretty(0, 0.7, 7)
        u = 7 * 0.1
        assert u != 0.7 and out[-1] == u
        np.testing.assert_array_equal(out[1:-1], np.arange(1, 7) * (u / 7))


class TestClassCounts:
    def test_sturges(self):
        assert [nclass_sturges(n) for n in (1, 2, 8, 9, 69, 1000)] == [1, 2, 4, 5, 8, 11]

    def test_scott_by_hand(self):
        # 1..8: var 6, n^(-1/3) = 0.5, h = 3.5·√6·0.5 = 4.287, range 7 → 2 classes
        assert nclass_scott(np.arange(1, 9)) == 2
        # {0, 10}: var 50, h = 3.5·7.071·2^(-1/3) = 19.64 > 10 → 1 class
        assert nclass_scott([0.0, 10.0]) == 1

    def test_scott_degenerate(self):
        assert nclass_scott([4.0, 4.0, 4.0]) == 1
        assert nclass_scott([4.0]) == 1
        assert nclass_scott([1.0, np.nan, 2.0, np.nan]) == nclass_scott([1.0, 2.0])

    def test_var_matches_textbook(self):
        assert r_var(np.arange(1.0, 9.0)) == pytest.approx(6.0, rel=1e-15)
        x = np.array([1e9 + 1, 1e9 + 2, 1e9 + 3])
        assert r_var(x) == 1.0  # the correction pass removes the large mean exactly


def test_scalar_and_array_paths_agree():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.integers(-99999, 99999, 2000) / 10000 + 0.00005,  # many decimal halves
                        rng.normal(scale=100, size=2000), [0.0, -0.0, 0.5, -1.5],
                        [np.nan, np.inf, -np.inf, 1e300, 5e-324, 0.4525, 2.675, 123456789.125]])
    for d in (0, 1, 3, -1, 7, 15):  # Python floats take a scalar path of their own
        arr = r_round(x, d)
        sca = np.array([r_round(float(v), d) for v in x])
        np.testing.assert_array_equal(arr, sca)
    assert r_round(1234.5, -1) == 1230.0 and r_round(1235.0, -1) == 1240.0


def test_linspace_is_numpys_bit_for_bit():
    rng = np.random.default_rng(9)
    cases = [(0.0, 1.0, 5), (-3.7, 12.25, 13), (5.0, 5.0, 4), (1e-310, 3e-310, 6), (-0.0, 0.0, 3),
             (2.0, 1.0, 2), (7.5, 7.5, 1)]
    cases += [(float(a), float(a + abs(b)), int(k)) for a, b, k in
              zip(rng.normal(0, 1e3, 300), rng.normal(0, 1e2, 300), rng.integers(2, 40, 300))]
    for lo, hi, k in cases:
        got, want = linspace(lo, hi, k), np.linspace(lo, hi, k)
        np.testing.assert_array_equal(got, want)
        assert np.signbit(got).tolist() == np.signbit(want).tolist()
