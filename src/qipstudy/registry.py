"""The study's registries: one list for each kind of thing, read by every layer that needs it.

* `NIGHTLIGHT_BAND_FILES`: which contract file holds which DMSP band (retrieve, synthetic world,
  workflow).
* `PAPER_ITEMS`: every table and figure of the paper (and beyond it) with the rule that makes it,
  its output stems and the datasets its numbers rest on (Snakefile targets, provenance sidecars,
  reproduction report, the README table check).

Kept free of heavy imports: the Snakefile reads it at load time.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

# DMSP-OLS v4 band → contract file of the `nightlights` dataset. `cf_cvg` (cloud-free coverage
# counts) is what the paper sampled; `stable_lights` is the light intensity it meant.
NIGHTLIGHT_BAND_FILES: dict[str, str] = {
    "cf_cvg": "nightlights_cf_cvg.tif",
    "stable_lights": "nightlights_stable_lights.tif",
}

# The datasets the covariates add to the events table (night lights and population: the spec's choice).
COVARIATE_DATASETS = ("osm", "nightlights", "population")
# The datasets the harmonised events table rests on ("outcome": the run's provider, ACLED or UCDP).
EVENT_DATASETS = ("qip", "iati", "outcome", "boundaries")


@dataclass(frozen=True)
class PaperItem:
    """One table or figure: what the paper calls it, the rule that makes it and its outputs.

    `stems` are paths below `results/<country>/` without extension; `{outcome}` expands over the
    configured outcomes, `{robustness_outcome}` is `robustness.outcome`. `datasets` are the inputs
    its numbers rest on ("outcome" = the outcome provider of the run, ACLED or UCDP). `kind` is
    "table" (.csv/.tex/.md), "figure" (.png/.pdf and the plotted numbers as .csv) or "csv" (a data
    table only). `part` is "paper" (always made), "robustness" (with `robustness.enabled`) or
    "cross_country" (with several countries; below `results/`, not a country's folder).
    `published` names the published tables (resources/published/sauter2022/) it is compared with.
    """

    key: str
    paper: str
    rule: str
    stems: tuple[str, ...]
    kind: str
    datasets: tuple[str, ...]
    part: str = "paper"
    published: tuple[str, ...] = field(default_factory=tuple)


_COVS = (*EVENT_DATASETS, *COVARIATE_DATASETS)
# The robustness variants swap in UCDP events and WorldPop population.
_VARIANT_COVS = (*_COVS, "ucdp", "worldpop")

PAPER_ITEMS: tuple[PaperItem, ...] = (
    PaperItem("figure1", "Figure 1 (attacks on aid workers and peacekeepers)", "plot_attacks",
              ("figures/figure1_attacks",), "figure", ("awsd", "un_fatalities")),
    PaperItem("table1", "Table 1 (QIP funding by activity type)", "make_table_qip_funding",
              ("tables/table1_qip_funding_by_activity_type",), "table", ("qip",),
              published=("table1_qip_funding_by_activity_type",)),
    PaperItem("appendix_table1", "Appendix Table 1 (QIP funding by category)", "make_table_qip_funding",
              ("tables/appendix_table1_qip_funding_by_category",), "table", ("qip",),
              published=("appendix_table1_qip_funding_by_category",)),
    PaperItem("table1_sample", "Table 1 over the analysis sample (QIPs left after the filters)",
              "make_table_qip_funding", ("tables/table1_qip_funding_by_activity_type_sample",
                                         "tables/appendix_table1_qip_funding_by_category_sample"), "table",
              ("qip", "boundaries")),
    PaperItem("table2", "Table 2 (conditional means)", "make_table_conditional_means",
              ("tables/table2_conditional_means",), "table", _COVS,
              published=("table2_conditional_means",)),
    PaperItem("figure4", "Figure 4 (map)", "plot_map_events", ("figures/figure4_map",), "figure",
              (*EVENT_DATASETS, "osm")),
    PaperItem("figure5", "Figure 5 (event dates)", "plot_event_dates", ("figures/figure5_event_dates",),
              "figure", EVENT_DATASETS),
    PaperItem("significant_windows", "Tables 3, 4 and appendix Table 4 (significant windows)",
              "make_table_significant_windows", ("tables/significant_windows_{outcome}",), "table", _COVS,
              published=("table3_civilians_significant_windows", "table4_battles_significant_windows",
                         "appendix_table4_nsag_significant_windows")),
    PaperItem("figure6", "Figure 6 / appendix Figure 3 (heatmaps)", "plot_heatmaps",
              ("figures/figure6_heatmaps", "figures/heatmap_r_style_{outcome}"), "figure", _COVS),
    PaperItem("appendix_figure1", "Appendix Figure 1 (covariate histograms)", "plot_covariates",
              ("figures/appendix_figure1_covariate_histograms",), "figure", _COVS),
    PaperItem("appendix_figure2", "Appendix Figure 2 (covariate correlations)", "plot_covariates",
              ("figures/appendix_figure2_covariate_correlations",), "figure", _COVS),
    PaperItem("appendix_table2", "Appendix Table 2 (aid projects by category)", "make_table_aid_categories",
              ("tables/appendix_table2_aid_projects_by_category",), "table", ("iati",),
              published=("appendix_table2_aid_projects_by_category",)),
    PaperItem("appendix_table3", "Appendix Table 3 (covariate summary)", "make_table_covariate_summary",
              ("tables/appendix_table3_covariate_summary",), "table", _COVS,
              published=("appendix_table3_covariate_summary",)),
    # Beyond the paper (README "Robustness and honest inference").
    PaperItem("inference", "*beyond the paper:* grid-wide inference", "make_inference_table",
              ("inference/{outcome}/inference",), "table", _COVS, part="robustness"),
    PaperItem("inference_figure", "*beyond the paper:* grid-wide inference (figure)", "make_inference_table",
              ("figures/inference_{outcome}", "figures/permutations_{outcome}"), "figure", _COVS, part="robustness"),
    PaperItem("balance", "*beyond the paper:* balance diagnostics", "plot_balance",
              ("tables/balance_{outcome}",), "csv", _COVS, part="robustness"),
    PaperItem("balance_figure", "*beyond the paper:* balance diagnostics (figure)", "plot_balance",
              ("figures/balance_{outcome}",), "figure", _COVS, part="robustness"),
    PaperItem("robustness", "*beyond the paper:* robustness and placebos", "make_robustness_table",
              ("tables/robustness_{robustness_outcome}",), "table", _VARIANT_COVS, part="robustness"),
    PaperItem("robustness_windows", "*beyond the paper:* robustness and placebos (every window)",
              "make_robustness_table", ("tables/robustness_windows_{robustness_outcome}",), "csv", _VARIANT_COVS,
              part="robustness"),
    PaperItem("robustness_figure", "*beyond the paper:* robustness and placebos (figure)", "make_robustness_table",
              ("figures/robustness_{robustness_outcome}",), "figure", _VARIANT_COVS, part="robustness"),
    PaperItem("event_study", "*beyond the paper:* event study (rings × time bins, pre-period leads)",
              "make_event_study", ("tables/event_study_{outcome}", "tables/event_study_leads_{outcome}"), "table",
              _COVS, part="robustness"),
    PaperItem("event_study_figure", "*beyond the paper:* event study (figure)", "make_event_study",
              ("figures/event_study_{outcome}",), "figure", _COVS, part="robustness"),
    PaperItem("power", "*beyond the paper:* power (minimum detectable effect, matched sample)", "make_power_table",
              ("tables/power_{outcome}",), "table", _COVS, part="robustness"),
    PaperItem("power_figure", "*beyond the paper:* power (overlay on the heatmap)", "make_power_table",
              ("figures/power_{outcome}",), "figure", _COVS, part="robustness"),
    PaperItem("calendar_balance", "*beyond the paper:* calendar-time balance of start dates",
              "make_calendar_balance", ("tables/calendar_balance_{outcome}",), "table", _COVS, part="robustness"),
    PaperItem("calendar_balance_figure", "*beyond the paper:* calendar-time balance (figure)",
              "make_calendar_balance", ("figures/calendar_balance_{outcome}",), "figure", _COVS, part="robustness"),
    PaperItem("placebo_distribution", "*beyond the paper:* placebo distribution (many draws, by `draw_placebos`)",
              "make_placebo_distribution",
              ("tables/placebo_windows_{robustness_outcome}", "tables/placebo_grid_{robustness_outcome}"), "table",
              _COVS, part="robustness"),
    PaperItem("placebo_distribution_figure", "*beyond the paper:* placebo distribution (figure)",
              "make_placebo_distribution", ("figures/placebo_{robustness_outcome}",), "figure", _COVS,
              part="robustness"),
    PaperItem("heterogeneity", "*beyond the paper:* heterogeneity by activity type, category and region",
              "make_heterogeneity_table", ("tables/heterogeneity_windows_{robustness_outcome}",
                                           "tables/heterogeneity_{robustness_outcome}"), "table", _COVS,
              part="robustness"),
    PaperItem("heterogeneity_figure", "*beyond the paper:* heterogeneity (one figure per dimension)",
              "make_heterogeneity_table", ("figures/heterogeneity_{robustness_outcome}_{dimension}",), "figure",
              _COVS, part="robustness"),
    # With several countries (results/cross_country/).
    PaperItem("cross_country", "*beyond the paper:* cross-country comparison", "make_cross_country_comparison",
              ("cross_country/table_cross_country_{outcome}",), "table", _COVS, part="cross_country"),
    PaperItem("cross_country_figure", "*beyond the paper:* cross-country comparison (figure)",
              "make_cross_country_comparison", ("cross_country/heatmaps_{outcome}",), "figure", _COVS,
              part="cross_country"),
)

#: File extensions of each kind of item.
KIND_EXTS: dict[str, tuple[str, ...]] = {"table": ("csv", "tex", "md"), "figure": ("png", "pdf"),
                                         "csv": ("csv",)}
#: What every output carries beside it: a figure the numbers it plots, every item its inputs' record.
SIDECAR_EXTS: dict[str, tuple[str, ...]] = {"table": ("sources.json",), "figure": ("csv", "sources.json"),
                                            "csv": ()}


def paper_item(key: str) -> PaperItem:
    """The registry entry `key` (a KeyError names the known keys)."""
    for item in PAPER_ITEMS:
        if item.key == key:
            return item
    raise KeyError(f"no paper item {key!r}; known: {[i.key for i in PAPER_ITEMS]}")


def item_stems(item: PaperItem, outcomes, robustness_outcome: str | None = None,
               dimensions: Sequence[str] = ()) -> list[str]:
    """The item's output stems with their placeholders expanded: `{outcome}` over `outcomes`,
    `{robustness_outcome}` to `robustness.outcome`, `{dimension}` over the heterogeneity dimensions."""
    values = {"outcome": list(outcomes), "robustness_outcome": [robustness_outcome], "dimension": list(dimensions)}
    stems = []
    for stem in item.stems:
        names = [name for name in values if "{" + name + "}" in stem]
        for combination in itertools.product(*(values[name] for name in names)):
            stems.append(stem.format(**dict(zip(names, combination))))
    return stems


def item_outputs(item: PaperItem, outcomes, robustness_outcome: str | None = None,
                 dimensions: Sequence[str] = ()) -> list[str]:
    """Every file of an item below `results/<country>/` (its kind's files and sidecars)."""
    return [f"{stem}.{ext}" for stem in item_stems(item, outcomes, robustness_outcome, dimensions)
            for ext in (*KIND_EXTS[item.kind], *SIDECAR_EXTS[item.kind])]


def readme_table() -> str:
    """The README's "Paper table/figure → rule → output file" table, from PAPER_ITEMS."""
    lines = ["| paper | rule | output |", "|---|---|---|"]
    for item in PAPER_ITEMS:
        exts = ", ".join(f".{ext}" for ext in (*KIND_EXTS[item.kind], *SIDECAR_EXTS[item.kind]))
        stems = ", ".join(f"`{stem}`" for stem in item.stems)
        lines.append(f"| {item.paper} | `{item.rule}` | {stems} ({exts}) |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_table())
