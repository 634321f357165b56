"""Fixtures that run the real Snakefile in a temporary copy of the workflow."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# What a fresh clone needs to run the workflow (the package itself is installed).
WORKFLOW_PARTS = ["Snakefile", "workflow", "config", "envs", "profiles", "resources/published"]


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow files (not results or downloads) into `dest`, as a fresh clone has them."""
    for part in WORKFLOW_PARTS:
        src = REPO / part
        target = dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    return dest


def _run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = SNAKEMAKE + ["--directory", str(workdir), "--snakefile", str(workdir / "Snakefile"), *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({' '.join(args)}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


# A smaller synthetic world than the default (same planted effect), to keep the tests quick.
SMALL_WORLD = {
    "synthetic": {
        "seed": 7,
        "scale": 0.6,
        "planted_effect": {"outcome": "civilians", "radius_km": 6, "days": 30, "mean_extra_events": 1.0},
    },
    "robustness": {"permutations": {"n": 39, "shards": 2, "seed": 5}},
}
# The same world without the robustness part (for tests about other things: SLURM, countries).
SMALL_WORLD_CORE = {**SMALL_WORLD, "robustness": {"enabled": False}}


def write_overlay(workdir: Path, overlay: dict) -> Path:
    path = workdir / "config" / "test_overlay.yaml"
    path.write_text(yaml.safe_dump(overlay, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def run_snakemake():
    """The function that runs snakemake in a workflow copy (for tests that drive it themselves)."""
    return _run_snakemake


@pytest.fixture(scope="session")
def workflow_copy(tmp_path_factory):
    """A factory of fresh workflow copies with an overlay config."""

    def make(name: str, overlay: dict) -> tuple[Path, Path]:
        workdir = copy_workflow(tmp_path_factory.mktemp(name))
        return workdir, write_overlay(workdir, overlay)

    return make


@pytest.fixture(scope="session")
def small_world_run(workflow_copy):
    """One real local run of the default workflow on the small world (shared by the tests)."""
    workdir, overlay = workflow_copy("workflow", SMALL_WORLD)
    _run_snakemake(workdir, "--cores", "2", "--configfile", "config/config.yaml", str(overlay))
    return workdir
