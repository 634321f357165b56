"""Every option the QIP, IATI, AWSD and UN-fatalities clients read is declared in their schemas.

The workflow validates `datasets.<name>.options` against these schemas at load, so an option read
in code but not declared would be refused by the config, and a declared one never read would be a
silent no-op. The reads are found in the source (`options.get("x")`, `options["x"]`).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import jsonschema
import pytest
import yaml

from qipstudy.retrieve import figure1, http, iati, psdh

ROOT = Path(__file__).resolve().parents[2]
HTTP_OPTIONS = set((getattr(http, "HTTP_OPTIONS_SCHEMA", None) or {}).get("properties", {}))
# dataset → its schema; module → which schema each of its functions answers to
SCHEMAS = {"qip": psdh.OPTIONS_SCHEMA, "iati": iati.OPTIONS_SCHEMA, "awsd": figure1.AWSD_OPTIONS_SCHEMA,
           "un_fatalities": figure1.UN_FATALITIES_OPTIONS_SCHEMA}


def option_reads(module) -> dict[str, set[str]]:
    """function name → the option names it reads from a mapping called `options`."""
    tree = ast.parse(inspect.getsource(module))
    reads: dict[str, set[str]] = {}
    for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        names = set()
        for node in ast.walk(fn):
            target = key = None
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                target, key = node.func.value, node.args[0].value
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                target, key = node.value, node.slice.value
            if isinstance(target, ast.Name) and target.id == "options" and isinstance(key, str):
                names.add(key)
        if names:
            reads[fn.name] = names
    return reads


def schema_of(module, function: str) -> dict:
    if module is figure1:
        return figure1.AWSD_OPTIONS_SCHEMA if "awsd" in function else figure1.UN_FATALITIES_OPTIONS_SCHEMA
    return module.OPTIONS_SCHEMA


@pytest.mark.parametrize("module", [psdh, iati, figure1], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_option_read_is_declared(module):
    reads = option_reads(module)
    assert reads, "the scan found no option reads: it is broken"
    undeclared = {fn: sorted(names - set(schema_of(module, fn)["properties"]) - HTTP_OPTIONS)
                  for fn, names in reads.items()}
    assert {fn: names for fn, names in undeclared.items() if names} == {}


def test_the_scan_sees_the_reads_it_must_see():
    assert option_reads(psdh)["download_qips"] >= {"base_url", "dataset_id", "format", "per_page", "max_pages",
                                                   "filter", "columns"}
    assert option_reads(iati)["_download_datastore"] >= {"base_url", "rows", "currency_rates"}
    assert option_reads(figure1)["download_awsd"] == {"url", "base_url"}


@pytest.mark.parametrize("dataset", sorted(SCHEMAS))
def test_schemas_are_closed_and_document_every_option(dataset):
    schema = SCHEMAS[dataset]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        assert {"type", "default", "description"} <= set(prop), name
        jsonschema.validate(prop["default"], prop)  # the default is a valid value
    with pytest.raises(jsonschema.ValidationError, match="'no_such_option' was unexpected"):
        jsonschema.validate({"no_such_option": 1}, schema)  # a typo fails at load


@pytest.mark.parametrize("module", [psdh, iati, figure1], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_declared_option_is_read(module):
    reads = option_reads(module)
    schemas = ([figure1.AWSD_OPTIONS_SCHEMA, figure1.UN_FATALITIES_OPTIONS_SCHEMA] if module is figure1
               else [module.OPTIONS_SCHEMA])
    for schema in schemas:
        used = set().union(*(names for fn, names in reads.items() if schema_of(module, fn) is schema))
        assert set(schema["properties"]) - used == set()


def test_the_real_reproduction_overlay_validates():
    overlay = yaml.safe_load((ROOT / "config" / "sauter2022.yaml").read_text(encoding="utf-8"))
    for dataset, schema in SCHEMAS.items():
        options = {k: v for k, v in (overlay["datasets"][dataset].get("options") or {}).items()
                   if k not in HTTP_OPTIONS}
        jsonschema.validate(options, schema)
    with pytest.raises(jsonschema.ValidationError, match="'bogus' is not one of"):
        jsonschema.validate({"api": "bogus"}, iati.OPTIONS_SCHEMA)
