"""The engine's numbers on seeded simulated worlds are exactly those pinned before issue 13's
performance work (tests/fixtures/engine_regression/, written by its make_engine_regression.py).

Every float of the estimates, matching and SUTVA tables must be bit-identical; the wakes table's
count and covariate columns, the window designs and (with match details) the matched table must
hash to the same SHA-256, and the bins text must be the same.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "engine_regression"
_spec = importlib.util.spec_from_file_location("make_engine_regression",
                                               FIXTURE_DIR / "make_engine_regression.py")
maker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(maker)
PINNED = json.loads((FIXTURE_DIR / "engine_regression.json").read_text(encoding="utf-8"))["analyses"]


@pytest.fixture(scope="module")
def worlds():
    return {name: make() for name, make in maker.WORLDS.items()}


def test_fixture_covers_every_analysis():
    assert sorted(PINNED) == sorted(maker.ANALYSES)


@pytest.mark.parametrize("name", sorted(maker.ANALYSES))
def test_outputs_are_bit_identical_to_the_pinned_ones(name, worlds):
    got = maker.run_analysis(name, worlds)
    want = PINNED[name]
    assert got["wakes"] == want["wakes"], "wakes counts changed"
    assert sorted(got) == sorted(want), "pinned parts changed"
    assert got.get("matched") == want.get("matched"), "matched table changed"
    for table in ("estimates", "matching", "sutva", "bins"):
        if table not in want:
            continue
        assert list(got[table]) == list(want[table]), f"{table}: columns changed"
        for col, values in want[table].items():
            assert got[table][col] == values, f"{table}.{col} changed"
    assert got.get("designs") == want.get("designs"), "window designs (rows, matched, weights, strata) changed"
