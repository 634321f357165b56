"""Command line: ``matchedwake run EVENTS.csv --config ANALYSIS.yaml --out DIR``.

Runs one matched wake analysis from a CSV of events and a YAML file holding the options of
:class:`matchedwake.MWASpec`, and writes the result tables, the detailed summary and two heatmaps
to DIR (every file atomically, so an interrupted run never leaves a truncated output).
``--no-heatmaps`` leaves the heatmaps out, and with them matplotlib, whose import alone takes
longer than a paper-sized analysis.

Everything that can be checked before the (possibly long) analysis is checked first: the config
(unknown keys, values), the output directory, the events file's encoding. Every error is one line
on stderr (exit status 2 before the analysis, 1 during or after it); rows in error messages are
line numbers of EVENTS.csv.
"""
from __future__ import annotations

import argparse
import codecs
import os
import sys
import warnings
from pathlib import Path

import pandas as pd
import yaml

from .spec import MWASpec, SpecError

__all__ = ["ConfigError", "check_output_dir", "load_spec", "main", "read_events"]


class ConfigError(ValueError):
    """The analysis YAML is malformed; the message names the file, the key and what was expected."""


class InputError(ValueError):
    """The events file or the output directory cannot be used."""


def _decode_problem(raw: bytes, encoding: str) -> str:
    """Where ``raw`` stops being ``encoding`` text: 'byte 0xe9 on line 3'."""
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        return f"byte 0x{raw[exc.start]:02x} on line {line}"
    return "an undecodable byte"


def _encoding_hint(encoding: str, path) -> str:
    if codecs.lookup(encoding).name != "utf-8":
        return "pass the file's real encoding with --encoding"
    return (f"it is probably Latin-1 or Windows-1252: convert it to UTF-8 (iconv -f latin1 -t utf-8 {path}) or "
            "pass --encoding latin-1")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key that appears twice in a mapping (PyYAML keeps the last)."""


def _construct_unique_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"key {key!r} appears twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1}); "
                              "keep one")
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_spec(path: str | Path) -> MWASpec:
    """Read an analysis YAML into an :class:`MWASpec` (unknown keys and bad values are errors)."""
    try:
        raw_bytes = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text ({_decode_problem(raw_bytes, 'utf-8-sig')}); "
                          f"{_encoding_hint('utf-8', path)} — YAML files must be UTF-8") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of analysis options at the top level, "
                          f"got {type(raw).__name__}")
    try:
        return MWASpec.from_mapping(raw, where="")
    except SpecError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def read_events(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """The events CSV with ``timestamp`` as text; rows are labelled by their line in the file.

    (The header is line 1; the labels are exact unless the file has blank lines, which are skipped, or
    quoted fields that span lines.) A UTF-8 byte-order mark is accepted. Errors (missing file, wrong encoding, malformed CSV) are
    :class:`InputError` with a one-line message.
    """
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(f"--encoding {encoding!r} is not an encoding Python knows") from None
    read_as = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        data = pd.read_csv(path, dtype={"timestamp": str}, encoding=read_as)
    except UnicodeDecodeError:
        raw = Path(path).read_bytes()
        raise InputError(f"cannot read events {path}: not {encoding} text ({_decode_problem(raw, read_as)}); "
                         f"{_encoding_hint(encoding, path)}") from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot read events {path}: {' '.join(detail.split())}") from None
    data.index = pd.RangeIndex(2, len(data) + 2)  # line numbers: the header is line 1
    return data


def check_output_dir(path: str | Path) -> Path:
    """``path`` as an output directory that exists or can be created (checked, not created)."""
    out = Path(path)
    if out.exists():
        if not out.is_dir():
            raise InputError(f"--out {out}: exists and is not a directory; choose a directory path")
        if not os.access(out, os.W_OK | os.X_OK):
            raise InputError(f"--out {out}: the directory is not writable")
        return out
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"--out {out}: cannot create it, {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: cannot create it, {parent} is not writable")
    return out


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="matchedwake",
                                     description="Matched Wake Analysis (port of R mwa 0.5.0).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one analysis and write its outputs",
                         description="Run matched_wake on EVENTS.csv with the options in the YAML "
                                     "config; write tables, summary and heatmaps to DIR.")
    run.add_argument("events", metavar="EVENTS.csv",
                     help="events with columns timestamp, lat, lon, the type column(s), covariates")
    run.add_argument("--config", required=True, metavar="ANALYSIS.yaml",
                     help=f"analysis options (required: {', '.join(MWASpec.required_names())}; optional: "
                          + ", ".join(n for n in MWASpec.field_names() if n not in MWASpec.required_names())
                          + ")")
    run.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    run.add_argument("--encoding", default="utf-8",
                     help="text encoding of EVENTS.csv (default utf-8; e.g. latin-1, cp1252)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="show counting progress on stderr (default: when stderr is a terminal)")
    run.add_argument("--adjust", default="none",
                     help="p-value adjustment for the heatmaps and the printed summary "
                          "(none, bonferroni, holm, hochberg, hommel, BH/fdr, BY; default none)")
    run.add_argument("--heatmaps", action=argparse.BooleanOptionalAction, default=True,
                     help="write heatmap_r.png and heatmap_tiles.png (default; --no-heatmaps skips "
                          "them and the matplotlib import)")
    run.add_argument("--quiet", action="store_true", help="do not print the summary")
    run.add_argument("--traceback", action="store_true", help="show the traceback of an unexpected error")
    return parser


def _error(message: str) -> None:
    print(f"matchedwake: error: {' '.join(str(message).split())}", file=sys.stderr)


def _show_warnings(caught) -> None:
    """Each warning as one line; per-window NA warnings are left out (the summary warning lists them)."""
    from .windows import WindowWarning

    seen = set()
    for w in caught:
        text = " ".join(str(w.message).split())
        if issubclass(w.category, WindowWarning) and text.startswith("window t="):
            continue
        if text not in seen:
            seen.add(text)
            print(f"matchedwake: warning: {text}", file=sys.stderr)


def _run(args) -> int:
    from .adjust import canonical_method

    try:
        spec = load_spec(args.config)
        adjust = canonical_method(args.adjust)
        out = check_output_dir(args.out)
        data = read_events(args.events, args.encoding)
    except ValueError as exc:
        _error(exc)
        return 2

    from .api import matched_wake
    from .result import write_atomically

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = matched_wake(data, spec=spec, progress=progress)
        except ValueError as exc:
            _show_warnings(caught)
            rows = f" (rows are line numbers of {args.events})" if " row " in f" {exc}" else ""
            _error(f"{exc}{rows}")
            return 1
    _show_warnings(caught)
    try:
        result.to_dir(out)
        if args.heatmaps:
            for name, fig in (("heatmap_r.png", result.plot(adjust=adjust)),
                              ("heatmap_tiles.png", result.plot_tiles(adjust=adjust))):
                write_atomically(out / name,
                                 lambda tmp, f=fig: f.savefig(tmp, format="png", dpi=150, bbox_inches="tight"))
    except (OSError, ValueError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        _error(f"cannot write the outputs to {out}: {detail}")
        return 1
    if not args.quiet:
        print(result.summary_text(detailed=True, adjust=adjust), end="")
        print(f"Outputs written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``matchedwake`` command; returns the exit status."""
    args = _build_parser().parse_args(argv)
    if args.command != "run":
        raise AssertionError(f"unhandled command {args.command!r}")  # argparse enforces the choice
    try:
        return _run(args)
    except Exception as exc:  # a bug, not a user error: one line unless --traceback
        if args.traceback:
            raise
        _error(f"unexpected {type(exc).__name__}: {exc} (rerun with --traceback and report it)")
        return 3


if __name__ == "__main__":
    sys.exit(main())
