"""Rule make_table_significant_windows: Tables 3, 4 and appendix Table 4 (windows with p <= alpha)."""
from pathlib import Path

from qipstudy.render import load_estimates, sources_of, table_significant_windows
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    params = snakemake.params
    stem = Path(snakemake.output.table[0]).with_suffix("")
    table_significant_windows(
        load_estimates(snakemake.input.estimates, snakemake.input.matching),
        alpha=params.alpha,
        stem=stem,
        caption=f"Effect of QIPs on {params.title.lower()}: space-time windows with p <= {params.alpha}",
        min_matched=params.min_matched,
        sources=sources_of(stem.name, params.dataset_modes, outcome_source=params.outcome_source),
    )
