# Beyond the paper, the study's recommended inference layer (docs/inference.md): an event study with
# pre-period leads, power, calendar-time balance, many placebo draws, and heterogeneity by QIP
# subgroup. Robust (HC1) errors and the minimum-support rule of `robustness.inference` throughout.
INFERENCE_CODE = ENGINE + module_files(
    "matchedwake.inference", "matchedwake.calendar_time", "qipstudy.robustness"
)
OUTCOME_TITLE = lambda wildcards: config["outcomes"][wildcards.outcome]["title"]


rule make_event_study:
    input:
        wakes="results/{country}/mwa/{outcome}/wakes.parquet",
        parameters="results/{country}/mwa/{outcome}/parameters.json",
        code=INFERENCE_CODE + module_files("qipstudy.eventstudy"),
    output:
        table=report(
            table_outputs("event_study_{outcome}"),
            caption="../report/event_study.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
        lead_tests=table_outputs("event_study_leads_{outcome}"),
        figure=report(
            figure_outputs("event_study_{outcome}"),
            caption="../report/event_study.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
        sidecars=[
            table_sources("event_study_{outcome}"),
            table_sources("event_study_leads_{outcome}"),
        ],
        data=figure_data("event_study_{outcome}"),
    log:
        "logs/{country}/make_event_study_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/make_event_study_{outcome}.tsv"
    conda:
        "../../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        **SOURCES_PARAMS,
        inference=config["robustness"]["inference"],
        title=OUTCOME_TITLE,
        t_unit=config["mwa"]["t_unit"],
    message:
        "Event study (rings x time bins, pre-period leads) of {wildcards.outcome} in {wildcards.country}"
    script:
        "../scripts/make_event_study.py"


rule make_power_table:
    input:
        wakes="results/{country}/mwa/{outcome}/wakes.parquet",
        parameters="results/{country}/mwa/{outcome}/parameters.json",
        code=INFERENCE_CODE + module_files("qipstudy.power"),
    output:
        table=report(
            table_outputs("power_{outcome}"),
            caption="../report/power.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
        figure=report(
            figure_outputs("power_{outcome}"),
            caption="../report/power.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
        sources=table_sources("power_{outcome}"),
        data=figure_data("power_{outcome}"),
    log:
        "logs/{country}/make_power_table_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/make_power_table_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        inference=config["robustness"]["inference"],
        title=OUTCOME_TITLE,
        t_unit=config["mwa"]["t_unit"],
        alpha=config["mwa"]["alpha1"],
    message:
        "Power (minimum detectable effect per window) of {wildcards.outcome} in {wildcards.country}"
    script:
        "../scripts/make_power_table.py"


rule make_calendar_balance:
    input:
        covariates="results/{country}/covariates/events.parquet",
        wakes="results/{country}/mwa/{outcome}/wakes.parquet",
        parameters="results/{country}/mwa/{outcome}/parameters.json",
        code=INFERENCE_CODE + module_files("qipstudy.calendar_balance"),
    output:
        table=report(
            table_outputs("calendar_balance_{outcome}"),
            caption="../report/calendar_balance.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
        figure=report(
            figure_outputs("calendar_balance_{outcome}"),
            caption="../report/calendar_balance.rst",
            category="Robustness",
            subcategory="{outcome}",
        ),
        sources=table_sources("calendar_balance_{outcome}"),
        data=figure_data("calendar_balance_{outcome}"),
    log:
        "logs/{country}/make_calendar_balance_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/make_calendar_balance_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        title=OUTCOME_TITLE,
        t_unit=config["mwa"]["t_unit"],
    message:
        "Calendar-time balance of {wildcards.outcome} wakes in {wildcards.country}"
    script:
        "../scripts/make_calendar_balance.py"


rule draw_placebos:
    input:
        covariates="results/{country}/covariates/events.parquet",
        code=INFERENCE_CODE + module_files("qipstudy.placebos", "qipstudy.estimate"),
    output:
        draws="results/{country}/placebos/{outcome}/draws_{shard}.parquet",
    log:
        "logs/{country}/draw_placebos_{outcome}_{shard}.log",
    benchmark:
        "results/benchmarks/{country}/draw_placebos_{outcome}_{shard}.tsv"
    conda:
        "../../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        placebo_draws=config["robustness"]["placebo_draws"],
        inference=config["robustness"]["inference"],
        outcome=lambda wildcards: wildcards.outcome,
        mwa=config["mwa"],
        shard=lambda wildcards: int(wildcards.shard),
    message:
        "Placebo draws (shard {wildcards.shard}) of {wildcards.outcome} in {wildcards.country}"
    script:
        "../scripts/draw_placebos.py"


rule make_placebo_distribution:
    input:
        wakes="results/{country}/mwa/{outcome}/wakes.parquet",
        parameters="results/{country}/mwa/{outcome}/parameters.json",
        draws=expand(
            "results/{{country}}/placebos/{{outcome}}/draws_{shard}.parquet",
            shard=range(config["robustness"]["placebo_draws"]["shards"]),
        ),
        code=INFERENCE_CODE + module_files("qipstudy.placebos"),
    output:
        windows=report(
            table_outputs("placebo_windows_{outcome}"),
            caption="../report/placebo_distribution.rst",
            category="Robustness",
        ),
        grid=table_outputs("placebo_grid_{outcome}"),
        figure=report(
            figure_outputs("placebo_{outcome}"),
            caption="../report/placebo_distribution.rst",
            category="Robustness",
        ),
        sidecars=[
            table_sources("placebo_windows_{outcome}"),
            table_sources("placebo_grid_{outcome}"),
        ],
        data=figure_data("placebo_{outcome}"),
    log:
        "logs/{country}/make_placebo_distribution_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/make_placebo_distribution_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        inference=config["robustness"]["inference"],
        title=OUTCOME_TITLE,
        alpha=config["mwa"]["alpha1"],
    message:
        "Placebo distribution of {wildcards.outcome} in {wildcards.country}"
    script:
        "../scripts/make_placebo_distribution.py"


rule make_heterogeneity_table:
    input:
        covariates="results/{country}/covariates/events.parquet",
        code=INFERENCE_CODE + module_files("qipstudy.heterogeneity", "qipstudy.estimate"),
    output:
        windows=table_outputs("heterogeneity_windows_{outcome}"),
        table=report(
            table_outputs("heterogeneity_{outcome}"),
            caption="../report/heterogeneity.rst",
            category="Robustness",
        ),
        figures=report(
            expand(
                "results/{{country}}/figures/heterogeneity_{{outcome}}_{dimension}.png",
                dimension=config["robustness"]["heterogeneity"]["dimensions"],
            ),
            caption="../report/heterogeneity.rst",
            category="Robustness",
        ),
        figure_files=expand(
            "results/{{country}}/figures/heterogeneity_{{outcome}}_{dimension}.{ext}",
            dimension=config["robustness"]["heterogeneity"]["dimensions"],
            ext=["pdf", "csv", "sources.json"],
        ),
        sidecars=[
            table_sources("heterogeneity_windows_{outcome}"),
            table_sources("heterogeneity_{outcome}"),
        ],
    log:
        "logs/{country}/make_heterogeneity_table_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/make_heterogeneity_table_{outcome}.tsv"
    conda:
        "../../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        **SOURCES_PARAMS,
        heterogeneity=config["robustness"]["heterogeneity"],
        inference=config["robustness"]["inference"],
        outcome=lambda wildcards: wildcards.outcome,
        mwa=config["mwa"],
        title=OUTCOME_TITLE,
        t_unit=config["mwa"]["t_unit"],
        alpha=config["mwa"]["alpha1"],
    message:
        "Heterogeneity of {wildcards.outcome} by QIP subgroup in {wildcards.country}"
    script:
        "../scripts/make_heterogeneity_table.py"
