"""The paper's tables from the derived data, written as CSV + LaTeX + Markdown, and their comparison
with the published numbers.

Builders return DataFrames whose columns and row labels are those of the published CSVs in
`resources/published/sauter2022/`, so a produced table can be compared row by row with the printed
one. They write nothing unless given a `stem`; then they call :func:`write_table`, which with
`sources` ({dataset: mode}) labels a caption resting on synthetic inputs and records the inputs in
`stem.sources.json`. Window tables can carry each window's matched treated/control counts
(:func:`load_estimates`) and flag or exclude windows below a minimum support (`min_matched`).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from qipstudy.atomic import write_with
from qipstudy.sources import (
    describe_sources,
    input_status,
    normalise_sources,
    sources_of,
    synthetic_datasets,
    synthetic_note,
    write_sources,
)

# Closed vocabularies of the QIP file (data contract), in the printed row order of the paper.
ACTIVITY_TYPES = (
    "Conferences/seminars",
    "Sport & cultural events",
    "Other",
    "Sensitization, advocacy & outreach",
    "Training/workshops",
    "Infrastructure & equipment",
)
QIP_CATEGORIES = (
    "Other",
    "Protection of civilians & conflict prevention",
    "Rule of Law",
    "Early recovery",
    "Political & economic inclusivity",
    "Confidence building in mission",
    "Public services & civil administration",
)
TOTAL_LABEL = "Total"
# Row label for rows without a label: kept visible rather than folded into a real category.
NOT_RECORDED = "Not recorded"

# Table 2: printed row label -> how to select the rows of the covariates table.
CONDITIONAL_MEAN_ROWS = (
    ("Aid Projects", ("event_type", "iati")),
    ("QIPs", ("event_type", "qip")),
    ("Violence a. civs.", ("outcome_civilians", 1)),
    ("Battles", ("outcome_battles", 1)),
)
# Table 2: printed column -> covariates column, and the printed number of decimals.
CONDITIONAL_MEAN_COLUMNS = (
    ("water_dist_km", "water_dist_km", 0),
    ("road_dist_km", "road_dist_km", 0),
    ("un_base_dist_km", "unbase_km", 0),
    ("pop_density", "pop_dens", 2),
    ("nightlights", "nl", 2),
)
# Appendix Table 3: printed label -> covariates column, in the printed order.
COVARIATE_LABELS = (
    ("ln(Population Density)", "pop_dens"),
    ("Nightlights", "nl"),
    ("ln(UN Base Distance)", "unbase"),
    ("ln(Road Distance)", "road_dist"),
    ("ln(Water Distance)", "water_dist"),
)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def _write_text_atomic(path: Path, text: str) -> None:
    write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"))


def _format_cell(value, fmt: str | None) -> str:
    """Render one cell for LaTeX/Markdown: printed precision for numbers, empty for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if fmt is not None and isinstance(value, (int, float, np.integer, np.floating)):
        if fmt.endswith("d") and isinstance(value, (float, np.floating)):
            if not float(value).is_integer():
                return format(value, ".15g")
            value = int(value)  # a count that went through a float column (outer join)
        return format(value, fmt)
    if isinstance(value, (float, np.floating)):
        return format(value, ".15g")
    return str(value)


def _cells(df: pd.DataFrame, formats: Mapping[str, str] | None) -> list[list[str]]:
    formats = dict(formats or {})
    return [
        [_format_cell(value, formats.get(str(column))) for column, value in zip(df.columns, row)]
        for row in df.itertuples(index=False, name=None)
    ]


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "≤": r"$\leq$", "≥": r"$\geq$", "²": r"$^2$", "−": "-",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def to_latex(df: pd.DataFrame, caption: str, *, formats: Mapping[str, str] | None = None,
             label: str | None = None) -> str:
    """A booktabs table; own writer because pandas' `to_latex` needs jinja2, not a dependency."""
    align = "".join("r" if _is_numeric(df[column]) else "l" for column in df.columns)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{_latex_escape(caption)}}}",
    ]
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(_latex_escape(str(column)) for column in df.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(_latex_escape(cell) for cell in row) + r" \\" for row in _cells(df, formats)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def to_markdown(df: pd.DataFrame, caption: str, *, formats: Mapping[str, str] | None = None) -> str:
    """A GitHub pipe table under a caption line; numbers right-aligned."""

    def escape(text: str) -> str:
        return text.replace("|", r"\|")

    header = "| " + " | ".join(escape(str(column)) for column in df.columns) + " |"
    rule = "|" + "|".join("---:" if _is_numeric(df[column]) else ":---" for column in df.columns) + "|"
    body = ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in _cells(df, formats)]
    return "\n".join([f"**{caption}**", "", header, rule, *body, ""])


def write_table(df: pd.DataFrame, stem: Path, caption: str, *,
                formats: Mapping[str, str] | None = None, sources: Mapping | None = None) -> list[Path]:
    """Write `stem.csv`, `stem.tex` and `stem.md` atomically; returns the paths written.

    The CSV keeps full values (machine comparison); `formats` (column -> format spec such as
    ".2f") only shapes the human-readable LaTeX and Markdown versions. `sources` ({dataset:
    mode}): a caption resting on synthetic inputs says so, and `stem.sources.json` records them.
    """
    stem = Path(stem)
    note = synthetic_note(sources)
    if note:
        caption = f"{caption} [{note}]"
    paths = [stem.with_name(stem.name + suffix) for suffix in (".csv", ".tex", ".md")]
    _write_text_atomic(paths[0], df.to_csv(index=False, lineterminator="\n"))
    _write_text_atomic(paths[1], to_latex(df, caption, formats=formats, label=f"tab:{stem.name}"))
    _write_text_atomic(paths[2], to_markdown(df, caption, formats=formats))
    if sources is not None:
        paths.append(write_sources(stem, sources))
    return paths


def _maybe_write(df, stem, caption, formats, sources=None):
    if stem is not None:
        write_table(df, stem, caption, formats=formats, sources=sources)
    return df


# --------------------------------------------------------------------------------------------
# Degenerate inputs and minimum support
# --------------------------------------------------------------------------------------------

class DegenerateInputWarning(UserWarning):
    """A table or figure input without spread (constant, or without values): shown, and flagged."""


def constant_columns(frame: pd.DataFrame, columns: Sequence[str], *, what: str) -> dict[str, str]:
    """{column: why} for the columns with no values or a single value, each warned about once.

    `what` names the table or figure in the warning. A missing column is an error that lists the
    columns present.
    """
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise ValueError(f"{what}: the covariates table has no column(s) {absent}; it has "
                         f"{', '.join(map(str, frame.columns))}")
    out = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce").dropna()
        if values.empty:
            out[column] = f"no values (all {len(frame):,} missing)"
        elif values.nunique() == 1:
            out[column] = f"constant: all {len(values):,} values are {values.iat[0]:.6g} (SD 0)"
        else:
            continue
        warnings.warn(f"{what}: covariate {column!r}: {out[column]}; it cannot tell events apart "
                      "(check the raster or the layer it was built from)", DegenerateInputWarning, stacklevel=3)
    return out


MATCHED_TREATED, MATCHED_CONTROL = "n_treated_matched", "n_control_matched"
ESTIMATE_VALUE_COLUMNS = ("estimate", "pvalue", "adj.r.squared")


def load_estimates(estimates_csv: Path, matching_csv: Path | None = None) -> pd.DataFrame:
    """An engine run's estimates table, with each window's matched counts when `matching_csv` is given.

    The counts (`n_treated_matched`, `n_control_matched`) are the matching table's
    `treatment_post`/`control_post`: the wakes each window's estimate rests on. Errors name the
    file at fault.
    """
    from matchedwake.plotting import with_matched_counts

    def read(path: Path, need: Sequence[str]) -> pd.DataFrame:
        path = Path(path)
        try:
            frame = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: cannot read the table ({err})") from err
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: no column(s) {missing}; expected the engine's table with R mwa's column names")
        return frame

    estimates = read(estimates_csv, ("t_window", "spat_window", "estimate", "pvalue"))
    if matching_csv is None:
        return estimates
    matching = read(matching_csv, ("t_window", "spat_window", "treatment_post", "control_post"))
    try:
        return with_matched_counts(estimates, matching)
    except ValueError as err:
        raise ValueError(f"{matching_csv} (for {estimates_csv}): {err}") from err


def thin_windows(estimates: pd.DataFrame, min_matched) -> np.ndarray:
    """True for the windows with fewer matched treated or control wakes than `min_matched`."""
    from matchedwake.plotting import thin_support

    return thin_support(estimates, min_matched)


def support_rule(min_matched) -> str:
    from matchedwake.plotting import support_rule as rule

    return rule(min_matched)


def exclude_thin_windows(estimates: pd.DataFrame, min_matched) -> pd.DataFrame:
    """A copy with the estimate, p-value and fit of thin windows set to missing and flagged
    (`thin_support`, `excluded`): the cross-country comparison's minimum-support rule."""
    out = estimates.copy()
    thin = thin_windows(out, min_matched)
    for column in ESTIMATE_VALUE_COLUMNS:
        if column in out.columns:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
            out.loc[thin, column] = np.nan
    out["thin_support"] = thin
    out["excluded"] = thin
    return out


# --------------------------------------------------------------------------------------------
# Paper tables
# --------------------------------------------------------------------------------------------

def _qip_rows(qips: pd.DataFrame) -> pd.DataFrame:
    """The QIPs of a table: all rows of a QIP list (read_qips), or the `qip` rows of an events table."""
    return qips.loc[qips["source"] == "qip"] if "source" in qips.columns else qips


def table_qip_funding(qips: pd.DataFrame, by: str = "activity_type", *, stem: Path | None = None,
                      caption: str | None = None, sources: Mapping | None = None) -> pd.DataFrame:
    """Paper Table 1 (`by="activity_type"`) or appendix Table 1 (`by="category"`).

    The paper's tables are over the mission's whole QIP list (451 QIPs, US$ 15,349,350), located
    or not, in the period or not: pass the QIP list as read by `prepare.read_qips`. Given an
    events table (with a `source` column) the `qip` rows are used instead, which gives the
    analysis-sample version. QIP funding in US$ per label, in the printed order (labels with no
    QIP get 0 so the rows always line up with the published table; unknown labels follow
    alphabetically), then a Total row. Each row is rounded to whole dollars on its own and the
    total is the rounded sum of the unrounded amounts, which is how the paper's rows come to sum
    to one dollar more than its total.
    """
    if by not in ("activity_type", "category"):
        raise ValueError(f"by must be 'activity_type' or 'category', not {by!r}")
    order = ACTIVITY_TYPES if by == "activity_type" else QIP_CATEGORIES
    rows = _qip_rows(qips)
    missing = [c for c in (by, "funding_usd") if c not in rows.columns]
    if missing:
        raise ValueError(f"QIP table lacks column(s) {', '.join(missing)}; pass the output of prepare.read_qips")
    selected = rows[[by, "funding_usd"]].copy()
    selected[by] = selected[by].fillna("").astype(str).str.strip().replace("", NOT_RECORDED)
    sums = selected.groupby(by, sort=False)["funding_usd"].sum(min_count=1).fillna(0.0)
    labels = list(order) + sorted(set(sums.index) - set(order))
    amounts = [int(round(float(sums.get(label, 0.0)))) for label in labels]
    total = int(round(float(selected["funding_usd"].sum())))
    table = pd.DataFrame({by: labels + [TOTAL_LABEL], "funding_usd": amounts + [total]})
    table["funding_usd"] = table["funding_usd"].astype("int64")
    if caption is None:
        caption = ("Types of activities of QIPs, amount in US$" if by == "activity_type"
                   else "Categories of QIPs, amount in US$")
    return _maybe_write(table, stem, caption, {"funding_usd": ",d"}, sources)


SAMPLE_CAPTION = " (analysis sample: QIPs left after the period, location and region filters)"


def write_qip_funding_tables(qips: pd.DataFrame, *, by_activity_stem: Path, by_category_stem: Path,
                             events: pd.DataFrame | None = None, sample_by_activity_stem: Path | None = None,
                             sample_by_category_stem: Path | None = None,
                             sources: Mapping[str, Mapping] | None = None) -> dict[str, pd.DataFrame]:
    """Table 1 and appendix Table 1 over the whole QIP list, and optionally both over the sample.

    `qips` is the mission's QIP list (prepare.read_qips of the retrieved qips.csv), `events` the
    prepared events table; the sample versions need both `events` and their stems. `sources`
    maps each table's stem name to the record of its inputs (qipstudy.sources.sources_of).
    """
    sources = dict(sources or {})

    def of(stem):
        return sources.get(Path(stem).name) if stem is not None else None

    out = {"by_activity": table_qip_funding(qips, "activity_type", stem=by_activity_stem, sources=of(by_activity_stem)),
           "by_category": table_qip_funding(qips, "category", stem=by_category_stem, sources=of(by_category_stem))}
    for key, by, stem in (("sample_by_activity", "activity_type", sample_by_activity_stem),
                          ("sample_by_category", "category", sample_by_category_stem)):
        if stem is not None:
            if events is None:
                raise ValueError(f"{key}: the sample version needs the events table (events=...)")
            base = "Types of activities of QIPs" if by == "activity_type" else "Categories of QIPs"
            out[key] = table_qip_funding(events, by, stem=stem, sources=of(stem),
                                         caption=f"{base}, amount in US${SAMPLE_CAPTION}")
    return out


def table_conditional_means(covariates: pd.DataFrame, *, stem: Path | None = None,
                            caption: str = "Conditional means of control variables. Distances in kilometres.",
                            round_printed: bool = True, sources: Mapping | None = None) -> pd.DataFrame:
    """Paper Table 2: covariate means for aid projects, QIPs, violence against civilians, battles.

    Distances are the unlogged kilometres; `pop_density` is the mean of the logged `pop_dens`
    and `nightlights` of `nl`, as printed. Rounded to the printed precision unless told not to.
    A group without events (no battles in the sample, say) gets empty cells, not an error.
    """
    needed = sorted({c for _, (c, _) in CONDITIONAL_MEAN_ROWS} | {c for _, c, _ in CONDITIONAL_MEAN_COLUMNS})
    absent = [c for c in needed if c not in covariates.columns]
    if absent:
        raise ValueError(f"Table 2: the covariates table has no column(s) {absent}; it has "
                         f"{', '.join(map(str, covariates.columns))}")
    rows = []
    for label, (column, value) in CONDITIONAL_MEAN_ROWS:
        subset = covariates.loc[covariates[column] == value]
        row = {"event_type": label}
        for printed, source, decimals in CONDITIONAL_MEAN_COLUMNS:
            mean = float(pd.to_numeric(subset[source], errors="coerce").mean()) if len(subset) else float("nan")
            row[printed] = round(mean, decimals) if round_printed else mean
        rows.append(row)
    table = pd.DataFrame(rows, columns=["event_type"] + [c[0] for c in CONDITIONAL_MEAN_COLUMNS])
    formats = {printed: f".{decimals}f" for printed, _, decimals in CONDITIONAL_MEAN_COLUMNS}
    return _maybe_write(table, stem, caption, formats, sources)


def table_significant_windows(estimates: pd.DataFrame, alpha: float = 0.05, *, decimals: int = 2,
                              stem: Path | None = None, caption: str | None = None, min_matched=None,
                              sources: Mapping | None = None) -> pd.DataFrame:
    """Paper Tables 3 and 4, appendix Table 4: the windows with p ≤ alpha, t-major.

    Reads an `estimates` table with R's column names (`t_window, spat_window, estimate, pvalue,
    adj.r.squared`). The filter uses the unrounded p-value, like mwa's `summary()`; NA rows
    (failed windows) are dropped. Values are then rounded to the printed `decimals`. With
    `min_matched` (treated, control; the estimates need the matched counts, see
    :func:`load_estimates`) the table adds `n_treated_matched`, `n_control_matched` and
    `thin_support` (True: fewer matched wakes than the minimum), and the caption states the rule.
    """
    est = estimates.copy()
    pvalue = pd.to_numeric(est["pvalue"], errors="coerce")
    keep = est.loc[pvalue.notna() & (pvalue <= alpha)]
    table = pd.DataFrame({
        "t_days": pd.to_numeric(keep["t_window"]).astype("int64"),
        "s_km": pd.to_numeric(keep["spat_window"]).astype("int64"),
        "effect": pd.to_numeric(keep["estimate"], errors="coerce").round(decimals),
        "p_value": pd.to_numeric(keep["pvalue"], errors="coerce").round(decimals),
        "adj_r2": (pd.to_numeric(keep["adj.r.squared"], errors="coerce").round(decimals)
                   if "adj.r.squared" in keep else np.nan),
    })
    rule = ""
    if min_matched is not None:
        thin = thin_windows(est, min_matched)[(pvalue.notna() & (pvalue <= alpha)).to_numpy()]
        table[MATCHED_TREATED] = pd.to_numeric(keep[MATCHED_TREATED]).astype("int64").to_numpy()
        table[MATCHED_CONTROL] = pd.to_numeric(keep[MATCHED_CONTROL]).astype("int64").to_numpy()
        table["thin_support"] = thin
        n_thin = int(thin_windows(est, min_matched).sum())
        rule = (f"; thin_support marks windows with {support_rule(min_matched)} "
                f"({n_thin} of {len(est)} windows of the grid), whose estimates rest on few wakes")
    table = table.sort_values(["t_days", "s_km"], kind="stable").reset_index(drop=True)
    if caption is None:
        caption = f"Effect of QIPs: space-time windows with p ≤ {alpha:g}"
    fmt = f".{decimals}f"
    formats = {"effect": fmt, "p_value": fmt, "adj_r2": fmt, MATCHED_TREATED: "d", MATCHED_CONTROL: "d"}
    return _maybe_write(table, stem, caption + rule, formats, sources)


def table_aid_by_category(aid: pd.DataFrame, *, stem: Path | None = None,
                          caption: str = "Categories of humanitarian aid projects",
                          sources: Mapping | None = None) -> pd.DataFrame:
    """Appendix Table 2: number of aid-project (IATI) rows per sector group, alphabetical as printed.

    Counts the rows of the table given, as the paper did: its 15,670 projects are every location
    row of the aid export (prepare.read_iati), more than the analysis sample. Given an events table
    (with a `source` column) only its `iati` rows count.
    """
    rows = aid.loc[aid["source"] == "iati"] if "source" in aid.columns else aid
    labels_of_rows = rows["category"].fillna("").astype(str).str.strip().replace("", NOT_RECORDED)
    counts = labels_of_rows.value_counts()
    labels = sorted(counts.index)
    table = pd.DataFrame({"category": labels,
                          "n_projects": [int(counts[label]) for label in labels]})
    table["n_projects"] = table["n_projects"].astype("int64")
    return _maybe_write(table, stem, caption, {"n_projects": ",d"}, sources)


def table_covariate_summary(covariates: pd.DataFrame, *, decimals: int = 3, stem: Path | None = None,
                            caption: str = "Summary statistics of the matching covariates",
                            sources: Mapping | None = None) -> pd.DataFrame:
    """Appendix Table 3: n, mean, sd (n−1), min, quartiles (R type 7), max of the five covariates.

    A covariate without values or with a single value is kept (n = 0, or sd 0), warned about and
    named in the caption, since such a covariate cannot match anything.
    """
    degenerate = constant_columns(covariates, [c for _, c in COVARIATE_LABELS], what="Appendix Table 3")
    if degenerate:
        labels = dict((c, label) for label, c in COVARIATE_LABELS)
        caption += ". Degenerate: " + "; ".join(f"{labels[c]} {why}" for c, why in degenerate.items())
    rows = []
    for label, column in COVARIATE_LABELS:
        values = pd.to_numeric(covariates[column], errors="coerce").dropna().to_numpy(float)
        if len(values):
            stats = [values.mean(), values.std(ddof=1) if len(values) > 1 else np.nan, values.min(),
                     np.quantile(values, 0.25), np.quantile(values, 0.75), values.max()]
        else:
            stats = [np.nan] * 6
        rows.append([label, len(values)] + [round(float(s), decimals) for s in stats])
    table = pd.DataFrame(rows, columns=["statistic", "n", "mean", "sd", "min", "p25", "p75", "max"])
    table["n"] = table["n"].astype("int64")
    fmt = f".{decimals}f"
    return _maybe_write(table, stem, caption,
                        {c: fmt for c in ("mean", "sd", "min", "p25", "p75", "max")} | {"n": ",d"}, sources)


def table_cross_country(estimates_by_country: Mapping[str, pd.DataFrame], alpha: float = 0.05, *,
                        only_significant: bool = True, decimals: int = 2, stem: Path | None = None,
                        caption: str | None = None, min_matched=None,
                        sources: Mapping | None = None) -> pd.DataFrame:
    """Effects and p-values of several countries side by side, one row per space-time window.

    Columns `t_days, s_km`, then `<country> effect` and `<country> p_value` per country in the
    order given. With `only_significant`, keeps the windows significant (p ≤ alpha) in at least
    one country, so differences in where effects appear are visible at a glance. With
    `min_matched` (treated, control; the estimates need the matched counts, see
    :func:`load_estimates`), a window with fewer matched wakes is excluded from the comparison:
    its effect and p-value are left empty, `<country> n_treated_matched` / `n_control_matched`
    say why and `<country> excluded` flags it; the caption states the rule.
    """
    if not estimates_by_country:
        raise ValueError("estimates_by_country is empty")
    merged: pd.DataFrame | None = None
    count_columns = []
    n_excluded = 0
    for country, est in estimates_by_country.items():
        if min_matched is not None:
            est = exclude_thin_windows(est, min_matched)
            n_excluded += int(est["excluded"].sum())
        part = pd.DataFrame({
            "t_days": pd.to_numeric(est["t_window"]).astype("int64"),
            "s_km": pd.to_numeric(est["spat_window"]).astype("int64"),
            f"{country} effect": pd.to_numeric(est["estimate"], errors="coerce"),
            f"{country} p_value": pd.to_numeric(est["pvalue"], errors="coerce"),
        })
        if min_matched is not None:
            for column in (MATCHED_TREATED, MATCHED_CONTROL):
                part[f"{country} {column}"] = pd.to_numeric(est[column]).astype("int64")
                count_columns.append(f"{country} {column}")
            part[f"{country} excluded"] = est["excluded"].to_numpy(bool)
        merged = part if merged is None else merged.merge(part, on=["t_days", "s_km"], how="outer")
    merged = merged.sort_values(["t_days", "s_km"], kind="stable").reset_index(drop=True)
    p_columns = [c for c in merged.columns if c.endswith(" p_value")]
    if only_significant:
        significant = (merged[p_columns] <= alpha).any(axis=1)
        merged = merged.loc[significant].reset_index(drop=True)
    value_columns = [c for c in merged.columns if c.endswith((" effect", " p_value"))]
    merged[value_columns] = merged[value_columns].round(decimals)
    if caption is None:
        caption = (f"Effect of QIPs by country: windows with p ≤ {alpha:g} in at least one country"
                   if only_significant else "Effect of QIPs by country: all windows")
    if min_matched is not None:
        caption += (f". Windows with {support_rule(min_matched)} are excluded (effect and p-value empty, "
                    f"`excluded` true): {n_excluded} country-window(s)")
    fmt = f".{decimals}f"
    formats = {c: fmt for c in value_columns} | {c: "d" for c in count_columns}
    return _maybe_write(merged, stem, caption, formats, sources)


# --------------------------------------------------------------------------------------------
# Comparison with the published numbers
# --------------------------------------------------------------------------------------------

COMPARISON_COLUMNS = ["column", "produced", "published", "abs_diff", "tolerance", "status"]


def _key_tuple(values) -> tuple:
    """Normalise a key so that 20 == 20.0 and ' Other' == 'Other' when joining tables."""
    out = []
    for value in values:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            value = float(value)
            out.append(int(value) if value.is_integer() else value)
        else:
            out.append(str(value).strip())
    return tuple(out)


def compare_with_published(produced: pd.DataFrame, published: pd.DataFrame, *,
                           key_columns: Sequence[str], value_columns: Sequence[str],
                           tolerances: float | Mapping[str, float]) -> pd.DataFrame:
    """Cell-by-cell comparison of a produced table with its published counterpart.

    Rows are joined on `key_columns`. One output row per (key, value column) with the produced
    and published values, their absolute difference, the tolerance and a status: `match`
    (|diff| ≤ tolerance), `differs`, `missing` (published row absent from the reproduction) or
    `extra` (reproduced row the paper does not print, e.g. a window significant only here).
    Published order first, then extra rows in produced order.
    """
    key_columns, value_columns = list(key_columns), list(value_columns)
    if isinstance(tolerances, Mapping):
        missing_tol = [c for c in value_columns if c not in tolerances]
        if missing_tol:
            raise ValueError(f"no tolerance for columns {missing_tol}")
        tol = {c: float(tolerances[c]) for c in value_columns}
    else:
        tol = {c: float(tolerances) for c in value_columns}

    def index(df: pd.DataFrame, name: str) -> dict[tuple, dict]:
        absent = [c for c in key_columns + value_columns if c not in df.columns]
        if absent:
            raise KeyError(f"{name} table lacks columns {absent}")
        rows: dict[tuple, dict] = {}
        for record in df[key_columns + value_columns].to_dict("records"):
            key = _key_tuple(record[c] for c in key_columns)
            if key in rows:
                raise ValueError(f"{name} table has duplicate key {key}")
            rows[key] = record
        return rows

    prod, publ = index(produced, "produced"), index(published, "published")
    keys = list(publ) + [k for k in prod if k not in publ]
    out = []
    for key in keys:
        for column in value_columns:
            p_val = pd.to_numeric(prod[key][column], errors="coerce") if key in prod else np.nan
            q_val = pd.to_numeric(publ[key][column], errors="coerce") if key in publ else np.nan
            if key not in prod:
                status, diff = "missing", np.nan
            elif key not in publ:
                status, diff = "extra", np.nan
            else:
                diff = abs(float(p_val) - float(q_val))
                ok = (diff <= tol[column] + 1e-9) or (np.isnan(p_val) and np.isnan(q_val))
                status = "match" if ok else "differs"
            out.append(list(key) + [column, p_val, q_val, diff, tol[column], status])
    return pd.DataFrame(out, columns=key_columns + COMPARISON_COLUMNS)


# How each produced table is compared with the published CSVs: published file(s), key, values and
# tolerances (half a printed unit, or the README's ±1 USD for the funding rows).
PUBLISHED_TABLES: dict[str, dict] = {
    "table1_qip_funding_by_activity_type": {
        "title": "Table 1: QIP funding by activity type (US$)",
        "files": ["table1_qip_funding_by_activity_type.csv", "table1_qip_funding_total.csv"],
        "key_columns": ["activity_type"], "value_columns": ["funding_usd"],
        "tolerances": {"funding_usd": 1.0},
    },
    "appendix_table1_qip_funding_by_category": {
        "title": "Appendix Table 1: QIP funding by category (US$)",
        "files": ["appendix_table1_qip_funding_by_category.csv", "appendix_table1_qip_funding_total.csv"],
        "key_columns": ["category"], "value_columns": ["funding_usd"],
        "tolerances": {"funding_usd": 1.0},
    },
    "table2_conditional_means": {
        "title": "Table 2: conditional means of the covariates",
        "files": ["table2_conditional_means.csv"],
        "key_columns": ["event_type"],
        "value_columns": ["water_dist_km", "road_dist_km", "un_base_dist_km", "pop_density", "nightlights"],
        "tolerances": {"water_dist_km": 0.5, "road_dist_km": 0.5, "un_base_dist_km": 0.5,
                       "pop_density": 0.005, "nightlights": 0.005},
    },
    "table3_civilians_significant_windows": {
        "title": "Table 3: significant windows, violence against civilians",
        "files": ["table3_civilians_significant_windows.csv"],
        "key_columns": ["t_days", "s_km"], "value_columns": ["effect", "p_value", "adj_r2"],
        "tolerances": {"effect": 0.005, "p_value": 0.005, "adj_r2": 0.005},
    },
    "table4_battles_significant_windows": {
        "title": "Table 4: significant windows, battles",
        "files": ["table4_battles_significant_windows.csv"],
        "key_columns": ["t_days", "s_km"], "value_columns": ["effect", "p_value", "adj_r2"],
        "tolerances": {"effect": 0.005, "p_value": 0.005, "adj_r2": 0.005},
    },
    "appendix_table2_aid_projects_by_category": {
        "title": "Appendix Table 2: aid projects by category",
        "files": ["appendix_table2_aid_projects_by_category.csv"],
        "key_columns": ["category"], "value_columns": ["n_projects"],
        "tolerances": {"n_projects": 0.0},
    },
    "appendix_table3_covariate_summary": {
        "title": "Appendix Table 3: summary statistics of the covariates",
        "files": ["appendix_table3_covariate_summary.csv"],
        "key_columns": ["statistic"], "value_columns": ["n", "mean", "sd", "min", "p25", "p75", "max"],
        "tolerances": {"n": 0.0, "mean": 0.0005, "sd": 0.0005, "min": 0.0005, "p25": 0.0005,
                       "p75": 0.0005, "max": 0.0005},
    },
    "appendix_table4_nsag_significant_windows": {
        "title": "Appendix Table 4: significant windows, NSAG activity",
        "files": ["appendix_table4_nsag_significant_windows.csv"],
        "key_columns": ["t_days", "s_km"], "value_columns": ["effect", "p_value", "adj_r2"],
        "tolerances": {"effect": 0.005, "p_value": 0.005, "adj_r2": 0.005},
    },
}

# Why a reproduction can differ from the printed numbers, per table (shown in the report).
KNOWN_REASONS: dict[str, str] = {
    "table1_qip_funding_by_activity_type": (
        "The UN Peace and Security Data Hub's QIP dataset is living data: projects are added and "
        "amounts revised, so a new download need not hold the paper's 451 rows. The printed rows sum "
        "to one dollar more than the printed total (each row rounded on its own)."),
    "appendix_table1_qip_funding_by_category": (
        "Same QIP file as Table 1 (living data); the category labels depend on the provider's coding."),
    "table2_conditional_means": (
        "Depends on every input: the events (ACLED revises past events, IATI grows), the OSM roads and "
        "waterways (edited continuously; the paper used a HOT export of its time), the rasters and the "
        "base polygons. Distances here are geodesic."),
    "table3_civilians_significant_windows": (
        "Significance depends on the exact event set (ACLED revisions change the outcome counts) and on "
        "the matching; the paper used R mwa with CEM, our engine is a Python port. A window near "
        "p = 0.05 can enter or leave the table."),
    "table4_battles_significant_windows": (
        "As Table 3: outcome events revised by ACLED, and the matching of the port."),
    "appendix_table2_aid_projects_by_category": (
        "The paper's counts (15,670 in total) exceed its analysis sample (N = 7,936), so they count IATI "
        "activity rows before the study filters; IATI publishers keep adding and revising activities."),
    "appendix_table3_covariate_summary": (
        "Same inputs as Table 2. The paper's night lights are cloud-free coverage counts (cf_cvg), kept "
        "in the faithful configuration."),
    "appendix_table4_nsag_significant_windows": (
        "As Table 3; ACLED's actor coding (inter1 codes vs labels) also decides which events count."),
}

SYNTHETIC_REASON = (
    "These results come from the built-in synthetic world, not from the real data, so no number is "
    "expected to match: the comparison only shows that every table has the published shape.")
MIXED_REASON = (
    "Some inputs of this run are synthetic. Each section below says which inputs its table rests on: "
    "only tables resting on real inputs alone (downloaded or user files) are compared with the published "
    "numbers; the others are labelled and compared for their shape only.")

# How a section reads, by the status of its inputs (qipstudy.sources.input_status).
_SECTION_WORDING = {
    "real": "Rests on real inputs only: {inputs}. Compared with the published numbers.",
    "partly synthetic": ("Rests partly on synthetic inputs ({synthetic} from the built-in synthetic world; "
                         "real: {real}): its numbers are not expected to match, so the comparison shows the "
                         "table's shape only."),
    "synthetic": ("Rests only on the built-in synthetic world ({synthetic}): no number is expected to match; "
                  "the comparison shows the table's shape only."),
    "not recorded": "Its inputs were not recorded: read the comparison with care.",
}
_SUMMARY_STATUS = {"real": "real", "partly synthetic": "partly synthetic (shape only)",
                   "synthetic": "synthetic (shape only)", "not recorded": "not recorded"}


def load_published(table_id: str, published_dir: Path) -> pd.DataFrame:
    """Read a published table; a separate Total file is appended as a row, as our tables have it."""
    spec = PUBLISHED_TABLES[table_id]
    main = pd.read_csv(Path(published_dir) / spec["files"][0])
    for extra in spec["files"][1:]:
        total = pd.read_csv(Path(published_dir) / extra)
        total = total.rename(columns={"label": spec["key_columns"][0]})
        main = pd.concat([main, total[main.columns]], ignore_index=True)
    return main


def compare_table(table_id: str, produced: pd.DataFrame, published_dir: Path) -> pd.DataFrame:
    """:func:`compare_with_published` with the key, values and tolerances of `PUBLISHED_TABLES`."""
    spec = PUBLISHED_TABLES[table_id]
    return compare_with_published(produced, load_published(table_id, published_dir),
                                  key_columns=spec["key_columns"], value_columns=spec["value_columns"],
                                  tolerances=spec["tolerances"])


def _markdown_cell(value) -> str:
    """Whole numbers with thousands separators, others to four significant digits."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        return f"{int(value):,}" if float(value).is_integer() else f"{value:.4g}"
    return str(value).replace("|", r"\|")


def _section_wording(sources: Mapping | None) -> str:
    status = input_status(sources)
    if status == "not recorded":
        return _SECTION_WORDING[status]
    records = normalise_sources(sources)
    synthetic = synthetic_datasets(records)
    real = {d: rec for d, rec in records.items() if d not in synthetic}
    return _SECTION_WORDING[status].format(
        inputs=describe_sources(records), synthetic=", ".join(synthetic),
        real=describe_sources(real) if real else "none")


def reproduction_report(comparisons: Mapping[str, pd.DataFrame], path: Path, *,
                        sources_by_table: Mapping[str, Mapping] | None = None, data_note: str = "",
                        reasons: Mapping[str, str] | None = None) -> str:
    """Write a Markdown report: per table, which inputs it rests on, how many cells match and which
    differ, and why they may.

    `comparisons` maps a table id (keys of `PUBLISHED_TABLES`, or any name) to the output of
    :func:`compare_with_published`; `sources_by_table` maps the same ids to the datasets the
    table rests on and their modes ({dataset: mode}, see :func:`qipstudy.sources.sources_of`).
    A table resting on real inputs only is compared cell by cell, with its differences and their
    known reasons; a table with any synthetic input is labelled as such and only its shape (cell,
    missing and extra counts) is reported — its numbers could not match. The banner says whether
    the whole run, part of it or none of it is synthetic. Returns the Markdown text as well.
    """
    reasons = {**KNOWN_REASONS, **dict(reasons or {})}
    sources_by_table = dict(sources_by_table or {})
    status = {table_id: input_status(sources_by_table.get(table_id)) for table_id in comparisons}
    lines = ["# Reproduction report: Sauter (2022)", ""]
    kinds = set(status.values())
    if kinds == {"synthetic"}:
        lines += [f"> {SYNTHETIC_REASON}", ""]
    elif kinds & {"synthetic", "partly synthetic"}:
        lines += [f"> {MIXED_REASON}", ""]
    if data_note:
        lines += [data_note, ""]
    lines += ["| table | inputs | cells | match | differ | missing | extra |",
              "|:---|:---|---:|---:|---:|---:|---:|"]
    for table_id, comp in comparisons.items():
        counts = comp["status"].value_counts()
        shape_only = status[table_id] in ("synthetic", "partly synthetic")
        match = "–" if shape_only else counts.get("match", 0)
        differ = "–" if shape_only else counts.get("differs", 0)
        lines.append(f"| {table_id} | {_SUMMARY_STATUS[status[table_id]]} | {len(comp)} | {match} | {differ} "
                     f"| {counts.get('missing', 0)} | {counts.get('extra', 0)} |")
    lines.append("")
    for table_id, comp in comparisons.items():
        title = PUBLISHED_TABLES.get(table_id, {}).get("title", table_id)
        lines += [f"## {title}", "", _section_wording(sources_by_table.get(table_id)), ""]
        if status[table_id] in ("synthetic", "partly synthetic"):
            counts = comp["status"].value_counts()
            lines += [f"Shape: {len(comp)} cells; {counts.get('missing', 0)} published cells have no produced row "
                      f"and {counts.get('extra', 0)} produced cells have no published row. Values are not compared.",
                      ""]
            continue
        n_match = int((comp["status"] == "match").sum())
        lines += [f"{n_match} of {len(comp)} cells match the published values within tolerance.", ""]
        off = comp.loc[comp["status"] != "match"]
        if len(off):
            columns = list(off.columns)
            lines.append("| " + " | ".join(columns) + " |")
            numeric = {"produced", "published", "abs_diff", "tolerance"}
            lines.append("|" + "|".join("---:" if c in numeric else ":---" for c in columns) + "|")
            for row in off.itertuples(index=False, name=None):
                lines.append("| " + " | ".join(_markdown_cell(v) for v in row) + " |")
            lines.append("")
            if table_id in reasons:
                lines += [f"Known reasons: {reasons[table_id]}", ""]
        else:
            lines += ["All cells match.", ""]
    text = "\n".join(lines)
    _write_text_atomic(Path(path), text)
    return text


def write_reproduction_report(table_csvs: Sequence[Path], published_dir: Path, path: Path, *,
                              published_tables: Mapping[str, str], dataset_modes: Mapping[str, object],
                              outcome_source: str = "acled", data_note: str = "") -> str:
    """The reproduction report of one country's produced tables (rule make_reproduction_report).

    `table_csvs`: the produced tables (`<stem>.csv`); a `significant_windows_<outcome>` table is
    compared with the published table `published_tables[<outcome>]`, any other with the
    published table of the same stem. The inputs of each table come from the registry
    (:data:`qipstudy.sources.OUTPUT_DATASETS`) and the run's `dataset_modes`.
    """
    comparisons, sources_by_table = {}, {}
    for csv in map(Path, table_csvs):
        stem = csv.name.removesuffix(".csv")
        table_id = stem
        if stem.startswith("significant_windows_"):
            outcome = stem.removeprefix("significant_windows_")
            if outcome not in published_tables:
                raise ValueError(f"{csv}: outcome {outcome!r} has no published table "
                                 f"(config outcomes.{outcome}.published_table)")
            table_id = published_tables[outcome]
        if table_id not in PUBLISHED_TABLES:
            raise ValueError(f"{csv}: no published table {table_id!r}; known: {', '.join(PUBLISHED_TABLES)}")
        try:
            produced = pd.read_csv(csv)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise ValueError(f"{csv}: cannot read the produced table ({err})") from err
        comparisons[table_id] = compare_table(table_id, produced, published_dir)
        sources_by_table[table_id] = sources_of(stem, dataset_modes, outcome_source=outcome_source)
    return reproduction_report(comparisons, path, sources_by_table=sources_by_table, data_note=data_note)
