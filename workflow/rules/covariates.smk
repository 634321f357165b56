# The five matching covariates of the paper, for every event.


rule build_covariates:
    message:
        "Computing covariates (distances, night lights, population) for {wildcards.country}"
    input:
        events="results/{country}/events/events.parquet",
        roads=dataset_file("osm", "roads.gpkg"),
        waterways=dataset_file("osm", "waterways.gpkg"),
        admin3=dataset_file("boundaries", "adm3.gpkg"),
        nightlights=nightlights_file(),
        population=dataset_file("population", "pop_density.tif"),
    output:
        covariates="results/{country}/covariates/events.parquet",
    params:
        country=lambda wildcards: COUNTRIES[wildcards.country],
        covariates=config["covariates"],
    log:
        "logs/{country}/build_covariates.log",
    benchmark:
        "results/benchmarks/{country}/build_covariates.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/build_covariates.py"
