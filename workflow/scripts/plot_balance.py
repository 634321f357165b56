"""Rule plot_balance: covariate balance before and after matching, per window."""
from pathlib import Path

from matchedwake.plotting import plot_balance
from qipstudy.atomic import atomic_path
from qipstudy.render import save_figure, sources_of
from qipstudy.robustness import balance_of_run
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    balance = balance_of_run(Path(snakemake.input.wakes).parent)
    with atomic_path(snakemake.output.table) as tmp:
        balance.to_csv(tmp, index=False)
    figure = plot_balance(balance)
    figure.set_layout_engine("constrained")  # room for the overall title above the panel titles
    figure.suptitle(f"{snakemake.params.title}: covariate balance before and after matching")
    stem = Path(snakemake.output.figure[0]).with_suffix("")
    sources = sources_of(stem.name, snakemake.params.dataset_modes, outcome_source=snakemake.params.outcome_source)
    save_figure(figure, stem, data=balance, sources=sources)
