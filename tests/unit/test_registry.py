"""The registries (qipstudy.registry) against the workflow and the README that present them."""
from __future__ import annotations

import re
from pathlib import Path

from qipstudy.registry import NIGHTLIGHT_BAND_FILES, PAPER_ITEMS, readme_table
from qipstudy.retrieve import DATASETS

REPO = Path(__file__).resolve().parents[2]


def _rules() -> set[str]:
    names = set()
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        names |= set(re.findall(r"^rule (\w+):", path.read_text(encoding="utf-8"), flags=re.M))
    return names | {f"retrieve_{d}" for d in DATASETS}


def test_every_paper_item_is_made_by_a_rule_of_the_workflow():
    rules = _rules()
    missing = sorted({item.rule for item in PAPER_ITEMS} - rules)
    assert not missing, f"registry names rules the workflow lacks: {missing}"


def test_every_item_writes_below_its_kind_folder():
    for item in PAPER_ITEMS:
        for stem in item.stems:
            folders = {"figures"} if item.kind == "figure" else {"tables", "inference"}
            assert stem.split("/")[0] in folders | {"cross_country"}, stem


def test_the_readme_table_is_the_registry():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme_table() in readme, "regenerate the README table: python -m qipstudy.registry"


def test_night_light_files_are_named_for_their_band():
    assert set(DATASETS["nightlights"].files) == set(NIGHTLIGHT_BAND_FILES.values())
    assert all(band in name for band, name in NIGHTLIGHT_BAND_FILES.items())
