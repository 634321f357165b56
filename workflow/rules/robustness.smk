# Beyond the paper: grid-wide inference (Holm, BH, randomization, Westfall-Young), balance
# diagnostics, and the main outcome under robustness variants and placebos.


rule permute_mwa:
    message:
        "Permutations (shard {wildcards.shard}) of the {wildcards.outcome} grid in {wildcards.country}"
    input:
        estimates="results/{country}/mwa/{outcome}/estimates.csv",
        wakes="results/{country}/mwa/{outcome}/wakes.parquet",
        parameters="results/{country}/mwa/{outcome}/parameters.json",
    output:
        draws="results/{country}/inference/{outcome}/draws_{shard}.parquet",
    params:
        permutations=config["robustness"]["permutations"],
        shard=lambda wildcards: int(wildcards.shard),
    log:
        "logs/{country}/permute_mwa_{outcome}_{shard}.log",
    benchmark:
        "results/benchmarks/{country}/permute_mwa_{outcome}_{shard}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/permute_mwa.py"


rule make_inference_table:
    message:
        "Grid-wide inference for {wildcards.outcome} in {wildcards.country}"
    input:
        parameters="results/{country}/mwa/{outcome}/parameters.json",
        draws=expand(
            "results/{{country}}/inference/{{outcome}}/draws_{shard}.parquet",
            shard=range(config["robustness"]["permutations"]["shards"]),
        ),
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
    params:
        alpha=config["mwa"]["alpha1"],
        t_unit=config["mwa"]["t_unit"],
        title=lambda wildcards: config["outcomes"][wildcards.outcome]["title"],
    log:
        "logs/{country}/make_inference_table_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/make_inference_table_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/make_inference_table.py"


rule plot_balance:
    message:
        "Balance diagnostics for {wildcards.outcome} in {wildcards.country}"
    input:
        parameters="results/{country}/mwa/{outcome}/parameters.json",
        wakes="results/{country}/mwa/{outcome}/wakes.parquet",
    output:
        table="results/{country}/tables/balance_{outcome}.csv",
        figure=report(
            multiext("results/{country}/figures/balance_{outcome}", ".png", ".pdf"),
            caption="../report/balance.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
    params:
        title=lambda wildcards: config["outcomes"][wildcards.outcome]["title"],
    log:
        "logs/{country}/plot_balance_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/plot_balance_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/plot_balance.py"


rule prepare_events_variant:
    message:
        "Events of robustness variant {wildcards.variant} for {wildcards.country}"
    input:
        outcome_events=variant_outcome_events,
        qips=dataset_file("qip", "qips.csv"),
        iati=dataset_file("iati", "activities.csv"),
        admin3=dataset_file("boundaries", "adm3.gpkg"),
    output:
        events="results/{country}/robustness/{variant}/events.parquet",
        filter_log="results/{country}/robustness/{variant}/filter_log.json",
    params:
        country=lambda wildcards: COUNTRIES[wildcards.country],
        outcomes=config["outcomes"],
        outcome_source=lambda wildcards: variant(wildcards)["outcome_source"],
        qip_columns=config["datasets"]["qip"].get("options", {}).get("column_map"),
        placebo=lambda wildcards: variant(wildcards)["placebo"],
    log:
        "logs/{country}/prepare_events_variant_{variant}.log",
    benchmark:
        "results/benchmarks/{country}/prepare_events_variant_{variant}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/prepare_events.py"


rule build_covariates_variant:
    message:
        "Covariates of robustness variant {wildcards.variant} for {wildcards.country}"
    input:
        events=variant_events,
        roads=dataset_file("osm", "roads.gpkg"),
        waterways=dataset_file("osm", "waterways.gpkg"),
        admin3=dataset_file("boundaries", "adm3.gpkg"),
        nightlights=variant_nightlights,
        population=variant_population,
    output:
        covariates="results/{country}/robustness/{variant}/covariates.parquet",
    params:
        country=lambda wildcards: COUNTRIES[wildcards.country],
        covariates=lambda wildcards: variant(wildcards)["covariates"],
    log:
        "logs/{country}/build_covariates_variant_{variant}.log",
    benchmark:
        "results/benchmarks/{country}/build_covariates_variant_{variant}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/build_covariates.py"


rule estimate_mwa_variant:
    message:
        "Matched Wake Analysis of {wildcards.country}'s main outcome under variant {wildcards.variant}"
    input:
        covariates=variant_covariates,
        engine=engine_sources(),
    output:
        estimates="results/{country}/robustness/{variant}/mwa/estimates.csv",
        matching="results/{country}/robustness/{variant}/mwa/matching.csv",
        sutva="results/{country}/robustness/{variant}/mwa/sutva.csv",
        wakes="results/{country}/robustness/{variant}/mwa/wakes.parquet",
        summary="results/{country}/robustness/{variant}/mwa/summary.txt",
        parameters="results/{country}/robustness/{variant}/mwa/parameters.json",
    params:
        mwa=lambda wildcards: variant(wildcards)["mwa"],
        outcome=config["robustness"]["outcome"],
    log:
        "logs/{country}/estimate_mwa_variant_{variant}.log",
    benchmark:
        "results/benchmarks/{country}/estimate_mwa_variant_{variant}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/estimate_mwa.py"


rule make_robustness_table:
    message:
        "Robustness table and figure of {wildcards.outcome} for {wildcards.country}"
    input:
        main="results/{country}/mwa/{outcome}/estimates.csv",
        variants=expand("results/{{country}}/robustness/{variant}/mwa/estimates.csv", variant=VARIANTS),
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
    params:
        variants=VARIANTS,
        titles={name: spec.get("title", name) for name, spec in config["robustness"]["variants"].items()},
        alpha=config["mwa"]["alpha1"],
        t_unit=config["mwa"]["t_unit"],
    log:
        "logs/{country}/make_robustness_table_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/make_robustness_table_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/make_robustness_table.py"
