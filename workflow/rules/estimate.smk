# Matched Wake Analysis: one job per (country, outcome) counts and estimates the whole window grid.


rule estimate_mwa:
    message:
        "Matched Wake Analysis of {wildcards.outcome} around QIPs in {wildcards.country}"
    input:
        covariates="results/{country}/covariates/events.parquet",
        engine=engine_sources(),
    output:
        estimates="results/{country}/mwa/{outcome}/estimates.csv",
        matching="results/{country}/mwa/{outcome}/matching.csv",
        sutva="results/{country}/mwa/{outcome}/sutva.csv",
        wakes="results/{country}/mwa/{outcome}/wakes.parquet",
        summary="results/{country}/mwa/{outcome}/summary.txt",
        parameters="results/{country}/mwa/{outcome}/parameters.json",
    params:
        mwa=config["mwa"],
        outcome=lambda wildcards: wildcards.outcome,
    log:
        "logs/{country}/estimate_mwa_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/estimate_mwa_{outcome}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/estimate_mwa.py"
