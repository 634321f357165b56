"""Rule make_heterogeneity_table: the main outcome by QIP activity type, category and region."""
from pathlib import Path

import pandas as pd

from qipstudy.heterogeneity import heterogeneity_summary, plot_heterogeneity, subgroup_estimates
from qipstudy.render import save_figure, write_table
from qipstudy.runlog import log_to
from qipstudy.sources import sources_of

with log_to(snakemake.log[0]):
    params = snakemake.params
    settings, inference = params.heterogeneity, params.inference
    table = subgroup_estimates(pd.read_parquet(snakemake.input.covariates), params.outcome, params.mwa,
                               dimensions=settings["dimensions"], min_projects=settings["min_projects"],
                               vcov=inference["vcov"], cluster_column=inference["cluster_column"])

    def sources(stem):
        return sources_of(Path(stem).name, params.dataset_modes, outcome_source=params.outcome_source)

    windows_stem = Path(snakemake.output.windows[0]).with_suffix("")
    table_stem = Path(snakemake.output.table[0]).with_suffix("")
    write_table(table, windows_stem, sources=sources(windows_stem),
                caption=f"{params.title}: estimate per subgroup and window; Holm and BH over each dimension")
    write_table(heterogeneity_summary(table, alpha=params.alpha), table_stem, sources=sources(table_stem),
                caption=f"{params.title}: significant windows per subgroup, uncorrected and corrected")
    for dimension, png in zip(settings["dimensions"], snakemake.output.figures):
        stem = Path(png).with_suffix("")
        save_figure(plot_heterogeneity(table, dimension, t_unit=params.t_unit, alpha=params.alpha, title=params.title),
                    stem, data=table[table["dimension"] == dimension], sources=sources(stem))
