# The paper's tables (CSV + LaTeX + Markdown) and figures (PNG + PDF + the plotted numbers as CSV),
# each with a .sources.json recording which inputs were downloaded, user files or synthetic.


rule make_table_qip_funding:
    input:
        qips=dataset_file("qip", "qips.csv"),
        events="results/{country}/events/events.parquet",
        code=module_files("qipstudy.tables", "qipstudy.prepare"),
    output:
        by_activity=report(
            table_outputs("table1_qip_funding_by_activity_type"),
            caption="../report/table1.rst",
            category="Tables",
        ),
        by_category=table_outputs("appendix_table1_qip_funding_by_category"),
        sample_by_activity=table_outputs("table1_qip_funding_by_activity_type_sample"),
        sample_by_category=table_outputs("appendix_table1_qip_funding_by_category_sample"),
        sources=[
            table_sources(stem)
            for stem in (
                "table1_qip_funding_by_activity_type",
                "appendix_table1_qip_funding_by_category",
                "table1_qip_funding_by_activity_type_sample",
                "appendix_table1_qip_funding_by_category_sample",
            )
        ],
    log:
        "logs/{country}/make_table_qip_funding.log",
    benchmark:
        "results/benchmarks/{country}/make_table_qip_funding.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
    message:
        "Table 1 and appendix Table 1 (QIP funding) for {wildcards.country}"
    script:
        "../scripts/make_table_qip_funding.py"


rule make_table_conditional_means:
    input:
        covariates="results/{country}/covariates/events.parquet",
        code=module_files("qipstudy.tables"),
    output:
        table=report(
            table_outputs("table2_conditional_means"),
            caption="../report/table2.rst",
            category="Tables",
        ),
        sources=table_sources("table2_conditional_means"),
    log:
        "logs/{country}/make_table_conditional_means.log",
    benchmark:
        "results/benchmarks/{country}/make_table_conditional_means.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
    message:
        "Table 2 (conditional means of the covariates) for {wildcards.country}"
    script:
        "../scripts/make_table_conditional_means.py"


rule make_table_significant_windows:
    input:
        estimates="results/{country}/mwa/{outcome}/estimates.csv",
        matching="results/{country}/mwa/{outcome}/matching.csv",
        code=module_files("qipstudy.tables"),
    output:
        table=report(
            table_outputs("significant_windows_{outcome}"),
            caption="../report/significant_windows.rst",
            category="Tables",
            subcategory="{outcome}",
        ),
        sources=table_sources("significant_windows_{outcome}"),
    log:
        "logs/{country}/make_table_significant_windows_{outcome}.log",
    benchmark:
        "results/benchmarks/{country}/make_table_significant_windows_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        alpha=config["mwa"]["alpha1"],
        title=lambda wildcards: config["outcomes"][wildcards.outcome]["title"],
        min_matched=MIN_MATCHED,
    message:
        "Significant windows of {wildcards.outcome} for {wildcards.country}"
    script:
        "../scripts/make_table_significant_windows.py"


rule make_table_aid_categories:
    input:
        # The paper counts every aid-project location of the export (15,670 > its sample N).
        iati=dataset_file("iati", "activities.csv"),
        code=module_files("qipstudy.tables", "qipstudy.prepare"),
    output:
        table=table_outputs("appendix_table2_aid_projects_by_category"),
        sources=table_sources("appendix_table2_aid_projects_by_category"),
    log:
        "logs/{country}/make_table_aid_categories.log",
    benchmark:
        "results/benchmarks/{country}/make_table_aid_categories.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
    message:
        "Appendix Table 2 (aid projects by category) for {wildcards.country}"
    script:
        "../scripts/make_table_aid_categories.py"


rule make_table_covariate_summary:
    input:
        covariates="results/{country}/covariates/events.parquet",
        code=module_files("qipstudy.tables"),
    output:
        table=table_outputs("appendix_table3_covariate_summary"),
        sources=table_sources("appendix_table3_covariate_summary"),
    log:
        "logs/{country}/make_table_covariate_summary.log",
    benchmark:
        "results/benchmarks/{country}/make_table_covariate_summary.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
    message:
        "Appendix Table 3 (covariate summary) for {wildcards.country}"
    script:
        "../scripts/make_table_covariate_summary.py"


rule plot_attacks:
    input:
        awsd=dataset_file("awsd", "awsd.csv"),
        fatalities=dataset_file("un_fatalities", "fatalities.csv"),
        code=module_files("qipstudy.figures", "qipstudy.retrieve.figure1"),
    output:
        figure=report(
            figure_outputs("figure1_attacks"), caption="../report/figure1.rst", category="Figures"
        ),
        data=figure_data("figure1_attacks"),
    log:
        "logs/{country}/plot_attacks.log",
    benchmark:
        "results/benchmarks/{country}/plot_attacks.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        country=country_keys("name", "iso2", "mission"),
        figure1=config["figures"]["figure1"],
    message:
        "Figure 1 (attacks on aid workers and peacekeepers) for {wildcards.country}"
    script:
        "../scripts/plot_attacks.py"


rule plot_map_events:
    input:
        covariates="results/{country}/covariates/events.parquet",
        admin3=dataset_file("boundaries", "adm3.gpkg"),
        roads=dataset_file("osm", "roads.gpkg"),
        code=module_files("qipstudy.figures"),
    output:
        figure=report(
            figure_outputs("figure4_map"), caption="../report/figure4.rst", category="Figures"
        ),
        data=figure_data("figure4_map"),
    log:
        "logs/{country}/plot_map_events.log",
    benchmark:
        "results/benchmarks/{country}/plot_map_events.tsv"
    conda:
        "../../envs/study.yaml"
    resources:
        mem_mb=2000,
    params:
        **SOURCES_PARAMS,
        country=country_keys(
            "name",
            "mission",
            "study_regions",
            "boundaries.admin1_field",
            "synthetic.towns",
            "bases",
        ),
        road_classes=config["covariates"]["road_classes"],
    message:
        "Figure 4 (map of projects, QIPs, violence and bases) for {wildcards.country}"
    script:
        "../scripts/plot_map_events.py"


rule plot_event_dates:
    input:
        covariates="results/{country}/covariates/events.parquet",
        code=module_files("qipstudy.figures"),
    output:
        figure=report(
            figure_outputs("figure5_event_dates"),
            caption="../report/figure5.rst",
            category="Figures",
        ),
        data=figure_data("figure5_event_dates"),
    log:
        "logs/{country}/plot_event_dates.log",
    benchmark:
        "results/benchmarks/{country}/plot_event_dates.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
    message:
        "Figure 5 (event dates by type) for {wildcards.country}"
    script:
        "../scripts/plot_event_dates.py"


rule plot_heatmaps:
    input:
        estimates=expand("results/{{country}}/mwa/{outcome}/estimates.csv", outcome=OUTCOMES),
        matching=expand("results/{{country}}/mwa/{outcome}/matching.csv", outcome=OUTCOMES),
        code=module_files("qipstudy.figures", "matchedwake.plotting"),
    output:
        figure=report(
            figure_outputs("figure6_heatmaps"), caption="../report/figure6.rst", category="Figures"
        ),
        data=figure_data("figure6_heatmaps"),
        r_style=expand(
            "results/{{country}}/figures/heatmap_r_style_{outcome}.{ext}",
            outcome=OUTCOMES,
            ext=FIGURE_EXTS + ["csv", "sources.json"],
        ),
    log:
        "logs/{country}/plot_heatmaps.log",
    benchmark:
        "results/benchmarks/{country}/plot_heatmaps.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        outcomes=OUTCOMES,
        titles=[config["outcomes"][o]["title"] for o in OUTCOMES],
        t_unit=config["mwa"]["t_unit"],
        alpha1=config["mwa"]["alpha1"],
        alpha2=config["mwa"]["alpha2"],
        min_matched=MIN_MATCHED,
    message:
        "Figure 6 (space-time heatmaps of the estimates) for {wildcards.country}"
    script:
        "../scripts/plot_heatmaps.py"


rule plot_covariates:
    input:
        covariates="results/{country}/covariates/events.parquet",
        code=module_files("qipstudy.figures"),
    output:
        histograms=report(
            figure_outputs("appendix_figure1_covariate_histograms"),
            caption="../report/appendix_figure1.rst",
            category="Appendix",
        ),
        correlations=report(
            figure_outputs("appendix_figure2_covariate_correlations"),
            caption="../report/appendix_figure2.rst",
            category="Appendix",
        ),
        histograms_data=figure_data("appendix_figure1_covariate_histograms"),
        correlations_data=figure_data("appendix_figure2_covariate_correlations"),
    log:
        "logs/{country}/plot_covariates.log",
    benchmark:
        "results/benchmarks/{country}/plot_covariates.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        match_columns=config["mwa"]["match_columns"],
    message:
        "Appendix Figures 1-2 (covariate histograms and correlations) for {wildcards.country}"
    script:
        "../scripts/plot_covariates.py"


rule make_reproduction_report:
    input:
        tables=lambda w: [f"results/{w.country}/{stem}.csv" for stem in compared_stems()],
        published="resources/published/sauter2022",
        code=module_files("qipstudy.tables", "qipstudy.sources"),
    output:
        report=report(
            "results/{country}/reproduction_report.md",
            caption="../report/reproduction.rst",
            category="Reproduction",
        ),
    log:
        "logs/{country}/make_reproduction_report.log",
    benchmark:
        "results/benchmarks/{country}/make_reproduction_report.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        published_tables={o: config["outcomes"][o]["published_table"] for o in OUTCOMES},
    message:
        "Comparing {wildcards.country}'s tables with the published numbers"
    script:
        "../scripts/make_reproduction_report.py"


rule make_cross_country_comparison:
    input:
        estimates=expand("results/{country}/mwa/{{outcome}}/estimates.csv", country=list(COUNTRIES)),
        matching=expand("results/{country}/mwa/{{outcome}}/matching.csv", country=list(COUNTRIES)),
        code=module_files("qipstudy.tables", "qipstudy.figures"),
    output:
        table=report(
            "results/cross_country/table_cross_country_{outcome}.csv",
            caption="../report/cross_country.rst",
            category="Cross-country",
        ),
        table_formats=multiext("results/cross_country/table_cross_country_{outcome}", ".tex", ".md"),
        table_sources="results/cross_country/table_cross_country_{outcome}.sources.json",
        figure=report(
            "results/cross_country/heatmaps_{outcome}.png",
            caption="../report/cross_country.rst",
            category="Cross-country",
        ),
        figure_pdf="results/cross_country/heatmaps_{outcome}.pdf",
        data=multiext("results/cross_country/heatmaps_{outcome}", ".csv", ".sources.json"),
    log:
        "logs/cross_country/make_cross_country_comparison_{outcome}.log",
    benchmark:
        "results/benchmarks/cross_country/make_cross_country_comparison_{outcome}.tsv"
    localrule: True
    conda:
        "../../envs/study.yaml"
    params:
        **SOURCES_PARAMS,
        countries=list(COUNTRIES),
        alpha=config["mwa"]["alpha1"],
        title=lambda wildcards: config["outcomes"][wildcards.outcome]["title"],
        t_unit=config["mwa"]["t_unit"],
        min_matched=MIN_MATCHED,
    message:
        "Cross-country comparison of {wildcards.outcome}"
    script:
        "../scripts/make_cross_country_comparison.py"
