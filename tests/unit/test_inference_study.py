"""The study's inference layer on a finished run directory (what the workflow rules call)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sim_study import SETTINGS, study_covariates

from matchedwake.adjust import p_adjust
from matchedwake.windows import WindowWarning
from qipstudy.calendar_balance import calendar_balance_of_run, plot_calendar_balance
from qipstudy.estimate import run_mwa
from qipstudy.eventstudy import event_study_of_run
from qipstudy.placebos import placebo_draws, placebo_reference_of_run
from qipstudy.power import power_of_run
from qipstudy.robustness import (
    INFERENCE_COLUMNS,
    inference_table,
    permutation_shard,
    plot_inference_heatmaps,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    covariates = study_covariates(seed=41, calendar_selection=2.0)
    out = tmp_path_factory.mktemp("mwa") / "civilians"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        result = run_mwa(covariates, "civilians", SETTINGS)
    result.to_dir(out)
    return out, covariates, result


def test_inference_table_is_robust_holm_over_tested_windows(run_dir):
    path, _, result = run_dir
    thin = np.minimum(result.matching["treatment_post"], result.matching["control_post"])
    cut = int(np.median(thin)) + 1  # some windows above, some below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        draws = [permutation_shard(path, shard=k, n_shards=2, n_permutations=10, seed=4,
                                   min_matched=cut) for k in range(2)]
        table = inference_table(path, draws, min_matched=cut)
    assert list(table.columns) == INFERENCE_COLUMNS
    assert (table["vcov"] == "HC1").all()
    est = pd.read_csv(path / "estimates.csv")
    np.testing.assert_allclose(table["pvalue_classical"], est["pvalue"], rtol=1e-6)  # R-formatted csv
    np.testing.assert_allclose(table["estimate"], est["estimate"], rtol=1e-6)
    supported = (np.minimum(table["matched_treated"], table["matched_control"]) >= cut).to_numpy()
    np.testing.assert_array_equal(table["tested"].to_numpy(), supported & est["estimate"].notna().to_numpy())
    assert 0 < table["tested"].sum() < len(table)
    assert table.loc[~table["tested"], ["pvalue", "pvalue_holm", "pvalue_wy_stepdown"]].isna().all().all()
    np.testing.assert_allclose(table["pvalue_holm"], p_adjust(table["pvalue"].to_numpy(), "holm"), equal_nan=True)
    assert (table.loc[table["tested"], "n_permutations"] <= 10).all()
    # robust p-values differ from the classical ones the paper reads
    t = table["tested"]
    assert not np.allclose(table.loc[t, "pvalue"], table.loc[t, "pvalue_classical"])
    fig = plot_inference_heatmaps(table, t_unit="days", alpha=0.05, title="t")
    assert [a.get_title().split("\n")[0] for a in fig.axes[::2]][:1] == ["p ≤ 0.05, uncorrected, classical (paper)"]


def test_run_level_helpers_agree_with_their_tables(run_dir, tmp_path):
    path, covariates, result = run_dir
    power = power_of_run(path)
    assert power["matched_treated"].tolist() == result.matching["treatment_post"].tolist()
    es, tests = event_study_of_run(path)
    assert es["ring"].nunique() == 3 and tests["rings"].iloc[-1] == "all rings"
    bal = calendar_balance_of_run(covariates, path)
    assert len(bal) == len(result.estimates)
    # the planted calendar selection shows: treated start months after the controls
    assert (bal["diff_days_pre"] > 60).all()
    plot_calendar_balance(bal, title="t").savefig(tmp_path / "cal.png")
    draws = placebo_draws(covariates, "civilians", SETTINGS, draws=range(3), seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        observed, windows, grid = placebo_reference_of_run(path, draws)
    assert len(windows) == len(result.estimates) and grid["draws"].max() == 3
    with pytest.raises(ValueError, match="does not belong"):
        calendar_balance_of_run(covariates.iloc[::-1].reset_index(drop=True), path)


def test_calendar_matched_run_round_trips_and_permutes_within_quarters(tmp_path):
    from matchedwake.inference import _prepare
    from qipstudy.robustness import inference_options, load_run

    covariates = study_covariates(seed=42, calendar_selection=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        run_mwa(covariates, "civilians", {**SETTINGS, "calendar_match": "quarter"}).to_dir(tmp_path / "q")
    wakes, parameters = load_run(tmp_path / "q")
    assert parameters["calendar_match"] == "quarter" and "calendar_bin" in parameters["match_columns"]
    assert isinstance(wakes["calendar_bin"].dtype, pd.CategoricalDtype)
    o = inference_options(parameters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        setup = _prepare(wakes, o["match_columns"], o["estimation"], o["formula"], o["weighted"],
                         o["estimation_controls"], o["tcm"], o["match_default"], "HC1", None,
                         "single_assignment", (), 0)
    quarter = wakes.groupby("eventID")["calendar_bin"].first().astype(str).to_numpy()
    # with assignment_bins = 0 the only assignment strata are the quarters: labels move only
    # between projects that started in the same quarter
    per_stratum = pd.Series(quarter).groupby(setup.projects.strata).nunique()
    assert (per_stratum == 1).all() and per_stratum.size == len(set(quarter))
