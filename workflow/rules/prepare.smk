# One harmonised events table per (country, spec): study period, study regions, outcome flags,
# and a variant's placebo. A variant that changes none of these uses the main run's table.


rule prepare_events:
    input:
        outcome_events=lambda w: PLAN.outcome_events_file(w.country, spec_of(w)),
        qips=dataset_file("qip", "qips.csv"),
        iati=dataset_file("iati", "activities.csv"),
        admin3=dataset_file("boundaries", "adm3.gpkg"),
        code=module_files("qipstudy.prepare", "qipstudy.robustness"),
    output:
        events="results/{country}/{spec_dir}events/events.parquet",
        filter_log="results/{country}/{spec_dir}events/filter_log.json",
        filter_table="results/{country}/{spec_dir}events/filter_table.csv",
    log:
        "logs/{country}/{spec_dir}prepare_events.log",
    benchmark:
        "results/benchmarks/{country}/{spec_dir}prepare_events.tsv"
    conda:
        "../../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=spec_of,
        period=country_value("period"),
        study_regions=country_value("study_regions"),
        admin_fields=country_value("boundaries"),
        outcomes=outcome_selection(),
        outcome_source=lambda w: settings(w).outcome_source,
        placebo=lambda w: settings(w).placebo,
        extent=country_value("extent"),
        checks=config["checks"],
    message:
        "Preparing the events table of {wildcards.country} ({params.spec})"
    script:
        "../scripts/prepare_events.py"
