# Helpers shared by the workflow: config validation, country files, dataset paths.
import yaml
from pathlib import Path

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

COUNTRY_DIR = Path(workflow.basedir) / "config" / "countries"


def load_country(iso3):
    """Read and validate config/countries/<ISO3>.yaml (a country is data, not code)."""
    path = COUNTRY_DIR / f"{iso3}.yaml"
    if not path.exists():
        raise ValueError(
            f"config: country {iso3!r} is listed in `countries` but {path} does not exist; "
            "see docs/add_a_country.md"
        )
    with open(path, encoding="utf-8") as handle:
        country = yaml.safe_load(handle)
    validate(country, "../schemas/country.schema.yaml")
    if country["iso3"] != iso3:
        raise ValueError(f"{path}: iso3 is {country['iso3']!r}, expected {iso3!r} (the file name)")
    return country


COUNTRIES = {iso3: load_country(iso3) for iso3 in config["countries"]}
OUTCOMES = list(config["outcomes"])

# The raw files each dataset provides (docs/data_contracts.md).
DATASET_FILES = {
    "acled": ["acled.csv"],
    "ucdp": ["ged.csv"],
    "qip": ["qips.csv"],
    "iati": ["activities.csv"],
    "boundaries": ["adm3.gpkg"],
    "osm": ["roads.gpkg", "waterways.gpkg"],
    "nightlights": ["nightlights.tif", "nightlights_stable_lights.tif"],
    "population": ["pop_density.tif"],
    "worldpop": ["pop_density.tif"],
    "awsd": ["awsd.csv"],
    "un_fatalities": ["fatalities.csv"],
}


def dataset_file(dataset, filename):
    """Input function: the retrieved file of `dataset` for the rule's country, at the configured version."""
    version = config["datasets"][dataset]["version"]
    return lambda wildcards: (
        f"resources/automatic/{wildcards.country}/{dataset}/{version}/{filename}"
    )


def outcome_dataset():
    """The dataset that supplies outcome events: ACLED (the paper) or UCDP GED."""
    return config["outcome_source"] if config["outcome_source"] == "ucdp" else "acled"


def outcome_events_file():
    return dataset_file(outcome_dataset(), DATASET_FILES[outcome_dataset()][0])


def nightlights_file():
    name = {
        "cf_cvg": "nightlights.tif",
        "stable_lights": "nightlights_stable_lights.tif",
    }[config["covariates"]["nightlights_band"]]
    return dataset_file("nightlights", name)


def engine_sources():
    """Package modules on the estimation path: changing the estimator reruns the estimates."""
    import matchedwake
    import qipstudy.estimate

    not_on_path = {"cli.py", "plotting.py", "simulate.py", "inference.py", "adjust.py"}
    modules = Path(matchedwake.__file__).parent.glob("*.py")
    return sorted(str(p) for p in modules if p.name not in not_on_path) + [qipstudy.estimate.__file__]


def country_outputs(country):
    """Every result of one country (the paper's tables and figures)."""
    base = f"results/{country}"
    tables = [
        "table1_qip_funding_by_activity_type",
        "appendix_table1_qip_funding_by_category",
        "table2_conditional_means",
        "appendix_table2_aid_projects_by_category",
        "appendix_table3_covariate_summary",
    ] + [f"significant_windows_{o}" for o in OUTCOMES]
    figures = [
        "figure1_attacks",
        "figure4_map",
        "figure5_event_dates",
        "figure6_heatmaps",
        "appendix_figure1_covariate_histograms",
        "appendix_figure2_covariate_correlations",
    ] + [f"heatmap_r_style_{o}" for o in OUTCOMES]
    out = [f"{base}/tables/{t}.{ext}" for t in tables for ext in ("csv", "tex", "md")]
    out += [f"{base}/figures/{f}.{ext}" for f in figures for ext in ("png", "pdf")]
    out += [f"{base}/mwa/{o}/estimates.csv" for o in OUTCOMES]
    if config["compare_published"]:
        out.append(f"{base}/reproduction_report.md")
    if config["robustness"]["enabled"]:
        out += robustness_outputs(country)
    return out


def robustness_outputs(country):
    """Grid-wide inference and balance for every outcome; the variants of the main outcome."""
    base = f"results/{country}"
    outcome = config["robustness"]["outcome"]
    out = [f"{base}/inference/{o}/inference.{ext}" for o in OUTCOMES for ext in TABLE_EXTS]
    for stem in [f"inference_{o}" for o in OUTCOMES] + [f"permutations_{o}" for o in OUTCOMES] + [
        f"balance_{o}" for o in OUTCOMES
    ] + [f"robustness_{outcome}"]:
        out += [f"{base}/figures/{stem}.{ext}" for ext in FIGURE_EXTS]
    out += [f"{base}/tables/balance_{o}.csv" for o in OUTCOMES]
    out += [f"{base}/tables/robustness_{outcome}.{ext}" for ext in TABLE_EXTS]
    return out


VARIANTS = list(config["robustness"]["variants"])


def variant(wildcards):
    """The merged settings of the rule's robustness variant."""
    from qipstudy.robustness import variant_settings

    return variant_settings(config, wildcards.variant)


def variant_events(wildcards):
    """A variant's events table: its own if it moves QIPs or changes the outcome provider."""
    from qipstudy.robustness import variant_needs_events

    if variant_needs_events(config, wildcards.variant):
        return f"results/{wildcards.country}/robustness/{wildcards.variant}/events.parquet"
    return f"results/{wildcards.country}/events/events.parquet"


def variant_covariates(wildcards):
    """A variant's covariates table: its own if its events or covariate options differ."""
    from qipstudy.robustness import variant_needs_covariates

    if variant_needs_covariates(config, wildcards.variant):
        return f"results/{wildcards.country}/robustness/{wildcards.variant}/covariates.parquet"
    return f"results/{wildcards.country}/covariates/events.parquet"


def variant_outcome_events(wildcards):
    dataset = "ucdp" if variant(wildcards)["outcome_source"] == "ucdp" else "acled"
    return dataset_file(dataset, DATASET_FILES[dataset][0])(wildcards)


def variant_nightlights(wildcards):
    name = {"cf_cvg": "nightlights.tif", "stable_lights": "nightlights_stable_lights.tif"}
    return dataset_file("nightlights", name[variant(wildcards)["covariates"]["nightlights_band"]])(wildcards)


def variant_population(wildcards):
    dataset = "worldpop" if variant(wildcards)["population"] == "worldpop" else "population"
    return dataset_file(dataset, "pop_density.tif")(wildcards)


def all_outputs():
    out = [path for country in COUNTRIES for path in country_outputs(country)]
    if len(COUNTRIES) > 1:
        out += [f"results/cross_country/table_cross_country_{o}.csv" for o in OUTCOMES]
        out += [f"results/cross_country/heatmaps_{o}.png" for o in OUTCOMES]
    return out


def retrieve_inputs(dataset):
    """A synthetic dataset depends on the generated world; a user dataset on the user's file."""

    def inputs(wildcards):
        settings = config["datasets"][dataset]
        if settings["mode"] == "synthetic":
            return {"synthetic_world": f"resources/automatic/{wildcards.country}/synthetic_world"}
        if settings["mode"] == "user":
            if not settings.get("user_file"):
                raise ValueError(f"config: datasets.{dataset}.mode is 'user' but user_file is not set")
            user_file = settings["user_file"].format(country=wildcards.country)
            return {"user_file": f"resources/user/{user_file}"}
        return {}

    return inputs


TABLE_EXTS = ["csv", "tex", "md"]
FIGURE_EXTS = ["png", "pdf"]


def table_outputs(stem):
    return [f"results/{{country}}/tables/{stem}.{ext}" for ext in TABLE_EXTS]


def figure_outputs(stem):
    return [f"results/{{country}}/figures/{stem}.{ext}" for ext in FIGURE_EXTS]
