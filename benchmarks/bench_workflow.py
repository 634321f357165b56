"""Time the whole workflow on a configuration, split into its synthetic world and the run after it.

Issue 13's continent-scale targets (``config/continent.yaml``, 2 cores): the world ≤ 60 s and the
whole run after the world ≤ 2 min. The workflow runs in a fresh copy of the repository's workflow
files (as a clone has them, the way the workflow tests copy it): first ``snakemake --until
generate_synthetic_world`` (the world), then the whole run (everything after the world). Each is
printed beside its target, with the per-rule wall time, CPU time and peak memory that the rules'
``benchmark:`` files (``results/benchmarks/``) record, slowest first, so that the bottleneck is named.

Usage::

    python benchmarks/bench_workflow.py                                  # config/continent.yaml
    python benchmarks/bench_workflow.py --configfile config/continent.yaml --cores 2 --keep /tmp/afr_run
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# Targets of issue 13, by configuration file: (world, the whole run after the world) in seconds.
TARGETS_S = {"config/continent.yaml": (60.0, 120.0)}


def _copy_workflow():
    """The workflow tests' copy function (tests/workflow/conftest.py): one list of what a clone needs."""
    spec = importlib.util.spec_from_file_location("workflow_conftest", ROOT / "tests/workflow/conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.copy_workflow


def snakemake(workdir: Path, configfiles: list[str], cores: int, *extra: str) -> float:
    """Run snakemake in ``workdir``; return its wall seconds (raises with the log tail on failure)."""
    cmd = [sys.executable, "-m", "snakemake", "--directory", str(workdir), "--snakefile",
           str(workdir / "Snakefile"), "--cores", str(cores), "--configfile", "config/config.yaml",
           *configfiles, *extra]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed ({' '.join(extra) or 'whole run'}):\n{proc.stderr[-6000:]}")
    return seconds


def rule_times(workdir: Path) -> pd.DataFrame:
    """One row per job from the benchmark files: rule (with its wildcards), wall s, cpu s, peak RSS MB."""
    rows = []
    for tsv in sorted((workdir / "results" / "benchmarks").rglob("*.tsv")):
        bench = pd.read_csv(tsv, sep="\t")
        rows.append({"job": str(tsv.relative_to(workdir / "results" / "benchmarks").with_suffix("")),
                     "wall_s": float(bench["s"].iloc[0]),
                     "cpu_s": float(pd.to_numeric(bench["cpu_time"], errors="coerce").iloc[0]),
                     "max_rss_mb": float(pd.to_numeric(bench["max_rss"], errors="coerce").iloc[0])})
    return pd.DataFrame(rows, columns=["job", "wall_s", "cpu_s", "max_rss_mb"])


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return "no target"
    return f"target <= {target:g} s: {'OK' if value <= target else 'MISSED'}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", action="append", default=None,
                    help="configuration overlaid on config/config.yaml (default config/continent.yaml)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", default=None, help="run in this directory and keep it (default: a temporary one)")
    ap.add_argument("--top", type=int, default=12, help="slowest jobs to list")
    args = ap.parse_args()
    configfiles = args.configfile or ["config/continent.yaml"]
    world_target, after_target = TARGETS_S.get(" ".join(configfiles), (None, None))
    with tempfile.TemporaryDirectory(prefix="bench_workflow_") as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        _copy_workflow()(workdir)
        world_s = snakemake(workdir, configfiles, args.cores, "--until", "generate_synthetic_world")
        after_s = snakemake(workdir, configfiles, args.cores)
        jobs = rule_times(workdir)
    world_jobs = jobs["job"].str.contains("generate_synthetic_world")
    print(f"workflow benchmark: {' '.join(configfiles)} on {args.cores} cores, {len(jobs)} jobs")
    print(f"  synthetic world: {world_s:.1f} s wall ({verdict(world_s, world_target)}); "
          f"the rule itself {jobs.loc[world_jobs, 'wall_s'].sum():.1f} s")
    print(f"  whole run after the world: {after_s:.1f} s wall ({verdict(after_s, after_target)}); "
          f"{len(jobs) - int(world_jobs.sum())} jobs, {jobs.loc[~world_jobs, 'wall_s'].sum():.1f} s of job "
          f"wall time, {jobs.loc[~world_jobs, 'cpu_s'].sum():.1f} s CPU")
    print(f"  slowest jobs (benchmark files; snakemake samples the CPU time, which undercounts): "
          f"{'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12}")
    for row in jobs.sort_values("wall_s", ascending=False).head(args.top).itertuples():
        print(f"    {row.job:60s} {row.wall_s:8.1f} {row.cpu_s:8.1f} {row.max_rss_mb:12,.0f}")


if __name__ == "__main__":
    main()
