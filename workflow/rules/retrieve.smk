# All network I/O lives here. Each dataset comes from `download`, a `user` file, or the built-in
# synthetic world; rules write only under resources/automatic/<country>/<dataset>/<version>/ and
# leave a provenance.json. Credentials are read inside the package from the environment.
# A download-mode snapshot is write-protected: it is never overwritten (download again into a new
# `version`), and no code edit triggers a download.


rule generate_synthetic_world:
    input:
        code=module_files("qipstudy.synthetic"),
    output:
        directory("resources/automatic/{country}/synthetic_world"),
    log:
        "logs/{country}/generate_synthetic_world.log",
    benchmark:
        "results/benchmarks/{country}/generate_synthetic_world.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        country=country_keys(*SYNTHETIC_COUNTRY_KEYS),
        synthetic=config["synthetic"],
    message:
        "Generating the synthetic world of {wildcards.country}"
    script:
        "../scripts/generate_synthetic_world.py"


for _dataset, _spec in DATASETS.items():
    _mode = config["datasets"][_dataset]["mode"]
    _keep = protected if _mode == "download" else (lambda path: path)

    rule:
        name:
            f"retrieve_{_dataset}"
        input:
            unpack(retrieve_inputs(_dataset)),
        output:
            files=[
                _keep(f"resources/automatic/{{country}}/{_dataset}/{{version}}/{name}")
                for name in _spec.files
            ],
            provenance=_keep(
                f"resources/automatic/{{country}}/{_dataset}/{{version}}/provenance.json"
            ),
        log:
            f"logs/{{country}}/retrieve_{_dataset}_{{version}}.log",
        localrule: True
        conda:
            "../../envs/study.yaml"
        params:
            dataset=_dataset,
            mode=_mode,
            options=config["datasets"][_dataset]["options"],
            country=country_keys(*_spec.country_keys),
        message:
            f"Retrieving {_dataset} ({_mode}) for {{wildcards.country}} ({{wildcards.version}})"
        script:
            "../scripts/retrieve_dataset.py"
