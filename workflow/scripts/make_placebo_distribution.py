"""Rule make_placebo_distribution: the main run against the distribution of many placebo draws."""
from pathlib import Path

import pandas as pd

from qipstudy.placebos import placebo_reference_of_run, plot_placebo_reference
from qipstudy.render import save_figure, write_table
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    draws = pd.concat([pd.read_parquet(p) for p in snakemake.input.draws], ignore_index=True)
    inference = snakemake.params.inference
    observed, windows, grid = placebo_reference_of_run(
        Path(snakemake.input.wakes).parent, draws, vcov=inference["vcov"],
        cluster_column=inference["cluster_column"], alpha=snakemake.params.alpha)
    title = snakemake.params.title
    write_table(windows, Path(snakemake.output.windows[0]).with_suffix(""),
                caption=f"{title}: estimate per window against {draws['draw'].nunique()} placebo draws")
    write_table(grid, Path(snakemake.output.grid[0]).with_suffix(""),
                caption=f"{title}: grid statistics of the main run against the placebo draws")
    save_figure(plot_placebo_reference(draws, observed, alpha=snakemake.params.alpha, title=title),
                Path(snakemake.output.figure[0]).with_suffix(""))
