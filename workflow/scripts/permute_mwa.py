"""Rule permute_mwa: one shard of the permutation draws of a window grid (a cluster job)."""
from pathlib import Path

from qipstudy.atomic import write_parquet
from qipstudy.robustness import permutation_shard
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]) as log:
    settings = snakemake.params.permutations
    inference = snakemake.params.inference
    draws = permutation_shard(
        Path(snakemake.input.wakes).parent,
        shard=snakemake.params.shard,
        n_shards=settings["shards"],
        n_permutations=settings["n"],
        seed=settings["seed"],
        scheme=settings["scheme"],
        assignment_strata=settings["assignment_strata"],
        assignment_bins=settings["assignment_bins"],
        vcov=inference["vcov"],
        cluster_column=inference["cluster_column"],
        min_matched=inference["min_matched"],
    )
    write_parquet(draws, snakemake.output.draws)
    log.info("%d draws", len(draws))
