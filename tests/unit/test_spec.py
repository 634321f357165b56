"""MWASpec: one checked object for every analysis option (construction, mapping, schema, API)."""
import dataclasses
import inspect
import json
import warnings

import jsonschema
import numpy as np
import pandas as pd
import pytest

import matchedwake
from matchedwake import MWASpec, SpecError
from matchedwake.spec import window_grid
from matchedwake.windows import WindowWarning

BASE = {"t_window": (2, 4, 2), "spat_window": (1, 2, 1), "treatment": ("type", "treatment"),
        "control": ("type", "control"), "dependent": ("type", "dependent"), "match_columns": ("m",)}
ALL_NAMES = ("t_window", "spat_window", "treatment", "control", "dependent", "match_columns", "t_unit",
             "estimation", "formula", "weighted", "estimation_controls", "tcm", "delete_sutva", "alpha1",
             "alpha2", "match_default", "match_details", "drop_invalid", "vcov", "cluster_column",
             "max_windows", "calendar_match")
#: R mwa 0.5.0's defaults (docs/mwa_reference.md §1.1), then our extensions' (vcov, cluster_column, drop_invalid,
#: max_windows, calendar_match), written out by hand so that a changed default fails here.
DEFAULTS = {"t_unit": "days", "estimation": "lm", "formula": "dependent_post ~ dependent_pre + treatment",
            "weighted": False, "estimation_controls": [], "tcm": False, "delete_sutva": False, "alpha1": 0.05,
            "alpha2": 0.1, "match_default": True, "match_details": False, "drop_invalid": False,
            "vcov": "classical", "cluster_column": None, "max_windows": 2000, "calendar_match": None}


def spec(**kw):
    return MWASpec(**{**BASE, **kw})


# ------------------------------------------------------------------ fields and defaults
def test_fields_required_names_and_defaults():
    assert MWASpec.field_names() == ALL_NAMES
    assert MWASpec.required_names() == ALL_NAMES[:6]
    assert MWASpec.defaults() == DEFAULTS


def test_matched_wake_signature_mirrors_the_spec():
    """Every option is an argument of matched_wake (R's order, progress kept at its old place)."""
    params = list(inspect.signature(matchedwake.matched_wake).parameters)
    assert params == ["data", *ALL_NAMES[:18], "progress", "vcov", "cluster_column", "max_windows", "calendar_match",
                      "spec"]
    assert set(inspect.signature(matchedwake.sliding_wake).parameters) >= {"spec", "progress"}


def test_values_are_normalised():
    s = MWASpec(t_window=[np.int64(10), 60.0, 10], spat_window=np.array([0.5, 1.5, 0.5]),
                treatment=["type", np.str_("qip")], control=("type", np.int64(2)), dependent=["dep", True],
                match_columns=["a", "b"], estimation_controls=None, weighted=np.bool_(True), max_windows=np.int32(50))
    assert s.t_window == (10, 60, 10) and all(type(v) is int for v in s.t_window)
    assert s.spat_window == (0.5, 1.5, 0.5) and all(type(v) is float for v in s.spat_window)
    assert s.treatment == ("type", "qip") and type(s.treatment[1]) is str
    assert s.control == ("type", 2) and type(s.control[1]) is int
    assert s.match_columns == ("a", "b") and s.estimation_controls == ()
    assert s.weighted is True and s.max_windows == 50 and type(s.max_windows) is int
    assert hash(s) == hash(MWASpec.from_mapping(s.to_dict()))  # frozen, hashable, equal after a round trip
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.tcm = True


def test_grids_and_window_count():
    s = spec(t_window=(10, 60, 10), spat_window=(3, 15, 3))
    assert s.time_grid().tolist() == [10, 20, 30, 40, 50, 60]
    assert s.space_grid().tolist() == [3, 6, 9, 12, 15]
    assert s.n_windows == 30
    assert window_grid((0.5, 1.5, 0.1), "spat_window", temporal=False).tolist() == [
        0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
    assert window_grid((7, 7, 0), "t_window", temporal=True).tolist() == [7.0]


# ------------------------------------------------------------------ value checks
@pytest.mark.parametrize("key, value, message", [
    ("t_window", (2, 4), r"t_window: must be a \(min, max, step\) triple of numbers, got \(2, 4\)"),
    ("t_window", "2,4,2", r"t_window: must be a \(min, max, step\) triple"),
    ("t_window", (2, "4", 2), r"t_window: must be a \(min, max, step\) triple"),
    ("t_window", (2, True, 2), r"t_window: must be a \(min, max, step\) triple"),
    ("t_window", (2, np.nan, 2), "t_window: values must be finite"),
    ("t_window", (2, np.inf, 2), "t_window: values must be finite"),
    ("t_window", (1, 4, 1), "t_window: minimum time window size is 2"),
    ("t_window", (2, 6, 0), r"t_window: step is 0 but min \(2\) != max \(6\)"),
    ("t_window", (2, 7, 2), r"t_window: step 2 does not divide the range 2\.\.7"),
    ("t_window", (6, 2, 2), r"t_window: max \(2\) is smaller than min \(6\)"),
    ("t_window", (2, 4, -2), "t_window: values must not be negative"),
    ("t_window", (2.5, 4.5, 1), "t_window: temporal windows must be whole numbers of t_unit; 2.5 is not"),
    ("t_window", (2, 3, 0.5), "t_window: temporal windows must be whole numbers of t_unit; 2.5 is not"),
    ("spat_window", (0, 0, 0), r"spat_window: radii must be positive \(km\), got min 0"),
    ("spat_window", (0, 10, 2), r"spat_window: radii must be positive \(km\), got min 0"),
    ("spat_window", (-1, 2, 1), "spat_window: values must not be negative"),
    ("spat_window", (1, 2, 0.3), r"spat_window: step 0.3 does not divide the range 1\.\.2"),
    ("treatment", "type", r"treatment: must be a \(column, value\) pair"),
    ("treatment", ("type", "a", "b"), r"treatment: must be a \(column, value\) pair"),
    ("treatment", (1, "treatment"), "treatment: the first element must be a column name"),
    ("control", ("type", None), "control: the value must be a string, number or boolean, got None"),
    ("control", ("type", float("nan")), "control: the value must be a string, number or boolean"),
    ("control", ("type", "treatment"), r"control: equals treatment \('type', 'treatment'\)"),
    ("dependent", ("type", "treatment"), r"dependent: equals treatment \('type', 'treatment'\); the outcome"),
    ("dependent", ("type", "control"), r"dependent: equals control \('type', 'control'\)"),
    ("match_columns", (), "match_columns: must name at least one column"),
    ("match_columns", "m", r"match_columns: must be a list of column names, not the single string 'm' \(write \['m'\]\)"),
    ("match_columns", ("m", 3), "match_columns: column names must be non-empty strings, got 3"),
    ("match_columns", ("m", "m"), "match_columns: column 'm' is listed more than once"),
    ("match_columns", ("SO_pre",), "match_columns: column 'SO_pre' clashes with a wakes-table column"),
    ("estimation_controls", "c", "estimation_controls: must be a list of column names, not the single string"),
    ("t_unit", "day", r"t_unit: must be one of \['secs', 'mins', 'hours', 'days'\], got 'day'; did you mean 'days'\?"),
    ("estimation", "ols", r"estimation: must be one of \['lm', 'att', 'nb', 'poisson'\], got 'ols'"),
    ("formula", "dependent_post ~ treatment", "formula: must be one of"),
    ("vcov", "HC3", r"vcov: must be one of \['classical', 'HC1', 'cluster'\], got 'HC3'; did you mean 'HC1'\?"),
    ("weighted", "yes", "weighted: must be true or false, got 'yes'"),
    ("tcm", 1, "tcm: must be true or false, got 1"),
    ("alpha1", 0, "alpha1: must be a number strictly between 0 and 1, got 0"),
    ("alpha2", 1, "alpha2: must be a number strictly between 0 and 1, got 1"),
    ("alpha2", 1.5, "alpha2: must be a number strictly between 0 and 1, got 1.5"),
    ("alpha1", True, "alpha1: must be a number strictly between 0 and 1, got True"),
    ("alpha1", "0.05", "alpha1: must be a number strictly between 0 and 1, got '0.05'"),
    ("alpha1", 0.2, r"alpha1: \(0.2\) is larger than alpha2 \(0.1\)"),
    ("max_windows", 0, "max_windows: must be a whole number >= 1, got 0"),
    ("max_windows", 2.5, "max_windows: must be a whole number >= 1, got 2.5"),
    ("max_windows", True, "max_windows: must be a whole number >= 1, got True"),
])
def test_invalid_values_name_the_option(key, value, message):
    with pytest.raises(SpecError, match=message) as info:
        spec(**{key: value})
    assert info.value.key == key


@pytest.mark.parametrize("kw, message", [
    ({"vcov": "cluster"}, r"cluster_column: vcov='cluster' needs cluster_column"),
    ({"cluster_column": "district"}, r"cluster_column: is only used with vcov='cluster' \(vcov is 'classical'\)"),
    ({"vcov": "HC1", "estimation": "nb"}, r"vcov: 'HC1' is available for estimation 'lm', 'att' and 'poisson' only, not 'nb'"),
    ({"vcov": "cluster", "cluster_column": "treatment"}, "cluster_column: column 'treatment' clashes"),
    ({"vcov": "cluster", "cluster_column": ""}, "cluster_column: must be a column name, got ''"),
])
def test_vcov_and_cluster_column_rules(kw, message):
    with pytest.raises(SpecError, match=message):
        spec(**kw)
    ok = spec(vcov="cluster", cluster_column="district", estimation="att")
    assert (ok.vcov, ok.cluster_column) == ("cluster", "district")


def test_grid_size_guard_is_checked_before_any_data():
    big = {"t_window": (2, 201, 1), "spat_window": (1, 100, 1)}  # 200 x 100 windows
    with pytest.raises(SpecError, match=r"^max_windows: the grid has 20,000 windows \(200 temporal x 100 "
                                        r"spatial\), more than max_windows = 2,000; use coarser steps or "
                                        r"raise max_windows$"):
        spec(**big)
    assert spec(**big, max_windows=20_000).n_windows == 20_000
    assert spec(t_window=(2, 41, 1), spat_window=(1, 50, 1)).n_windows == 2000  # the limit itself passes
    # matched_wake refuses before it looks at the data: `data=None` would fail the data check.
    with pytest.raises(SpecError, match="the grid has 20,000 windows"):
        matchedwake.matched_wake(None, **{**BASE, **big})


# ------------------------------------------------------------------ mappings (config files)
def test_unknown_key_names_path_allowed_names_and_closest():
    with pytest.raises(SpecError) as info:
        MWASpec.from_mapping({**BASE, "weigthed": True})
    assert str(info.value) == ("mwa.weigthed: unknown key; allowed: " + ", ".join(ALL_NAMES)
                               + "; did you mean 'weighted'?")
    with pytest.raises(SpecError) as info:
        MWASpec.from_mapping({**BASE, "weigthed": True, "limt": 5}, where="robustness.variants.hc1.mwa")
    assert str(info.value) == ("robustness.variants.hc1.mwa.weigthed, robustness.variants.hc1.mwa.limt: "
                               "unknown keys; allowed: " + ", ".join(ALL_NAMES)
                               + "; did you mean 'weighted' for 'weigthed'?")
    with pytest.raises(SpecError, match=r"^progress: unknown key; allowed: t_window, .*max_windows, calendar_match$"):
        MWASpec.from_mapping({**BASE, "progress": True}, where="")


def test_mapping_errors_carry_the_path():
    with pytest.raises(SpecError, match=r"^mwa\.t_window: step 7 does not divide the range 10\.\.60$"):
        MWASpec.from_mapping({**BASE, "t_window": [10, 60, 7]})
    with pytest.raises(SpecError, match=r"^mwa: missing required key\(s\) dependent, match_columns$"):
        MWASpec.from_mapping({k: v for k, v in BASE.items() if k not in ("dependent", "match_columns")})
    with pytest.raises(SpecError, match=r"^mwa: expected a mapping of analysis options, got list$"):
        MWASpec.from_mapping([1, 2])
    with pytest.raises(SpecError, match=r"^alpha2: must be a number"):
        MWASpec.from_mapping({**BASE, "alpha2": 2}, where="")


def test_yaml_lists_become_tuples_and_to_dict_round_trips():
    full = {"t_window": [10, 60, 10], "spat_window": [2.5, 12.5, 2.5], "treatment": ["event_type", "qip"],
            "control": ["event_type", "iati"], "dependent": ["outcome_civilians", 1],
            "match_columns": ["nl", "road_dist"], "t_unit": "hours", "estimation": "att",
            "formula": "dependent_post - dependent_pre ~ treatment", "weighted": True,
            "estimation_controls": ["pop_dens"], "tcm": True, "delete_sutva": True, "alpha1": 0.01, "alpha2": 0.05,
            "match_default": False, "match_details": True, "drop_invalid": True, "vcov": "cluster",
            "cluster_column": "admin2", "max_windows": 100, "calendar_match": "quarter"}
    s = MWASpec.from_mapping(full)
    assert s.treatment == ("event_type", "qip") and s.match_columns == ("nl", "road_dist")
    dumped = json.loads(json.dumps(s.to_dict()))
    assert dumped == full  # every option, JSON-able, lists again
    assert MWASpec.from_mapping(dumped) == s


def test_replace_checks_like_a_new_spec():
    s = spec()
    r = s.replace(vcov="HC1", t_window=[4, 8, 2])
    assert (r.vcov, r.t_window, s.vcov) == ("HC1", (4, 8, 2), "classical")
    with pytest.raises(SpecError, match=r"^weigthed: unknown key; allowed: .*; did you mean 'weighted'\?$"):
        s.replace(weigthed=True)
    with pytest.raises(SpecError, match=r"^control: equals treatment"):
        s.replace(control=("type", "treatment"))


# ------------------------------------------------------------------ JSON schema
def _walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_json_schema_matches_the_dataclass():
    schema = MWASpec.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert list(schema["properties"]) == list(MWASpec.field_names())
    assert schema["required"] == list(MWASpec.required_names())
    for f in dataclasses.fields(MWASpec):
        prop = schema["properties"][f.name]
        assert len(prop["description"]) > 20, f.name
        if f.name in DEFAULTS:
            assert prop["default"] == DEFAULTS[f.name], f.name
        else:
            assert "default" not in prop, f.name
    # the defaults themselves pass the schema and build the same spec as MWASpec's own defaults
    filled = {**{k: list(v) for k, v in BASE.items()}, **{k: p["default"] for k, p in schema["properties"].items()
                                                           if "default" in p}}
    jsonschema.validate(filled, schema)
    assert MWASpec.from_mapping(filled) == spec()


def test_json_schema_omit_and_overlay():
    main = MWASpec.json_schema(omit=("dependent",))
    assert "dependent" not in main["properties"] and "dependent" not in main["required"]
    overlay = MWASpec.json_schema(overlay=True)
    assert "required" not in overlay and overlay["additionalProperties"] is False
    assert not any(isinstance(n, dict) and "default" in n for n in _walk(overlay))  # nothing to fill in
    jsonschema.validate({"vcov": "HC1"}, overlay)
    with pytest.raises(jsonschema.ValidationError, match="'weigthed' was unexpected"):
        jsonschema.validate({"weigthed": True}, overlay)
    with pytest.raises(ValueError, match=r"omit names unknown options \['dependant'\]"):
        MWASpec.json_schema(omit=("dependant",))


BAD_OVERLAYS = [{"estimation": "ols"}, {"weighted": "yes"}, {"alpha1": 0}, {"alpha2": 1}, {"t_window": [2, 4]},
                {"match_columns": []}, {"match_columns": ["a", "a"]}, {"treatment": ["type"]},
                {"treatment": [3, "x"]}, {"max_windows": 0}, {"max_windows": 2.5}, {"cluster_column": ""},
                {"t_unit": "weeks"}, {"vcov": "HC3"}, {"spat_window": [-1, 2, 1]}, {"tcm": None}]


@pytest.mark.parametrize("bad", BAD_OVERLAYS, ids=[json.dumps(b) for b in BAD_OVERLAYS])
def test_schema_and_spec_refuse_the_same_values(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**{k: list(v) for k, v in BASE.items()}, **bad}, MWASpec.json_schema())
    with pytest.raises(SpecError, match=f"^mwa.{next(iter(bad))}: "):
        MWASpec.from_mapping({**BASE, **bad})


# ------------------------------------------------------------------ through the API
def _events():
    """Two treatment and two control wakes, each with outcome events before and after (hand-made)."""
    rows = [("other", 0.0, 0.0, "2000-01-01 00:00:00", 0.0)]
    day = pd.Timestamp("2000-03-01")
    for k, (kind, m) in enumerate([("treatment", 1.0), ("control", 1.1), ("treatment", 2.0), ("control", 2.1)]):
        t0 = day + pd.Timedelta(days=20 * k)
        lat = 0.1 * k
        rows.append((kind, lat, 0.0, f"{t0:%Y-%m-%d} 12:00:00", m))
        for d in (-2, -1, 1, 2) + ((3,) if kind == "treatment" else ()):
            rows.append(("dependent", lat, 0.001, f"{t0 + pd.Timedelta(days=d):%Y-%m-%d} 12:00:00", 0.0))
    rows.append(("other", 0.0, 0.0, "2001-01-01 00:00:00", 0.0))
    return pd.DataFrame(rows, columns=["type", "lat", "lon", "timestamp", "m"])


def test_matched_wake_accepts_a_spec_and_overrides():
    data = _events()
    s = spec(t_window=(3, 3, 0), spat_window=(1, 1, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        by_kw = matchedwake.matched_wake(data, **{**BASE, "t_window": (3, 3, 0), "spat_window": (1, 1, 0)})
        by_spec = matchedwake.matched_wake(data, spec=s)
        overridden = matchedwake.matched_wake(data, spec=s, weighted=True)
    pd.testing.assert_frame_equal(by_kw.estimates, by_spec.estimates)
    assert by_spec.parameters == by_kw.parameters
    assert {k: v for k, v in by_spec.parameters.items() if k != "run"} == s.to_dict()
    assert by_spec.spec == s and overridden.spec == s.replace(weighted=True)
    assert overridden.parameters["weighted"] is True
    with pytest.raises(SpecError, match=r"^missing required option\(s\) dependent \(or pass spec=MWASpec"):
        matchedwake.matched_wake(data, **{k: v for k, v in BASE.items() if k != "dependent"})
    with pytest.raises(TypeError, match="spec must be an MWASpec, got dict"):
        matchedwake.matched_wake(data, spec=dict(BASE))


def test_treatment_equal_to_control_is_an_error_not_zero_estimates():
    data = _events()
    with pytest.raises(SpecError, match="^control: equals treatment"):
        matchedwake.matched_wake(data, **{**BASE, "control": ("type", "treatment")})
    data["kind"] = data["type"]  # another column selecting the very same rows
    with pytest.raises(ValueError, match=r"^control \('kind', 'treatment'\) selects exactly the same 2 events as "
                                         r"treatment \('type', 'treatment'\)"):
        matchedwake.matched_wake(data, **{**BASE, "control": ("kind", "treatment")})
    with pytest.raises(ValueError, match=r"^dependent \('kind', 'treatment'\) selects exactly the same 2 events"):
        matchedwake.matched_wake(data, **{**BASE, "dependent": ("kind", "treatment")})


def test_snakemake_validation_fills_the_main_block_but_not_an_overlay(tmp_path):
    """The workflow's use: snakemake's validate() fills schema defaults into the config. The main `mwa`
    block gets the engine's defaults; a variant's overlay must stay as written (else a variant would
    silently reset, e.g., `weighted: true` of the main run to the default false)."""
    import yaml
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
              "properties": {"mwa": MWASpec.json_schema(omit=("dependent",)),
                             "variants": {"type": "object", "additionalProperties": {
                                 "type": "object", "properties": {"mwa": MWASpec.json_schema(overlay=True)}}}}}
    path = tmp_path / "config.schema.yaml"
    path.write_text(yaml.safe_dump(schema))
    main = {k: list(v) for k, v in BASE.items() if k != "dependent"} | {"weighted": True}
    config = {"mwa": dict(main), "variants": {"hc1": {"mwa": {"vcov": "HC1"}}}}
    validate(config, str(path))
    assert config["variants"]["hc1"]["mwa"] == {"vcov": "HC1"}
    assert config["mwa"] == main | {k: v for k, v in DEFAULTS.items() if k != "weighted"}
    merged = MWASpec.from_mapping(config["mwa"] | config["variants"]["hc1"]["mwa"] | {"dependent": ["type", "d"]})
    assert (merged.vcov, merged.weighted) == ("HC1", True)
    config["variants"]["hc1"]["mwa"]["limt"] = 5
    with pytest.raises(WorkflowError, match="'limt' was unexpected"):
        validate(config, str(path))


def test_spec_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(SpecError("mwa.t_window", "values must be finite")))
    assert (err.key, err.problem, str(err)) == ("mwa.t_window", "values must be finite",
                                                "mwa.t_window: values must be finite")
