"""Checks of the event table against a spec (docs/mwa_reference.md §1.3 and §5): each problem is a clear ValueError.

Option checks without data are in test_spec.py."""
import warnings

import numpy as np
import pandas as pd
import pytest

import matchedwake
from matchedwake import MWASpec
from matchedwake.validation import type_mask, validate_inputs
from matchedwake.wakes import sliding_wake
from matchedwake.windows import WindowWarning

TR, CO, DEP = ("type", "treatment"), ("type", "control"), ("type", "dependent")


def events():
    return pd.DataFrame({
        "type": ["other", "dependent", "treatment", "control", "dependent", "other"],
        "lat": [0.0, 0.0, 0.0, 0.01, 0.0, 0.0],
        "lon": [0.0, 0.0, 0.0, 0.0, 0.01, 0.0],
        "timestamp": ["2000-01-01 00:00:00", "2000-02-09 00:00:00", "2000-02-10 00:00:00",
                      "2000-02-10 12:00:00", "2000-02-11 00:00:00", "2000-12-31 00:00:00"],
        "m": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5],
        "code": [1, 2, 3, 4, 5, 6],
    })


def check(data=None, t=(2, 4, 2), s=(1, 2, 1), tr=TR, co=CO, dep=DEP, mc=("m",), **kw):
    spec = MWASpec(t_window=t, spat_window=s, treatment=tr, control=co, dependent=dep, match_columns=mc, **kw)
    return validate_inputs(events() if data is None else data, spec)


def test_valid_input_passes_and_builds_grids():
    v = check()
    assert v.t_values.tolist() == [2, 4] and v.s_values.tolist() == [1.0, 2.0]
    assert v.is_treatment.tolist() == [False, False, True, False, False, False]
    assert v.is_dependent.sum() == 2 and v.covariates == ["m"]


def test_data_must_be_a_dataframe():
    with pytest.raises(ValueError, match="data must be a pandas DataFrame, got dict"):
        check(data=events().to_dict())


def test_missing_required_columns():
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['lat'\]"):
        check(data=events().drop(columns="lat"))


def test_duplicated_column_names():
    df = events()
    df.columns = ["type", "lat", "lon", "timestamp", "m", "m"]
    with pytest.raises(ValueError, match=r"duplicated column names \['m'\]"):
        check(data=df)


@pytest.mark.parametrize("pair", [("type",), "type", ("type", "a", "b"), (1, "treatment")])
def test_type_arguments_must_be_column_value_pairs(pair):
    with pytest.raises(ValueError, match=r"treatment: (must be a \(column, value\) pair|the first element must "
                                         r"be a column name)"):
        check(tr=pair)


def test_type_column_missing_and_value_not_occurring():
    with pytest.raises(ValueError, match="control: column 'kind' is not in data"):
        check(co=("kind", "control"))
    with pytest.raises(ValueError, match="dependent: value 'protest' does not occur in column "
                                         "'type'"):
        check(dep=("type", "protest"))


def test_na_in_type_column_is_not_a_match_and_strings_match_numbers():
    col = pd.Series([1.0, np.nan, 10.0])
    assert type_mask(col, "1").tolist() == [True, False, False]
    assert type_mask(col, 10).tolist() == [False, False, True]
    assert type_mask(col, "x").tolist() == [False, False, False]
    text = pd.Series(["a", None, "b"], dtype="string")
    assert type_mask(text, "a").tolist() == [True, False, False]
    cat = pd.Series(pd.Categorical(["a", None, "a"]))
    assert type_mask(cat, "a").tolist() == [True, False, True]


def test_match_columns_rules():
    with pytest.raises(ValueError, match="match_columns: must name at least one column"):
        check(mc=[])
    with pytest.raises(ValueError, match="not the single string 'm'"):
        check(mc="m")
    with pytest.raises(ValueError, match="match_columns: column 'nope' is not in data"):
        check(mc=["nope"])
    df = events()
    df["txt"] = ["a", "b", "c", "d", "e", "f"]
    with pytest.raises(ValueError, match="match_columns: column 'txt' has dtype"):
        check(data=df, mc=["txt"])
    df["flag"] = [True, False] * 3
    with pytest.raises(ValueError, match="match_columns: column 'flag' has dtype bool"):
        check(data=df, mc=["flag"])
    df = events().rename(columns={"m": "treatment"})
    with pytest.raises(ValueError, match="clashes with a wakes-table column"):
        check(data=df, mc=["treatment"])
    df = events()
    df["region"] = pd.Categorical(["n", "s", "n", "s", "n", "s"])
    assert check(data=df, mc=["m", "region", "code"]).covariates == ["m", "region", "code"]
    with pytest.raises(ValueError, match="match_columns: column 'm' is listed more than once"):
        check(data=df, mc=["m", "region", "m"])


def test_estimation_controls_must_be_numeric_columns():
    df = events()
    df["txt"] = list("abcdef")
    with pytest.raises(ValueError, match="estimation_controls: column 'txt' has dtype .*numeric"):
        check(data=df, estimation_controls=["txt"])
    with pytest.raises(ValueError, match="estimation_controls: column 'zz' is not in data"):
        check(estimation_controls=["zz"])
    assert check(estimation_controls=["code", "m"]).covariates == ["m", "code"]


def test_unparseable_timestamp_names_row_and_value():
    df = events()
    df.loc[3, "timestamp"] = "2000-02-30 00:00:00"
    with pytest.raises(ValueError, match=r"timestamp: row 3 has value '2000-02-30 00:00:00'"):
        check(data=df)
    df.loc[3, "timestamp"] = "10/02/2000"
    with pytest.raises(ValueError, match=r"timestamp: row 3 has value '10/02/2000'; expected"):
        check(data=df)
    df.loc[3, "timestamp"] = None
    with pytest.raises(ValueError, match="timestamp: row 3 is missing"):
        check(data=df)


def test_mixed_timestamp_formats_are_refused():
    df = events()
    df.loc[2, "timestamp"] = "2000-02-10"
    with pytest.raises(ValueError, match=r"mixed formats, date-only \(row 2: '2000-02-10'\) and "
                                         r"date-time \(row 0"):
        check(data=df)


def test_date_only_strings_and_datetime_columns_are_accepted():
    df = events()
    df["timestamp"] = df["timestamp"].str.slice(0, 10)
    assert check(data=df).time_ms[1] == 946684800000 + 39 * 86_400_000
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    assert check(data=df).time_ms[1] == 946684800000 + 39 * 86_400_000


def test_invalid_coordinates_error_lists_rows():
    df = events()
    df.loc[1, "lat"] = np.nan
    df.loc[4, "lon"] = 190.0
    with pytest.raises(ValueError, match=r"lat missing or outside \[-90, 90\] at row 1: nan; "
                                         r"lon missing or outside \[-180, 180\] at row 4: 190.0"):
        check(data=df)


def test_drop_invalid_drops_rows_with_a_warning_and_renumbers_events():
    df = events()
    df.loc[1, "lat"] = 95.0
    with pytest.warns(UserWarning, match=r"dropping 1 row\(s\) with invalid coordinates"):
        v = check(data=df, drop_invalid=True)
    assert v.data.index.tolist() == [0, 2, 3, 4, 5]
    with pytest.warns(UserWarning):
        wakes, _ = sliding_wake(df, (2, 2, 0), (5, 5, 0), TR, CO, DEP, ["m"], drop_invalid=True)
    assert wakes["eventID"].tolist() == [2, 3]  # treatment is now the 2nd event in time


def test_no_complete_wake_is_an_error_in_matched_wake():
    df = events().iloc[1:5]  # no sentinels: nothing is more than t days before the wakes
    with pytest.raises(ValueError, match="no complete wake in any window"):
        matchedwake.matched_wake(df, (2, 2, 0), (5, 5, 0), TR, CO, DEP, ["m"])


@pytest.mark.filterwarnings("ignore:.*no matched strata")
def test_categorical_match_column_becomes_a_factor_of_the_values_present():
    # R converts the wake rows' level strings back with factor(): levels = sorted values present.
    df = events()
    df["region"] = pd.Categorical(["z", "b", "z", "a", "b", "q"], categories=["z", "q", "b", "a"])
    wakes, _ = sliding_wake(df, (2, 2, 0), (5, 5, 0), TR, CO, DEP, ["region"])
    assert wakes["eventID"].tolist() == [3, 4]
    assert wakes["region"].tolist() == ["z", "a"]
    assert list(wakes["region"].cat.categories) == ["a", "z"]
    res = matchedwake.matched_wake(df, (2, 2, 0), (5, 5, 0), TR, CO, DEP, ["region"])
    # Exact matching on the category: 'z' and 'a' fall in different strata, so nothing matches.
    assert res.matching[["control_pre", "treatment_pre", "control_post",
                         "treatment_post"]].values.tolist() == [[1, 1, 0, 0]]


def test_progress_reports_chunks_on_stderr(capsys):
    sliding_wake(events(), (2, 2, 0), (5, 5, 0), TR, CO, DEP, ["m"], progress=True)
    err = capsys.readouterr().err
    assert "matchedwake: counting wakes 1-2 of 2 (chunk 1/1" in err


# ------------------------------------------------------------------ covariates of the wake events
def test_missing_or_infinite_covariate_of_a_wake_event_names_row_and_column():
    df = events()
    df.loc[2, "m"] = np.nan  # the treatment event
    with pytest.raises(ValueError) as info:
        check(data=df)
    assert str(info.value) == ("1 treatment/control event(s) have missing or infinite covariate values: "
                               "column 'm' at row 2: missing (fill them, or set drop_invalid to leave these "
                               "events out of the wakes)")
    df = events()
    df["ctl"] = [0.0, 0.0, 0.0, np.inf, 0.0, 0.0]  # the control event, in an estimation control
    df.loc[2, "m"] = -np.inf
    with pytest.raises(ValueError, match=r"^2 treatment/control event\(s\) have missing or infinite covariate "
                                         r"values: column 'm' at row 2: -inf; column 'ctl' at row 3: inf \("):
        check(data=df, estimation_controls=["ctl"])


def test_missing_covariate_of_other_events_is_fine():
    df = events()
    df.loc[[0, 1, 4, 5], "m"] = np.nan  # sentinels and outcome events: their covariates are never read
    v = check(data=df)
    assert v.is_treatment.sum() == 1 and v.is_control.sum() == 1 and v.n_dropped_covariates == 0


def test_all_missing_covariate_is_an_error_even_with_drop_invalid():
    df = events()
    df["m"] = np.nan
    for drop in (False, True):
        with pytest.raises(ValueError, match=r"^covariate 'm': every one of the 2 treatment/control events has a "
                                             r"missing or infinite value; fill the column or leave it out$"):
            check(data=df, drop_invalid=drop)


def test_missing_category_is_refused():
    df = events()
    df["region"] = pd.Categorical(["a", "b", None, "a", "b", "a"])
    with pytest.raises(ValueError, match="column 'region' at row 2: missing"):
        check(data=df, mc=["region"])


def world(n_pairs: int = 3, pre: bool = True) -> pd.DataFrame:
    """Alternating treatment and control wakes 20 days apart (wake k at 0.05·k degrees north), between
    two sentinel events. Wake k has 1 + (k // 2) % 2 outcome events 1-2 days before it (none if not
    ``pre``) and 2 + treatment + (k % 3 == 0) outcome events 1-4 days after it."""
    rows = [("other", 0.0, 0.0, "2000-01-01 00:00:00", 0.0)]
    for k in range(2 * n_pairs):
        treated = k % 2 == 0
        t0 = pd.Timestamp("2000-03-01 12:00:00") + pd.Timedelta(days=20 * k)
        lat = 0.05 * k
        rows.append(("treatment" if treated else "control", lat, 0.0, f"{t0:%Y-%m-%d %H:%M:%S}", 1.0 + k % 3))
        before = [-1, -2][:1 + (k // 2) % 2] if pre else []
        after = list(range(1, 3 + treated + (k % 3 == 0)))
        for d in sorted(before) + after:
            rows.append(("dependent", lat, 0.001, f"{t0 + pd.Timedelta(days=d):%Y-%m-%d %H:%M:%S}", 9.0))
    rows.append(("other", 0.0, 0.0, "2001-06-01 00:00:00", 0.0))
    return pd.DataFrame(rows, columns=["type", "lat", "lon", "timestamp", "m"])


@pytest.mark.filterwarnings("ignore::matchedwake.windows.WindowWarning")
def test_drop_invalid_leaves_the_event_out_of_the_wakes_only():
    df = world()
    first_treatment = df.index[df["type"] == "treatment"][0]
    df.loc[first_treatment, "m"] = np.nan
    args = ((3, 3, 0), (1, 1, 0), TR, CO, DEP, ["m"])
    with pytest.raises(ValueError, match="column 'm' at row 1: missing"):
        matchedwake.matched_wake(df, *args)
    with pytest.warns(UserWarning, match=r"^leaving out of the wakes: 1 treatment/control event\(s\) have "
                                         r"missing or infinite covariate values: column 'm' at row 1: missing$"):
        res = matchedwake.matched_wake(df, *args, drop_invalid=True)
    # Same as relabelling the event: it stays in the data (eventIDs, sort order), but is no wake.
    relabelled = df.assign(type=df["type"].where(df.index != first_treatment, "other"))
    ref = matchedwake.matched_wake(relabelled, *args)
    pd.testing.assert_frame_equal(res.wakes, ref.wakes)
    pd.testing.assert_frame_equal(res.estimates, ref.estimates)
    # sorted events: the sentinel, then per wake k its 1, 1, 2, 2, 1, 1 outcome events before it, the wake
    # and its 4, 2, 3, 3, 3, 2 after it: the wakes are events 3 (left out), 9, 14, 20, 25, 30
    assert res.wakes["eventID"].tolist() == [9, 14, 20, 25, 30]
    run = res.parameters["run"]
    assert (run["n_dropped_covariates"], run["n_dropped_coordinates"]) == (1, 0)
    assert (run["n_treatment_events"], run["n_control_events"], run["n_events"]) == (2, 3, 33)


def test_infinite_covariate_is_a_clear_error_not_an_overflow():
    df = world()
    df.loc[df.index[df["type"] == "control"][1], "m"] = np.inf
    with pytest.raises(ValueError, match=r"column 'm' at row 17: inf"):
        matchedwake.matched_wake(df, (3, 3, 0), (1, 1, 0), TR, CO, DEP, ["m"])


def test_one_cluster_among_the_wakes_is_refused_before_counting():
    df = world()
    df["district"] = np.where(df["type"] == "dependent", np.nan, 4.0)  # outcome events need no cluster
    with pytest.raises(ValueError, match=r"^cluster_column: column 'district' has 1 distinct value\(s\) among "
                                         r"the treatment/control events; cluster-robust standard errors need "
                                         r"at least two clusters"):
        matchedwake.matched_wake(df, (3, 3, 0), (1, 1, 0), TR, CO, DEP, ["m"], vcov="cluster",
                                 cluster_column="district")
    df.loc[df["type"] == "control", "district"] = 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = matchedwake.matched_wake(df, (3, 3, 0), (1, 1, 0), TR, CO, DEP, ["m"], vcov="cluster",
                                       cluster_column="district")
    assert res.parameters["vcov"] == "cluster"


# ------------------------------------------------------------------ NA windows and their reasons
def test_all_na_grid_warns_with_the_reason_and_likely_cause():
    df = world(pre=False).assign(m=1.0)  # no outcome event before any wake: dependent_pre is always 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = matchedwake.matched_wake(df, (3, 5, 2), (1, 2, 1), TR, CO, DEP, ["m"])
    summary = [str(w.message) for w in caught if issubclass(w.category, WindowWarning)]
    assert summary == [(
        "all 4 windows have NA estimates, so the analysis estimates nothing; coefficients aliased: 4 window(s) "
        "(t, s) = (3, 1), (3, 2), (5, 1), (5, 2). Likely cause: the model is not identified in any window, "
        "typically because the outcome count before the wakes (dependent_pre) is constant, e.g. all 0: check "
        "the dependent events' dates and places against the wakes'")]
    assert res.estimates["na_reason"].tolist() == ["coefficients aliased"] * 4
    assert res.parameters["run"]["na_reasons"] == {"coefficients aliased": 4}
    assert res.parameters["run"]["n_windows_na"] == res.parameters["run"]["n_windows"] == 4


def test_estimated_windows_have_no_reason_and_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean run warns about nothing
        res = matchedwake.matched_wake(world(n_pairs=6), (3, 3, 0), (1, 1, 0), TR, CO, DEP, ["m"], match_default=False)
    assert res.estimates["estimate"].notna().all() and res.estimates["na_reason"].isna().all()
    assert res.parameters["run"]["na_reasons"] == {} and res.parameters["run"]["n_windows_na"] == 0
