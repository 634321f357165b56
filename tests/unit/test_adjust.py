"""p-value adjustment (R p.adjust semantics); expected values worked out by hand in the comments."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchedwake.adjust import METHODS, canonical_method, p_adjust

P = [0.01, 0.04, 0.03, 0.005]  # sorted: 0.005 (i=3), 0.01 (i=0), 0.03 (i=2), 0.04 (i=1); n = 4


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12, atol=0, equal_nan=True)


def test_none_returns_input():
    close(p_adjust(P, "none"), P)


def test_bonferroni():
    # n * p
    close(p_adjust(P, "bonferroni"), [0.04, 0.16, 0.12, 0.02])


def test_bonferroni_caps_at_one():
    close(p_adjust([0.5, 0.6], "bonferroni"), [1.0, 1.0])


def test_holm():
    # sorted * (4,3,2,1): 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    close(p_adjust(P, "holm"), [0.03, 0.06, 0.06, 0.02])


def test_hochberg():
    # decreasing * (1,2,3,4): 0.04, 0.06, 0.03, 0.02 -> running min 0.04, 0.04, 0.03, 0.02
    close(p_adjust(P, "hochberg"), [0.03, 0.04, 0.04, 0.02])


def test_bh_and_fdr_alias():
    # decreasing * 4/(4,3,2,1): 0.04, 0.04, 0.02, 0.02 -> running min unchanged
    close(p_adjust(P, "BH"), [0.02, 0.04, 0.04, 0.02])
    close(p_adjust(P, "fdr"), [0.02, 0.04, 0.04, 0.02])


def test_by():
    # BH times q = 1 + 1/2 + 1/3 + 1/4 = 25/12
    q = 25 / 12
    close(p_adjust(P, "BY"), [0.02 * q, 0.04 * q, 0.04 * q, 0.02 * q])


def test_hommel():
    # Closed testing with Simes: for 0.005 the full set gives min(4*.005, 4*.01/2, 4*.03/3, 4*.04/4) = 0.02;
    # for 0.01 the set {.01,.03,.04} gives min(3*.01, 3*.03/2, 3*.04/3) = 0.03;
    # for 0.03 and 0.04 the set {.03,.04} gives min(2*.03, 2*.04/2) = 0.04.
    close(p_adjust(P, "hommel"), [0.03, 0.04, 0.04, 0.02])


def test_nan_kept_and_not_counted():
    # n = 2 non-missing values
    close(p_adjust([0.01, math.nan, 0.04], "bonferroni"), [0.02, math.nan, 0.08])
    close(p_adjust([0.01, math.nan, 0.04], "holm"), [0.02, math.nan, 0.04])
    # hommel with two tests equals hochberg: 0.04 -> 0.04, 0.01 * 2 -> 0.02
    close(p_adjust([0.01, math.nan, 0.04], "hommel"), [0.02, math.nan, 0.04])


def test_single_value_unchanged():
    close(p_adjust([0.03, math.nan], "bonferroni"), [0.03, math.nan])
    close(p_adjust([], "BH"), [])


def test_explicit_larger_n():
    close(p_adjust([0.01, 0.02], "bonferroni", n=5), [0.05, 0.1])
    # hommel with an unobserved p = 1: H1 max(full 0.03, {1,3} 0.02) = 0.03; H2 {2,3}: min(.04, 1) = 0.04
    close(p_adjust([0.01, 0.02], "hommel", n=3), [0.03, 0.04])
    with pytest.raises(ValueError):
        p_adjust([0.01, 0.02, 0.03], "holm", n=2)


def test_ties_get_equal_values():
    close(p_adjust([0.01, 0.01], "BH"), [0.01, 0.01])
    close(p_adjust([0.02, 0.01, 0.02], "holm"), [0.04, 0.03, 0.04])


def test_method_names():
    assert canonical_method("bh") == "BH"
    assert canonical_method("FDR") == "BH"
    assert canonical_method("Bonferroni") == "bonferroni"
    with pytest.raises(ValueError, match="unknown p-value adjustment"):
        p_adjust(P, "sidak")


def test_input_not_modified():
    arr = np.array(P)
    p_adjust(arr, "holm")
    close(arr, P)


pvals = st.lists(st.one_of(st.floats(0, 1), st.just(math.nan)), min_size=0, max_size=25)


@settings(max_examples=200, deadline=None)
@given(pvals)
def test_general_properties(p):
    p = np.array(p, dtype=float)
    ok = ~np.isnan(p)
    res = {m: p_adjust(p, m) for m in METHODS}
    for m, a in res.items():
        assert np.array_equal(np.isnan(a), ~ok), m
        assert np.all(a[ok] >= p[ok] - 1e-15) and np.all(a[ok] <= 1.0), m
        # adjustment preserves the order of the raw p-values
        o = np.argsort(p[ok], kind="stable")
        assert np.all(np.diff(a[ok][o]) >= -1e-15), m
    tol = 1e-12
    assert np.all(res["holm"][ok] <= res["bonferroni"][ok] + tol)
    assert np.all(res["hochberg"][ok] <= res["holm"][ok] + tol)
    assert np.all(res["hommel"][ok] <= res["hochberg"][ok] + tol)
    assert np.all(res["BH"][ok] <= res["hochberg"][ok] + tol)
    assert np.all(res["BY"][ok] >= res["BH"][ok] - tol)
