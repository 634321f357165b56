"""The thin rule scripts of the inference outputs, run with a stand-in for Snakemake's object.

The workflow rules for these scripts are wired by the lead (docs/inference.md lists them); this
runs every script the way `script:` does — a module-level `snakemake` with input, output,
params, wildcards and log — on a real estimate_mwa output directory, and checks the files.
"""
from __future__ import annotations

import runpy
import warnings
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from sim_study import SETTINGS, study_covariates

from matchedwake.windows import WindowWarning
from qipstudy.estimate import run_mwa

SCRIPTS = Path(__file__).resolve().parents[2] / "workflow" / "scripts"
INFERENCE = {"vcov": "HC1", "cluster_column": None, "min_matched": 10, "power": 0.8}


def multiext(stem: Path, *exts: str) -> list[str]:
    return [str(stem) + e for e in exts]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    covariates = study_covariates(seed=51, effect=1.0)
    cov_path = root / "covariates.parquet"
    covariates.to_parquet(cov_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        run_mwa(covariates, "civilians", SETTINGS).to_dir(root / "mwa" / "civilians")
    return root, cov_path


class Named(SimpleNamespace):
    """Snakemake's input/output/params containers: attributes, items and .get (iocontainers.Namedlist)."""

    def get(self, key, default=None):
        return getattr(self, key, default)

    def __getitem__(self, key):
        return getattr(self, key)


# What the render rules pass about their inputs (workflow/rules/common.smk SOURCES_PARAMS).
SOURCES = {"dataset_modes": {d: {"mode": "synthetic", "version": "synthetic"}
                             for d in ("acled", "ucdp", "qip", "iati", "boundaries", "osm", "nightlights",
                                       "population", "worldpop")},
           "outcome_source": "acled"}


def call(script: str, root: Path, **parts):
    obj = SimpleNamespace(log=[str(root / "logs" / f"{script}.log")], wildcards=SimpleNamespace(outcome="civilians"),
                          **{k: Named(**v) for k, v in parts.items()})
    (root / "logs").mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        runpy.run_path(str(SCRIPTS / f"{script}.py"), init_globals={"snakemake": obj})


def test_inference_scripts_write_their_outputs(run):
    root, cov = run
    mwa = root / "mwa" / "civilians"
    t = root / "tables"
    f = root / "figures"
    common = {"title": "Violence against civilians", "t_unit": "days", "alpha": 0.05, "inference": INFERENCE,
              **SOURCES}
    permutations = {"n": 6, "shards": 2, "seed": 1, "scheme": "single_assignment", "assignment_strata": [],
                    "assignment_bins": 3}
    for shard in range(2):
        call("permute_mwa", root, input={"wakes": str(mwa / "wakes.parquet")},
             output={"draws": str(root / f"draws_{shard}.parquet")},
             params={"permutations": permutations, "shard": shard, "inference": INFERENCE})
    call("make_inference_table", root,
         input={"parameters": str(mwa / "parameters.json"),
                "draws": [str(root / f"draws_{k}.parquet") for k in range(2)]},
         output={"table": multiext(t / "inference", ".csv", ".tex", ".md"),
                 "figure": multiext(f / "inference_civilians", ".png", ".pdf"),
                 "permutations": multiext(f / "permutations_civilians", ".png", ".pdf")}, params=common)
    inference = pd.read_csv(t / "inference.csv")
    assert inference["n_permutations"].max() == 6 and (inference["vcov"] == "HC1").all()

    call("make_event_study", root, input={"wakes": str(mwa / "wakes.parquet")},
         output={"table": multiext(t / "event_study_civilians", ".csv", ".tex", ".md"),
                 "lead_tests": multiext(t / "event_study_leads_civilians", ".csv", ".tex", ".md"),
                 "figure": multiext(f / "event_study_civilians", ".png", ".pdf")}, params=common)
    assert pd.read_csv(t / "event_study_leads_civilians.csv")["rings"].iloc[-1] == "all rings"

    call("make_power_table", root, input={"wakes": str(mwa / "wakes.parquet")},
         output={"table": multiext(t / "power_civilians", ".csv", ".tex", ".md"),
                 "figure": multiext(f / "power_civilians", ".png", ".pdf")}, params=common)
    assert pd.read_csv(t / "power_civilians.csv")["mde"].notna().all()

    call("make_calendar_balance", root, input={"covariates": str(cov), "wakes": str(mwa / "wakes.parquet")},
         output={"table": multiext(t / "calendar_balance_civilians", ".csv", ".tex", ".md"),
                 "figure": multiext(f / "calendar_balance_civilians", ".png", ".pdf")}, params=common)
    assert len(pd.read_csv(t / "calendar_balance_civilians.csv")) == 9

    placebo = {"n": 2, "shards": 2, "seed": 3, "pool": "aid_sites"}
    for shard in range(2):
        call("draw_placebos", root, input={"covariates": str(cov)},
             output={"draws": str(root / f"placebo_{shard}.parquet")},
             params={"placebo_draws": placebo, "inference": INFERENCE, "outcome": "civilians",
                     "mwa": SETTINGS, "shard": shard})
    call("make_placebo_distribution", root,
         input={"wakes": str(mwa / "wakes.parquet"),
                "draws": [str(root / f"placebo_{k}.parquet") for k in range(2)]},
         output={"windows": multiext(t / "placebo_windows_civilians", ".csv", ".tex", ".md"),
                 "grid": multiext(t / "placebo_grid_civilians", ".csv", ".tex", ".md"),
                 "figure": multiext(f / "placebo_civilians", ".png", ".pdf")}, params=common)
    assert pd.read_csv(t / "placebo_grid_civilians.csv")["draws"].max() == 2

    het = {"dimensions": ["activity_type"], "min_projects": 10}
    call("make_heterogeneity_table", root, input={"covariates": str(cov)},
         output={"windows": multiext(t / "heterogeneity_windows_civilians", ".csv", ".tex", ".md"),
                 "table": multiext(t / "heterogeneity_civilians", ".csv", ".tex", ".md"),
                 "figures": [str(f / "heterogeneity_civilians_activity_type.png")]},
         params={**common, "heterogeneity": het, "outcome": "civilians", "mwa": SETTINGS})
    assert set(pd.read_csv(t / "heterogeneity_civilians.csv")["dimension"]) == {"activity_type"}
    for name in ("inference_civilians", "permutations_civilians", "event_study_civilians", "power_civilians",
                 "calendar_balance_civilians", "placebo_civilians", "heterogeneity_civilians_activity_type"):
        assert (f / f"{name}.png").stat().st_size > 5_000 and (f / f"{name}.pdf").exists()
        # every figure writes the numbers it plots and records its inputs
        assert len(pd.read_csv(f / f"{name}.csv")) > 0, name
        assert "synthetic" in (f / f"{name}.sources.json").read_text(), name
    for name in ("inference", "event_study_civilians", "power_civilians", "calendar_balance_civilians",
                 "placebo_grid_civilians", "heterogeneity_civilians"):
        assert (t / f"{name}.sources.json").exists(), name
