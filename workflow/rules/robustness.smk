# Beyond the paper: grid-wide inference (Holm, BH, randomization, Westfall-Young), balance
# diagnostics, and the main outcome under robustness variants and placebos.


rule permute_mwa:
    input:
        estimates="results/{country}/mwa/{outcome}/estimates.csv",
        wakes="results/{country}/mwa/{outcome}/wakes.parquet",
        parameters="results/{country}/mwa/{outcome}/parameters.json",
        code=ENGINE + module_files("matchedwake.inference", "qipstudy.robustness"),
    output:
        draws="results/{country}/inference/{outcome}/draws_{shard}.parquet",
    log:
        "logs/{country}/permute_mwa_{outcome}_{shard}.log",
    benchmark:
        "results/benchmarks/{country}/permute_mwa_{outcome}_{shard}.tsv"
    conda:
        "../../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        permutations=config["robustness"]["permutations"],
        inference=config["robustness"]["inference"],
        shard=lambda wildcards: int(wildcards.shard),
    message:
        "Permutations (shard {wildcards.shard}) of the {wildcards.outcome} grid in {wildcards.country}"
    script:
        "../scripts/permute_mwa.py"


rule make_inference_table:
    input:
        parameters="results/{country}/mwa/{outcome}/parameters.json",
        draws=expand(
            "results/{{country}}/inference/{{outcome}}/draws_{shard}.parquet",
            shard=range(config["robustness"]["permutations"]["shards"]),
        ),
        code=ENGINE + module_files("matchedwake.inference", "qipstudy.robustness"),
    output:
        table=report(
            multiext("results/{country}/inference/{outcome}/inference", ".csv", ".tex", ".md"),
            caption="../report/inference.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
        figure=report(
            multiext("results/{country}/figures/inference_{outcome}", ".png", ".pdf"),
            caption="../report/inference.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
        permutations=report(
            multiext("results/{country}/figures/permutations_{outcome}", ".png", ".pdf"),
            caption="../report/permutations.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
        data=multiext("results/{country}/figures/inference_{outcome}", ".csv", ".sources.json")
        + multiext("results/{country}/figures/permutations_{outcome}", ".csv", ".sources.json")
        + ["results/{country}/inference/{outcome}/inference.sources.json"],
    log:
        "logs/{country}/make_inference_table_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/make_inference_table_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        alpha=config["mwa"]["alpha1"],
        t_unit=config["mwa"]["t_unit"],
        title=lambda wildcards: config["outcomes"][wildcards.outcome]["title"],
        inference=config["robustness"]["inference"],
    message:
        "Grid-wide inference for {wildcards.outcome} in {wildcards.country}"
    script:
        "../scripts/make_inference_table.py"


rule plot_balance:
    input:
        parameters="results/{country}/mwa/{outcome}/parameters.json",
        wakes="results/{country}/mwa/{outcome}/wakes.parquet",
        code=module_files("matchedwake.inference", "matchedwake.plotting", "qipstudy.robustness"),
    output:
        table="results/{country}/tables/balance_{outcome}.csv",
        figure=report(
            multiext("results/{country}/figures/balance_{outcome}", ".png", ".pdf"),
            caption="../report/balance.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
        data=multiext("results/{country}/figures/balance_{outcome}", ".csv", ".sources.json"),
    log:
        "logs/{country}/plot_balance_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/plot_balance_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        title=lambda wildcards: config["outcomes"][wildcards.outcome]["title"],
    message:
        "Balance diagnostics for {wildcards.outcome} in {wildcards.country}"
    script:
        "../scripts/plot_balance.py"


rule make_robustness_table:
    input:
        main="results/{country}/mwa/{outcome}/estimates.csv",
        main_matching="results/{country}/mwa/{outcome}/matching.csv",
        variants=lambda w: [PLAN.mwa_file(w.country, v, w.outcome) for v in PLAN.run_variants()],
        variants_matching=lambda w: [
            PLAN.mwa_file(w.country, v, w.outcome, "matching.csv") for v in PLAN.run_variants()
        ],
        code=module_files("qipstudy.robustness", "qipstudy.figures"),
    output:
        table=report(
            multiext("results/{country}/tables/robustness_{outcome}", ".csv", ".tex", ".md"),
            caption="../report/robustness.rst",
            category="Robustness",
        ),
        windows="results/{country}/tables/robustness_windows_{outcome}.csv",
        figure=report(
            multiext("results/{country}/figures/robustness_{outcome}", ".png", ".pdf"),
            caption="../report/robustness.rst",
            category="Robustness",
        ),
        data=multiext("results/{country}/figures/robustness_{outcome}", ".csv", ".sources.json"),
        table_sources="results/{country}/tables/robustness_{outcome}.sources.json",
    log:
        "logs/{country}/make_robustness_table_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/make_robustness_table_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        variants=PLAN.run_variants(),
        min_matched=MIN_MATCHED,
        titles={spec: PLAN.settings(spec).title for spec in PLAN.specs},
        skipped={v: PLAN.skip_reason(v) for v in PLAN.variants if PLAN.skip_reason(v)},
        settings={spec: PLAN.settings(spec).mwa for spec in PLAN.specs},
        placebos=[v for v in PLAN.variants if PLAN.settings(v).placebo],
        alpha=config["mwa"]["alpha1"],
        t_unit=config["mwa"]["t_unit"],
    message:
        "Robustness table and figure of {wildcards.outcome} for {wildcards.country}"
    script:
        "../scripts/make_robustness_table.py"
