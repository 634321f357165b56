"""Rule make_placebo_distribution: the main run against the distribution of many placebo draws."""
from pathlib import Path

import pandas as pd

from qipstudy.placebos import placebo_reference_of_run, plot_placebo_reference
from qipstudy.render import save_figure, write_table
from qipstudy.runlog import log_to
from qipstudy.sources import sources_of

with log_to(snakemake.log[0]):
    params = snakemake.params
    draws = pd.concat([pd.read_parquet(p) for p in snakemake.input.draws], ignore_index=True)
    inference = params.inference
    observed, windows, grid = placebo_reference_of_run(
        Path(snakemake.input.wakes).parent, draws, vcov=inference["vcov"],
        cluster_column=inference["cluster_column"], alpha=params.alpha)
    stems = {name: Path(snakemake.output[name][0]).with_suffix("") for name in ("windows", "grid", "figure")}
    sources = {name: sources_of(stem.name, params.dataset_modes, outcome_source=params.outcome_source)
               for name, stem in stems.items()}
    write_table(windows, stems["windows"], sources=sources["windows"],
                caption=f"{params.title}: estimate per window against {draws['draw'].nunique()} placebo draws")
    write_table(grid, stems["grid"], sources=sources["grid"],
                caption=f"{params.title}: grid statistics of the main run against the placebo draws")
    save_figure(plot_placebo_reference(draws, observed, alpha=params.alpha, title=params.title),
                stems["figure"], data=windows, sources=sources["figure"])
