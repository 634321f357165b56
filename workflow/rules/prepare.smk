# One harmonised events table per country: study period, study regions, outcome definitions.


rule prepare_events:
    message:
        "Preparing the harmonised events table of {wildcards.country}"
    input:
        outcome_events=outcome_events_file(),
        qips=dataset_file("qip", "qips.csv"),
        iati=dataset_file("iati", "activities.csv"),
        admin3=dataset_file("boundaries", "adm3.gpkg"),
    output:
        events="results/{country}/events/events.parquet",
        filter_log="results/{country}/events/filter_log.json",
    params:
        country=lambda wildcards: COUNTRIES[wildcards.country],
        outcomes=config["outcomes"],
        outcome_source=config["outcome_source"],
        qip_columns=config["datasets"]["qip"].get("options", {}).get("column_map"),
        placebo={},
    log:
        "logs/{country}/prepare_events.log",
    benchmark:
        "results/benchmarks/{country}/prepare_events.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/prepare_events.py"
