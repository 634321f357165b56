"""The result object of :func:`matchedwake.matched_wake` (R's `matchedwake` list, §3 of docs/mwa_reference.md)."""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .adjust import canonical_method, p_adjust
from .rmath import r_round

# R's explanatory text printed by summary.matchedwake (mwa 0.5.0), reproduced for parity.
_TXT_NONE = "The method could not identify any space and time windows with significant estimates.\n"
_TXT_SHORT = (
    "The method has identified combinations of temporal and spatial window sizes with significant "
    "estimates. The table below gives the estimated effect sizes and p-values for these "
    "combinations.\n\n"
)
_TXT_DETAILED = (
    "The method has identified combinations of temporal and spatial window sizes with significant "
    "estimates. The table below gives the estimated effect sizes and p-values for these "
    "combinations as well as summary post-matching statistics and statistics on SUTVA violations:\n"
    "Matching:\n"
    " - '%treat' is short for the percentage of treatment events; the closer this is to 50%, the "
    "better the balance of treatment and control cases after matching\n"
    " - 'L1metric' measures the covariate balance after matching\n"
    " - '%supp' is short for percentage of common support after matching, a standard measure for "
    "the overlap of the range of covariate values\n"
    "SUTVA violations:\n"
    " - '%SO' gives the percentage of cases in which two or more treatment (or control) episodes "
    "overlap\n"
    " - '%MO' provides the fraction of overlapping treatment and control episodes\n\n"
)
_TXT_CONTROLS = (
    "NOTE:\nYou have chosen to include additional control dimensions in the estimation. The "
    "corresponding coefficients and p values may also be found in the table below.\n\n"
)


@dataclass
class MatchedWakeResult:
    """Tables with R's column names and row order, plus the run's parameters.

    `parameters` is the analysis spec (:meth:`matchedwake.MWASpec.to_dict`) plus, under ``"run"``,
    facts of the run (events, rows dropped, windows, NA windows by reason, and under ``numerics``
    the numpy, matchedwake and BLAS versions and the BLAS kernel that the estimates' last bits
    depend on); :attr:`spec` rebuilds the spec. `estimates` ends with R's columns followed by ``na_reason``. `incomplete` maps each temporal window t to the sorted eventIDs of wakes dropped as incomplete
    at t (R writes them to `matchedwake_log.txt`; we keep them on the object).
    """

    estimates: pd.DataFrame
    matching: pd.DataFrame
    sutva: pd.DataFrame
    wakes: pd.DataFrame
    parameters: dict
    incomplete: dict[int, list[int]] = field(default_factory=dict)
    matched: pd.DataFrame | None = None
    bins: pd.DataFrame | None = None

    @property
    def spec(self):
        """The :class:`matchedwake.MWASpec` of this run (from ``parameters``)."""
        from .spec import MWASpec

        return MWASpec.from_parameters(self.parameters)

    # ------------------------------------------------------------------ summary (docs/mwa_reference.md §3.4)
    def _control_names(self) -> list[str]:
        """Estimation controls, read from the `<c>.coef`/`<c>.pval` column pairs of `estimates`."""
        cols = list(self.estimates.columns)
        return [c[:-5] for c in cols if c.endswith(".coef") and f"{c[:-5]}.pval" in cols]

    def summary(self, detailed: bool = False, adjust: str = "none") -> pd.DataFrame:
        """The windows with p ≤ alpha1, as R's ``summary(result, detailed)`` returns them.

        ``adjust`` (an extension; R has none here) first applies a multiple-testing correction
        (:func:`matchedwake.adjust.p_adjust`) across all windows; ``p.value`` then shows the
        adjusted value. Rounding is R's. With nothing significant the frame is empty but keeps
        its columns, where R returns NULL.
        """
        est = self.estimates
        t_unit = self.parameters.get("t_unit", "days")
        alpha1 = float(self.parameters.get("alpha1", 0.05))
        pvals = p_adjust(est["pvalue"].to_numpy(dtype=float, na_value=np.nan), adjust)
        with np.errstate(invalid="ignore"):
            keep = pvals <= alpha1  # NaN compares False: failed windows are never listed
        sel = est.loc[keep]
        out = pd.DataFrame({
            f"Time[{t_unit}]": sel["t_window"].to_numpy(),
            "Space[km]": sel["spat_window"].to_numpy(),
            "EffectSize": r_round(sel["estimate"].to_numpy(dtype=float, na_value=np.nan), 3),
            "p.value": r_round(pvals[keep], 3),
        })
        if "adj.r.squared" in est.columns:
            out["adj.Rsquared"] = r_round(sel["adj.r.squared"].to_numpy(dtype=float, na_value=np.nan), 4)
        if detailed:
            keys = pd.MultiIndex.from_arrays([sel["t_window"].to_numpy(dtype=float),
                                              sel["spat_window"].to_numpy(dtype=float)])
            m = _by_window(self.matching).reindex(keys)
            s = _by_window(self.sutva).reindex(keys)
            tp = m["treatment_post"].to_numpy(dtype=float, na_value=np.nan)
            cp = m["control_post"].to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(invalid="ignore", divide="ignore"):
                out["%treat"] = r_round(100 * tp / (cp + tp), 1)
            out["L1metric"] = r_round(m["L1_post"].to_numpy(dtype=float, na_value=np.nan), 3)
            out["%supp"] = m["commonSupport_post"].to_numpy(dtype=float, na_value=np.nan)
            out["%S0"] = 100 * s["SO"].to_numpy(dtype=float, na_value=np.nan)  # sic, as in R
            out["%MO"] = 100 * s["MO"].to_numpy(dtype=float, na_value=np.nan)
        for c in self._control_names():
            for suffix in (".coef", ".pval"):
                out[c + suffix] = r_round(sel[c + suffix].to_numpy(dtype=float, na_value=np.nan), 3)
        return out.reset_index(drop=True)

    def summary_text(self, detailed: bool = True, adjust: str = "none", width: int = 80) -> str:
        """What R prints for ``print(summary(result, detailed))``, including its trailing ``NULL``.

        The table is laid out like R's ``print.data.frame`` (7 significant digits per column,
        right-aligned, wrapped into column blocks at ``width`` characters). With ``adjust`` other
        than "none" one extra line names the correction, since R has no such option.
        """
        table = self.summary(detailed=detailed, adjust=adjust)
        text = "Results:\n"
        method = canonical_method(adjust)
        if method != "none":
            n = int(self.estimates["pvalue"].notna().sum())
            text += (f"p-values adjusted for multiple testing across {n} windows "
                     f"(method '{method}', as R's p.adjust).\n")
        if len(table) == 0:
            return text + _TXT_NONE + "NULL\n"
        text += _TXT_DETAILED if detailed else _TXT_SHORT
        if self._control_names():
            text += _TXT_CONTROLS
        return text + format_r_table(table, width=width) + "\n"

    # ------------------------------------------------------------------ plots (docs/mwa_reference.md §3.5)
    def plot(self, *, zlim=None, plot_nas: bool = True, adjust: str = "none", ax=None):
        """R-style contour heatmap; see :func:`matchedwake.plotting.plot_r_style`."""
        from .plotting import plot_r_style

        return plot_r_style(self.estimates, t_unit=self.parameters.get("t_unit", "days"),
                            alpha1=float(self.parameters.get("alpha1", 0.05)),
                            alpha2=float(self.parameters.get("alpha2", 0.1)),
                            zlim=zlim, plot_nas=plot_nas, adjust=adjust, ax=ax)

    def plot_tiles(self, *, adjust: str = "none", ax=None, title: str | None = None):
        """Tile heatmap; see :func:`matchedwake.plotting.plot_tiles`."""
        from .plotting import plot_tiles

        return plot_tiles(self.estimates, t_unit=self.parameters.get("t_unit", "days"),
                          alpha1=float(self.parameters.get("alpha1", 0.05)),
                          alpha2=float(self.parameters.get("alpha2", 0.1)),
                          adjust=adjust, ax=ax, title=title)

    # ------------------------------------------------------------------ files
    def to_dir(self, path: str | os.PathLike) -> Path:
        """Write the result to a directory, each file atomically (no half-written outputs).

        estimates.csv, matching.csv, sutva.csv (R column names, missing = ``NA``, floats in
        round-trip precision), wakes.parquet, summary.txt (the detailed R summary),
        parameters.json and incomplete.json; matched.csv and bins.csv when present.
        """
        out = Path(path)
        if out.exists() and not out.is_dir():
            raise ValueError(f"output directory {out} exists and is not a directory; choose another path")
        out.mkdir(parents=True, exist_ok=True)
        for name, df in (("estimates", self.estimates), ("matching", self.matching),
                         ("sutva", self.sutva), ("matched", self.matched), ("bins", self.bins)):
            if df is not None:
                write_text_atomically(out / f"{name}.csv", df.to_csv(index=False, na_rep="NA"))
        write_atomically(out / "wakes.parquet", lambda tmp: self.wakes.to_parquet(tmp, index=False))
        write_text_atomically(out / "summary.txt", self.summary_text(detailed=True))
        write_text_atomically(out / "parameters.json",
                              json.dumps(self.parameters, indent=2, default=_json_default) + "\n")
        incomplete = {str(k): [int(v) for v in ids] for k, ids in self.incomplete.items()}
        write_text_atomically(out / "incomplete.json", json.dumps(incomplete, indent=2) + "\n")
        return out


def _by_window(df: pd.DataFrame) -> pd.DataFrame:
    """Index a per-window table by float (t, s), so int and float window columns both match."""
    idx = pd.MultiIndex.from_arrays([df["t_window"].to_numpy(dtype=float),
                                     df["spat_window"].to_numpy(dtype=float)])
    return df.set_axis(idx, axis=0)


def _json_default(obj):
    """JSON for the values `parameters` may hold: tuples are lists already; numpy, paths, sets."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in parameters.json")


def write_atomically(path: str | os.PathLike, writer: Callable[[str], None]) -> None:
    """Call ``writer(tmp)`` on a temporary file next to ``path``, then rename it into place.

    The rename is atomic on one file system, so readers (and Snakemake) never see partial files.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Atomic UTF-8 text write (see :func:`write_atomically`)."""
    def _w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    write_atomically(path, _w)


# ---------------------------------------------------------------------- R-like table printing
def _r_format_numeric(values: np.ndarray) -> list[str]:
    """Strings as R's ``format(x, digits = 7)`` prints a numeric column (docs/mwa_reference.md Appendix B).

    All finite values share one layout: fixed with a common number of decimals, or scientific
    with a common precision when that is narrower. NA/NaN print as ``NA``.
    """
    v = np.asarray(values, dtype=float)
    fin = np.isfinite(v)
    out = ["NA" if math.isnan(x) else ("Inf" if x > 0 else "-Inf") for x in v]
    if not fin.any():
        return out
    sig, kp, neg = [], [], []
    for x in v[fin]:
        mant, exp = ("%.6e" % abs(x)).split("e")
        digits = mant.replace(".", "").rstrip("0")
        sig.append(max(len(digits), 1))
        kp.append(int(exp))
        neg.append(x < 0)
    sig, kp, neg = np.array(sig), np.array(kp), np.array(neg)
    left = kp + 1
    sleft = neg + np.maximum(left, 1)
    rgt = int(max((sig - left).max(), 0))
    anyneg = bool(neg.any())
    mxsl = 1 + anyneg if left.max() < 0 else int(sleft.max())
    mxns = int(sig.max())
    w_fixed = mxsl + rgt + (rgt > 0)
    e_width = 2 if (left.max() > 100 or left.min() <= -99) else 1
    w_sci = anyneg + (mxns > 1) + (mxns - 1) + 4 + e_width
    fmt = f"%.{rgt}f" if w_fixed <= w_sci else f"%.{mxns - 1}e"
    for i, x in zip(np.flatnonzero(fin), v[fin]):
        out[i] = fmt % (x + 0.0)  # + 0.0 turns -0 into 0, which R prints as "0"
    return out


def _format_column(col: pd.Series) -> list[str]:
    if pd.api.types.is_bool_dtype(col.dtype):
        return ["TRUE" if x else "FALSE" for x in col]
    if pd.api.types.is_integer_dtype(col.dtype):
        return ["NA" if pd.isna(x) else str(int(x)) for x in col]
    if pd.api.types.is_numeric_dtype(col.dtype):
        return _r_format_numeric(col.to_numpy(dtype=float, na_value=np.nan))
    return ["NA" if pd.isna(x) else str(x) for x in col]


def format_r_table(df: pd.DataFrame, width: int = 80) -> str:
    """Lay out ``df`` like R's ``print.data.frame``: row names 1..n, columns right-aligned.

    Columns that do not fit into ``width`` characters continue in further blocks, as in R.
    """
    rownames = [str(i + 1) for i in range(len(df))]
    rw = max((len(r) for r in rownames), default=0)
    cols = []
    for name in df.columns:
        cells = _format_column(df[name])
        cols.append((str(name), cells, max([len(str(name))] + [len(c) for c in cells])))
    blocks, cur, used = [], [], rw
    for col in cols:
        if cur and used + 1 + col[2] > width:
            blocks.append(cur)
            cur, used = [], rw
        cur.append(col)
        used += 1 + col[2]
    if cur:
        blocks.append(cur)
    lines = []
    for block in blocks:
        lines.append(" " * rw + "".join(" " + name.rjust(w) for name, _, w in block))
        for r, rn in enumerate(rownames):
            lines.append(rn.ljust(rw) + "".join(" " + cells[r].rjust(w) for _, cells, w in block))
    return "\n".join(lines)
