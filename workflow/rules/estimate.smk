# Matched Wake Analysis: one job per (country, spec, outcome) counts and estimates the whole grid.


rule estimate_mwa:
    input:
        covariates=lambda w: PLAN.covariates_path(w.country, spec_of(w)),
        code=ENGINE + module_files("qipstudy.estimate"),
    output:
        estimates="results/{country}/{spec_dir}mwa/{outcome}/estimates.csv",
        matching="results/{country}/{spec_dir}mwa/{outcome}/matching.csv",
        sutva="results/{country}/{spec_dir}mwa/{outcome}/sutva.csv",
        wakes="results/{country}/{spec_dir}mwa/{outcome}/wakes.parquet",
        summary="results/{country}/{spec_dir}mwa/{outcome}/summary.txt",
        parameters="results/{country}/{spec_dir}mwa/{outcome}/parameters.json",
    log:
        "logs/{country}/{spec_dir}estimate_mwa_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/{spec_dir}estimate_mwa_{outcome}.tsv"
    conda:
        "../../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=spec_of,
        mwa=lambda w: settings(w).mwa,
    message:
        "Matched Wake Analysis of {wildcards.outcome} around QIPs in {wildcards.country} ({params.spec})"
    script:
        "../scripts/estimate_mwa.py"
