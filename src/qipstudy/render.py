"""One import point for the render rules: the table builders and the figure builders.

The logic lives in :mod:`qipstudy.tables` (CSV + LaTeX + Markdown, comparison with the published
numbers) and :mod:`qipstudy.figures` (PNG + PDF in one style); this module only re-exports them.
"""
from qipstudy.figures import (  # noqa: F401
    correlation_matrix,
    cross_country_heatmaps,
    figure_attacks,
    heatmaps,
    histogram_covariates,
    histogram_event_dates,
    map_events,
    save_figure,
)
from qipstudy.tables import (  # noqa: F401
    compare_table,
    compare_with_published,
    load_published,
    reproduction_report,
    table_aid_by_category,
    table_conditional_means,
    table_covariate_summary,
    table_cross_country,
    table_qip_funding,
    table_significant_windows,
    write_table,
)

__all__ = [
    "compare_table", "compare_with_published", "correlation_matrix", "cross_country_heatmaps",
    "figure_attacks", "heatmaps", "histogram_covariates", "histogram_event_dates", "load_published",
    "map_events", "reproduction_report", "save_figure", "table_aid_by_category", "table_conditional_means",
    "table_covariate_summary", "table_cross_country", "table_qip_funding", "table_significant_windows",
    "write_table",
]
