"""The per-dataset options registry: every option a client reads is declared, typed and documented.

The workflow validates `datasets.<name>.options` against these schemas at load, so an option read
in code but missing from its schema would be rejected as a typo, and a declared option that the
code never reads would be a silent no-op.
"""

from __future__ import annotations

import inspect
import re

import jsonschema
import pytest

from qipstudy.retrieve import acled, http, osm, rasters, ucdp

SCHEMAS = {"acled": acled.OPTIONS_SCHEMA, "ucdp": ucdp.OPTIONS_SCHEMA, "osm": osm.OPTIONS_SCHEMA,
           **rasters.OPTIONS_SCHEMAS}
MODULES = {"acled": (acled, ["acled"]), "ucdp": (ucdp, ["ucdp"]), "osm": (osm, ["osm"]),
           "rasters": (rasters, ["nightlights", "population", "worldpop"])}
# Keys the user-file branch of qipstudy.retrieve.retrieve_dataset reads for these datasets.
USER_MODE_KEYS = {"acled": {"sha256"}, "ucdp": {"sha256", "country_id"}, "osm": {"sha256"},
                  "nightlights": {"sha256", "clip", "bbox", "member"},
                  "population": {"sha256", "clip", "bbox", "member"}, "worldpop": {"sha256", "clip", "bbox", "member"}}
READS = re.compile(r"""(?:options|opts)(?:\.get\(|\[)\s*["'](\w+)["']|get_option\(\s*\w+\s*,\s*["'](\w+)["']""")


def keys_read(module) -> set[str]:
    source = inspect.getsource(module)
    return {a or b for a, b in READS.findall(source)}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_option_read_is_declared(name):
    module, datasets = MODULES[name]
    read = keys_read(module)
    assert read, "the scan found no option reads: the pattern is broken"
    declared = set().union(*(SCHEMAS[d]["properties"] for d in datasets))
    assert read <= declared, f"{name} reads undeclared options {sorted(read - declared)}"


def test_every_http_option_read_is_declared():
    source = inspect.getsource(http.HttpClient.from_options)
    read = set(re.findall(r"""pick\(["'](\w+)["']\)""", source))
    assert read == set(http.HTTP_OPTIONS_SCHEMA) - {"base_url", "cache_dir", "project_root", "sha256"}


@pytest.mark.parametrize("dataset", sorted(SCHEMAS))
def test_schema_is_closed_typed_documented_and_its_defaults_validate(dataset):
    schema = SCHEMAS[dataset]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert USER_MODE_KEYS[dataset] <= set(schema["properties"])
    defaults = {}
    for key, spec in schema["properties"].items():
        assert {"type", "default", "description"} <= set(spec), (dataset, key)
        assert spec["description"].strip(), (dataset, key)
        if spec["default"] is not None:
            defaults[key] = spec["default"]
    jsonschema.validate(defaults, schema)
    assert set(http.HTTP_OPTIONS_SCHEMA) <= set(schema["properties"])


def test_config_files_options_validate():
    """The options the shipped overlay sets for these datasets are valid (config/sauter2022.yaml)."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "config").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for dataset, block in (doc.get("datasets") or {}).items():
            if dataset in SCHEMAS and isinstance(block, dict) and block.get("options"):
                http.resolve_options(block["options"], SCHEMAS[dataset], dataset=dataset)


def test_a_misspelt_option_is_an_error_not_a_default(tmp_path):
    with pytest.raises(http.OptionsError, match=r"datasets\.acled\.options: .*'limt' was unexpected"):
        acled.download(country={"sources": {"acled_country": "Mali"}, "period": {"start": "2017-01-01",
                                                                                  "end": "2020-12-31"}},
                       options={"limt": 10}, out_dir=tmp_path, version="v")
    with pytest.raises(http.OptionsError, match=r"datasets\.nightlights\.options\.product: 'lidar' is not one of"):
        rasters.download_nightlights(country={}, options={"product": "lidar"}, out_dir=tmp_path, version="v")
