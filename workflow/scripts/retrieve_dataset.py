"""Rules retrieve_<dataset>: download, take a user file, or copy from the synthetic world."""
from pathlib import Path

from qipstudy.retrieve import retrieve_dataset
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]) as log:
    inputs = dict(snakemake.input.items())
    provenance = retrieve_dataset(
        snakemake.params.dataset,
        snakemake.params.mode,
        country=snakemake.params.country,
        options=dict(snakemake.params.options),
        out_dir=Path(snakemake.output.provenance).parent,
        synthetic_dir=Path(inputs["synthetic_world"]) if "synthetic_world" in inputs else None,
        user_path=Path(inputs["user_file"]) if "user_file" in inputs else None,
        version=snakemake.wildcards.version,
    )
    log.info("provenance: %s", provenance)
