"""The paper's figures from the derived data, in one style, saved as PNG (150 dpi) + PDF.

Every builder returns its matplotlib Figure and, given a `stem`, writes `stem.png` and `stem.pdf`
through :func:`save_figure` (atomic, without time stamps, so reruns give identical files).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.dates as mdates
import matplotlib.patheffects as path_effects
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from qipstudy.atomic import write_with
from qipstudy.tables import COVARIATE_LABELS

log = logging.getLogger(__name__)

# One style for every figure: small sans-serif type sized for a printed page, no chart junk.
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#333333",
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 11,
    "figure.titleweight": "bold",
    "hatch.linewidth": 0.8,
    "pdf.fonttype": 42,
}
DPI = 150

# Okabe–Ito colours (colour-blind safe); the same event type has the same colour in every figure.
EVENT_COLORS = {
    "iati": "#0072B2",
    "qip": "#E69F00",
    "Violence against civilians": "#D55E00",
    "Battles": "#009E73",
    "Explosions/Remote violence": "#CC79A7",
    "Strategic developments": "#56B4E9",
    "Riots": "#999999",
    "Protests": "#666666",
}
HIGHLIGHT = "#D55E00"
MUTED = ["#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#999999", "#E69F00"]
EVENT_LABELS = {"iati": "Aid projects", "qip": "QIPs"}
OUTCOME_LABELS = {
    "civilians": "Violence against civilians",
    "battles": "Battles",
    "nsag": "NSAG activity",
}
# The five matching covariates as (column, label), with the labels of the appendix.
COVARIATES = tuple((column, label) for label, column in COVARIATE_LABELS)
# Gap (degrees, about 0.1 m) closed between admin-3 polygons before dissolving them for drawing.
_SLIVER_DEG = 1e-6


def _style():
    return plt.rc_context(STYLE)


def save_figure(fig: matplotlib.figure.Figure, stem: Path) -> list[Path]:
    """Write `stem.png` (150 dpi) and `stem.pdf` atomically; returns both paths.

    Time stamps and the software version are left out of the metadata so that a rerun with the
    same inputs writes byte-identical files and Snakemake sees nothing new.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}
    paths = []
    for ext in ("png", "pdf"):
        path = stem.with_name(f"{stem.name}.{ext}")

        def draw(tmp: Path, ext: str = ext) -> None:
            with _style():
                fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight", metadata=metadata[ext])

        paths.append(write_with(path, draw))
    return paths


def _finish(fig, stem):
    if stem is not None:
        save_figure(fig, stem)
    return fig


def event_label(event_type: str) -> str:
    """Readable label of an `event_type` value (`qip` → QIPs)."""
    return EVENT_LABELS.get(event_type, event_type)


def _event_color(event_type: str, fallback_index: int = 0) -> str:
    return EVENT_COLORS.get(event_type, MUTED[fallback_index % len(MUTED)])


def _grid(n: int, ncols: int | None, panel=(3.4, 2.6), **kwargs):
    ncols = ncols or min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False,
                             layout="constrained", **kwargs)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


# --------------------------------------------------------------------------------------------
# Figure 1: attacks on aid workers and peacekeepers
# --------------------------------------------------------------------------------------------

# The paper's Figure 1: all fatality types, 2010-2020, the five missions and countries with most.
FIGURE1_YEARS = (2010, 2020)
FIGURE1_TOP_N = 5


def _top_groups(counts: pd.DataFrame, focus: str | None, top_n: int, chosen: Sequence[str] | None) -> list:
    """The `top_n` groups by total (ties by name), or the `chosen` ones; the focus group is added."""
    if chosen is not None:
        groups = [g for g in chosen if g in counts.columns]
    else:
        totals = counts.sum()  # NaN years (gaps) count as nothing
        order = sorted(totals.index, key=lambda g: (-totals[g], str(g)))
        groups = order[:top_n]
    if focus is not None and focus in counts.columns and focus not in groups:
        groups.append(focus)
    return groups


def _yearly_lines(ax, counts: pd.DataFrame, groups: Sequence[str], focus: str | None, ylabel: str, title: str):
    """Plot yearly counts (index year, one column per group) of `groups`, `focus` highlighted."""
    others = [g for g in groups if g != focus]
    for i, group in enumerate(others):
        ax.plot(counts.index, counts[group], color=MUTED[i % len(MUTED)], lw=1.2, marker="o", ms=2.5,
                alpha=0.85, label=str(group))
    if focus is not None and focus in groups:
        ax.plot(counts.index, counts[focus], color=HIGHLIGHT, lw=2.8, marker="o", ms=4, label=str(focus),
                zorder=5)
    ax.set_xlabel("Year")
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)


def _yearly_counts(years: pd.Series, groups: pd.Series, weights: pd.Series, span: tuple[int, int], *,
                   covered: set[int], what: str) -> pd.DataFrame:
    """Year × group sums over every year of `span`: 0 where a group had nothing in a year the
    data covers, NaN (a gap, and an empty cell in the CSV) where the data has no record at all."""
    frame = pd.DataFrame({"year": years, "group": groups, "w": weights}).dropna(subset=["year"])
    frame = frame.loc[frame["year"].between(span[0], span[1])].assign(year=lambda d: d["year"].astype(int))
    counts = frame.groupby(["year", "group"])["w"].sum().unstack(fill_value=0)
    counts = counts.reindex(range(span[0], span[1] + 1), fill_value=0).sort_index().astype(float)
    gaps = [y for y in counts.index if y not in covered]
    if gaps:
        log.warning("Figure 1: the %s data has no record in %s; shown as a gap, not as 0", what,
                    ", ".join(map(str, gaps)))
        counts.loc[gaps] = np.nan
    return counts


def _panel_data(panel: str, counts: pd.DataFrame, groups: Sequence[str], focus: str | None) -> pd.DataFrame:
    rank = {g: i + 1 for i, g in enumerate(groups)}
    return pd.DataFrame([{"panel": panel, "group": g, "year": int(y), "value": counts.at[y, g],
                          "rank": rank[g], "highlighted": g == focus}
                         for g in groups for y in counts.index])


def figure_attacks(awsd: pd.DataFrame, fatalities: pd.DataFrame, country: str | Sequence[str], mission: str,
                   stem: Path | None = None, *, years: Sequence[int] = FIGURE1_YEARS, top_n: int = FIGURE1_TOP_N,
                   incident_types: Sequence[str] | None = None, personnel_types: Sequence[str] | None = None,
                   missions: Sequence[str] | None = None, countries: Sequence[str] | None = None,
                   awsd_measure: str = "incidents") -> matplotlib.figure.Figure:
    """Figure 1: yearly attacks on aid workers (AWSD) and peacekeeper fatalities (UN), top groups.

    As published: every fatality type, the years 2010-2020 (both inclusive, for both panels) and
    the `top_n` missions / countries with most fatalities / incidents in those years. Filters
    (`incident_types`, e.g. ["Malicious Act"]; `personnel_types`) and explicit `missions` /
    `countries` lists (instead of the ranking) are options. `awsd_measure` is "incidents" (rows)
    or an AWSD count column such as "Total affected". The study country (`country`: a name or
    code, or several, e.g. [name, ISO2], matched on AWSD `Country` or `Country Code`,
    case-insensitive) and mission are highlighted and added when outside the top group. Takes the AWSD export / awsd.csv and either fatalities naming (hub or
    older export); given a `stem`, writes `stem.png`, `stem.pdf` and `stem.csv` (the plotted
    numbers: panel, group, year, value, rank, highlighted).
    """
    from qipstudy.retrieve.figure1 import awsd_table, fatalities_table  # the retrieve package is heavy

    span = (int(years[0]), int(years[1]))
    if span[0] > span[1]:
        raise ValueError(f"years must be (first, last), got {tuple(years)}")
    aid = awsd_table(awsd)
    if awsd_measure == "incidents":
        weights = pd.Series(1.0, index=aid.index)
    elif awsd_measure in awsd.columns:
        keep = ~awsd["Year"].astype(str).str.strip().str.startswith("#")
        weights = pd.to_numeric(awsd.loc[keep, awsd_measure], errors="coerce").fillna(0.0).reset_index(drop=True)
    else:
        raise ValueError(f"awsd_measure {awsd_measure!r} is neither 'incidents' nor an AWSD column")
    names = {c.casefold() for c in ([country] if isinstance(country, str) else country)}
    is_focus = aid["country"].str.casefold().isin(names) | aid["country_code"].str.casefold().isin(names)
    focus_country = aid.loc[is_focus, "country"].mode().iat[0] if is_focus.any() else None
    aid_counts = _yearly_counts(aid["year"], aid["country"], weights, span,
                                covered=set(aid["year"].dropna().astype(int)), what="AWSD")

    fat = fatalities_table(fatalities)
    fat_covered = set(fat["year"].dropna().astype(int))  # before any filter: the years the table covers
    for column, wanted in (("incident_type", incident_types), ("personnel_type", personnel_types)):
        if wanted is not None:
            keys = {str(t).strip().casefold() for t in wanted}
            fat = fat.loc[fat[column].str.casefold().isin(keys)]
    pk_counts = _yearly_counts(fat["year"], fat["mission"], pd.Series(1.0, index=fat.index), span,
                               covered=fat_covered, what="UN fatalities")
    focus_mission = next((m for m in pk_counts.columns if str(m).casefold() == mission.casefold()), None)

    aid_groups = _top_groups(aid_counts, focus_country, top_n, countries)
    pk_groups = _top_groups(pk_counts, focus_mission, top_n, missions)
    with _style():
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        what = "incidents" if awsd_measure == "incidents" else awsd_measure.lower()
        _yearly_lines(left, aid_counts, aid_groups, focus_country, f"{what.capitalize()} per year",
                      f"Attacks on aid workers, {span[0]}–{span[1]}")
        cause = f" ({', '.join(incident_types)})" if incident_types is not None else ""
        _yearly_lines(right, pk_counts, pk_groups, focus_mission, "Fatalities per year",
                      f"Peacekeeper fatalities{cause}, {span[0]}–{span[1]}")
    data = pd.concat([_panel_data("aid_workers_awsd", aid_counts, aid_groups, focus_country),
                      _panel_data("peacekeeper_fatalities", pk_counts, pk_groups, focus_mission)],
                     ignore_index=True)
    if stem is not None:
        stem = Path(stem)
        write_with(stem.with_name(stem.name + ".csv"),
                   lambda tmp: tmp.write_text(data.to_csv(index=False, lineterminator="\n"), encoding="utf-8"))
    return _finish(fig, stem)


# --------------------------------------------------------------------------------------------
# Figure 4: map
# --------------------------------------------------------------------------------------------

def _place_labels(ax, points: Sequence[tuple[float, float, str, bool]]) -> None:
    """Label towns without overlaps: try eight offsets per label, keep the first free one."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    offsets = [(5, 3, "left", "bottom"), (5, -3, "left", "top"), (-5, 3, "right", "bottom"),
               (-5, -3, "right", "top"), (0, 6, "center", "bottom"), (0, -6, "center", "top"),
               (7, 0, "left", "center"), (-7, 0, "right", "center")]
    taken = []
    for x, y, _, _ in points:  # markers are obstacles too
        px, py = ax.transData.transform((x, y))
        taken.append(matplotlib.transforms.Bbox.from_extents(px - 3, py - 3, px + 3, py + 3))
    halo = [path_effects.withStroke(linewidth=2.5, foreground="white")]
    axes_box = ax.get_window_extent(renderer)

    def annotate(x, y, text, bold, dx, dy, ha, va):
        label = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                            fontsize=8, fontweight="bold" if bold else "normal", color="#222222",
                            path_effects=halo, zorder=10)
        label.set_in_layout(False)
        return label, label.get_window_extent(renderer)

    for x, y, text, bold in points:
        for dx, dy, ha, va in offsets:
            label, box = annotate(x, y, text, bold, dx, dy, ha, va)
            inside = axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1 and axes_box.y0 <= box.y0 and box.y1 <= axes_box.y1
            if inside and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                break
            label.remove()
        else:  # crowded everywhere: keep the first position rather than drop the name
            label, box = annotate(x, y, text, bold, *offsets[0])
            taken.append(box)


def dissolve_admin1(admin, admin1_field: str):
    """Admin-1 polygons (WGS84) from finer ones, for drawing.

    Admin-3 files rarely share edges exactly; a 0.1 m buffer before the dissolve (undone after)
    closes the slivers that would otherwise be drawn as stray lines inside the regions.
    """
    import geopandas as gpd
    import shapely

    regions = gpd.GeoDataFrame(admin).to_crs("EPSG:4326")
    regions = regions.set_geometry(shapely.buffer(np.asarray(regions.geometry.array), _SLIVER_DEG))
    regions = regions.dissolve(by=admin1_field, as_index=False)[[admin1_field, "geometry"]]
    return regions.set_geometry(shapely.buffer(np.asarray(regions.geometry.array), -_SLIVER_DEG))


def map_events(events: pd.DataFrame, admin1, roads, towns, study_regions: Sequence[str], capital,
               stem: Path | None = None, *, admin1_field: str = "ADM1_FR",
               outcome_column: str = "outcome_civilians", outcome_label: str = "Violence against civilians",
               title: str | None = None) -> matplotlib.figure.Figure:
    """Figure 4: aid projects, QIPs and an outcome's events over the admin-1 boundaries.

    `admin1`: GeoDataFrame of admin-1 (or finer, dissolved here) polygons carrying `admin1_field`;
    `roads`: GeoDataFrame of road lines or None; `towns`: DataFrame or records with `name, lat,
    lon`; `capital`: a town name from `towns` or a `(lon, lat, name)` triple. The study regions
    are shaded; events are plotted in WGS84 with the aspect corrected for latitude.
    """
    import geopandas as gpd  # heavy import only for the map

    regions = dissolve_admin1(admin1, admin1_field)
    towns = pd.DataFrame(towns)
    if isinstance(capital, str):
        match = towns.loc[towns["name"].astype(str).str.casefold() == capital.casefold()]
        if match.empty:
            raise ValueError(f"capital {capital!r} not among the towns")
        cap_lon, cap_lat, cap_name = float(match["lon"].iat[0]), float(match["lat"].iat[0]), capital
    else:
        cap_lon, cap_lat, cap_name = capital
    others = towns.loc[towns["name"].astype(str).str.casefold() != str(cap_name).casefold()]

    with _style():
        fig, ax = plt.subplots(figsize=(8.0, 6.6), layout="constrained")
        study = regions[admin1_field].isin(list(study_regions))
        regions.loc[study].plot(ax=ax, color="#f1e3c6", edgecolor="none", zorder=0)
        regions.boundary.plot(ax=ax, color="#555555", linewidth=0.7, zorder=1)
        if roads is not None and len(roads):
            gpd.GeoDataFrame(roads).to_crs("EPSG:4326").plot(ax=ax, color="#777777", linewidth=0.8,
                                                               linestyle=(0, (1, 1.5)), zorder=2)
        outcome_key = "Battles" if outcome_column == "outcome_battles" else "Violence against civilians"
        # (rows, colour key, legend label, marker, size, alpha, zorder): treatment drawn on top.
        layers = [
            (events["event_type"] == "iati", "iati", "Aid projects", "o", 6, 0.35, 3),
            (events["event_type"] == "qip", "qip", "QIPs", "^", 12, 0.95, 5),
            (events[outcome_column] == 1, outcome_key, outcome_label, "x", 12, 0.7, 4),
        ]
        handles = []
        for mask, key, label, marker, size, alpha, zorder in layers:
            sel = events.loc[mask]
            color = _event_color(key)
            if marker == "x":
                ax.scatter(sel["lon"], sel["lat"], s=size, marker=marker, color=color, alpha=alpha,
                           linewidths=0.8, zorder=zorder)
            else:
                ax.scatter(sel["lon"], sel["lat"], s=size, marker=marker, color=color, alpha=alpha,
                           linewidths=0.3, edgecolors="#333333" if key == "qip" else "none", zorder=zorder)
            handles.append(Line2D([], [], ls="none", marker=marker, color=color, markersize=6,
                                  label=f"{label} (n = {len(sel):,})"))
        ax.scatter(others["lon"], others["lat"], s=10, color="#222222", zorder=6)
        ax.scatter([cap_lon], [cap_lat], s=110, marker="*", color="#222222", edgecolors="white",
                   linewidths=0.6, zorder=7)

        minx, miny, maxx, maxy = regions.total_bounds
        ax.set_aspect(1.0 / math.cos(math.radians((miny + maxy) / 2)))  # equal km on both axes
        ax.set_xlabel("")
        ax.set_ylabel("")
        pad = 0.03 * max(maxx - minx, maxy - miny)
        ax.set_xlim(minx - pad, maxx + pad)
        ax.set_ylim(miny - pad, maxy + pad)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: f"{abs(v):g}°{'E' if v > 0 else 'W' if v < 0 else ''}"))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: f"{abs(v):g}°{'N' if v > 0 else 'S' if v < 0 else ''}"))
        ax.tick_params(length=2)
        for spine in ax.spines.values():
            spine.set_visible(False)
        fig.canvas.draw()  # fix the layout before measuring labels
        points = [(cap_lon, cap_lat, str(cap_name), True)] + [
            (float(r.lon), float(r.lat), str(r.name), False) for r in others.itertuples()]
        _place_labels(ax, points)

        handles += [
            Patch(facecolor="#f1e3c6", edgecolor="#555555", linewidth=0.7, label="Study regions"),
            Line2D([], [], color="#777777", linestyle=(0, (1, 1.5)), lw=1.0, label="Main roads"),
            Line2D([], [], ls="none", marker="*", color="#222222", markersize=10, label=f"Capital ({cap_name})"),
            Line2D([], [], ls="none", marker="o", color="#222222", markersize=3.5, label="Major towns"),
        ]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.5)
        if title:
            ax.set_title(title, loc="left")
    return _finish(fig, stem)


# --------------------------------------------------------------------------------------------
# Figure 5: event dates
# --------------------------------------------------------------------------------------------

def _event_type_order(events: pd.DataFrame) -> list[str]:
    """Aid projects and QIPs first, then the outcome types by decreasing count."""
    counts = events["event_type"].value_counts()
    head = [t for t in ("iati", "qip") if t in counts.index]
    rest = sorted((t for t in counts.index if t not in head), key=lambda t: (-counts[t], t))
    return head + rest


def histogram_event_dates(events: pd.DataFrame, stem: Path | None = None, *, bins: int = 30,
                          ncols: int | None = None) -> matplotlib.figure.Figure:
    """Figure 5: histograms of event dates (`bins` bins over the common date range), one panel per
    event type, so the timing of treatment, control and outcomes can be compared."""
    dates = pd.to_datetime(events["date"])
    order = _event_type_order(events)
    lo, hi = dates.min(), dates.max()
    if lo == hi:
        lo, hi = lo - pd.Timedelta(days=1), hi + pd.Timedelta(days=1)
    edges = mdates.date2num(pd.date_range(lo, hi, periods=bins + 1).to_pydatetime())
    with _style():
        fig, axes = _grid(len(order), ncols, panel=(3.4, 2.4), sharex=True)
        for i, (ax, event_type) in enumerate(zip(axes, order)):
            sel = mdates.date2num(dates[events["event_type"] == event_type].dt.to_pydatetime())
            ax.hist(sel, bins=edges, color=_event_color(event_type, i), edgecolor="white", linewidth=0.3)
            ax.set_title(f"{event_label(event_type)} (n = {len(sel):,})", loc="left", fontsize=9)
            ax.xaxis.set_major_locator(mdates.YearLocator())
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=4))
            ax.grid(axis="y", color="#dddddd", lw=0.6)
            ax.set_ylabel("Events")
            ax.tick_params(labelbottom=True)
        fig.supxlabel("Event date", fontsize=9)
    return _finish(fig, stem)


# --------------------------------------------------------------------------------------------
# Figure 6 and cross-country: space-time heatmaps
# --------------------------------------------------------------------------------------------

def _draw_heatmap(ax, estimates, *, style, t_unit, alpha1, alpha2, zlim, title):
    from matchedwake import plotting  # written alongside; imported late so tables work without it

    if style == "tiles":
        plotting.plot_tiles(estimates, t_unit=t_unit, alpha1=alpha1, alpha2=alpha2, adjust="none", ax=ax,
                            title=title)
    elif style == "r":
        plotting.plot_r_style(estimates, t_unit=t_unit, alpha1=alpha1, alpha2=alpha2, zlim=zlim,
                              plot_nas=True, adjust="none", ax=ax)
        ax.set_title(title, loc="left")
    else:
        raise ValueError(f"style must be 'tiles' or 'r', not {style!r}")


def _finite_range(frames) -> tuple[float, float] | None:
    values = np.concatenate([pd.to_numeric(f["estimate"], errors="coerce").to_numpy(float) for f in frames])
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if lo < hi else (lo - 0.5, hi + 0.5)


def heatmaps(estimates_by_outcome: Mapping[str, pd.DataFrame], stem: Path | None = None, *,
             style: str = "tiles", t_unit: str = "days", alpha1: float = 0.05, alpha2: float = 0.1,
             titles: Mapping[str, str] | None = None, ncols: int | None = None) -> matplotlib.figure.Figure:
    """Figure 6 (and appendix Figure 3): one space-time heatmap per outcome.

    `style="tiles"` draws :func:`matchedwake.plotting.plot_tiles` (one cell per window), `"r"`
    the filled-contour look of R mwa's `plot` via `plot_r_style`. Keys are outcome names
    (`civilians`, `battles`, `nsag` get the paper's titles).
    """
    titles = {**OUTCOME_LABELS, **dict(titles or {})}
    with _style():
        fig, axes = _grid(len(estimates_by_outcome), ncols, panel=(4.2, 3.6))
        for ax, (outcome, est) in zip(axes, estimates_by_outcome.items()):
            _draw_heatmap(ax, est, style=style, t_unit=t_unit, alpha1=alpha1, alpha2=alpha2, zlim=None,
                          title=titles.get(outcome, outcome))
    return _finish(fig, stem)


def cross_country_heatmaps(estimates_by_country: Mapping[str, pd.DataFrame], outcome: str,
                           stem: Path | None = None, *, style: str = "r", t_unit: str = "days",
                           alpha1: float = 0.05, alpha2: float = 0.1,
                           ncols: int | None = None, title: str | None = None) -> matplotlib.figure.Figure:
    """Small multiples of one outcome's heatmap per country (or per variant: pass `title`).

    With `style="r"` all panels share one colour scale (the range of all countries' estimates), so
    shades compare across countries; `"tiles"` scales each panel on its own.
    """
    zlim = _finite_range(estimates_by_country.values()) if style == "r" else None
    with _style():
        fig, axes = _grid(len(estimates_by_country), ncols, panel=(4.2, 3.6))
        for ax, (country, est) in zip(axes, estimates_by_country.items()):
            _draw_heatmap(ax, est, style=style, t_unit=t_unit, alpha1=alpha1, alpha2=alpha2, zlim=zlim,
                          title=country)
        fig.suptitle(title or f"Effect of QIPs on {OUTCOME_LABELS.get(outcome, outcome).lower()}, by country")
    return _finish(fig, stem)


# --------------------------------------------------------------------------------------------
# Appendix Figures 1–2: covariates
# --------------------------------------------------------------------------------------------

def _covariate_labels(columns: Sequence[str] | None) -> list[tuple[str, str]]:
    """The paper's five covariates by default; other match columns keep their own name."""
    if columns is None:
        return list(COVARIATES)
    known = dict(COVARIATES)
    return [(column, known.get(column, column)) for column in columns]


def histogram_covariates(covariates: pd.DataFrame, stem: Path | None = None, *, bins: int = 30,
                         columns: Sequence[str] | None = None) -> matplotlib.figure.Figure:
    """Appendix Figure 1: distribution of each matching covariate over all events (default: the
    paper's five, in the appendix order)."""
    pairs = _covariate_labels(columns)
    with _style():
        fig, axes = _grid(len(pairs), 3, panel=(3.2, 2.4))
        for ax, (column, label) in zip(axes, pairs):
            values = pd.to_numeric(covariates[column], errors="coerce").dropna()
            ax.hist(values, bins=bins, color="#0072B2", edgecolor="white", linewidth=0.3)
            ax.set_xlabel(label)
            ax.set_ylabel("Events")
            ax.grid(axis="y", color="#dddddd", lw=0.6)
    return _finish(fig, stem)


def correlation_matrix(covariates: pd.DataFrame, stem: Path | None = None, *,
                       columns: Sequence[str] | None = None) -> matplotlib.figure.Figure:
    """Appendix Figure 2: Pearson correlations of the matching covariates, annotated, so that
    collinear covariates (which coarsened matching handles poorly) stand out."""
    pairs = _covariate_labels(columns)
    columns = [c for c, _ in pairs]
    labels = [label for _, label in pairs]
    corr = covariates[columns].apply(pd.to_numeric, errors="coerce").corr().to_numpy()
    with _style():
        n = len(labels)
        fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * n + 1.6), max(3.4, 0.9 * n + 0.3)), layout="constrained")
        image = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        for i in range(len(labels)):
            for j in range(len(labels)):
                value = corr[i, j]
                text = "" if np.isnan(value) else f"{value:.2f}".replace("-0.00", "0.00")
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if abs(value) > 0.6 else "#222222")
        fig.colorbar(image, ax=ax, shrink=0.8, label="Pearson correlation")
    return _finish(fig, stem)
