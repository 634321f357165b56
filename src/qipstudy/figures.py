"""The paper's figures from the derived data, in one style, saved as PNG (150 dpi) + PDF.

Every builder returns its matplotlib Figure and, given a `stem`, writes `stem.png` and `stem.pdf`
through :func:`save_figure` (atomic, without time stamps, so reruns give identical files), and
beside them `stem.csv`, the numbers the figure plots (bin counts, points, window estimates), so
that a figure can be checked and redrawn without the code. Given `sources` ({dataset: mode},
from :func:`qipstudy.sources.sources_of`), a figure resting on synthetic inputs says so under its
title, and `stem.sources.json` records its inputs.
"""
from __future__ import annotations

import logging
import math
import textwrap
import warnings
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
from qipstudy.sources import synthetic_note, write_sources
from qipstudy.tables import COVARIATE_LABELS, constant_columns, exclude_thin_windows

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


SYNTHETIC_LABEL_GID = "synthetic-label"


def mark_synthetic(fig: matplotlib.figure.Figure, sources: Mapping | None) -> str:
    """Put the synthetic-data label under `fig`'s overall title when `sources` has a synthetic
    input (the title is created if there is none); returns the label ("" for real inputs).

    Idempotent: a figure that already carries the label is left as it is.
    """
    note = synthetic_note(sources)
    if not note:
        return ""
    current = fig.get_suptitle()
    if note.splitlines()[0][:40] in current.replace("\n", " "):
        return note
    wrapped = "\n".join(textwrap.wrap(note, width=max(60, int(fig.get_figwidth() * 14))))
    title = fig.suptitle(f"{current}\n{wrapped}" if current else wrapped)
    title.set_gid(SYNTHETIC_LABEL_GID)
    return note


def _write_csv(data: pd.DataFrame, path: Path) -> Path:
    return write_with(path, lambda tmp: data.to_csv(tmp, index=False, lineterminator="\n"))


def save_figure(fig: matplotlib.figure.Figure, stem: Path, *, data: pd.DataFrame | None = None,
                sources: Mapping | None = None) -> list[Path]:
    """Write `stem.png` (150 dpi) and `stem.pdf` atomically; returns the paths written.

    `data`: the numbers the figure plots, written as `stem.csv`. `sources` ({dataset: mode}):
    the label "SYNTHETIC DATA …" goes under the figure's title when any input is synthetic, and
    `stem.sources.json` records the inputs. Time stamps and the software version are left out of the metadata so
    that a rerun with the same inputs writes byte-identical files and Snakemake sees nothing new.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    mark_synthetic(fig, sources)
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}
    paths = []
    for ext in ("png", "pdf"):
        path = stem.with_name(f"{stem.name}.{ext}")

        def draw(tmp: Path, ext: str = ext) -> None:
            with _style():
                fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight", metadata=metadata[ext])

        paths.append(write_with(path, draw))
    if data is not None:
        paths.append(_write_csv(pd.DataFrame(data), stem.with_name(f"{stem.name}.csv")))
    if sources is not None:
        paths.append(write_sources(stem, sources))
    return paths


def _finish(fig, stem, data: pd.DataFrame | None = None, sources: Mapping | None = None):
    """Label a synthetic figure, and save it (with its data and sources) when given a stem."""
    mark_synthetic(fig, sources)
    if stem is not None:
        save_figure(fig, stem, data=data, sources=sources)
    fig.plotted_data = data  # what stem.csv holds, also for figures that are not saved
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
                   awsd_measure: str = "incidents", sources: Mapping | None = None) -> matplotlib.figure.Figure:
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
    return _finish(fig, stem, data, sources)


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


BASE_COLOR = "#5B92E5"  # UN blue


def _points_frame(layer: str, frame: pd.DataFrame, label_column: str | None = None) -> pd.DataFrame:
    """The plotted points of one map layer, for the figure's CSV."""
    return pd.DataFrame({
        "layer": layer,
        "name": frame[label_column].astype(str).to_numpy() if label_column else "",
        "lon": pd.to_numeric(frame["lon"], errors="coerce").to_numpy(float),
        "lat": pd.to_numeric(frame["lat"], errors="coerce").to_numpy(float),
    })


def _bases_frame(bases) -> pd.DataFrame:
    """Mission bases as name, lat, lon (from the country file's `bases`), checked."""
    frame = pd.DataFrame(list(bases or []))
    if frame.empty:
        return pd.DataFrame(columns=["name", "lat", "lon"])
    missing = [c for c in ("name", "lat", "lon") if c not in frame.columns]
    if missing:
        raise ValueError(f"bases: every base needs name, lat and lon (country file `bases`); missing {missing}")
    for column in ("lat", "lon"):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            bad = frame.loc[values.isna(), "name"].tolist()
            raise ValueError(f"bases: {column} of {bad} is not a number (country file `bases`)")
        frame[column] = values
    return frame


#: Figure 4's point layers with more points than this are drawn as an image inside the PDF (at the
#: figure's dpi; the PNG is the same either way): a continent's 300k events as vector markers make a
#: PDF of tens of MB that takes 30 s to write and long to open. A country's layers stay vector.
RASTERIZE_POINTS_ABOVE = 20_000


def map_events(events: pd.DataFrame, admin1, roads, towns, study_regions: Sequence[str], capital,
               stem: Path | None = None, *, admin1_field: str = "ADM1_FR",
               outcome_column: str = "outcome_civilians", outcome_label: str = "Violence against civilians",
               title: str | None = None, bases=None, mission: str | None = None,
               sources: Mapping | None = None) -> matplotlib.figure.Figure:
    """Figure 4: aid projects, QIPs and an outcome's events over the admin-1 boundaries.

    `admin1`: GeoDataFrame of admin-1 (or finer, dissolved here) polygons carrying `admin1_field`;
    `roads`: GeoDataFrame of road lines or None; `towns`: DataFrame or records with `name, lat,
    lon` (may be empty); `capital`: a town name from `towns`, a `(lon, lat, name)` triple, or None;
    `bases`: the mission bases (records with `name, lat, lon`, the country file's `bases`), drawn
    as blue squares with a legend entry and labels so that their coordinates can be checked.
    The study regions are shaded; events are plotted in WGS84 with the aspect corrected for
    latitude. The figure's CSV lists every plotted point (layer, name, lon, lat).
    """
    import geopandas as gpd  # heavy import only for the map

    if admin1_field not in admin1.columns:
        raise ValueError(f"Figure 4: the boundaries have no field {admin1_field!r} (country file "
                         f"boundaries.admin1_field); they have {', '.join(map(str, admin1.columns))}")
    if len(admin1) == 0 or admin1.geometry.is_empty.all():
        raise ValueError("Figure 4: the boundaries file has no polygons: nothing to draw the events on")
    regions = dissolve_admin1(admin1, admin1_field)
    unknown = sorted(set(study_regions) - set(regions[admin1_field].astype(str)))
    if unknown:
        warnings.warn(f"Figure 4: study region(s) {unknown} are not among the admin-1 names "
                      f"({admin1_field}) of the boundaries and are not shaded", stacklevel=2)
    towns = pd.DataFrame(list(towns) if not isinstance(towns, pd.DataFrame) else towns)
    if towns.empty:
        towns = pd.DataFrame(columns=["name", "lat", "lon"])
    if capital is None:
        cap = None
    elif isinstance(capital, str):
        match = towns.loc[towns["name"].astype(str).str.casefold() == capital.casefold()]
        if match.empty:
            raise ValueError(f"capital {capital!r} not among the towns")
        cap = (float(match["lon"].iat[0]), float(match["lat"].iat[0]), capital)
    else:
        cap = tuple(capital)
    cap_name = str(cap[2]) if cap is not None else None
    others = towns.loc[towns["name"].astype(str).str.casefold() != (cap_name or "").casefold()]
    base_frame = _bases_frame(bases)
    base_names = set(base_frame["name"].astype(str).str.casefold())
    # a town that is also a base is labelled once, as a base
    others = others.loc[~others["name"].astype(str).str.casefold().isin(base_names)]

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
        plotted = []
        for mask, key, label, marker, size, alpha, zorder in layers:
            sel = events.loc[mask]
            color = _event_color(key)
            dense = len(sel) > RASTERIZE_POINTS_ABOVE
            if marker == "x":
                ax.scatter(sel["lon"], sel["lat"], s=size, marker=marker, color=color, alpha=alpha,
                           linewidths=0.8, zorder=zorder, rasterized=dense)
            else:
                ax.scatter(sel["lon"], sel["lat"], s=size, marker=marker, color=color, alpha=alpha,
                           linewidths=0.3, edgecolors="#333333" if key == "qip" else "none", zorder=zorder,
                           rasterized=dense)
            handles.append(Line2D([], [], ls="none", marker=marker, color=color, markersize=6,
                                  label=f"{label} (n = {len(sel):,})"))
            plotted.append(_points_frame(label, sel))
        ax.scatter(others["lon"], others["lat"], s=10, color="#222222", zorder=6)
        plotted.append(_points_frame("Major towns", others, "name"))
        if cap is not None:
            ax.scatter([cap[0]], [cap[1]], s=110, marker="*", color="#222222", edgecolors="white",
                       linewidths=0.6, zorder=7)
            plotted.append(pd.DataFrame({"layer": ["Capital"], "name": [cap_name], "lon": [float(cap[0])],
                                         "lat": [float(cap[1])]}))
        if len(base_frame):
            ax.scatter(base_frame["lon"], base_frame["lat"], s=34, marker="s", color=BASE_COLOR,
                       edgecolors="#1a1a1a", linewidths=0.7, zorder=8, gid="mission-bases")
            plotted.append(_points_frame("Mission bases", base_frame, "name"))

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
        points = [] if cap is None else [(cap[0], cap[1], cap_name, True)]
        points += [(float(r.lon), float(r.lat), str(r.name), True) for r in base_frame.itertuples()
                   if str(r.name).casefold() != (cap_name or "").casefold()]
        points += [(float(r.lon), float(r.lat), str(r.name), False) for r in others.itertuples()]
        _place_labels(ax, points)

        handles += [
            Patch(facecolor="#f1e3c6", edgecolor="#555555", linewidth=0.7, label="Study regions"),
            Line2D([], [], color="#777777", linestyle=(0, (1, 1.5)), lw=1.0, label="Main roads"),
        ]
        if len(base_frame):
            who = f"{mission} bases" if mission else "Mission bases"
            handles.append(Line2D([], [], ls="none", marker="s", color=BASE_COLOR, markeredgecolor="#1a1a1a",
                                  markersize=6, label=f"{who} (n = {len(base_frame)})"))
        if cap is not None:
            handles.append(Line2D([], [], ls="none", marker="*", color="#222222", markersize=10,
                                  label=f"Capital ({cap_name})"))
        if len(others):
            handles.append(Line2D([], [], ls="none", marker="o", color="#222222", markersize=3.5,
                                  label="Major towns"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.5)
        if title:
            ax.set_title(title, loc="left")
    data = pd.concat([f for f in plotted if len(f)], ignore_index=True) if any(len(f) for f in plotted) \
        else pd.DataFrame(columns=["layer", "name", "lon", "lat"])
    return _finish(fig, stem, data, sources)


# --------------------------------------------------------------------------------------------
# Figure 5: event dates
# --------------------------------------------------------------------------------------------

def _event_type_order(events: pd.DataFrame) -> list[str]:
    """Aid projects and QIPs first, then the outcome types by decreasing count."""
    counts = events["event_type"].value_counts()
    head = [t for t in ("iati", "qip") if t in counts.index]
    rest = sorted((t for t in counts.index if t not in head), key=lambda t: (-counts[t], t))
    return head + rest


def _empty_figure(message: str, size=(5.0, 2.4)) -> matplotlib.figure.Figure:
    """A figure that says there is nothing to draw, instead of failing on an empty input."""
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#555555", transform=ax.transAxes,
            gid="empty-figure")
    ax.set_axis_off()
    return fig


def histogram_event_dates(events: pd.DataFrame, stem: Path | None = None, *, bins: int = 30,
                          ncols: int | None = None, sources: Mapping | None = None) -> matplotlib.figure.Figure:
    """Figure 5: histograms of event dates (`bins` bins over the common date range), one panel per
    event type, so the timing of treatment, control and outcomes can be compared. The CSV holds
    each panel's bin edges and counts; rows without a readable date are left out (and counted in
    a warning)."""
    dates = pd.to_datetime(events["date"], errors="coerce")
    if dates.isna().any():
        warnings.warn(f"Figure 5: {int(dates.isna().sum())} of {len(dates)} events have no readable date "
                      "and are not drawn", stacklevel=2)
    events = events.loc[dates.notna()]
    dates = dates.loc[dates.notna()]
    columns = ["event_type", "bin_start", "bin_end", "count"]
    with _style():
        if events.empty:
            fig = _empty_figure("no events with a date: nothing to draw")
            return _finish(fig, stem, pd.DataFrame(columns=columns), sources)
        order = _event_type_order(events)
        lo, hi = dates.min(), dates.max()
        if lo == hi:
            lo, hi = lo - pd.Timedelta(days=1), hi + pd.Timedelta(days=1)
        edge_dates = pd.date_range(lo, hi, periods=bins + 1)
        edges = mdates.date2num(edge_dates.to_pydatetime())
        fig, axes = _grid(len(order), ncols, panel=(3.4, 2.4), sharex=True)
        rows = []
        for i, (ax, event_type) in enumerate(zip(axes, order)):
            # counted on the datetime64 values (no Python datetimes for a million events), then
            # drawn as the histogram of those counts: the same bars as ax.hist of the dates
            sel = mdates.date2num(dates[events["event_type"] == event_type].to_numpy())
            binned, _ = np.histogram(sel, bins=edges)
            counts, _, _ = ax.hist(edges[:-1], bins=edges, weights=binned, color=_event_color(event_type, i),
                                   edgecolor="white", linewidth=0.3)
            rows.append(pd.DataFrame({"event_type": event_type, "bin_start": edge_dates[:-1],
                                      "bin_end": edge_dates[1:], "count": counts.astype("int64")}))
            ax.set_title(f"{event_label(event_type)} (n = {len(sel):,})", loc="left", fontsize=9)
            ax.xaxis.set_major_locator(mdates.YearLocator())
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=4))
            ax.grid(axis="y", color="#dddddd", lw=0.6)
            ax.set_ylabel("Events")
            ax.tick_params(labelbottom=True)
        fig.supxlabel("Event date", fontsize=9)
    return _finish(fig, stem, pd.concat(rows, ignore_index=True)[columns], sources)


# --------------------------------------------------------------------------------------------
# Figure 6 and cross-country: space-time heatmaps
# --------------------------------------------------------------------------------------------

def _draw_heatmap(ax, estimates, *, style, t_unit, alpha1, alpha2, zlim, title, min_matched=None):
    from matchedwake import plotting  # written alongside; imported late so tables work without it

    if len(estimates) == 0:  # an outcome without any window: say so instead of failing the figure
        ax.text(0.5, 0.5, "no estimates", ha="center", va="center", color="#555555", transform=ax.transAxes,
                gid="empty-panel")
        ax.set_axis_off()
        ax.set_title(title, loc="left")
        return
    if style == "tiles":
        plotting.plot_tiles(estimates, t_unit=t_unit, alpha1=alpha1, alpha2=alpha2, adjust="none", ax=ax,
                            title=title, min_matched=min_matched, legend=False)
    elif style == "r":
        plotting.plot_r_style(estimates, t_unit=t_unit, alpha1=alpha1, alpha2=alpha2, zlim=zlim,
                              plot_nas=True, adjust="none", ax=ax, min_matched=min_matched, legend=False)
        ax.set_title(title, loc="left")
    else:
        raise ValueError(f"style must be 'tiles' or 'r', not {style!r}")


def _heatmap_legend(fig, *, style, alpha1, alpha2, min_matched) -> None:
    """One legend under all panels, naming every mark (hatching, thin support)."""
    from matchedwake import plotting

    handles = plotting.legend_handles(style, alpha1=alpha1, alpha2=alpha2, plot_nas=True, min_matched=min_matched)
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=7, frameon=False,
               handler_map=plotting.LEGEND_HANDLER_MAP, handlelength=3.0, handleheight=1.4)


def _finite_range(frames) -> tuple[float, float] | None:
    """The shared colour range of R-style panels; it includes 0 when a window has no estimate,
    because R's plot draws such windows as 0 (outside the range they would be left blank)."""
    values = np.concatenate([pd.to_numeric(f["estimate"], errors="coerce").to_numpy(float) for f in frames])
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    if len(finite) < len(values):
        finite = np.append(finite, 0.0)
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if lo < hi else (lo - 0.5, hi + 0.5)


def heatmap_data(estimates_by_panel: Mapping[str, pd.DataFrame], *, panel: str = "panel", alpha1: float = 0.05,
                 alpha2: float = 0.1, min_matched=None) -> pd.DataFrame:
    """The numbers a set of heatmaps draws, one row per (panel, window): estimate and p-value as
    drawn, significance class, and with `min_matched` the matched counts and the thin flag."""
    from matchedwake.plotting import MATCHED_COUNTS, significance_class, thin_support

    frames = []
    for name, est in estimates_by_panel.items():
        pvalue = pd.to_numeric(est["pvalue"], errors="coerce")
        frame = pd.DataFrame({
            panel: name,
            "t_window": pd.to_numeric(est["t_window"]).to_numpy(float),
            "spat_window": pd.to_numeric(est["spat_window"]).to_numpy(float),
            "estimate": pd.to_numeric(est["estimate"], errors="coerce").to_numpy(float),
            "pvalue": pvalue.to_numpy(float),
            "significance": [significance_class(p, alpha1, alpha2) for p in pvalue.to_numpy(float)],
        })
        if min_matched is not None:
            for column in MATCHED_COUNTS:
                frame[column] = pd.to_numeric(est[column]).to_numpy()
            frame["thin_support"] = thin_support(est, min_matched)
            if "excluded" in est.columns:
                frame["excluded"] = est["excluded"].to_numpy(bool)
        frames.append(frame.sort_values(["t_window", "spat_window"], kind="stable"))
    return pd.concat(frames, ignore_index=True)


def _check_panels(estimates_by_panel: Mapping, what: str) -> None:
    if not estimates_by_panel:
        raise ValueError(f"no {what} to draw: the mapping of estimates is empty")


def heatmaps(estimates_by_outcome: Mapping[str, pd.DataFrame], stem: Path | None = None, *,
             style: str = "tiles", t_unit: str = "days", alpha1: float = 0.05, alpha2: float = 0.1,
             titles: Mapping[str, str] | None = None, ncols: int | None = None, min_matched=None,
             sources: Mapping | None = None) -> matplotlib.figure.Figure:
    """Figure 6 (and appendix Figure 3): one space-time heatmap per outcome.

    `style="tiles"` draws :func:`matchedwake.plotting.plot_tiles` (one cell per window), `"r"`
    the filled-contour look of R mwa's `plot` via `plot_r_style`. Keys are outcome names
    (`civilians`, `battles`, `nsag` get the paper's titles). With `min_matched` (treated,
    control), windows with fewer matched wakes are cross-hatched (the estimates need the matched
    counts: :func:`qipstudy.tables.load_estimates` with the matching table).
    """
    _check_panels(estimates_by_outcome, "outcomes")
    if style not in ("tiles", "r"):
        raise ValueError(f"style must be 'tiles' or 'r', not {style!r}")
    titles = {**OUTCOME_LABELS, **dict(titles or {})}
    with _style():
        fig, axes = _grid(len(estimates_by_outcome), ncols, panel=(4.2, 3.6))
        for ax, (outcome, est) in zip(axes, estimates_by_outcome.items()):
            _draw_heatmap(ax, est, style=style, t_unit=t_unit, alpha1=alpha1, alpha2=alpha2, zlim=None,
                          title=titles.get(outcome, outcome), min_matched=min_matched)
        _heatmap_legend(fig, style=style, alpha1=alpha1, alpha2=alpha2, min_matched=min_matched)
    data = heatmap_data(estimates_by_outcome, panel="outcome", alpha1=alpha1, alpha2=alpha2,
                        min_matched=min_matched)
    return _finish(fig, stem, data, sources)


def cross_country_heatmaps(estimates_by_country: Mapping[str, pd.DataFrame], outcome: str,
                           stem: Path | None = None, *, style: str = "r", t_unit: str = "days",
                           alpha1: float = 0.05, alpha2: float = 0.1,
                           ncols: int | None = None, title: str | None = None, min_matched=None,
                           thin: str = "exclude", panel: str = "country",
                           sources: Mapping | None = None) -> matplotlib.figure.Figure:
    """Small multiples of one outcome's heatmap per country (or per variant: pass `title`).

    With `style="r"` all panels share one colour scale (the range of all countries' estimates), so
    shades compare across countries; `"tiles"` scales each panel on its own. With `min_matched`
    (treated, control), windows with fewer matched wakes are cross-hatched and, with
    `thin="exclude"` (the cross-country rule), left out: drawn as no estimate and outside the
    shared colour scale; `thin="hatch"` only marks them. The rule is stated in the legend.
    """
    _check_panels(estimates_by_country, "countries")
    if thin not in ("exclude", "hatch"):
        raise ValueError(f"thin must be 'exclude' or 'hatch', not {thin!r}")
    if min_matched is not None and thin == "exclude":
        estimates_by_country = {name: exclude_thin_windows(est, min_matched)
                                for name, est in estimates_by_country.items()}
    zlim = _finite_range(estimates_by_country.values()) if style == "r" else None
    with _style():
        fig, axes = _grid(len(estimates_by_country), ncols, panel=(4.2, 3.6))
        for ax, (country, est) in zip(axes, estimates_by_country.items()):
            _draw_heatmap(ax, est, style=style, t_unit=t_unit, alpha1=alpha1, alpha2=alpha2, zlim=zlim,
                          title=country, min_matched=min_matched)
        _heatmap_legend(fig, style=style, alpha1=alpha1, alpha2=alpha2, min_matched=min_matched)
        heading = title or f"Effect of QIPs on {OUTCOME_LABELS.get(outcome, outcome).lower()}, by country"
        if min_matched is not None and thin == "exclude":
            from matchedwake.plotting import support_rule

            heading += f"\nwindows with {support_rule(min_matched)} are excluded (cross-hatched, no estimate)"
        fig.suptitle(heading)
    data = heatmap_data(estimates_by_country, panel=panel, alpha1=alpha1, alpha2=alpha2, min_matched=min_matched)
    return _finish(fig, stem, data, sources)


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
                         columns: Sequence[str] | None = None, sources: Mapping | None = None
                         ) -> matplotlib.figure.Figure:
    """Appendix Figure 1: distribution of each matching covariate over all events (default: the
    paper's five, in the appendix order). A covariate without values or with one value only
    says so in its panel (and in a warning); the CSV holds each panel's bin edges and counts."""
    pairs = _covariate_labels(columns)
    degenerate = constant_columns(covariates, [c for c, _ in pairs], what="Appendix Figure 1")
    rows = []
    with _style():
        fig, axes = _grid(len(pairs), 3, panel=(3.2, 2.4))
        for ax, (column, label) in zip(axes, pairs):
            values = pd.to_numeric(covariates[column], errors="coerce").dropna()
            if len(values):
                counts, edges, _ = ax.hist(values, bins=bins, color="#0072B2", edgecolor="white", linewidth=0.3)
                rows.append(pd.DataFrame({"covariate": column, "label": label, "bin_start": edges[:-1],
                                          "bin_end": edges[1:], "count": counts.astype("int64")}))
            if column in degenerate:
                ax.text(0.5, 0.92, degenerate[column], ha="center", va="top", transform=ax.transAxes, fontsize=7,
                        style="italic", color="#8c2d04", wrap=True, gid="covariate-note")
            ax.set_xlabel(label)
            ax.set_ylabel("Events")
            ax.grid(axis="y", color="#dddddd", lw=0.6)
    columns_out = ["covariate", "label", "bin_start", "bin_end", "count"]
    data = pd.concat(rows, ignore_index=True)[columns_out] if rows else pd.DataFrame(columns=columns_out)
    return _finish(fig, stem, data, sources)


def correlation_matrix(covariates: pd.DataFrame, stem: Path | None = None, *,
                       columns: Sequence[str] | None = None, sources: Mapping | None = None
                       ) -> matplotlib.figure.Figure:
    """Appendix Figure 2: Pearson correlations of the matching covariates, annotated, so that
    collinear covariates (which coarsened matching handles poorly) stand out. A constant
    covariate has no correlation: its cells read "n/a" and a note under the matrix says why.
    The CSV is the matrix as drawn (one row per covariate label)."""
    pairs = _covariate_labels(columns)
    columns = [c for c, _ in pairs]
    labels = [label for _, label in pairs]
    degenerate = constant_columns(covariates, columns, what="Appendix Figure 2")
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
                text = "n/a" if np.isnan(value) else f"{value:.2f}".replace("-0.00", "0.00")
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if abs(value) > 0.6 else "#222222")
        fig.colorbar(image, ax=ax, shrink=0.8, label="Pearson correlation")
        if degenerate:
            known = dict(pairs)
            note = "n/a: " + "; ".join(f"{known[c]}: {why}" for c, why in degenerate.items())
            ax.set_xlabel(note, fontsize=7, style="italic", color="#8c2d04", wrap=True)
    data = pd.DataFrame(corr, columns=labels)
    data.insert(0, "covariate", labels)
    return _finish(fig, stem, data, sources)


# --------------------------------------------------------------------------------------------
# Beyond the paper: the numbers behind the permutation figure
# --------------------------------------------------------------------------------------------

def permutation_histograms(draws: pd.DataFrame, table: pd.DataFrame, *, bins: int = 30) -> pd.DataFrame:
    """What the permutation figure plots, as one long table (`series` says which part).

    `max_abs_t`: bin edges and counts of the grid maximum of |t| over the permutations;
    `observed_abs_t`: each window's observed |t|; `window_estimate`: bin edges and counts of the
    permuted estimates in the window with the largest observed |t|; `observed_estimate`: that
    window's estimate. The bins are matplotlib's (`bins` equal bins over the data's range).
    """
    columns = ["series", "t_window", "spat_window", "bin_start", "bin_end", "count", "value"]
    parts = []
    max_t = draws.assign(abs_t=draws["t_value"].abs()).groupby("permutation")["abs_t"].max().dropna()
    if len(max_t):
        counts, edges = np.histogram(max_t.to_numpy(float), bins=bins)
        parts.append(pd.DataFrame({"series": "max_abs_t", "bin_start": edges[:-1], "bin_end": edges[1:],
                                   "count": counts}))
    fitted = table.dropna(subset=["t_value"])
    parts.append(pd.DataFrame({"series": "observed_abs_t", "t_window": fitted["t_window"].to_numpy(float),
                               "spat_window": fitted["spat_window"].to_numpy(float),
                               "value": fitted["t_value"].abs().to_numpy(float)}))
    if len(fitted):
        best = fitted.loc[fitted["t_value"].abs().idxmax()]
        in_window = (draws["t_window"] == best["t_window"]) & (draws["spat_window"] == best["spat_window"])
        values = draws.loc[in_window, "estimate"].dropna().to_numpy(float)
        if len(values):
            counts, edges = np.histogram(values, bins=bins)
            parts.append(pd.DataFrame({"series": "window_estimate", "t_window": float(best["t_window"]),
                                       "spat_window": float(best["spat_window"]), "bin_start": edges[:-1],
                                       "bin_end": edges[1:], "count": counts}))
        parts.append(pd.DataFrame({"series": ["observed_estimate"], "t_window": [float(best["t_window"])],
                                   "spat_window": [float(best["spat_window"])], "value": [float(best["estimate"])]}))
    data = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else None
    return pd.DataFrame(columns=columns) if data is None else data.reindex(columns=columns)
