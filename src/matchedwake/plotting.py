"""Heatmaps of the estimates over the (spatial × temporal) window grid.

``plot_r_style`` reproduces the look of R mwa's ``plot.matchedwake`` (docs/mwa_reference.md §3.5): a grey
filled contour of the effect with hatching that encodes significance, so figures can be compared
with published MWA plots. ``plot_tiles`` is a clearer alternative: one tile per window, a diverging
colour scale centred at zero, and the effect printed where it is significant.

Both accept ``ax=`` (for small multiples) and return the Figure; neither touches pyplot's global
state, so they are safe in batch jobs. Significance classes (§2.9): p ≤ alpha1 → significant;
alpha1 < p ≤ alpha2 → marginal; p > alpha2 or missing → not significant. ``adjust`` applies a
multiple-testing correction across all windows first (:mod:`matchedwake.adjust`).

Minimum support: given ``min_matched`` (treated, control), windows whose matched sample is
smaller (counts from the matching table, joined by :func:`with_matched_counts`) are
cross-hatched and named in the legend, so an estimate from a handful of wakes never looks like
a well-supported one.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerBase
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import blended_transform_factory

from .adjust import p_adjust
from .rmath import r_pretty

__all__ = ["plot_r_style", "plot_tiles", "plot_balance", "window_grid", "significance_class",
           "with_matched_counts", "thin_support", "support_rule", "min_matched_pair", "legend_handles",
           "LEGEND_HANDLER_MAP",
           "MATCHED_COUNTS", "HATCH_SOLID", "HATCH_DASHED", "HATCH_NONE", "THIN_SUPPORT"]

#: ``gid`` of the per-window Rectangle patches drawn by :func:`plot_r_style`, by class.
HATCH_SOLID = "mwa-hatch-solid"  # p missing or > alpha2
HATCH_DASHED = "mwa-hatch-dashed"  # alpha1 < p <= alpha2
HATCH_NONE = "mwa-hatch-none"  # p <= alpha1 (an invisible marker patch)
#: ``gid`` of the cross-hatched patch over a window with too few matched wakes (both heatmaps).
THIN_SUPPORT = "mwa-thin-support"
#: Columns holding a window's matched treated and control wakes (see :func:`with_matched_counts`).
MATCHED_COUNTS = ("n_treated_matched", "n_control_matched")
_THIN_COLOR = {"r": "#B2182B", "tiles": "#1a1a1a"}  # red over the grey contour, black over colours
_THIN_HATCH = "xx"

_HATCH_LINES_PER_INCH = 3.0  # R: rect(density = 3)
_HATCH_LW_PT = 1.5  # R: lwd = 2, one lwd unit = 1/96 inch = 0.75 pt
_R_DASH = (0, (3.0, 3.0))  # R lty = 2 ("dashed")


def significance_class(p: float, alpha1: float, alpha2: float) -> str:
    """'sig' (p ≤ alpha1), 'marginal' (alpha1 < p ≤ alpha2) or 'none' (p > alpha2 or missing)."""
    if p is None or not np.isfinite(p):
        return "none"
    if p <= alpha1:
        return "sig"
    if p <= alpha2:
        return "marginal"
    return "none"


def window_grid(estimates: pd.DataFrame, adjust: str = "none"):
    """Sorted window sizes and the estimate / p-value matrices, shape (n_t, n_s).

    p-values are adjusted across all windows before they are placed; windows absent from the
    table are NaN.
    """
    if estimates is None or len(estimates) == 0:
        raise ValueError("the estimates table is empty: nothing to plot")
    for col in ("t_window", "spat_window", "estimate", "pvalue"):
        if col not in estimates.columns:
            raise ValueError(f"the estimates table has no column {col!r}")
    t_vals = np.sort(pd.unique(estimates["t_window"].to_numpy(dtype=float)))
    s_vals = np.sort(pd.unique(estimates["spat_window"].to_numpy(dtype=float)))
    est = np.full((t_vals.size, s_vals.size), np.nan)
    pv = np.full_like(est, np.nan)
    ti = np.searchsorted(t_vals, estimates["t_window"].to_numpy(dtype=float))
    si = np.searchsorted(s_vals, estimates["spat_window"].to_numpy(dtype=float))
    est[ti, si] = estimates["estimate"].to_numpy(dtype=float, na_value=np.nan)
    pv[ti, si] = p_adjust(estimates["pvalue"].to_numpy(dtype=float, na_value=np.nan), adjust)
    return t_vals, s_vals, est, pv



# ------------------------------------------------------------------ minimum support
def with_matched_counts(estimates: pd.DataFrame, matching: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``estimates`` with each window's matched treated and control wakes.

    ``n_treated_matched`` / ``n_control_matched`` are the matching table's ``treatment_post`` /
    ``control_post`` (R mwa's names): the wakes left in the window after CEM, on which the
    window's estimate rests. Every window of ``estimates`` must be in ``matching``.
    """
    need = ("t_window", "spat_window", "treatment_post", "control_post")
    missing = [c for c in need if c not in matching.columns]
    if missing:
        raise ValueError(f"the matching table has no column(s) {missing}; it must be the engine's "
                         "matching table (matching.csv) with R mwa's column names")
    for col in ("t_window", "spat_window"):
        if col not in estimates.columns:
            raise ValueError(f"the estimates table has no column {col!r}")
    key = ["t_window", "spat_window"]
    counts = pd.DataFrame({
        "t_window": matching["t_window"].to_numpy(dtype=float),
        "spat_window": matching["spat_window"].to_numpy(dtype=float),
        MATCHED_COUNTS[0]: pd.to_numeric(matching["treatment_post"], errors="coerce").to_numpy(float),
        MATCHED_COUNTS[1]: pd.to_numeric(matching["control_post"], errors="coerce").to_numpy(float),
    })
    if counts.duplicated(key).any():
        raise ValueError("the matching table lists a window twice: "
                         f"{counts.loc[counts.duplicated(key), key].to_numpy().tolist()[:3]}")
    out = estimates.drop(columns=[c for c in MATCHED_COUNTS if c in estimates.columns])
    probe = pd.DataFrame({c: out[c].to_numpy(dtype=float) for c in key})
    merged = probe.merge(counts, on=key, how="left")
    absent = merged[list(MATCHED_COUNTS)].isna().any(axis=1)
    if absent.any():
        windows = [f"t={t:g}, s={s_:g}" for t, s_ in merged.loc[absent, key].to_numpy()]
        raise ValueError(f"the matching table has no row for {int(absent.sum())} window(s) of the "
                         f"estimates ({'; '.join(windows[:3])}): both must come from the same run")
    for col in MATCHED_COUNTS:
        out[col] = merged[col].to_numpy().astype("int64")
    return out


def min_matched_pair(min_matched) -> tuple[int, int]:
    """``min_matched`` as (treated, control): an int applies to both groups."""
    if isinstance(min_matched, (int, np.integer)) and not isinstance(min_matched, bool):
        pair = (int(min_matched), int(min_matched))
    elif isinstance(min_matched, (tuple, list)) and len(min_matched) == 2:
        pair = (int(min_matched[0]), int(min_matched[1]))
    else:
        raise ValueError(f"min_matched must be an integer or a (treated, control) pair, not {min_matched!r}")
    if min(pair) < 0:
        raise ValueError(f"min_matched must not be negative, got {min_matched!r}")
    return pair


def support_rule(min_matched) -> str:
    """The minimum-support rule in words, for legends and captions."""
    n_t, n_c = min_matched_pair(min_matched)
    return f"fewer than {n_t} matched treated or {n_c} matched control wakes"


def thin_support(estimates: pd.DataFrame, min_matched) -> np.ndarray:
    """True for the windows with fewer matched wakes than ``min_matched`` (treated, control)."""
    n_t, n_c = min_matched_pair(min_matched)
    missing = [c for c in MATCHED_COUNTS if c not in estimates.columns]
    if missing:
        raise ValueError(f"min_matched needs the columns {list(MATCHED_COUNTS)} in the estimates "
                         "table: join the matching table first with "
                         "matchedwake.plotting.with_matched_counts(estimates, matching)")
    treated = pd.to_numeric(estimates[MATCHED_COUNTS[0]], errors="coerce").fillna(0).to_numpy(float)
    control = pd.to_numeric(estimates[MATCHED_COUNTS[1]], errors="coerce").fillna(0).to_numpy(float)
    return (treated < n_t) | (control < n_c)


def _thin_grid(estimates: pd.DataFrame, t_vals, s_vals, min_matched) -> np.ndarray:
    """Boolean (n_t, n_s) matrix of thin windows (all False without ``min_matched``)."""
    thin = np.zeros((len(t_vals), len(s_vals)), dtype=bool)
    if min_matched is None:
        return thin
    flags = thin_support(estimates, min_matched)
    ti = np.searchsorted(t_vals, estimates["t_window"].to_numpy(dtype=float))
    si = np.searchsorted(s_vals, estimates["spat_window"].to_numpy(dtype=float))
    thin[ti, si] = flags
    return thin


class _HatchLines:
    """Legend proxy for the R-style hatching: 45° lines, solid or dashed."""

    def __init__(self, linestyle, label: str):
        self.linestyle = linestyle
        self.label = label

    def get_label(self) -> str:
        return self.label


class _HatchLinesHandler(HandlerBase):
    def create_artists(self, legend, orig_handle, xdescent, ydescent, width, height, fontsize, trans):
        x0, y0 = -xdescent, -ydescent
        box = Rectangle((x0, y0), width, height, fill=False, edgecolor="black", linewidth=0.6,
                        transform=trans)
        lines = [Line2D([x0 + c, x0 + c + height], [y0, y0 + height], color="black", linewidth=1.0,
                        linestyle=orig_handle.linestyle, transform=trans)
                 for c in np.linspace(0.0, max(width - height, 0.0), 4)]
        return [box, *lines]


#: Draws the :func:`legend_handles` proxies of the R-style hatching.
LEGEND_HANDLER_MAP = {_HatchLines: _HatchLinesHandler()}


def _legend_below(ax: Axes, handles, *, ncol: int = 2) -> None:
    leg = ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol,
                    fontsize=7, frameon=False, handler_map=LEGEND_HANDLER_MAP, handlelength=3.0,
                    handleheight=1.4)
    leg.set_gid("mwa-legend")


def _thin_patch(x0: float, y0: float, w: float, h: float, window, color: str) -> Rectangle:
    rect = Rectangle((x0, y0), w, h, fill=False, hatch=_THIN_HATCH, edgecolor=color,
                     linewidth=0.0, gid=THIN_SUPPORT, zorder=4)
    rect.mwa_window = window
    return rect


def _thin_handle(min_matched, color: str) -> Patch:
    return Patch(facecolor="none", edgecolor=color, hatch=_THIN_HATCH, linewidth=0.0,
                 label=f"thin support: {support_rule(min_matched)}")



def legend_handles(style: str, *, alpha1: float = 0.05, alpha2: float = 0.1, plot_nas: bool = True,
                   adjust: str = "none", min_matched=None) -> list:
    """The legend entries of a heatmap (``style`` "r" or "tiles"), for one shared legend under
    small multiples: ``fig.legend(handles=..., handler_map=LEGEND_HANDLER_MAP)``."""
    thin = [] if min_matched is None else [_thin_handle(min_matched, _THIN_COLOR[style])]
    if style == "r":
        na = ", or no estimate (drawn as 0)" if plot_nas else ", or no estimate"
        handles = [_HatchLines("-", f"solid hatching: p > {alpha2:g}{na}")]
        if alpha2 > alpha1:
            handles.append(_HatchLines("--", f"dashed hatching: {alpha1:g} < p ≤ {alpha2:g}"))
        handles.append(Patch(facecolor="none", edgecolor="0.4", linewidth=0.6, label=f"no hatching: p ≤ {alpha1:g}"))
        return handles + thin
    if style == "tiles":
        adj = "" if str(adjust).lower() == "none" else f", {adjust}-adjusted"
        handles = [Patch(facecolor="none", edgecolor="black", linewidth=1.5,
                         label=f"framed, value shown: p ≤ {alpha1:g}{adj}")]
        if alpha2 > alpha1:
            handles.append(Patch(facecolor="none", edgecolor="0.25", hatch="///", linewidth=0.0,
                                 label=f"hatched: {alpha1:g} < p ≤ {alpha2:g}"))
        handles.append(Patch(facecolor="none", edgecolor="0.8", linewidth=0.6,
                             label=f"no frame, no value: p > {max(alpha1, alpha2):g}"))
        handles.append(Patch(facecolor="0.75", edgecolor="none", label="grey: no estimate (NA)"))
        return handles + thin
    raise ValueError(f"style must be 'r' or 'tiles', not {style!r}")

def _fmt_window(v: float) -> str:
    """Tick label for a window size: integers without a decimal point."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _r_axis(n: int):
    """R's plot coordinates for an axis with n windows: padded values, limits, tick positions."""
    if n == 1:
        return np.array([0.0, 0.5, 1.0]), (0.0, 1.0), np.array([0.5]), 1.0
    step = 1.0 / (n - 1)
    vals = np.linspace(-step, 1.0 + step, n + 2)
    return vals, (-step / 2, 1.0 + step / 2), np.arange(n) * step, step


def _gray_colors(n: int) -> list[tuple[float, float, float]]:
    """R's ``gray.colors(n)``: grey 0.3 → 0.9, equally spaced after gamma 2.2 (lighter = larger)."""
    gamma = 2.2
    g = np.linspace(0.3**gamma, 0.9**gamma, n) ** (1.0 / gamma) if n > 1 else np.array([0.3])
    return [(float(v), float(v), float(v)) for v in g]


def _new_figure(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size)
    return fig, fig.add_subplot(1, 1, 1)


def _hatch_segments(x0, x1, y0, y1, sx, sy, spacing_in):
    """45° line segments (in device inches) filling [x0,x1]×[y0,y1], returned in data units.

    Lines X − Y = c use a phase shared by all cells, so the shading runs on across neighbours.
    """
    X0, X1, Y0, Y1 = x0 * sx, x1 * sx, y0 * sy, y1 * sy
    step = spacing_in * math.sqrt(2.0)  # along X, for a perpendicular spacing of spacing_in
    cs = np.arange(math.ceil((X0 - Y1) / step), math.floor((X1 - Y0) / step) + 1) * step
    segs = []
    for c in cs:
        xa, xb = max(X0, Y0 + c), min(X1, Y1 + c)
        if xb - xa <= 1e-12:
            continue
        segs.append([(xa / sx, (xa - c) / sy), (xb / sx, (xb - c) / sy)])
    return segs


def plot_r_style(estimates: pd.DataFrame, *, t_unit: str = "days", alpha1: float = 0.05,
                 alpha2: float = 0.1, zlim=None, plot_nas: bool = True, adjust: str = "none",
                 ax: Axes | None = None, min_matched=None, legend: bool = True) -> Figure:
    """R mwa's contour heatmap of the treatment estimates (docs/mwa_reference.md §3.5).

    The estimate matrix is padded by one replicated row/column on each side and filled-contoured
    with levels ``pretty(zlim, 20)`` in R's grey palette; hatching marks non-significant (solid)
    and marginal (dashed) windows. ``plot_nas`` draws missing estimates as 0, as R does. With a
    single window on an axis R centres the hatch rectangle at 0 with half-width 1; it is clipped
    to the same visible area, so we draw it over [0, 1] instead. R draws no legend; ``legend``
    adds one below the axes that names each hatching. With ``min_matched`` (treated, control;
    the estimates need :data:`MATCHED_COUNTS`), windows with fewer matched wakes are
    cross-hatched in red (gid :data:`THIN_SUPPORT`) and the rule is stated in the legend.
    """
    t_vals, s_vals, est, pv = window_grid(estimates, adjust)
    thin = _thin_grid(estimates, t_vals, s_vals, min_matched)
    fig, ax = _new_figure(ax, (7.0, 6.0))
    nt, ns = t_vals.size, s_vals.size

    z = est.copy()
    if plot_nas:
        z[np.isnan(z)] = 0.0
    zp = np.pad(z, 1, mode="edge")  # replicate edges, as R's padding loops do
    xv, xlim, xat, xstep = _r_axis(ns)
    yv, ylim, yat, ystep = _r_axis(nt)

    finite = zp[np.isfinite(zp)]
    if zlim is None or np.isnan(np.atleast_1d(np.asarray(zlim, dtype=float))).all():
        zl = (float(finite.min()), float(finite.max())) if finite.size else None
    else:
        zl = (float(zlim[0]), float(zlim[1]))
        if not zl[0] <= zl[1]:
            raise ValueError(f"invalid z limits {zlim!r}")
    if zl is not None:
        levels = r_pretty(zl[0], zl[1], 20)
        colors = _gray_colors(levels.size - 1)
        X, Y = np.meshgrid(xv, yv)
        cs = ax.contourf(X, Y, np.ma.masked_invalid(zp), levels=levels, colors=colors)
        cbar = fig.colorbar(cs, ax=ax, fraction=0.08, pad=0.04)
        cbar.ax.set_ylabel("Treatment effect")

    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xticks(xat if ns > 1 else [0.5], [_fmt_window(v) for v in s_vals])
    ax.set_yticks(yat if nt > 1 else [0.5], [_fmt_window(v) for v in t_vals])
    ax.set_xlabel("Spatial window in kilometers")
    ax.set_ylabel(f"Temporal window in {t_unit}")

    # Inches per data unit, taken after the colour key has claimed its space. If a layout engine
    # resizes the axes later, the lines keep their data positions and tilt slightly off 45°.
    pos = ax.get_position()
    w_in, h_in = fig.get_figwidth() * pos.width, fig.get_figheight() * pos.height
    sx, sy = w_in / (xlim[1] - xlim[0]), h_in / (ylim[1] - ylim[0])
    spacing = 1.0 / _HATCH_LINES_PER_INCH
    segs = {"solid": [], "dashed": []}
    for j in range(nt):
        for i in range(ns):
            cls = significance_class(pv[j, i], alpha1, alpha2)
            if ns > 1:
                x0, x1 = i * xstep - xstep / 2, i * xstep + xstep / 2
            else:
                x0, x1 = 0.0, 1.0
            if nt > 1:
                y0, y1 = j * ystep - ystep / 2, j * ystep + ystep / 2
            else:
                y0, y1 = 0.0, 1.0
            style = {"none": "solid", "marginal": "dashed", "sig": None}[cls]
            gid = {"solid": HATCH_SOLID, "dashed": HATCH_DASHED, None: HATCH_NONE}[style]
            rect = Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, gid=gid,
                             edgecolor="black", linewidth=_HATCH_LW_PT,
                             linestyle="-" if style != "dashed" else "--")
            rect.mwa_window = (float(t_vals[j]), float(s_vals[i]))
            rect.mwa_pvalue = float(pv[j, i])
            if style is None:
                rect.set_visible(False)
            ax.add_patch(rect)
            if style is not None:
                segs[style].extend(_hatch_segments(x0, x1, y0, y1, sx, sy, spacing))
            if thin[j, i]:
                ax.add_patch(_thin_patch(x0, y0, x1 - x0, y1 - y0, (float(t_vals[j]), float(s_vals[i])),
                                         _THIN_COLOR["r"]))
    for style, ls in (("solid", "solid"), ("dashed", _R_DASH)):
        if segs[style]:
            lc = LineCollection(segs[style], colors="black", linewidths=_HATCH_LW_PT,
                                linestyles=ls, gid=f"mwa-hatch-lines-{style}")
            ax.add_collection(lc, autolim=False)
    if legend:
        handles = legend_handles("r", alpha1=alpha1, alpha2=alpha2, plot_nas=plot_nas, min_matched=min_matched)
        _legend_below(ax, handles, ncol=1)
    return fig


def plot_tiles(estimates: pd.DataFrame, *, t_unit: str = "days", alpha1: float = 0.05,
               alpha2: float = 0.1, adjust: str = "none", ax: Axes | None = None,
               title: str | None = None, min_matched=None, legend: bool = True) -> Figure:
    """One tile per window: diverging colours centred at 0, effect printed where p ≤ alpha1.

    Marginal windows (alpha1 < p ≤ alpha2) are hatched and windows without an estimate are grey,
    so significance is readable without the contour's interpolation between windows; ``legend``
    (or, for small multiples, one :func:`legend_handles` legend) says which mark means what. With
    ``min_matched`` (treated, control; the estimates need :data:`MATCHED_COUNTS`), windows with
    fewer matched wakes are cross-hatched in black (gid :data:`THIN_SUPPORT`) and their printed
    effect is put in parentheses.
    """
    t_vals, s_vals, est, pv = window_grid(estimates, adjust)
    thin = _thin_grid(estimates, t_vals, s_vals, min_matched)
    nt, ns = t_vals.size, s_vals.size
    own = ax is None
    fig, ax = _new_figure(ax, (max(5.0, 2.4 + 0.9 * ns), max(3.6, 1.9 + 0.6 * nt)))
    if own:
        fig.set_layout_engine("constrained")  # nothing here depends on the final axes geometry

    finite = est[np.isfinite(est)]
    vmax = float(np.max(np.abs(finite))) if finite.size else 0.0
    if vmax == 0.0:
        vmax = 1.0
    norm = Normalize(vmin=-vmax, vmax=vmax)  # symmetric limits: white = no effect
    cmap = colormaps["RdBu_r"].with_extremes(bad="0.75")
    xe = np.arange(ns + 1) - 0.5
    ye = np.arange(nt + 1) - 0.5
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(est), cmap=cmap, norm=norm,
                         edgecolors="white", linewidth=0.5)
    cbar = fig.colorbar(mesh, ax=ax)
    cbar.ax.set_ylabel("Treatment effect")

    for j in range(nt):
        for i in range(ns):
            e, p = est[j, i], pv[j, i]
            if thin[j, i]:
                ax.add_patch(_thin_patch(i - 0.5, j - 0.5, 1, 1, (float(t_vals[j]), float(s_vals[i])),
                                         _THIN_COLOR["tiles"]))
            if not np.isfinite(e):
                ax.text(i, j, "NA", ha="center", va="center", fontsize=8, color="0.35",
                        gid="tile-na")
                continue
            cls = significance_class(p, alpha1, alpha2)
            if cls == "sig":
                rgba = cmap(norm(e))
                lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
                ax.text(i, j, f"({e:.2f})" if thin[j, i] else f"{e:.2f}", ha="center", va="center",
                        fontsize=9, fontweight="bold", color="white" if lum < 0.5 else "black",
                        gid="tile-label")
                ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, edgecolor="black",
                                       linewidth=1.5, gid="tile-sig"))
            elif cls == "marginal":
                ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, hatch="///",
                                       edgecolor="0.25", linewidth=0.0, gid="tile-hatch"))
    ax.set_xlim(-0.5, ns - 0.5)
    ax.set_ylim(-0.5, nt - 0.5)
    ax.set_xticks(np.arange(ns), [_fmt_window(v) for v in s_vals])
    ax.set_yticks(np.arange(nt), [_fmt_window(v) for v in t_vals])
    ax.set_xlabel("Spatial window (km)")
    ax.set_ylabel(f"Temporal window ({t_unit})")
    if title is not None:
        ax.set_title(title, fontsize=9)
    if legend:
        _legend_below(ax, legend_handles("tiles", alpha1=alpha1, alpha2=alpha2, adjust=adjust,
                                         min_matched=min_matched), ncol=1)
    return fig


def _balance_status(balance: pd.DataFrame) -> np.ndarray:
    """``smd_status`` per row; derived for tables written before the column existed."""
    if "smd_status" in balance.columns:
        return balance["smd_status"].fillna("no data").astype(str).to_numpy()
    factor = balance["factor"].fillna(False).astype(bool).to_numpy() if "factor" in balance else \
        np.zeros(len(balance), dtype=bool)
    pre = pd.to_numeric(balance["smd_pre"], errors="coerce").to_numpy(float)
    return np.where(factor, "factor", np.where(np.isfinite(pre), "ok", "constant"))


def _balance_row_note(statuses: np.ndarray, n_windows: int) -> str:
    """What the balance figure writes across a variable's row when its SMD is not ordinary."""
    if len(statuses) and (statuses == "factor").all():
        return "factor: no mean difference (CEM matches it exactly)"

    def where(n: int) -> str:
        return "every window" if n == n_windows else f"{n} of {n_windows} windows"

    parts = []
    n_sd0 = int(np.isin(statuses, ["constant", "separated"]).sum())
    if n_sd0:
        parts.append(f"no spread (SD 0) in {where(n_sd0)}: SMD undefined")
    n_empty = int((statuses == "no data").sum())
    if n_empty:
        parts.append(f"no treated or no control value in {where(n_empty)}: SMD undefined")
    n_near = int((statuses == "near-constant").sum())
    if n_near:
        parts.append(f"near-constant in {where(n_near)} (◆)")
    return "; ".join(parts)


def plot_balance(balance: pd.DataFrame, ax=None, *, threshold: float = 0.1) -> Figure:
    """Covariate balance across windows, from :func:`matchedwake.inference.balance_table`.

    Left: the standardized mean difference of each matching variable in every window, before
    matching (open grey circles) and after CEM weighting (filled blue dots), joined per window,
    with ±``threshold`` (a common rule of thumb for acceptable balance) dashed. Right: L1
    imbalance after against before matching, one dot per window coloured by temporal window;
    dots below the diagonal are windows where matching reduced the imbalance. ``ax``: None (new
    two-panel figure), one Axes (left panel only) or a pair of Axes.

    Degenerate variables are drawn as such, never as a crash or a misleading 0: a variable
    without spread in a window (``smd_status`` constant/separated: SD 0, SMD undefined) or a
    factor gets a note across its row saying in how many windows; near-constant windows are
    drawn as diamonds. Axis limits come from the finite values only.
    """
    need = ("t_window", "spat_window", "variable", "smd_pre", "smd_post", "L1_pre", "L1_post")
    missing = [c for c in need if c not in balance.columns]
    if missing:
        raise ValueError(f"the balance table has no column(s) {missing}")
    if ax is None:
        n_vars = max(balance["variable"].nunique(), 1)
        fig = Figure(figsize=(11.0, max(3.6, 1.0 + 0.7 * n_vars)))
        ax_smd, ax_l1 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1.0]})
    elif isinstance(ax, Axes):
        fig, ax_smd, ax_l1 = ax.figure, ax, None
    else:
        ax_smd, ax_l1 = ax
        fig = ax_smd.figure
    if len(balance) == 0:
        for a in (ax_smd, ax_l1):
            if a is not None:
                a.text(0.5, 0.5, "no windows: nothing to show", ha="center", va="center",
                       transform=a.transAxes, color="0.35", gid="balance-empty")
                a.set_axis_off()
        return fig

    status = _balance_status(balance)
    variables = list(dict.fromkeys(balance["variable"]))
    n_windows = len(balance.drop_duplicates(["t_window", "spat_window"]))
    pre_all = pd.to_numeric(balance["smd_pre"], errors="coerce").to_numpy(float)
    post_all = pd.to_numeric(balance["smd_post"], errors="coerce").to_numpy(float)
    drawn = np.isfinite(pre_all) | np.isfinite(post_all)
    smd = balance.loc[drawn]
    ypos = {v: i for i, v in enumerate(variables)}
    n_win = max(smd.groupby("variable").size().max() if len(smd) else 1, 1)
    # spread the windows of one variable over a band so that the points do not overlap
    offset = smd.groupby("variable").cumcount().to_numpy() / n_win * 0.6 - 0.3
    y = smd["variable"].map(ypos).to_numpy(dtype=float) + offset
    pre, post, near = pre_all[drawn], post_all[drawn], status[drawn] == "near-constant"
    ax_smd.add_collection(LineCollection(
        [[(a, yy), (b, yy)] for a, b, yy in zip(pre, post, y) if np.isfinite(a) and np.isfinite(b)],
        colors="0.75", linewidths=0.6, zorder=1))
    ax_smd.scatter(pre[~near], y[~near], s=22, facecolors="none", edgecolors="0.45", linewidths=0.9,
                   label="before matching", zorder=2)
    ax_smd.scatter(post[~near], y[~near], s=18, color="#1f5fa8", label="after matching (CEM weights)",
                   zorder=3)
    if near.any():
        ax_smd.scatter(pre[near], y[near], s=26, marker="D", facecolors="none", edgecolors="0.45",
                       linewidths=0.9, zorder=2, gid="balance-near-constant")
        ax_smd.scatter(post[near], y[near], s=22, marker="D", color="#1f5fa8", zorder=3,
                       gid="balance-near-constant")
        ax_smd.scatter([], [], s=22, marker="D", facecolors="none", edgecolors="0.45",
                       label="◆ near-constant window: SMD rests on a few wakes")
    ax_smd.axvline(0.0, color="0.2", linewidth=0.8)
    for x in (-threshold, threshold):
        ax_smd.axvline(x, color="0.5", linewidth=0.8, linestyle="--")
    finite = np.concatenate([pre[np.isfinite(pre)], post[np.isfinite(post)]])
    lim = float(np.max(np.abs(np.concatenate([finite, [threshold]]))))
    ax_smd.set_xlim(-1.1 * lim, 1.1 * lim)
    ax_smd.set_yticks(range(len(variables)), variables)
    ax_smd.set_ylim(len(variables) - 0.5, -0.5)
    row_text = blended_transform_factory(ax_smd.transAxes, ax_smd.transData)
    for v in variables:
        sel = (balance["variable"] == v).to_numpy()
        note = _balance_row_note(status[sel], n_windows)
        if note:
            ax_smd.text(0.99, ypos[v] + 0.42, note, transform=row_text, ha="right", va="bottom",
                        fontsize=7, style="italic", color="#8c2d04", gid="balance-note", zorder=5,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0})
    ax_smd.set_xlabel("standardized mean difference (treated − control)")
    ax_smd.set_title("Balance per variable (one dot per window)")
    ax_smd.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8,
                  frameon=False)

    if ax_l1 is not None:
        win = balance.drop_duplicates(["t_window", "spat_window"])
        l1_pre = pd.to_numeric(win["L1_pre"], errors="coerce").to_numpy(dtype=float)
        l1_post = pd.to_numeric(win["L1_post"], errors="coerce").to_numpy(dtype=float)
        t_vals = np.sort(pd.unique(win["t_window"].to_numpy(dtype=float)))
        cmap = colormaps["viridis"]
        for i, t in enumerate(t_vals):
            sel = win["t_window"].to_numpy(dtype=float) == t
            ax_l1.scatter(l1_pre[sel], l1_post[sel], s=26,
                          color=cmap(i / max(len(t_vals) - 1, 1)), label=f"t = {_fmt_window(t)}")
        both = np.concatenate([l1_pre, l1_post])
        hi = float(np.max(np.concatenate([both[np.isfinite(both)], [0.05]])))
        ax_l1.plot([0, 1.05 * hi], [0, 1.05 * hi], color="0.5", linewidth=0.8, linestyle="--")
        ax_l1.set_xlim(0, 1.05 * hi)
        ax_l1.set_ylim(0, 1.05 * hi)
        ax_l1.set_aspect("equal")
        ax_l1.set_xlabel("L1 before matching")
        ax_l1.set_ylabel("L1 after matching")
        ax_l1.set_title("Multivariate imbalance (one dot per window)")
        n_missing = int((~(np.isfinite(l1_pre) & np.isfinite(l1_post))).sum())
        if n_missing:
            ax_l1.text(0.98, 0.02, f"{n_missing} window(s) without matched strata: no L1 after matching",
                       transform=ax_l1.transAxes, ha="right", va="bottom", fontsize=7, style="italic",
                       color="#8c2d04", gid="balance-note")
        ax_l1.legend(fontsize=7, frameon=False, loc="upper left")
    if ax is None:
        fig.tight_layout()
    return fig
