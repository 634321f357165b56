# The five matching covariates of the paper, for every event of a (country, spec) events table.


rule build_covariates:
    input:
        events=lambda w: PLAN.events_path(w.country, spec_of(w)),
        roads=dataset_file("osm", "roads.gpkg"),
        waterways=dataset_file("osm", "waterways.gpkg"),
        admin3=dataset_file("boundaries", "adm3.gpkg"),
        nightlights=lambda w: PLAN.nightlights_file(w.country, spec_of(w)),
        population=lambda w: PLAN.population_file(w.country, spec_of(w)),
        code=module_files("qipstudy.covariates"),
    output:
        covariates="results/{country}/{spec_dir}covariates/events.parquet",
    log:
        "logs/{country}/{spec_dir}build_covariates.log",
    benchmark:
        "results/benchmarks/{country}/{spec_dir}build_covariates.tsv"
    conda:
        "../../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=spec_of,
        bases=country_value("bases"),
        projected_crs=country_value("projected_crs"),
        admin_fields=country_value("boundaries"),
        covariates=lambda w: settings(w).covariates,
        population=lambda w: settings(w).population,
        checks=config["checks"],
    message:
        "Computing covariates of {wildcards.country} ({params.spec})"
    script:
        "../scripts/build_covariates.py"
