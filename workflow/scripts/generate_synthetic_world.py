"""Rule generate_synthetic_world: the offline default's raw inputs, in the providers' formats."""
from pathlib import Path

from qipstudy.runlog import log_to
from qipstudy.synthetic import generate_world

with log_to(snakemake.log[0]) as log:
    params = dict(snakemake.params.synthetic)
    seed = params.pop("seed")
    written = generate_world(dict(snakemake.params.country), params, Path(snakemake.output[0]), seed=seed)
    log.info("synthetic world written: %s", written)
