"""One import point for the render rules: the table builders and the figure builders.

The logic lives in :mod:`qipstudy.tables` (CSV + LaTeX + Markdown, comparison with the published
numbers), :mod:`qipstudy.figures` (PNG + PDF in one style, with the plotted numbers as CSV) and
:mod:`qipstudy.sources` (which inputs each output rests on); this module only re-exports them.
"""
from qipstudy.figures import (  # noqa: F401
    correlation_matrix,
    cross_country_heatmaps,
    figure_attacks,
    heatmaps,
    histogram_covariates,
    histogram_event_dates,
    map_events,
    permutation_histograms,
    save_figure,
)
from qipstudy.sources import read_sources, sources_of, write_sources  # noqa: F401
from qipstudy.tables import (  # noqa: F401
    compare_table,
    compare_with_published,
    exclude_thin_windows,
    load_estimates,
    load_published,
    reproduction_report,
    table_aid_by_category,
    table_conditional_means,
    table_covariate_summary,
    table_cross_country,
    table_qip_funding,
    table_significant_windows,
    write_reproduction_report,
    write_table,
)

__all__ = [
    "compare_table", "compare_with_published", "correlation_matrix", "cross_country_heatmaps",
    "exclude_thin_windows", "figure_attacks", "heatmaps", "histogram_covariates", "histogram_event_dates",
    "load_estimates", "load_published", "map_events", "permutation_histograms", "read_sources",
    "reproduction_report", "save_figure", "sources_of", "table_aid_by_category", "table_conditional_means",
    "table_covariate_summary", "table_cross_country", "table_qip_funding", "table_significant_windows",
    "write_reproduction_report", "write_sources", "write_table",
]
