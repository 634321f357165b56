"""Checks of the event table against a spec (REFERENCE §1.3 and §5): each problem is a clear ValueError.

Option checks without data are in test_spec.py."""
import numpy as np
import pandas as pd
import pytest

import matchedwake
from matchedwake import MWASpec
from matchedwake.validation import type_mask, validate_inputs
from matchedwake.wakes import sliding_wake

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
