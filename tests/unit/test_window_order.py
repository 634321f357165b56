"""Windows are visited in (t, s) order with the wakes' own order inside each window, whether the
wakes table comes in one block per window (as sliding_wake writes it) or shuffled."""
from __future__ import annotations

import numpy as np
import pytest

from matchedwake.windows import _window_order


@pytest.mark.parametrize("shuffle", [False, True])
def test_window_order_is_the_stable_lexsort(shuffle):
    rng = np.random.default_rng(1 + shuffle)
    for _ in range(300):
        n_blocks = int(rng.integers(1, 8))
        t = rng.choice([10.0, 20.0, 30.0], n_blocks)
        s = rng.choice([3.0, 6.0], n_blocks)  # repeats make a window span several blocks
        sizes = rng.integers(0, 5, n_blocks)
        t_all, s_all = np.repeat(t, sizes), np.repeat(s, sizes)
        if shuffle:
            p = rng.permutation(t_all.size)
            t_all, s_all = t_all[p], s_all[p]
        np.testing.assert_array_equal(_window_order(t_all, s_all), np.lexsort((s_all, t_all)))


def test_sliding_wake_layout_is_reordered_t_major():
    # s-major blocks as sliding_wake writes them: s = 3 (t = 10, 20), then s = 6 (t = 10, 20).
    t_all = np.array([10.0, 10, 20, 20, 10, 20, 20])
    s_all = np.array([3.0, 3, 3, 3, 6, 6, 6])
    assert _window_order(t_all, s_all).tolist() == [0, 1, 4, 2, 3, 5, 6]


def test_interleaved_wakes_give_the_tables_of_the_blocked_ones():
    # A wakes table whose windows are interleaved row by row (each window's rows in their own
    # order) is sorted into windows first; the blocked table is matched where it lies. Both must
    # give the same numbers, bit for bit, and the designs the same rows.
    import warnings

    from matchedwake import sliding_wake
    from matchedwake.simulate import simulate_events
    from matchedwake.windows import analyse_windows, window_designs

    events = simulate_events(60, 150, 900, days=200, box_km=60, effect=1.0, seed=12)
    wakes, _ = sliding_wake(events, (10, 30, 10), (4, 12, 4), ("type", "treatment"), ("type", "control"),
                            ("type", "dependent"), ["cov1"])
    rng = np.random.default_rng(3)
    key = rng.random(len(wakes))  # riffle: a random merge that keeps each window's row order
    window = wakes.groupby(["t_window", "spat_window"], sort=False).ngroup().to_numpy()
    for w in np.unique(window):
        at = np.flatnonzero(window == w)
        key[at] = np.sort(key[at])
    riffled = wakes.iloc[np.argsort(key, kind="stable")]
    assert not riffled.index.equals(wakes.index)
    options = dict(match_columns=["cov1"], tcm=True, weighted=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        blocked, mixed = analyse_windows(wakes, **options), analyse_windows(riffled, **options)
        for name in ("estimates", "matching", "sutva"):
            assert getattr(blocked, name).equals(getattr(mixed, name)), name
        for d1, d2 in zip(window_designs(wakes, **options), window_designs(riffled, **options), strict=True):
            np.testing.assert_array_equal(wakes.index[d1.rows], riffled.index[d2.rows])
            np.testing.assert_array_equal(d1.weights, d2.weights)
            np.testing.assert_array_equal(d1.strata, d2.strata)
