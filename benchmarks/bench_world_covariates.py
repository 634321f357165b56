"""Time and peak memory of the synthetic world and of the covariates, per country (issue 13 targets).

Each stage runs in a fresh Python process (so its peak RSS is its own): ``world`` runs
``generate_world`` with the settings the workflow would pass (config/config.yaml's `synthetic`
block, overlaid with ``--configfile`` files such as config/continent.yaml); ``covariates`` runs
``prepare_events`` once (cached) and then ``build_covariates`` with the default covariate settings.
Best of ``--repeat`` runs is printed beside the target, with the stage's CPU time (user + system):
on a shared machine the CPU time is the steadier measure, the best wall time the one to quote.

Usage::

    python benchmarks/bench_world_covariates.py --country MLI --repeat 3
    python benchmarks/bench_world_covariates.py --country AFR --configfile config/continent.yaml --repeat 2
"""
from __future__ import annotations

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Targets of issue 13 (continent scale); the small countries' worlds must stay quick.
TARGETS_S = {("AFR", "world"): 60.0, ("AFR", "covariates"): 30.0}


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(configfiles: list[str]) -> dict:
    import yaml

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    for extra in configfiles:
        config = _deep_merge(config, yaml.safe_load(pathlib.Path(extra).read_text(encoding="utf-8")))
    return config


def load_country(iso3: str) -> dict:
    import yaml

    return yaml.safe_load((ROOT / "config" / "countries" / f"{iso3}.yaml").read_text(encoding="utf-8"))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stage_world(args) -> dict:
    from qipstudy.synthetic import generate_world

    params = dict(load_config(args.configfile)["synthetic"])
    seed = params.pop("seed")
    started, cpu = time.perf_counter(), _cpu()
    written = generate_world(load_country(args.country), params, pathlib.Path(args.workdir) / "world", seed=seed)
    return {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu, "files": len(written)}


def _events(args, config: dict, country: dict):
    import pandas as pd

    from qipstudy.prepare import prepare_events, read_acled, read_admin3, read_iati, read_qips, write_events

    world = pathlib.Path(args.workdir) / "world"
    cached = pathlib.Path(args.workdir) / "events.parquet"
    fields = country["boundaries"]
    admin3 = read_admin3(world / "adm3.gpkg", fields["admin1_field"], fields["admin3_field"],
                         admin2_field=fields["admin2_field"])
    if not cached.exists():
        events = prepare_events(read_acled(world / "acled.csv"), read_qips(world / "qips.csv"),
                                read_iati(world / "activities.csv"), admin3,
                                period_start=country["period"]["start"], period_end=country["period"]["end"],
                                study_regions=country["study_regions"], admin1_field=fields["admin1_field"],
                                outcomes=config["outcomes"], outcome_source="acled")
        write_events(events, cached)
    return pd.read_parquet(cached), admin3


def stage_covariates(args) -> dict:
    from qipstudy.covariates import build_covariates

    config, country = load_config(args.configfile), load_country(args.country)
    world = pathlib.Path(args.workdir) / "world"
    events, admin3 = _events(args, config, country)
    settings = config["covariates"]
    cvg = world / "nightlights_cf_cvg.tif"
    cvg = cvg if cvg.exists() else world / "nightlights.tif"  # worlds written before the contract rename
    started, cpu = time.perf_counter(), _cpu()
    table = build_covariates(events, roads=world / "roads.gpkg", waterways=world / "waterways.gpkg", admin3=admin3,
                             bases=country["bases"], nightlights_path=cvg,
                             population_path=world / "pop_density.tif", projected_crs=country["projected_crs"],
                             road_classes=settings["road_classes"], water_classes=settings["water_classes"],
                             base_mode=settings["base_mode"])
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    if args.save:
        table.to_parquet(args.save)
    return {"seconds": seconds, "cpu_seconds": cpu, "events": len(events), "kept": len(table)}


def child(args) -> None:
    result = {"world": stage_world, "covariates": stage_covariates}[args.stage](args)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--country", default="MLI")
    ap.add_argument("--configfile", action="append", default=[])
    ap.add_argument("--stage", choices=["world", "covariates", "both"], default="both")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workdir", default=None, help="where the world and events are kept (default: /tmp/bench_<ISO3>)")
    ap.add_argument("--save", default=None, help="covariates stage: write the table here (to compare runs)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.workdir = args.workdir or f"/tmp/bench_{args.country}"
    if args.child:
        child(args)
        return
    stages = ["world", "covariates"] if args.stage == "both" else [args.stage]
    print(f"{'country':8} {'stage':11} {'best s':>8} {'cpu s':>8} {'target s':>9} {'peak RSS MB':>12}  runs (wall s)")
    for stage in stages:
        runs = []
        for _ in range(args.repeat):
            cmd = [sys.executable, __file__, "--child", "--stage", stage, "--country", args.country,
                   "--workdir", args.workdir] + [a for f in args.configfile for a in ("--configfile", f)]
            if args.save:
                cmd += ["--save", args.save]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:]))
        best = min(runs, key=lambda r: r["seconds"])
        target = TARGETS_S.get((args.country, stage))
        print(f"{args.country:8} {stage:11} {best['seconds']:8.1f} {min(r['cpu_seconds'] for r in runs):8.1f} "
              f"{target if target else '-':>9} "
              f"{max(r['peak_rss_mb'] for r in runs):12.0f}  {[round(r['seconds'], 1) for r in runs]}")


if __name__ == "__main__":
    main()
