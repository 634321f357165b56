"""Rule make_event_study: effects by disjoint time bin and spatial ring, with pre-period leads."""
from pathlib import Path

from qipstudy.eventstudy import event_study_of_run, plot_event_study
from qipstudy.render import save_figure, write_table
from qipstudy.runlog import log_to
from qipstudy.sources import sources_of

with log_to(snakemake.log[0]):
    params = snakemake.params
    inference = params.inference
    table, lead_tests = event_study_of_run(Path(snakemake.input.wakes).parent, vcov=inference["vcov"],
                                           cluster_column=inference["cluster_column"])
    stems = {name: Path(snakemake.output[name][0]).with_suffix("") for name in ("table", "lead_tests", "figure")}
    sources = {name: sources_of(stem.name, params.dataset_modes, outcome_source=params.outcome_source)
               for name, stem in stems.items()}
    write_table(table, stems["table"], sources=sources["table"],
                caption=f"{params.title}: event study by spatial ring and time bin (reference: bin -1)")
    write_table(lead_tests, stems["lead_tests"], sources=sources["lead_tests"],
                caption=f"{params.title}: joint tests that all pre-period leads are zero (parallel trends)")
    save_figure(plot_event_study(table, t_unit=params.t_unit, title=params.title, lead_test=lead_tests),
                stems["figure"], data=table, sources=sources["figure"])
