"""Time per permutation of the randomization / Westfall–Young inference at paper scale.

Data as in ``bench_matchedwake.py`` (paper scale): 450 treatment and 3,500 control wakes,
4,000 background dependent events over 4 years in a 1,000 km box, a planted effect of 1 event
within 5 km / 10 days; windows t = 10..60 d step 10 × s = 3..15 km step 3 (30 windows), TCM.
Each configuration runs the analysis once, then ``permutation_draws`` over ``--permutations``
permutations, and prints the setup time (matching all windows once) and the time per
permutation (target: well under 0.5 s), plus the smallest RI and WY p-values as a sanity check.

Usage: ``python benchmarks/bench_inference.py [--permutations N]``.
"""
from __future__ import annotations

import argparse
import time
import warnings

import matchedwake
from matchedwake.inference import combine_permutations, observed_statistics, permutation_draws
from matchedwake.simulate import simulate_events

TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))
MATCH = ["cov1", "cov2"]
SIM = dict(n_treatment=450, n_control=3500, n_dependent=4000, days=4 * 365, box_km=1000,
           center=(17.0, -4.0), effect=1.0, seed=20140101)
CONFIGS = {
    "lm weighted (paper)": dict(estimation="lm", weighted=True),
    "lm unweighted": dict(estimation="lm", weighted=False),
    "lm weighted HC1": dict(estimation="lm", weighted=True, vcov="HC1"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--permutations", type=int, default=20)
    args = ap.parse_args()
    data = simulate_events(**SIM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = matchedwake.matched_wake(data, (10, 60, 10), (3, 15, 3), *TYPES, MATCH, tcm=True,
                                       weighted=True)
        n_windows = len(res.estimates)
        print(f"paper scale: {len(res.wakes)} wake rows, {n_windows} windows, "
              f"{args.permutations} permutations")
        for name, opts in CONFIGS.items():
            common = dict(match_columns=MATCH, tcm=True, **opts)
            t0 = time.perf_counter()
            obs = observed_statistics(res.wakes, **common)
            t1 = time.perf_counter()
            draws = permutation_draws(res.wakes, permutations=range(args.permutations), seed=1,
                                      **common)
            t2 = time.perf_counter()
            per = (t2 - t1 - (t1 - t0)) / args.permutations  # draws repeat the setup once
            out = combine_permutations(obs, draws)
            print(f"{name:22s} setup {t1 - t0:6.3f} s   per permutation {per:6.4f} s   "
                  f"min RI p {out['pvalue_ri'].min():.3f}   min WY p {out['pvalue_wy'].min():.3f}")


if __name__ == "__main__":
    main()
