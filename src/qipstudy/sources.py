"""Where each table's and figure's numbers come from: downloaded, user files or synthetic.

A result is only as real as its inputs, and a run may mix them (real QIPs and ACLED events with
synthetic rasters, say). :data:`OUTPUT_DATASETS` (read from the registry of outputs,
qipstudy.registry.PAPER_ITEMS) says which datasets every output rests on; :func:`sources_of` resolves it against the run's dataset modes (config
``datasets.<name>.mode``), :func:`write_sources` records the result beside the output as
``<stem>.sources.json``, and :func:`synthetic_note` is the label that figures and captions carry
when any of those inputs is synthetic. The reproduction report reads the sidecars back
(:func:`read_sources`) to say, table by table, which numbers can be compared with the paper.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from qipstudy.atomic import write_json

#: How a dataset reached the run (config ``datasets.<name>.mode``), in words.
MODE_LABELS = {
    "download": "downloaded from the provider",
    "user": "user file",
    "synthetic": "built-in synthetic world",
}
REAL_MODES = ("download", "user")
#: Placeholder for the outcome events' provider: ``acled`` or ``ucdp`` (config ``outcome_source``).
OUTCOME = "{outcome_source}"


def _output_datasets() -> dict[str, tuple[str, ...]]:
    """Output stem (file name without folder) → the datasets its numbers rest on, from the one
    registry of outputs (qipstudy.registry.PAPER_ITEMS); the role `outcome` becomes OUTCOME."""
    from qipstudy.registry import PAPER_ITEMS

    out: dict[str, tuple[str, ...]] = {}
    for item in PAPER_ITEMS:
        datasets = tuple(OUTCOME if d == "outcome" else d for d in item.datasets)
        for stem in item.stems:
            name = stem.rsplit("/", 1)[-1].replace("{robustness_outcome}", "{outcome}")
            out[name.replace("_{dimension}", "")] = datasets
    return out


#: Output stem → the datasets its numbers rest on; ``{outcome}`` matches any outcome name.
OUTPUT_DATASETS: dict[str, tuple[str, ...]] = _output_datasets()


def _registry_key(output: str) -> str:
    """The registry entry of an output stem (``significant_windows_battles`` → its template)."""
    if output in OUTPUT_DATASETS:
        return output
    matches = []
    for key in OUTPUT_DATASETS:
        if "{outcome}" in key:
            prefix, suffix = key.split("{outcome}")
            if output.startswith(prefix) and output.endswith(suffix) and len(output) > len(prefix) + len(suffix):
                matches.append(key)
    if not matches:
        raise KeyError(f"output {output!r} is not in qipstudy.sources.OUTPUT_DATASETS; add the datasets it "
                       f"rests on there (known: {', '.join(sorted(OUTPUT_DATASETS))})")
    return max(matches, key=len)  # the most specific template


def _normalise(dataset: str, setting) -> dict:
    """A dataset's setting as {mode, version?, user_file?}: accepts a mode or config's mapping."""
    if isinstance(setting, str):
        record = {"mode": setting}
    elif isinstance(setting, Mapping) and "mode" in setting:
        record = {"mode": setting["mode"]}
        for key in ("version", "user_file"):
            if setting.get(key) is not None:
                record[key] = str(setting[key])
    else:
        raise ValueError(f"dataset {dataset!r}: expected a mode ({', '.join(MODE_LABELS)}) or a mapping "
                         f"with a 'mode' key, got {setting!r}")
    if record["mode"] not in MODE_LABELS:
        raise ValueError(f"dataset {dataset!r}: mode {record['mode']!r} is not one of {', '.join(MODE_LABELS)}")
    return record


def sources_of(output: str, dataset_modes: Mapping[str, object], *, outcome_source: str = "acled") -> dict:
    """{dataset: {mode, version?, user_file?}} for the datasets `output` rests on.

    `output` is an output stem (``table2_conditional_means``, ``heatmap_r_style_civilians``);
    `dataset_modes` maps each dataset to its mode or to its config block (``config["datasets"]``;
    provider options are not copied); `outcome_source` resolves the outcome dataset.
    """
    if outcome_source not in ("acled", "ucdp"):
        raise ValueError(f"outcome_source must be 'acled' or 'ucdp', not {outcome_source!r}")
    out = {}
    for dataset in OUTPUT_DATASETS[_registry_key(output)]:
        dataset = outcome_source if dataset == OUTCOME else dataset
        if dataset not in dataset_modes:
            raise ValueError(f"{output}: no mode for dataset {dataset!r} (config datasets.{dataset}.mode); "
                             f"given: {', '.join(sorted(dataset_modes)) or 'none'}")
        out[dataset] = _normalise(dataset, dataset_modes[dataset])
    return out


def normalise_sources(sources: Mapping[str, object]) -> dict:
    """{dataset: {mode, ...}} from {dataset: mode} or an already normalised mapping."""
    return {dataset: _normalise(dataset, setting) for dataset, setting in sources.items()}


def synthetic_datasets(sources: Mapping[str, object]) -> list[str]:
    return [d for d, rec in normalise_sources(sources).items() if rec["mode"] == "synthetic"]


def real_datasets(sources: Mapping[str, object]) -> list[str]:
    return [d for d, rec in normalise_sources(sources).items() if rec["mode"] in REAL_MODES]


def input_status(sources: Mapping[str, object] | None) -> str:
    """``real`` (no synthetic input), ``synthetic`` (only synthetic), ``partly synthetic``, or
    ``not recorded`` when no sources are known."""
    if not sources:
        return "not recorded"
    synthetic, real = synthetic_datasets(sources), real_datasets(sources)
    if not synthetic:
        return "real"
    return "synthetic" if not real else "partly synthetic"


def describe_sources(sources: Mapping[str, object]) -> str:
    """One line naming each dataset and how it was obtained: ``qip (user file), acled (…)``."""
    return ", ".join(f"{d} ({MODE_LABELS[rec['mode']]})" for d, rec in normalise_sources(sources).items())


def synthetic_note(sources: Mapping[str, object] | None) -> str:
    """The label a figure or caption carries when it rests on synthetic inputs ("" otherwise)."""
    if not sources:
        return ""
    synthetic = synthetic_datasets(sources)
    if not synthetic:
        return ""
    if input_status(sources) == "synthetic":
        return ("SYNTHETIC DATA: every input comes from the built-in synthetic world "
                f"({', '.join(synthetic)}); place names are real, the numbers are not.")
    return (f"PARTLY SYNTHETIC: {', '.join(synthetic)} from the built-in synthetic world; "
            f"real: {', '.join(real_datasets(sources))}. Numbers that depend on synthetic inputs are not real.")


def sources_path(stem: Path) -> Path:
    stem = Path(stem)
    return stem.with_name(f"{stem.name}.sources.json")


def write_sources(stem: Path, sources: Mapping[str, object]) -> Path:
    """Write `<stem>.sources.json`: each input's mode (and version), and the overall status."""
    records = normalise_sources(sources)
    path = sources_path(stem)
    write_json({
        "output": Path(stem).name,
        "inputs": records,
        "status": input_status(records),
        "synthetic": synthetic_datasets(records),
        "real": real_datasets(records),
    }, path)
    return path


def read_sources(path: Path) -> dict:
    """The inputs recorded by :func:`write_sources` (`path`: the sidecar, or the output's stem/file)."""
    path = Path(path)
    if not path.name.endswith(".sources.json"):
        path = sources_path(path.with_suffix("") if path.suffix in (".csv", ".png", ".pdf", ".md", ".tex")
                            else path)
    if not path.exists():
        output = path.name.removesuffix(".sources.json")
        raise FileNotFoundError(f"{path}: no sources sidecar; the rule that writes {output} must call "
                                "qipstudy.sources.write_sources (or pass sources= to write_table/save_figure)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return normalise_sources(record["inputs"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a sources sidecar ({err}); delete it and rerun the rule that writes it") from err
