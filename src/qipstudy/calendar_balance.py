"""Calendar-time balance of a finished run: do treated and control projects start at the same time?

If QIPs start later than the other aid projects while violence rises, the MWA's post-minus-pre
comparison picks up the trend (docs/inference.md, "Calendar time"). This module reads a run of
`estimate_mwa` (its wakes and parameters) and the covariates table it was estimated on, and
tabulates per window the treated and control start dates before and after matching
(:func:`matchedwake.calendar_time.calendar_balance`); the figure shows the mean difference in
days and the Kolmogorov–Smirnov distance per window, before and after matching. The remedy is
the `calendar_match` option (e.g. "quarter": exact matching on the year-quarter of the start).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matchedwake.calendar_time import calendar_balance, wake_times  # noqa: E402
from qipstudy.robustness import inference_options, load_run  # noqa: E402

__all__ = ["calendar_balance_of_run", "plot_calendar_balance"]


def calendar_balance_of_run(covariates: pd.DataFrame, mwa_dir: Path) -> pd.DataFrame:
    """Per window: start-date balance of treated vs control wakes (before/after matching) of the
    run in ``mwa_dir``, whose input was ``covariates`` (the table `run_mwa` was given)."""
    wakes, parameters = load_run(mwa_dir)
    treatment = tuple(parameters["treatment"])
    times = wake_times(covariates.reset_index(drop=True), wakes, treatment)
    options = inference_options(parameters)
    table = calendar_balance(wakes, times, match_columns=options["match_columns"],
                             tcm=options.get("tcm", False),
                             estimation_controls=options["estimation_controls"],
                             match_default=options.get("match_default", True))
    table.attrs["calendar_match"] = parameters.get("calendar_match")
    return table


def plot_calendar_balance(table: pd.DataFrame, *, t_unit: str = "days", title: str = "") -> plt.Figure:
    """Two panels over the windows (t-major order): treated − control mean start date in days,
    and the KS distance of the start dates, each before (open) and after (filled) matching."""
    labels = [f"{t:g}/{s:g}" for t, s in zip(table["t_window"], table["spat_window"])]
    x = np.arange(len(table))
    fig, axes = plt.subplots(2, 1, figsize=(max(7.0, 0.28 * len(table) + 3), 6.0), sharex=True,
                             layout="constrained")
    for ax, stem, ylabel in ((axes[0], "diff_days", "treated − control mean start (days)"),
                             (axes[1], "ks", "KS distance of start dates")):
        ax.plot(x, table[f"{stem}_pre"], "o", mfc="white", mec="#555555", label="all wakes")
        ax.plot(x, table[f"{stem}_post"], "o", color="#2c6fbb", label="matched (CEM weights)")
        ax.axhline(0, color="black", linewidth=0.7)
        ax.set_ylabel(ylabel)
    axes[0].legend(frameon=False, fontsize=8)
    axes[1].set_xticks(x, labels, rotation=90, fontsize=7)
    axes[1].set_xlabel(f"window (t {t_unit} / s km)")
    match = table.attrs.get("calendar_match")
    note = f"matched on calendar {match}" if match else "no matching on calendar time"
    fig.suptitle((f"{title}: " if title else "") + f"start-date balance per window ({note})")
    return fig
