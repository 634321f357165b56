"""Rule make_inference_table: classical, robust, Holm, BH, randomization and Westfall-Young p-values."""
from pathlib import Path

import pandas as pd

from qipstudy.render import permutation_histograms, save_figure, sources_of, write_table
from qipstudy.robustness import inference_table, plot_inference_heatmaps, plot_permutation_distribution
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    params = snakemake.params
    draws = [pd.read_parquet(path) for path in snakemake.input.draws]
    inference = params.inference
    table = inference_table(Path(snakemake.input.parameters).parent, draws, vcov=inference["vcov"],
                            cluster_column=inference["cluster_column"], min_matched=inference["min_matched"])
    title = params.title
    stems = {name: Path(getattr(snakemake.output, name)[0]).with_suffix("")
             for name in ("table", "figure", "permutations")}
    sources = {name: sources_of(stem.name, params.dataset_modes, outcome_source=params.outcome_source)
               for name, stem in stems.items()}
    write_table(table, stems["table"], sources=sources["table"],
                caption=f"{title}: p-values per window, uncorrected and corrected for the window grid "
                        f"({inference['vcov']} standard errors; windows with fewer than "
                        f"{inference['min_matched']} matched treated or control wakes not tested)")
    save_figure(
        plot_inference_heatmaps(table, t_unit=params.t_unit, alpha=params.alpha, title=title),
        stems["figure"], data=table, sources=sources["figure"],
    )
    all_draws = pd.concat(draws, ignore_index=True)
    save_figure(
        plot_permutation_distribution(all_draws, table, title=title),
        stems["permutations"], data=permutation_histograms(all_draws, table), sources=sources["permutations"],
    )
