"""The estimators' scipy.special functions: the same ufuncs, without importing all of scipy.special.

Each check runs in a fresh interpreter, because what is imported is the point.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

SRC = Path(__file__).resolve().parents[2] / "src"
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "mwa_parity"
#: Modules only ``import scipy.special``'s own __init__ loads (its array-API layer).
HEAVY = ["scipy.special._support_alternative_backends", "scipy._lib._array_api", "numpy.f2py"]


def _python(code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_p_values_load_only_the_ufunc_module_and_scipy_special_stays_complete():
    got = _python(f"""
import json, sys
import numpy as np
from matchedwake.estimation import fit_lm
x = np.column_stack([np.ones(8), np.arange(8.0), [0, 1, 0, 1, 1, 0, 1, 0]])
y = np.array([1.0, 2.5, 2.0, 4.5, 5.5, 5.0, 7.5, 7.0])
fit = fit_lm(y, x)
heavy_after_fit = [m for m in {HEAVY!r} if m in sys.modules]
from scipy.special import digamma, stdtr   # a later user gets the whole package
import scipy.special, scipy.stats
print(json.dumps({{"heavy_after_fit": heavy_after_fit, "p": fit.pvalue, "t": fit.t_value,
                   "rdf": 5, "same_ufunc": scipy.special.stdtr is stdtr,
                   "digamma": float(digamma(1.0)), "has_cxx": hasattr(scipy.special, "_ufuncs_cxx"),
                   "n_all": len(scipy.special.__all__),
                   "stats_p": float(2 * scipy.stats.t.sf(abs(fit.t_value), 5))}}))
""")
    assert got["heavy_after_fit"] == []
    assert got["same_ufunc"] and got["has_cxx"] and got["n_all"] > 300
    assert got["digamma"] == -0.5772156649015329  # −γ: the full package works after the deferral
    # the lm p-value is scipy's own: 2·stdtr(rdf, −|t|), equal to scipy.stats' t.sf up to rounding
    from scipy import special
    assert got["p"] == 2.0 * special.stdtr(5, -abs(got["t"]))
    np.testing.assert_allclose(got["p"], got["stats_p"], rtol=1e-12)


def test_an_already_imported_scipy_special_is_used_as_it_is():
    got = _python("""
import json
import scipy.special
from matchedwake import special
print(json.dumps({"same": special.ufuncs() is scipy.special, "full": special.full() is scipy.special}))
""")
    assert got == {"same": True, "full": True}


def test_tables_only_run_imports_neither_matplotlib_nor_all_of_scipy_special(tmp_path):
    cfg = {c["name"]: c for c in json.loads((FIX / "configs.json").read_text())}["syn_days"]
    config = tmp_path / "analysis.yaml"
    config.write_text(yaml.safe_dump({k: v for k, v in cfg.items() if k not in ("name", "input")}))
    got = _python(f"""
import json, sys
from matchedwake.cli import main
rc = main(["run", {str(FIX / "synth_events.csv")!r}, "--config", {str(config)!r}, "--out",
           {str(tmp_path / "out")!r}, "--quiet", "--no-progress", "--no-heatmaps"])
print(json.dumps({{"rc": rc, "loaded": [m for m in ["matplotlib", *{HEAVY!r}] if m in sys.modules]}}))
""")
    assert got == {"rc": 0, "loaded": []}
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert "estimates.csv" in names and not any(n.endswith(".png") for n in names)
