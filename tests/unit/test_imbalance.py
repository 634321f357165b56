"""L1 and LCS of cem's imbalance, on small examples computed by hand."""
from __future__ import annotations

import math

import numpy as np

from matchedwake.cem import Windows
from matchedwake.imbalance import _cut_right_closed, imbalance_cells, l1_lcs, l1_lcs_windows
from matchedwake.rmath import nclass_scott, r_pretty, r_round


def two_by_two_example():
    """30 wakes, variables A, B ∈ {0, 10}. Scott's rule gives 2 classes for each (A: sd 4.90,
    h = 3.5·4.90·30^(-1/3) = 5.52 < 10; B: sd 4.79, h = 5.40), pretty(0, 10, 2) = 0, 5, 10.

    Treated (10): (0,0)×4, (10,0)×6. Control (20): (0,0)×10, (0,10)×5, (10,10)×5.
    """
    cells = [((0, 0), 1, 4), ((10, 0), 1, 6), ((0, 0), 0, 10), ((0, 10), 0, 5), ((10, 10), 0, 5)]
    a, b, g = [], [], []
    for (va, vb), grp, k in cells:
        a += [va] * k
        b += [vb] * k
        g += [grp] * k
    return np.array(g), [np.array(a, float), np.array(b, float)]


def test_l1_and_lcs_by_hand():
    g, cols = two_by_two_example()
    l1, lcs = l1_lcs(g, cols)
    # f1 = {(0,0): .4, (10,0): .6}; f0 = {(0,0): .5, (0,10): .25, (10,10): .25}
    # L1 = ½(.1 + .6 + .25 + .25) = 0.6; 4 occupied cells, 1 shared → LCS 25
    assert math.isclose(l1, 0.6, rel_tol=0, abs_tol=1e-15)
    assert r_round(l1, 3) == 0.6
    assert lcs == 25.0


def test_cells_follow_pretty_breaks():
    g, cols = two_by_two_example()
    cells = imbalance_cells(cols)
    assert len(set(cells.tolist())) == 4
    # rows with the same (A, B) share a cell
    assert cells[0] == cells[10]  # treated (0,0) and control (0,0)


def test_value_on_break_goes_left():
    breaks = np.array([0.0, 5.0, 10.0])
    codes, radix = _cut_right_closed(np.array([0.0, 2.0, 5.0, 5.0001, 10.0, np.nan, 11.0]), breaks)
    np.testing.assert_array_equal(codes, [1, 1, 1, 2, 2, 0, 0])
    assert radix == 3


def test_identical_groups_have_zero_l1_and_full_support():
    x = np.array([0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0])
    g = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    assert l1_lcs(g, [x]) == (0.0, 100.0)


def test_disjoint_groups_have_l1_one():
    x = np.concatenate([np.zeros(15), np.full(15, 10.0)])
    g = np.concatenate([np.ones(15, int), np.zeros(15, int)])
    l1, lcs = l1_lcs(g, [x])
    assert l1 == 1.0 and lcs == 0.0


def test_single_group():
    assert l1_lcs(np.array([1, 1, 1]), [np.array([1.0, 2.0, 3.0])]) == (0.0, 100.0)
    assert l1_lcs(np.array([0, 0]), [np.array([1.0, 2.0])]) == (0.0, 100.0)


def test_empty():
    l1, lcs = l1_lcs(np.array([], dtype=int), [np.array([])])
    assert math.isnan(l1) and math.isnan(lcs)


def test_frequencies_are_summed_exactly():
    """Cells (A, B) ∈ {0, 10}²; treated counts 0, 1, 4, 2 (of 7), control 2, 2, 1, 1 (of 6).

    |f1 − f0| = 1/3, 4/21, 17/42, 5/42 → L1 = ½·(44/42) = 11/21. Adding the four doubles left
    to right gives 0.5238095238095237, one ulp below the correctly rounded 0.5238095238095238.
    """
    cells = [(0, 0), (0, 10), (10, 0), (10, 10)]
    treated = [0, 1, 4, 2]
    control = [2, 2, 1, 1]
    a, b, g = [], [], []
    for (va, vb), kt, kc in zip(cells, treated, control):
        a += [va] * (kt + kc)
        b += [vb] * (kt + kc)
        g += [1] * kt + [0] * kc
    cols = [np.array(a, float), np.array(b, float)]
    assert len(set(imbalance_cells(cols).tolist())) == 4
    l1, lcs = l1_lcs(np.array(g), cols)
    terms = [abs(t / 7 - c / 6) for t, c in zip(treated, control)]
    naive = 0.0
    for t in terms:
        naive += t
    assert naive / 2 == 0.5238095238095237
    assert l1 == 11 / 21 == 0.5238095238095238
    assert lcs == 75.0


def test_frequencies_are_repeated_additions_of_one_over_n():
    """cem builds a cell's share by adding 1/n_g once per wake: three controls of five give
    0.2 + 0.2 + 0.2 = 0.6000000000000001, not 3/5 = 0.6, and L1 inherits that last bit.

    A ∈ {0, 10} (Scott: 2 classes, breaks 0, 5, 10). Treated (2): one at 0, one at 10.
    Control (5): two at 0, three at 10.
    """
    a = np.array([0.0, 10.0, 0.0, 0.0, 10.0, 10.0, 10.0])
    g = np.array([1, 1, 0, 0, 0, 0, 0])
    l1, lcs = l1_lcs(g, [a])
    f0 = [math.fsum([1 / 5] * 2), math.fsum([1 / 5] * 3)]
    assert f0[1] == 0.6000000000000001
    expected = math.fsum([abs(0.5 - f0[0]), abs(0.5 - f0[1])]) / 2
    assert expected == 0.10000000000000003 != math.fsum([abs(0.5 - 2 / 5), abs(0.5 - 3 / 5)]) / 2
    assert l1 == expected
    assert lcs == 100.0


def reference_l1_lcs(g, columns, factors):
    """cem's imbalance transcribed directly (docs/mwa_reference.md §2.7), one window: pretty breaks with
    Scott's class count, right-closed cuts by np.searchsorted, cells as tuples in a dict, and
    the shares as long-double products rounded to doubles, summed with math.fsum."""
    if len(set(g.tolist())) < 2:
        return 0.0, 100.0
    codes = []
    for x, factor in zip(columns, factors, strict=True):
        ok = x[~np.isnan(x)]
        if factor or ok.size == 0:
            codes.append(["nan" if np.isnan(v) else v for v in x])
            continue
        breaks = np.unique(r_pretty(ok.min(), ok.max(), nclass_scott(ok), 1))
        c = np.searchsorted(breaks, x, side="left")
        c[(c == 0) & (x == breaks[0])] = 1
        c[c >= breaks.size] = 0
        codes.append(c.tolist())
    counts = {}
    for cell, grp in zip(zip(*codes, strict=True), g.tolist(), strict=True):
        counts.setdefault(cell, [0, 0])[grp] += 1
    n1, n0 = int((g == 1).sum()), int((g == 0).sum())
    share = [(np.longdouble(c[1]) * np.longdouble(1.0 / n1), np.longdouble(c[0]) * np.longdouble(1.0 / n0))
             for c in counts.values()]
    l1 = math.fsum(abs(float(a) - float(b)) for a, b in share) / 2.0
    both = sum(1 for c in counts.values() if c[0] and c[1])
    return l1, 100.0 * both / len(counts)


def test_windows_at_once_equal_each_window_transcribed():
    rng = np.random.default_rng(42)
    lengths = rng.integers(1, 150, 40)
    windows = Windows.from_lengths(lengths)
    n = int(lengths.sum())
    g = (rng.random(n) < 0.45).astype(int)
    g[windows.starts[3]:windows.starts[3] + lengths[3]] = 1  # a window with one group
    cols = [rng.normal(size=n), rng.poisson(2.0, n).astype(float), rng.integers(-6, 6, n) / 2.0,
            np.zeros(n), rng.integers(1, 4, n).astype(float)]
    cols[0][rng.random(n) < 0.05] = np.nan
    cols[4][rng.random(n) < 0.05] = np.nan
    factors = [False, False, False, False, True]
    l1, lcs = l1_lcs_windows(g, cols, windows, factors)
    for w, (a, b) in enumerate(windows.bounds()):
        want = reference_l1_lcs(g[a:b], [c[a:b] for c in cols], factors)
        assert (l1[w], lcs[w]) == want, w
        assert l1_lcs(g[a:b], [c[a:b] for c in cols], factors) == want
    assert (l1 > 0).sum() > 30 and (lcs < 100).sum() > 30


def test_cell_counts_of_2048_and_more_keep_the_long_double_shares():
    # 3001 controls in one cell: 3001·(1/3001) in long double, rounded, as R's additions give it.
    g = np.array([1] * 7 + [0] * 3001)
    x = np.array([0.0] * 3 + [10.0] * 4 + [0.0] * 3001)
    l1, _ = l1_lcs(g, [x])
    assert l1 == reference_l1_lcs(g, [x], [False])[0]
