"""The closed, self-documenting configuration (qipstudy.config): every key described, typos refused."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from matchedwake import MWASpec
from qipstudy.config import (
    ConfigError,
    check_config,
    configuration_markdown,
    country_schema,
    load_countries,
    study_schema,
)
from qipstudy.country import CountryFileError, load_country_file
from qipstudy.plan import deep_merge

REPO = Path(__file__).resolve().parents[2]


def _raw(name="config.yaml"):
    with open(REPO / "config" / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _walk(schema, root, path=""):
    """Every (path, property schema) of a schema, following $refs once; a property whose parent's
    default object gives its value carries that value as its default."""
    if not isinstance(schema, dict):
        return
    parent_default = schema.get("default") if isinstance(schema.get("default"), dict) else None
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].removeprefix("#/$defs/")]
    for key, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict) and parent_default and "default" not in sub:
            # given by the parent's default object (or not applicable there: absent from it)
            sub = {**sub, "default": parent_default.get(key)}
        yield f"{path}.{key}" if path else key, sub
        yield from _walk(sub, root, f"{path}.{key}" if path else key)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _walk(extra, root, f"{path}.<name>")
    for part in schema.get("allOf", []):
        yield from _walk(part, root, path)
    items = schema.get("items")
    if isinstance(items, dict):
        yield from _walk(items, root, f"{path}[]")


def _resolved(sub, root):
    return {**root["$defs"][sub["$ref"].removeprefix("#/$defs/")], **sub} if "$ref" in sub else sub


@pytest.mark.parametrize("which", ["study", "country"])
def test_every_key_has_a_description_and_optional_keys_a_default(which):
    schema = study_schema() if which == "study" else country_schema()
    undocumented, no_default = [], []
    for path, sub in _walk(schema, schema):
        if sub in (True, {}):  # a property re-declared only to close an allOf branch
            continue
        resolved = _resolved(sub, schema)
        if not resolved.get("description"):
            undocumented.append(path)
    assert not undocumented, f"keys without a description: {undocumented}"
    # study config: every key has a default (taken from config/config.yaml) unless it is an overlay or a label
    if which == "study":
        for path, sub in _walk(schema, schema):
            if sub in (True, {}):
                continue
            if ".variants." in path or ".<name>." in path or path.endswith("<name>") or "[]" in path:
                continue
            if "default" not in _resolved(sub, schema) and not path.startswith("mwa."):
                no_default.append(path)
        assert not no_default, f"keys without a default: {no_default}"


def _defaults(schema, sub, root):
    out = {}
    sub = _resolved(sub, root) if "$ref" in sub else sub
    for key, prop in (sub.get("properties") or {}).items():
        prop_resolved = _resolved(prop, root)
        if "default" in prop_resolved and not prop_resolved.get("properties"):
            out[key] = prop_resolved["default"]
        elif prop_resolved.get("properties"):
            out[key] = _defaults(schema, prop_resolved, root)
    return out


def test_schema_defaults_are_the_offline_default_config():
    """PyPSA-Eur's habit: the schema's defaults and config/config.yaml agree key by key.

    Not for `mwa`: its defaults are the engine's (R's), and config.yaml states the paper's settings.
    """
    schema = study_schema()
    raw = _raw()
    defaults = _defaults(schema, schema, schema)

    def compare(default, value, path):
        if isinstance(default, dict) and isinstance(value, dict):
            for key in default:
                if key in value:
                    compare(default[key], value[key], f"{path}.{key}")
            return
        assert default == value, f"{path}: schema default {default!r} != config.yaml {value!r}"

    for key in raw:
        if key in defaults and key not in ("robustness", "mwa"):
            compare(defaults[key], raw[key], key)
    compare(defaults["robustness"]["permutations"], raw["robustness"]["permutations"], "robustness.permutations")


def test_mwa_block_is_generated_from_the_engine_spec():
    schema = study_schema()
    assert schema["$defs"]["mwa"] == MWASpec.json_schema(omit=("dependent",))
    assert schema["$defs"]["mwa_overlay"] == MWASpec.json_schema(omit=("dependent",), overlay=True)
    fields = set(MWASpec.field_names()) - {"dependent"}
    assert set(schema["$defs"]["mwa"]["properties"]) == fields
    variant = schema["properties"]["robustness"]["properties"]["variants"]["additionalProperties"]
    assert variant["properties"]["mwa"]["$ref"] == "#/$defs/mwa_overlay"
    assert schema["properties"]["mwa"]["$ref"] == "#/$defs/mwa"


@pytest.mark.parametrize("overlay, path, suggestion", [
    ({"mwa": {"weigthed": True}}, "config.mwa.weigthed", "weighted"),
    ({"robustness": {"variants": {"hc1": {"mwa": {"vcv": "HC1"}}}}}, "config.robustness.variants.hc1.mwa.vcv", "vcov"),
    ({"robustness": {"variants": {"hc1": {"covariate": {}}}}}, "config.robustness.variants.hc1.covariate",
     "covariates"),
    ({"robustness": {"permutaions": {"n": 3}}}, "config.robustness.permutaions", "permutations"),
    ({"synthetic": {"planted_efect": {}}}, "config.synthetic.planted_efect", "planted_effect"),
    ({"datasets": {"acled": {"mod": "download"}}}, "config.datasets.acled.mod", "mode"),
    ({"datasets": {"acled": {"options": {"limt": 5000}}}}, "config.datasets.acled.options.limt", "limit"),
    ({"datasets": {"iati": {"options": {"recipient_contry": "ML"}}}}, "config.datasets.iati.options.recipient_contry",
     "recipient_country"),
    ({"covariates": {"nightlights_band": "stable"}}, "config.covariates.nightlights_band", "stable_lights"),
    ({"outcomes": {"civilians": {"acled_event_type": []}}}, "config.outcomes.civilians.acled_event_type",
     "acled_event_types"),
])
def test_a_misspelled_key_fails_at_load_with_its_path_and_the_allowed_names(overlay, path, suggestion):
    with pytest.raises(ConfigError) as error:
        check_config(deep_merge(_raw(), overlay), project_root=REPO)
    message = str(error.value)
    assert path in message and repr(suggestion) in message
    assert len(message.splitlines()) <= 3, message


def test_values_are_checked_at_load_not_in_a_job():
    bad = {
        "mwa": {"t_window": [10, 55, 10]},
        "robustness": {"outcome": "civilans", "variants": {"neg": {"mwa": {"spat_window": [-3, 15, 3]}}}},
    }
    with pytest.raises(ConfigError) as error:
        check_config(deep_merge(_raw(), bad), project_root=REPO)
    message = str(error.value)
    assert "config.mwa.t_window" in message and "does not divide" in message
    assert "config.robustness.outcome: 'civilans' is not a configured outcome" in message
    assert "did you mean 'civilians'" in message
    assert "config.robustness.variants.neg.mwa.spat_window[0]: -3 is less than the minimum of 0" in message


def test_a_user_dataset_without_its_file_is_an_error_before_anything_runs(tmp_path):
    unset = {"datasets": {"qip": {"mode": "user", "version": "user"}}}
    with pytest.raises(ConfigError, match="datasets.qip: mode is 'user' but user_file is not set"):
        check_config(deep_merge(_raw(), unset), project_root=tmp_path)
    missing = {"datasets": {"qip": {"mode": "user", "version": "user", "user_file": "resources/user/{country}_qips.csv"}}}
    with pytest.raises(ConfigError, match=r"datasets.qip.user_file: .*MLI_qips.csv does not exist"):
        check_config(deep_merge(_raw(), missing), project_root=tmp_path)
    (tmp_path / "resources" / "user").mkdir(parents=True)
    (tmp_path / "resources" / "user" / "MLI_qips.csv").write_text("x\n")
    assert check_config(deep_merge(_raw(), missing), project_root=tmp_path)["datasets"]["qip"]["mode"] == "user"
    outside = tmp_path.parent / "elsewhere_qips.csv"
    outside.write_text("x\n")
    absolute = {"datasets": {"qip": {"mode": "user", "version": "user", "user_file": str(outside)}}}
    check_config(deep_merge(_raw(), absolute), project_root=tmp_path)


def test_defaults_fill_in_what_an_overlay_leaves_out():
    raw = _raw()
    del raw["datasets"]["worldpop"]
    raw["robustness"] = {"enabled": False}
    checked = check_config(raw, project_root=REPO)
    assert checked["datasets"]["worldpop"] == {"mode": "synthetic", "version": "synthetic", "user_file": None,
                                               "options": {}}
    assert checked["robustness"]["permutations"] == {"n": 199, "shards": 4, "seed": 20220629,
                                                     "scheme": "window_strata", "assignment_strata": [],
                                                     "assignment_bins": 6}
    assert checked["mwa"]["vcov"] == "classical" and checked["mwa"]["max_windows"] == 2000


def test_country_file_errors_are_one_line_naming_the_file_and_key(tmp_path):
    country = yaml.safe_load((REPO / "config" / "countries" / "MLI.yaml").read_text(encoding="utf-8"))
    bad = copy.deepcopy(country)
    bad["boundaries"]["admin1_feild"] = "ADM1_FR"
    path = tmp_path / "MLI.yaml"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CountryFileError) as error:
        load_country_file(path)
    message = str(error.value)
    assert message.count("\n") == 0, message
    assert f"{path}: key 'boundaries.admin1_feild': unknown key; allowed: " in message
    assert "admin2_field" in message and message.endswith("did you mean 'admin1_field'?")
    bad = copy.deepcopy(country)
    bad["bases"][0]["sorce"] = "x"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CountryFileError, match=r"key 'bases\[0\]\.sorce': unknown key; allowed: name, lat, lon, "
                                               r"admin3, source; did you mean 'source'"):
        load_country_file(path)


def test_a_study_region_typo_fails_at_load_with_a_suggestion(tmp_path):
    country = yaml.safe_load((REPO / "config" / "countries" / "MLI.yaml").read_text(encoding="utf-8"))
    country["study_regions"] = ["Gao", "Mpti"]
    (tmp_path / "MLI.yaml").write_text(yaml.safe_dump(country, allow_unicode=True), encoding="utf-8")
    config = check_config(_raw(), project_root=REPO)
    with pytest.raises(ConfigError, match=r"study_regions\[1\]'?: 'Mpti' is not a region .*'Mopti'"):
        load_countries(config, tmp_path, project_root=tmp_path)
    with pytest.raises(ConfigError, match=r"config.countries: 'MLX' has no country file .*did you mean 'MLI'"):
        load_countries({**config, "countries": ["MLX"]}, REPO / "config" / "countries", project_root=REPO)


def test_every_shipped_config_and_country_file_loads():
    for overlay in ("sauter2022.yaml", "continent.yaml"):
        merged = deep_merge(_raw(), _raw(overlay))
        # the real reproduction needs user files to exist only in mode user; here only the schema matters
        for settings in merged["datasets"].values():
            if settings.get("mode") == "user":
                settings["mode"], settings["version"] = "synthetic", "synthetic"
        check_config(merged, project_root=REPO)
    for path in sorted((REPO / "config" / "countries").glob("*.yaml")):
        load_country_file(path)


def test_configuration_docs_are_current():
    """docs/configuration.md is generated from the schemas (python -m qipstudy.config docs)."""
    current = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert current == configuration_markdown(), "regenerate: python -m qipstudy.config docs > docs/configuration.md"


def test_an_existing_download_snapshot_is_never_reused_for_other_settings(tmp_path):
    from qipstudy.config import check_snapshots
    from qipstudy.plan import country_view
    from qipstudy.retrieve import DATASETS, snapshot_request
    from qipstudy.retrieve.provenance import write_provenance

    overlay = {"datasets": {"ucdp": {"mode": "download", "version": "25.1", "options": {}}}}
    config = check_config(deep_merge(_raw(), overlay), project_root=REPO)
    countries = load_countries(config, REPO / "config" / "countries", project_root=REPO)
    snapshot = tmp_path / "resources" / "automatic" / "MLI" / "ucdp" / "25.1"
    snapshot.mkdir(parents=True)
    (snapshot / "ged.csv").write_text("id\n1\n", encoding="utf-8")
    view = country_view(countries["MLI"], DATASETS["ucdp"].country_keys)
    write_provenance(snapshot, dataset="ucdp", country="MLI", version="25.1", mode="download",
                     files=[snapshot / "ged.csv"], request=snapshot_request("download", {}, view))
    check_snapshots(config, countries, project_root=tmp_path)  # same settings: fine
    edited = copy.deepcopy(countries)
    edited["MLI"]["sources"]["ucdp_country_id"] = 433
    with pytest.raises(ConfigError, match=r"datasets.ucdp.version: the snapshot .* does not fit the config: its "
                                          r"country differ.*set a new version"):
        check_snapshots(config, edited, project_root=tmp_path)
    # an edit the client does not read is no reason to download again
    edited = copy.deepcopy(countries)
    edited["MLI"]["bases"][0]["source"] = "another note"
    check_snapshots(config, edited, project_root=tmp_path)
