"""Rule make_cross_country_comparison: one outcome's window grid, all countries side by side."""
from pathlib import Path

import pandas as pd

from qipstudy.render import cross_country_heatmaps, table_cross_country
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    estimates = {c: pd.read_csv(p) for c, p in zip(snakemake.params.countries, snakemake.input.estimates)}
    table_cross_country(
        estimates,
        alpha=snakemake.params.alpha,
        only_significant=False,
        stem=Path(snakemake.output.table).with_suffix(""),
        caption=f"{snakemake.params.title}: MWA estimates by country",
    )
    cross_country_heatmaps(
        estimates,
        snakemake.params.title,
        Path(snakemake.output.figure).with_suffix(""),
        t_unit=snakemake.params.t_unit,
        alpha1=snakemake.params.alpha,
    )
