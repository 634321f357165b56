# Helpers shared by the rules: the checked config, the country files, the plan (qipstudy.plan).
# Logic lives in the package; this file only adapts it to Snakemake (input functions, params).
import importlib.util
from pathlib import Path

from qipstudy.config import ConfigError, check_config, check_snapshots, load_countries
from qipstudy.plan import MAIN, Plan, country_view
from qipstudy.registry import KIND_EXTS
from qipstudy.retrieve import DATASETS

# The workflow's own files (config/countries) sit beside the Snakefile; data paths are relative
# to the working directory (the project folder, or --directory).
WORKFLOW_ROOT = Path(workflow.basedir)
PROJECT_ROOT = Path.cwd()
try:
    _checked = check_config(config, project_root=PROJECT_ROOT)
    COUNTRIES = load_countries(
        _checked, WORKFLOW_ROOT / "config" / "countries", project_root=PROJECT_ROOT
    )
    check_snapshots(_checked, COUNTRIES, project_root=PROJECT_ROOT)
except ConfigError as error:
    raise WorkflowError(f"invalid configuration:\n{error}") from None
config.clear()
config.update(_checked)

PLAN = Plan(config, COUNTRIES)
OUTCOMES = PLAN.outcomes
ROBUSTNESS_OUTCOME = config["robustness"]["outcome"]


def spec_of(wildcards):
    """The specification (`main` or a variant) of a job, from its `{spec_dir}` wildcard."""
    return PLAN.spec_of(wildcards.spec_dir)


def settings(wildcards):
    return PLAN.settings(spec_of(wildcards))


def country_keys(*keys):
    """Params input function: only the country-file keys a rule reads (see qipstudy.plan.country_view)."""
    return lambda wildcards: country_view(COUNTRIES[wildcards.country], keys)


def country_value(key):
    """Params input function: one key's value of the job's country file (projected as country_keys)."""
    head = key.split(".")[0]
    return lambda wildcards: country_view(COUNTRIES[wildcards.country], [key])[head]


def dataset_file(dataset, filename):
    """Input function: the retrieved file of `dataset` for the job's country."""
    return lambda wildcards: PLAN.dataset_file(wildcards.country, dataset, filename)


def module_files(*modules):
    """The source files of the package modules a rule runs: editing one reruns the rule.

    A name ending in `.*` stands for every module of that package. Found without importing them
    (Snakefile load stays quick). Retrieve rules list none: a code edit never triggers a download.
    """
    paths = []
    for name in modules:
        package = name.removesuffix(".*")
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise WorkflowError(f"package module {package} not found: is the project installed?")
        if name.endswith(".*"):
            paths += sorted(str(p) for p in Path(spec.origin).parent.glob("*.py"))
        else:
            paths.append(spec.origin)
    return paths


# The engine's modules on the estimation path (not the CLI, plots or simulation helpers).
ENGINE = [
    path
    for path in module_files("matchedwake.*")
    if Path(path).name not in {"cli.py", "plotting.py", "simulate.py", "inference.py"}
]


TABLE_EXTS = list(KIND_EXTS["table"])
FIGURE_EXTS = list(KIND_EXTS["figure"])


def table_outputs(stem):
    return multiext(f"results/{{country}}/tables/{stem}", *[f".{ext}" for ext in TABLE_EXTS])


def figure_outputs(stem):
    return multiext(f"results/{{country}}/figures/{stem}", *[f".{ext}" for ext in FIGURE_EXTS])


# What the synthetic world reads of a country file (never the bases' free-text `source` notes).
SYNTHETIC_COUNTRY_KEYS = (
    "iso3",
    "iso2",
    "name",
    "mission",
    "period",
    "boundaries",
    "study_regions",
    "bases",
    "sources",
    "synthetic",
)


def retrieve_inputs(dataset):
    """A synthetic dataset depends on the generated world; a user dataset on the user's file."""

    def inputs(wildcards):
        settings = config["datasets"][dataset]
        if settings["mode"] == "synthetic":
            return {"synthetic_world": f"resources/automatic/{wildcards.country}/synthetic_world"}
        if settings["mode"] == "user":
            return {"user_file": user_file(settings["user_file"], wildcards.country)}
        return {}

    return inputs


def user_file(setting, country):
    """A user file's path as the rule sees it: relative to the project folder, or absolute."""
    return str(Path(setting.format(country=country)).expanduser())


def outcome_selection():
    """The outcome definitions without their labels (a title edit reruns no event table)."""
    labels = {"title", "published_table"}
    return {
        name: {k: v for k, v in spec.items() if k not in labels}
        for name, spec in config["outcomes"].items()
    }


def compared_stems():
    """The produced tables (below results/<country>/) that have published counterparts."""
    from qipstudy.registry import PAPER_ITEMS, item_stems

    return [stem for item in PAPER_ITEMS if item.published for stem in item_stems(item, OUTCOMES)]


def figure_data(stem):
    """A figure's plotted numbers (.csv) and its inputs' record (.sources.json), beside its PNG/PDF."""
    return multiext(f"results/{{country}}/figures/{stem}", ".csv", ".sources.json")


def table_sources(stem):
    """A table's inputs' record: which datasets its numbers rest on and how each was obtained."""
    return f"results/{{country}}/tables/{stem}.sources.json"


# What the render rules record about their inputs (qipstudy.sources): every dataset's mode,
# version and (user files) path, and the outcome provider.
SOURCES_PARAMS = dict(
    dataset_modes={
        name: {
            "mode": s["mode"],
            "version": s["version"],
            "user_file": s.get("user_file") if s["mode"] == "user" else None,
        }
        for name, s in config["datasets"].items()
    },
    outcome_source=config["outcome_source"],
)
# The minimum matched support of a window: (treated, control) wakes.
MIN_MATCHED = [config["render"]["min_matched_treated"], config["render"]["min_matched_control"]]
