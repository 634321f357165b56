"""Rule plot_attacks: paper Figure 1 (attacks on aid workers and peacekeepers)."""
from pathlib import Path

import pandas as pd

from qipstudy.render import figure_attacks
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    country = snakemake.params.country
    figure_attacks(
        pd.read_csv(snakemake.input.awsd),
        pd.read_csv(snakemake.input.fatalities),
        country["name"],
        country["mission"],
        stem=Path(snakemake.output.figure[0]).with_suffix(""),
    )
