"""The engine's numbers on seeded simulated worlds are exactly those pinned before issue 13's
performance work (tests/fixtures/engine_regression/, written by its make_engine_regression.py).

Every float of the estimates, matching and SUTVA tables must be bit-identical; the wakes table's
count and covariate columns, the window designs and (with match details) the matched table must
hash to the same SHA-256, and the bins text must be the same.

The least-squares estimates depend in their last bits on the OpenBLAS kernel (its dot products
sum in a kernel-specific order: Haswell and SkylakeX kernels differ by up to 6e-9 relative on
p-values near 1e-32). The bit-for-bit comparison therefore runs under the kernel the pins were
made with (the fixture's ``blas_kernel``; a child process with ``OPENBLAS_CORETYPE`` when this
CPU would pick another), and a second test holds the native kernel's numbers to the pins: every
BLAS-free part exactly, the estimates to 1e-7 relative.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "engine_regression"
MAKER_PATH = FIXTURE_DIR / "make_engine_regression.py"
_spec = importlib.util.spec_from_file_location("make_engine_regression", MAKER_PATH)
maker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(maker)
FIXTURE = json.loads((FIXTURE_DIR / "engine_regression.json").read_text(encoding="utf-8"))
PINNED, PINNED_KERNEL = FIXTURE["analyses"], FIXTURE["blas_kernel"]
ESTIMATE_REL_TOL = 1e-7  # native kernel vs the pins: rounding only (worst seen 6e-9)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _outputs_under_kernel(kernel: str) -> dict:
    """Every analysis's outputs computed in a child process forced onto OpenBLAS ``kernel``."""
    env = {**os.environ, "OPENBLAS_CORETYPE": kernel}
    proc = subprocess.run([sys.executable, str(MAKER_PATH), "--json"], env=env, check=True,
                          capture_output=True, text=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["blas_kernel"] == kernel, f"OPENBLAS_CORETYPE={kernel} gave kernel {out['blas_kernel']}"
    return out["analyses"]


@pytest.fixture(scope="module")
def native_outputs(worlds):
    """The analyses' outputs in this process, on the kernel OpenBLAS picked for this CPU."""
    return {name: maker.run_analysis(name, worlds) for name in maker.ANALYSES}


@pytest.fixture(scope="module")
def pinned_kernel_outputs(request):
    """The analyses' outputs under the pins' kernel: this process's when it already runs that
    kernel, else a child's forced onto it (Haswell needs AVX2 and FMA)."""
    if maker.openblas_kernel() == PINNED_KERNEL:
        return request.getfixturevalue("native_outputs")
    if PINNED_KERNEL == "Haswell" and not {"avx2", "fma"} <= _cpu_flags():
        pytest.skip("this CPU cannot run OpenBLAS's Haswell kernel; the native-kernel test still runs")
    return _outputs_under_kernel(PINNED_KERNEL)


@pytest.fixture(scope="module")
def worlds():
    return {name: make() for name, make in maker.WORLDS.items()}


def test_fixture_covers_every_analysis():
    assert sorted(PINNED) == sorted(maker.ANALYSES)


def _assert_same(got: dict, want: dict, estimates_close: bool = False) -> None:
    assert got["wakes"] == want["wakes"], "wakes counts changed"
    assert sorted(got) == sorted(want), "pinned parts changed"
    assert got.get("matched") == want.get("matched"), "matched table changed"
    for table in ("estimates", "matching", "sutva", "bins"):
        if table not in want:
            continue
        assert list(got[table]) == list(want[table]), f"{table}: columns changed"
        for col, values in want[table].items():
            if table == "estimates" and estimates_close:
                assert len(got[table][col]) == len(values), f"{table}.{col}: rows changed"
                for row, (a, b) in enumerate(zip(got[table][col], values)):
                    assert _close(a, b), f"{table}.{col} row {row}: {a} vs pinned {b}"
            else:
                assert got[table][col] == values, f"{table}.{col} changed"
    assert got.get("designs") == want.get("designs"), "window designs (rows, matched, weights, strata) changed"


def _close(a, b) -> bool:
    """Equal strings (labels, NA), or floats within ESTIMATE_REL_TOL (NaN equals NaN)."""
    if a == b:
        return True
    try:
        fa, fb = float(a), float(b)
    except (TypeError, ValueError):
        return False
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    return math.isclose(fa, fb, rel_tol=ESTIMATE_REL_TOL, abs_tol=0.0)


@pytest.mark.parametrize("name", sorted(maker.ANALYSES))
def test_outputs_are_bit_identical_to_the_pinned_ones(name, pinned_kernel_outputs):
    _assert_same(pinned_kernel_outputs[name], PINNED[name])


@pytest.mark.parametrize("name", sorted(maker.ANALYSES))
def test_native_kernel_outputs_equal_the_pins_up_to_blas_rounding(name, native_outputs):
    _assert_same(native_outputs[name], PINNED[name], estimates_close=True)


def test_the_tolerance_for_another_kernel_still_catches_a_changed_estimate():
    assert _close("0.22346659099086133", "0.2234665909908614")
    assert _close("NaN", "nan") and _close(None, None)
    assert not _close("0.2234667", "0.2234665909908614")  # 4e-7 relative
    assert not _close("nan", "0.1") and not _close("0.1", "x")
