"""Rule estimate_mwa: the MWA window grid of one (country, spec, outcome)."""
from pathlib import Path

import pandas as pd

from qipstudy.estimate import run_mwa
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]) as log:
    covariates = pd.read_parquet(snakemake.input.covariates)
    result = run_mwa(covariates, snakemake.wildcards.outcome, snakemake.params.mwa)
    result.to_dir(Path(snakemake.output.estimates).parent)
    log.info("wrote %s", Path(snakemake.output.estimates).parent)
