# All network I/O lives here. Each dataset comes from `download`, a `user` file, or the
# built-in synthetic world; rules write only under resources/automatic/<country>/<dataset>/<version>/
# and leave a provenance.json. Credentials are read inside the package from the environment.


rule generate_synthetic_world:
    message:
        "Generating the synthetic world of {wildcards.country}"
    output:
        directory("resources/automatic/{country}/synthetic_world"),
    params:
        country=lambda wildcards: COUNTRIES[wildcards.country],
        synthetic=config["synthetic"],
    log:
        "logs/{country}/generate_synthetic_world.log",
    benchmark:
        "results/benchmarks/{country}/generate_synthetic_world.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/generate_synthetic_world.py"


for _dataset, _files in DATASET_FILES.items():

    rule:
        name:
            f"retrieve_{_dataset}"
        message:
            f"Retrieving {_dataset} for {{wildcards.country}} ({{wildcards.version}})"
        input:
            unpack(retrieve_inputs(_dataset)),
        output:
            files=[f"resources/automatic/{{country}}/{_dataset}/{{version}}/{name}" for name in _files],
            provenance=f"resources/automatic/{{country}}/{_dataset}/{{version}}/provenance.json",
        params:
            dataset=_dataset,
            mode=config["datasets"][_dataset]["mode"],
            options=config["datasets"][_dataset].get("options", {}),
            country=lambda wildcards: COUNTRIES[wildcards.country],
        log:
            f"logs/{{country}}/retrieve_{_dataset}_{{version}}.log",
        retries: 2
        localrule: True
        conda:
            "../../envs/study.yaml"
        script:
            "../scripts/retrieve_dataset.py"
