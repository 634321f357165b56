"""Command line: ``matchedwake run EVENTS.csv --config ANALYSIS.yaml --out DIR``.

Runs one matched wake analysis from a CSV of events and a YAML file holding the arguments of
:func:`matchedwake.matched_wake`, and writes the result tables, the detailed summary and two
heatmaps to DIR (every file atomically, so an interrupted run never leaves a truncated output).
Config mistakes are reported before the (possibly long) run starts.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from numbers import Real
from pathlib import Path

import pandas as pd
import yaml

__all__ = ["main", "load_config", "CONFIG_KEYS", "REQUIRED_KEYS"]

REQUIRED_KEYS = ("t_window", "spat_window", "treatment", "control", "dependent", "match_columns")
#: Every key an analysis YAML may hold: the arguments of ``matched_wake`` after ``data``.
CONFIG_KEYS = REQUIRED_KEYS + (
    "t_unit", "estimation", "formula", "weighted", "estimation_controls", "tcm", "delete_sutva",
    "alpha1", "alpha2", "match_default", "match_details", "drop_invalid",
)
_BOOL_KEYS = ("weighted", "tcm", "delete_sutva", "match_default", "match_details", "drop_invalid")
_STR_KEYS = ("t_unit", "estimation", "formula")


class ConfigError(ValueError):
    """The analysis YAML is malformed; the message names the key and what was expected."""


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _column_list(key: str, value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ConfigError(f"{key}: expected a list of column names, got {value!r}")
    return list(value)


def load_config(path: str | Path) -> dict:
    """Read and check an analysis YAML; return keyword arguments for ``matched_wake``.

    Unknown keys are an error (with a suggestion), so a typo such as ``weigthed`` cannot silently
    fall back to a default. Only the structure is checked here; value rules (window steps, known
    columns) are the engine's.
    """
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of matched_wake arguments at the top level")
    unknown = [k for k in raw if k not in CONFIG_KEYS]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), CONFIG_KEYS, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"{path}: unknown key(s) {', '.join(hints)}; allowed keys: "
                          f"{', '.join(CONFIG_KEYS)}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise ConfigError(f"{path}: missing required key(s) {', '.join(missing)}")
    cfg = dict(raw)
    for key in ("t_window", "spat_window"):
        v = cfg[key]
        if not isinstance(v, list) or len(v) != 3 or not all(_is_number(x) for x in v):
            raise ConfigError(f"{key}: expected [min, max, step] numbers, got {v!r}")
        cfg[key] = tuple(v)
    for key in ("treatment", "control", "dependent"):
        v = cfg[key]
        if not isinstance(v, list) or len(v) != 2 or not isinstance(v[0], str):
            raise ConfigError(f"{key}: expected [column, value], got {v!r}")
        cfg[key] = tuple(v)
    cfg["match_columns"] = _column_list("match_columns", cfg["match_columns"])
    if "estimation_controls" in cfg:
        ec = cfg["estimation_controls"]
        cfg["estimation_controls"] = tuple(_column_list("estimation_controls", [] if ec is None else ec))
    for key in _BOOL_KEYS:
        if key in cfg and not isinstance(cfg[key], bool):
            raise ConfigError(f"{key}: expected true or false, got {cfg[key]!r}")
    for key in _STR_KEYS:
        if key in cfg and not isinstance(cfg[key], str):
            raise ConfigError(f"{key}: expected a string, got {cfg[key]!r}")
    for key in ("alpha1", "alpha2"):
        if key in cfg and not (_is_number(cfg[key]) and 0 < cfg[key] < 1):
            raise ConfigError(f"{key}: expected a number between 0 and 1, got {cfg[key]!r}")
    return cfg


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="matchedwake",
                                     description="Matched Wake Analysis (port of R mwa 0.5.0).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one analysis and write its outputs",
                         description="Run matched_wake on EVENTS.csv with the arguments in the "
                                     "YAML config; write tables, summary and heatmaps to DIR.")
    run.add_argument("events", metavar="EVENTS.csv",
                     help="events with columns timestamp, lat, lon, the type column(s), covariates")
    run.add_argument("--config", required=True, metavar="ANALYSIS.yaml",
                     help=f"matched_wake arguments; keys: {', '.join(CONFIG_KEYS)}")
    run.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="show counting progress on stderr (default: when stderr is a terminal)")
    run.add_argument("--adjust", default="none",
                     help="p-value adjustment for the heatmaps and the printed summary "
                          "(none, bonferroni, holm, hochberg, hommel, BH/fdr, BY; default none)")
    run.add_argument("--quiet", action="store_true", help="do not print the summary")
    return parser


def _run(args) -> int:
    from .adjust import canonical_method

    try:
        cfg = load_config(args.config)
        adjust = canonical_method(args.adjust)
    except ValueError as exc:
        print(f"matchedwake: error: {exc}", file=sys.stderr)
        return 2
    try:
        data = pd.read_csv(args.events, dtype={"timestamp": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        print(f"matchedwake: error: cannot read events {args.events}: {exc}", file=sys.stderr)
        return 2

    from .api import matched_wake
    from .result import write_atomically

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        result = matched_wake(data, progress=progress, **cfg)
    except ValueError as exc:
        print(f"matchedwake: error: {exc}", file=sys.stderr)
        return 1
    out = result.to_dir(args.out)
    for name, fig in (("heatmap_r.png", result.plot(adjust=adjust)),
                      ("heatmap_tiles.png", result.plot_tiles(adjust=adjust))):
        write_atomically(out / name,
                         lambda tmp, f=fig: f.savefig(tmp, format="png", dpi=150, bbox_inches="tight"))
    if not args.quiet:
        print(result.summary_text(detailed=True, adjust=adjust), end="")
        print(f"Outputs written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``matchedwake`` command; returns the exit status."""
    args = _build_parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse enforces the choice


if __name__ == "__main__":
    sys.exit(main())
