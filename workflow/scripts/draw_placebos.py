"""Rule draw_placebos: one shard of the placebo draws (QIPs at random sites where events occur)."""
import pandas as pd

from qipstudy.atomic import write_parquet
from qipstudy.placebos import placebo_shard
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]) as log:
    settings = snakemake.params.placebo_draws
    inference = snakemake.params.inference
    draws = placebo_shard(
        pd.read_parquet(snakemake.input.covariates),
        snakemake.params.outcome,
        snakemake.params.mwa,
        shard=snakemake.params.shard,
        n_shards=settings["shards"],
        n_draws=settings["n"],
        seed=settings["seed"],
        pool=settings["pool"],
        vcov=inference["vcov"],
        cluster_column=inference["cluster_column"],
    )
    write_parquet(draws, snakemake.output.draws)
    log.info("%d placebo draws x windows", len(draws))
