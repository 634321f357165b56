"""Rule plot_heatmaps: paper Figure 6 (tile heatmaps of all outcomes) and one R-style heatmap per outcome."""
from pathlib import Path

import pandas as pd

from qipstudy.render import heatmaps
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    outcomes = snakemake.params.outcomes
    estimates = {o: pd.read_csv(path) for o, path in zip(outcomes, snakemake.input.estimates)}
    titles = dict(zip(outcomes, snakemake.params.titles))
    style = dict(t_unit=snakemake.params.t_unit, alpha1=snakemake.params.alpha1, alpha2=snakemake.params.alpha2)
    heatmaps(estimates, Path(snakemake.output.figure[0]).with_suffix(""), style="tiles", titles=titles, **style)
    figures_dir = Path(snakemake.output.figure[0]).parent
    for outcome in outcomes:
        heatmaps(
            {outcome: estimates[outcome]},
            figures_dir / f"heatmap_r_style_{outcome}",
            style="r",
            titles={outcome: titles[outcome]},
            **style,
        )
