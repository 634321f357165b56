"""Rule make_reproduction_report: every produced table against the published numbers."""
from qipstudy.render import write_reproduction_report
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    write_reproduction_report(
        snakemake.input.tables,
        snakemake.input.published,
        snakemake.output.report,
        published_tables=snakemake.params.published_tables,
        dataset_modes=snakemake.params.dataset_modes,
        outcome_source=snakemake.params.outcome_source,
    )
