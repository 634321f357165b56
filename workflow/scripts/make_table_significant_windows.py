"""Rule make_table_significant_windows: Tables 3, 4 and appendix Table 4 (windows with p <= alpha)."""
from pathlib import Path

import pandas as pd

from qipstudy.render import table_significant_windows
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    estimates = pd.read_csv(snakemake.input.estimates)
    table_significant_windows(
        estimates,
        alpha=snakemake.params.alpha,
        stem=Path(snakemake.output.table[0]).with_suffix(""),
        caption=f"Effect of QIPs on {snakemake.params.title.lower()}: space-time windows with p <= {snakemake.params.alpha}",
    )
