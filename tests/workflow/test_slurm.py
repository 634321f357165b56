"""The default workflow through the SLURM profile on a real one-node cluster equals a local run."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import SMALL_WORLD_CORE

from qipstudy.registry import PAPER_ITEMS, item_stems

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

HERE = Path(__file__).parent


def _slurm_unavailable() -> str | None:
    """Why a local SLURM cannot be started here, or None if it can."""
    if os.environ.get("SKIP_SLURM_TESTS"):
        return "SKIP_SLURM_TESTS is set"
    if os.geteuid() != 0:
        return "needs root to start slurmctld/slurmd/munged"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "no SLURM packages and no apt-get to install them"
    return None


@pytest.fixture(scope="module")
def local_slurm():
    reason = _slurm_unavailable()
    if reason:
        pytest.skip(reason)
    start = subprocess.run([str(HERE / "local_slurm.sh"), "start"], capture_output=True, text=True)
    if start.returncode != 0:
        pytest.skip(f"could not start a local SLURM: {start.stderr[-2000:]}")
    yield
    subprocess.run([str(HERE / "local_slurm.sh"), "stop"], capture_output=True, text=True)


def test_slurm_profile_run_equals_local_run(local_slurm, small_world_run, workflow_copy, run_snakemake):
    workdir, overlay = workflow_copy("slurm", SMALL_WORLD_CORE)
    run_snakemake(
        workdir,
        "--workflow-profile", "profiles/slurm",
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2",
        "--slurm-keep-successful-logs",
        "--default-resources", "slurm_account=local", "slurm_partition=debug", "mem_mb=1500", "runtime=20",
        "--jobs", "2",
        "--configfile", "config/config.yaml", str(overlay),
    )
    slurm_logs = list((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert slurm_logs, "no job went through SLURM"
    # The paper's tables (the local run also has the robustness part, which this run leaves out).
    outcomes = ("civilians", "battles", "nsag")
    paper_tables = sorted(stem for item in PAPER_ITEMS if item.part == "paper" and item.kind == "table"
                          for stem in item_stems(item, outcomes))
    produced = sorted(f"tables/{p.stem}" for p in (workdir / "results/MLI/tables").glob("*.csv"))
    assert produced == paper_tables
    for stem in paper_tables:
        pd.testing.assert_frame_equal(pd.read_csv(workdir / "results/MLI" / f"{stem}.csv"),
                                      pd.read_csv(small_world_run / "results/MLI" / f"{stem}.csv"), check_exact=True)
    for outcome in outcomes:
        for name in ("estimates.csv", "matching.csv", "sutva.csv"):
            pd.testing.assert_frame_equal(
                pd.read_csv(workdir / f"results/MLI/mwa/{outcome}/{name}"),
                pd.read_csv(small_world_run / f"results/MLI/mwa/{outcome}/{name}"),
                check_exact=True,
            )
