"""Rule plot_attacks: paper Figure 1 (attacks on aid workers and peacekeepers) and its data CSV."""
from pathlib import Path

import pandas as pd

from qipstudy.render import figure_attacks
from qipstudy.runlog import log_to
from qipstudy.sources import sources_of

with log_to(snakemake.log[0]):
    country = snakemake.params.country
    figure_attacks(
        pd.read_csv(snakemake.input.awsd, dtype=str, keep_default_na=False),
        pd.read_csv(snakemake.input.fatalities, dtype=str, keep_default_na=False),
        [country["name"], country["iso2"]],
        country["mission"],
        stem=Path(snakemake.output.figure[0]).with_suffix(""),
        sources=sources_of("figure1_attacks", snakemake.params.dataset_modes,
                           outcome_source=snakemake.params.outcome_source),
        **dict(snakemake.params.figure1),
    )
