"""The workflow's plan: which file each (country, specification) step reads and writes.

A *specification* ("spec") is the main run (`main`) or one robustness variant. Every step of the
workflow (prepare events, covariates, MWA) is written once and runs per spec; a variant reuses the
main run's files for every step it does not change. Results of a spec live under
`results/<country>/<spec_dir>…`, where `spec_dir` is empty for the main run (so its paths are the
README's) and `robustness/<variant>/` for a variant.

Pure functions of the checked config (qipstudy.config) and the country files: the Snakefile asks
them, and the unit tests check them without running Snakemake.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from qipstudy.registry import NIGHTLIGHT_BAND_FILES, PAPER_ITEMS, item_outputs

MAIN = "main"
# Datasets that a real (not synthetic) main run must not silently replace by synthetic data in a
# variant: the variant is skipped instead (issue: mixed runs).
REAL_RUN_DATASETS = ("acled", "ucdp", "qip")


def deep_merge(base: Mapping, overlay: Mapping) -> dict:
    """`base` with `overlay` applied recursively (dicts merge, everything else replaces)."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def country_view(country: Mapping[str, Any], keys: Iterable[str]) -> dict:
    """The part of a country file a step reads: `keys` are dotted paths (`sources.acled_country`).

    A rule's params are exactly this view, so an edit elsewhere in the file (e.g. a base's free-text
    `source` note, which no step reads) reruns nothing. `bases` never carries its `source` notes.
    """
    view: dict[str, Any] = {}
    for key in keys:
        head, _, rest = key.partition(".")
        if head not in country:
            continue
        value = country[head]
        if head == "bases":
            value = [{k: v for k, v in base.items() if k != "source"} for base in value]
        if rest:
            sub = country_view(value, [rest]) if isinstance(value, Mapping) else {}
            if sub:
                view.setdefault(head, {}).update(sub)
        else:
            view[head] = copy.deepcopy(value)
    return view


@dataclass(frozen=True)
class SpecSettings:
    """Everything one specification changes: the MWA block and the inputs of its steps."""

    name: str
    title: str
    mwa: dict
    covariates: dict
    outcome_source: str
    population: str
    placebo: dict


class Plan:
    """Paths and settings of every (country, spec) of a checked config."""

    def __init__(self, config: Mapping[str, Any], countries: Mapping[str, Mapping[str, Any]]):
        self.config = config
        self.countries = dict(countries)
        self.outcomes = list(config["outcomes"])
        self.variants = list(config["robustness"]["variants"]) if config["robustness"]["enabled"] else []

    # -- specs -------------------------------------------------------------------------------

    @property
    def specs(self) -> list[str]:
        return [MAIN, *self.variants]

    @staticmethod
    def spec_dir(spec: str) -> str:
        return "" if spec == MAIN else f"robustness/{spec}/"

    @staticmethod
    def spec_of(spec_dir: str) -> str:
        """Inverse of `spec_dir` (the `{spec_dir}` wildcard of the rules)."""
        if not spec_dir:
            return MAIN
        parts = spec_dir.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "robustness":
            raise ValueError(f"not a spec directory: {spec_dir!r}")
        return parts[1]

    def settings(self, spec: str) -> SpecSettings:
        config = self.config
        if spec == MAIN:
            return SpecSettings(MAIN, "Main specification (paper)", copy.deepcopy(config["mwa"]),
                                copy.deepcopy(config["covariates"]), config["outcome_source"], "gpw", {})
        variants = config["robustness"]["variants"]
        if spec not in variants:
            raise ValueError(f"config: unknown robustness variant {spec!r}; known: {sorted(variants)}")
        overlay = variants[spec]
        return SpecSettings(
            name=spec,
            title=overlay.get("title", spec),
            mwa=deep_merge(config["mwa"], overlay.get("mwa", {})),
            covariates=deep_merge(config["covariates"], overlay.get("covariates", {})),
            outcome_source=overlay.get("outcome_source", config["outcome_source"]),
            population=overlay.get("population", "gpw"),
            placebo=dict(overlay.get("placebo", {})),
        )

    def events_spec(self, spec: str) -> str:
        """The spec whose events table `spec` uses: its own if it moves QIPs or changes the provider."""
        s = self.settings(spec)
        own = bool(s.placebo) or s.outcome_source != self.config["outcome_source"]
        return spec if own else MAIN

    def covariates_spec(self, spec: str) -> str:
        """The spec whose covariates `spec` uses: its own if its events or covariate inputs differ."""
        s, main = self.settings(spec), self.settings(MAIN)
        own = (self.events_spec(spec) != MAIN or s.covariates != main.covariates or s.population != main.population)
        return spec if own else MAIN

    # -- datasets ----------------------------------------------------------------------------

    def dataset_dir(self, country: str, dataset: str) -> str:
        version = self.config["datasets"][dataset]["version"]
        return f"resources/automatic/{country}/{dataset}/{version}"

    def dataset_file(self, country: str, dataset: str, filename: str) -> str:
        return f"{self.dataset_dir(country, dataset)}/{filename}"

    @staticmethod
    def outcome_dataset(outcome_source: str) -> str:
        return "ucdp" if outcome_source == "ucdp" else "acled"

    def outcome_events_file(self, country: str, spec: str) -> str:
        dataset = self.outcome_dataset(self.settings(spec).outcome_source)
        return self.dataset_file(country, dataset, "ged.csv" if dataset == "ucdp" else "acled.csv")

    def nightlights_file(self, country: str, spec: str) -> str:
        band = self.settings(spec).covariates["nightlights_band"]
        return self.dataset_file(country, "nightlights", NIGHTLIGHT_BAND_FILES[band])

    def population_file(self, country: str, spec: str) -> str:
        dataset = "worldpop" if self.settings(spec).population == "worldpop" else "population"
        return self.dataset_file(country, dataset, "pop_density.tif")

    def spec_datasets(self, spec: str) -> dict[str, str]:
        """Role → dataset of every input a spec's estimates rest on."""
        s = self.settings(spec)
        return {
            "outcome": self.outcome_dataset(s.outcome_source),
            "qip": "qip",
            "iati": "iati",
            "boundaries": "boundaries",
            "osm": "osm",
            "nightlights": "nightlights",
            "population": "worldpop" if s.population == "worldpop" else "population",
        }

    def mode(self, dataset: str) -> str:
        return self.config["datasets"][dataset]["mode"]

    def is_real_run(self) -> bool:
        """True if any outcome or treatment data of the main run is real (downloaded or a user file)."""
        used = set(self.spec_datasets(MAIN).values())
        return any(self.mode(d) != "synthetic" for d in REAL_RUN_DATASETS if d in used)

    def skip_reason(self, spec: str) -> str | None:
        """Why a variant cannot run honestly: in a real run, an input it adds is synthetic."""
        if spec == MAIN or not self.is_real_run():
            return None
        main_used = set(self.spec_datasets(MAIN).values())
        added = [d for d in self.spec_datasets(spec).values() if d not in main_used]
        synthetic = [d for d in added if self.mode(d) == "synthetic"]
        if synthetic:
            return (f"skipped: its input {', '.join(synthetic)} is synthetic in a run on real data "
                    f"(set datasets.{synthetic[0]}.mode to download or user)")
        return None

    def run_variants(self) -> list[str]:
        return [v for v in self.variants if self.skip_reason(v) is None]

    # -- results -----------------------------------------------------------------------------

    def events_path(self, country: str, spec: str) -> str:
        return f"results/{country}/{self.spec_dir(self.events_spec(spec))}events/events.parquet"

    def covariates_path(self, country: str, spec: str) -> str:
        return f"results/{country}/{self.spec_dir(self.covariates_spec(spec))}covariates/events.parquet"

    def mwa_file(self, country: str, spec: str, outcome: str, name: str = "estimates.csv") -> str:
        return f"results/{country}/{self.spec_dir(spec)}mwa/{outcome}/{name}"

    def paper_outputs(self, country: str | None, part: str) -> list[str]:
        """The registry's outputs of one part, below results/<country>/ (results/ for cross_country)."""
        base = "results" if country is None else f"results/{country}"
        out = []
        for item in PAPER_ITEMS:
            if item.part != part:
                continue
            robustness = self.config["robustness"]
            out += [f"{base}/{path}" for path in item_outputs(item, self.outcomes, robustness["outcome"],
                                                               robustness["heterogeneity"]["dimensions"])]
        return out

    def country_outputs(self, country: str) -> list[str]:
        out = self.paper_outputs(country, "paper")
        out += [self.mwa_file(country, MAIN, o) for o in self.outcomes]
        if self.config["compare_published"]:
            out.append(f"results/{country}/reproduction_report.md")
        if self.config["robustness"]["enabled"]:
            out += self.paper_outputs(country, "robustness")
        return out

    def all_outputs(self) -> list[str]:
        out = [path for country in self.countries for path in self.country_outputs(country)]
        if len(self.countries) > 1:
            out += self.paper_outputs(None, "cross_country")
        return out
