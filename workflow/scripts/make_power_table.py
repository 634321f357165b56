"""Rule make_power_table: minimum detectable effect and matched sample size per window."""
from pathlib import Path

from qipstudy.power import plot_power_overlay, power_of_run
from qipstudy.render import save_figure, write_table
from qipstudy.runlog import log_to
from qipstudy.sources import sources_of

with log_to(snakemake.log[0]):
    params = snakemake.params
    inference = params.inference
    table = power_of_run(Path(snakemake.input.wakes).parent, vcov=inference["vcov"],
                         cluster_column=inference["cluster_column"], alpha=params.alpha, power=inference["power"])
    stems = {name: Path(snakemake.output[name][0]).with_suffix("") for name in ("table", "figure")}
    sources = {name: sources_of(stem.name, params.dataset_modes, outcome_source=params.outcome_source)
               for name, stem in stems.items()}
    write_table(table, stems["table"], sources=sources["table"],
                caption=f"{params.title}: minimum detectable effect ({inference['power']:.0%} power, "
                        f"level {params.alpha:g}) and matched sample per window")
    save_figure(plot_power_overlay(table, t_unit=params.t_unit, alpha=params.alpha, title=params.title),
                stems["figure"], data=table, sources=sources["figure"])
