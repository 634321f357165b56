# Sauter (2022), "A Shrinking Humanitarian Space", reproduced end to end.
# Thin on purpose: configuration, validation, rule files and the final targets.
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    country="[A-Z]{3}",
    outcome="|".join(OUTCOMES),
    # empty for the main run (its paths are the README's), robustness/<variant>/ for a variant
    spec_dir="(robustness/(" + "|".join(PLAN.variants or ["(?!)"]) + ")/)?",
    shard="[0-9]+",


include: "workflow/rules/retrieve.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/covariates.smk"
include: "workflow/rules/estimate.smk"
include: "workflow/rules/render.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/inference.smk"


onstart:
    from qipstudy.atomic import remove_stale_temporaries

    remove_stale_temporaries(["results", "resources/automatic"])


rule all:
    default_target: True
    input:
        PLAN.all_outputs(),
