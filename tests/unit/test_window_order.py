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
