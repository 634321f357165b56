"""Rule make_calendar_balance: treated vs control start dates per window, before and after matching."""
from pathlib import Path

import pandas as pd

from qipstudy.calendar_balance import calendar_balance_of_run, plot_calendar_balance
from qipstudy.render import save_figure, write_table
from qipstudy.runlog import log_to
from qipstudy.sources import sources_of

with log_to(snakemake.log[0]):
    params = snakemake.params
    table = calendar_balance_of_run(pd.read_parquet(snakemake.input.covariates), Path(snakemake.input.wakes).parent)
    stems = {name: Path(snakemake.output[name][0]).with_suffix("") for name in ("table", "figure")}
    sources = {name: sources_of(stem.name, params.dataset_modes, outcome_source=params.outcome_source)
               for name, stem in stems.items()}
    write_table(table, stems["table"], sources=sources["table"],
                caption=f"{params.title}: start-date balance of treated and control projects per window")
    save_figure(plot_calendar_balance(table, t_unit=params.t_unit, title=params.title),
                stems["figure"], data=table, sources=sources["figure"])
