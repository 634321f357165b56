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
        "benchmarks/{country}/generate_synthetic_world.tsv"
    localrule: True
    script:
        "../scripts/generate_synthetic_world.py"


def retrieve_inputs(dataset):
    """A synthetic dataset depends on the generated world; a user dataset on the user's file."""

    def inputs(wildcards):
        settings = config["datasets"][dataset]
        if settings["mode"] == "synthetic":
            return {"synthetic_world": f"resources/automatic/{wildcards.country}/synthetic_world"}
        if settings["mode"] == "user":
            if not settings.get("user_file"):
                raise ValueError(f"config: datasets.{dataset}.mode is 'user' but user_file is not set")
            return {"user_file": "resources/user/" + settings["user_file"].format(country=wildcards.country)}
        return {}

    return inputs


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
        script:
            "../scripts/retrieve_dataset.py"
