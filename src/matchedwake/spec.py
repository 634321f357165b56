"""One analysis specification: every option of :func:`matchedwake.matched_wake` in one frozen object.

:class:`MWASpec` is the single place where analysis options are normalised and checked: the Python
API builds one from its keyword arguments, the command line and the workflow build one from a
mapping (:meth:`MWASpec.from_mapping`, which rejects unknown keys), and ``parameters.json`` is its
:meth:`MWASpec.to_dict`. The workflow's config schema is :meth:`MWASpec.json_schema`, generated from
the fields below, so the schema, the defaults and the checks cannot drift apart.

Every check here needs no data; checks against the event table (columns exist, values occur,
covariates are finite) are :func:`matchedwake.validation.validate_inputs`.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from .counting import UNIT_MS

#: Calendar periods of `calendar_match` (matchedwake.calendar_time bins wake starts into them).
CALENDAR_UNITS = ("year", "half", "quarter", "month")

__all__ = [
    "ESTIMATIONS",
    "FORMULAS",
    "ROBUST_VCOV_ESTIMATIONS",
    "UNSET",
    "VCOV_TYPES",
    "WAKE_COLUMNS",
    "MWASpec",
    "SpecError",
    "resolve_spec",
    "window_grid",
]

FORMULAS = ("dependent_post ~ dependent_pre + treatment",
            "dependent_post - dependent_pre ~ treatment")
ESTIMATIONS = ("lm", "att", "nb", "poisson")
VCOV_TYPES = ("classical", "HC1", "cluster")
#: Estimators with robust (HC1, cluster) standard errors.
ROBUST_VCOV_ESTIMATIONS = ("lm", "att", "poisson")
#: Columns of R's wakes table; a covariate or cluster column of the same name would be overwritten.
WAKE_COLUMNS = ("eventID", "t_window", "spat_window", "treatment", "dependent_pre",
                "dependent_trend", "SO_pre", "MO_pre", "dependent_post", "SO_post", "MO_post")
DEFAULT_MAX_WINDOWS = 2000
_SQRT_EPS = float(np.sqrt(np.finfo(float).eps))


class SpecError(ValueError):
    """An analysis option is invalid; ``key`` is its path (``mwa.t_window``), ``problem`` the why."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)

    def __reduce__(self):  # picklable (e.g. across worker processes) despite the two-argument __init__
        return type(self), (self.key, self.problem)

    def under(self, where: str) -> SpecError:
        """The same error with ``where`` prefixed to the key path (``mwa`` + ``t_window``)."""
        return SpecError(f"{where}.{self.key}" if where and self.key else (self.key or where), self.problem)


# ---------------------------------------------------------------------- window grids
def _grid(window, temporal: bool) -> np.ndarray:
    """The window values R builds from ``(min, max, step)`` (R's ``seq``, then 15 significant
    digits as ``as.character`` hands them to Java); raises ValueError with the problem."""
    if isinstance(window, (str, bytes)) or not isinstance(window, Sequence | np.ndarray):
        raise ValueError(f"must be a (min, max, step) triple of numbers, got {window!r}")
    vals = list(window)
    if len(vals) != 3 or not all(isinstance(v, Real) and not isinstance(v, (bool, np.bool_)) for v in vals):
        raise ValueError(f"must be a (min, max, step) triple of numbers, got {window!r}")
    lo, hi, step = (float(v) for v in vals)
    if not all(np.isfinite([lo, hi, step])):
        raise ValueError(f"values must be finite, got {window!r}")
    if min(lo, hi, step) < 0:
        raise ValueError(f"values must not be negative, got {window!r}")
    if hi < lo:
        raise ValueError(f"max ({hi:g}) is smaller than min ({lo:g})")
    if temporal and lo < 2:
        raise ValueError(f"minimum time window size is 2 in order to calculate a trend, got {lo:g}")
    if not temporal and lo <= 0:
        raise ValueError(f"radii must be positive (km), got min {lo:g}: a 0 km window holds only events "
                         "at the wake's exact coordinates")
    if lo == hi:
        grid = np.array([lo])
    else:
        if step == 0:
            raise ValueError(f"step is 0 but min ({lo:g}) != max ({hi:g}); use (v, v, 0) for a single window")
        q = (hi - lo) / step
        if abs(q - round(q)) > _SQRT_EPS:
            raise ValueError(f"step {step:g} does not divide the range {lo:g}..{hi:g}")
        n = int(q + 1e-10)
        grid = np.minimum(lo + np.arange(n + 1) * step, hi)
        grid = np.array([float(f"{v:.15g}") for v in grid])
        if np.any(np.diff(grid) <= 0):
            raise ValueError(f"step {step:g} is too small to give distinct windows")
    if temporal:
        frac = grid != np.floor(grid)
        if frac.any():
            raise ValueError(f"temporal windows must be whole numbers of t_unit; {grid[frac][0]:g} is not")
    return grid


def window_grid(window, name: str, temporal: bool) -> np.ndarray:
    """The window values of a ``(min, max, step)`` triple; :class:`SpecError` under ``name`` if invalid.

    Temporal windows are whole numbers ≥ 2 (the trend needs two units); spatial radii are > 0 km.
    The triple's size guard is :attr:`MWASpec.max_windows`.
    """
    try:
        return _grid(window, temporal)
    except ValueError as exc:
        raise SpecError(name, str(exc)) from None


# ---------------------------------------------------------------------- normalisers
def _plain(v):
    """A numpy scalar as the Python scalar it holds (so specs compare, hash and dump as JSON)."""
    return v.item() if isinstance(v, np.generic) else v


def _window(key: str, value, temporal: bool) -> tuple:
    window_grid(value, key, temporal)
    return tuple(int(v) if float(v).is_integer() else float(v) for v in (_plain(x) for x in value))


def _pair(key: str, value) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray) or len(value) != 2:
        raise SpecError(key, f"must be a (column, value) pair such as ('type', '{key}'), got {value!r}")
    column, level = _plain(value[0]), _plain(value[1])
    if not isinstance(column, str) or not column:
        raise SpecError(key, f"the first element must be a column name, got {column!r}")
    if not isinstance(level, (str, bool, int, float)) or (isinstance(level, float) and not math.isfinite(level)):
        raise SpecError(key, f"the value must be a string, number or boolean, got {level!r}")
    return column, level


def _columns(key: str, value, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if isinstance(value, (str, bytes)):
        raise SpecError(key, f"must be a list of column names, not the single string {value!r} (write [{value!r}])")
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise SpecError(key, f"must be a list of column names, got {value!r}")
    cols = tuple(_plain(c) for c in value)
    if required and not cols:
        raise SpecError(key, "must name at least one column")
    bad = [c for c in cols if not isinstance(c, str) or not c]
    if bad:
        raise SpecError(key, f"column names must be non-empty strings, got {bad[0]!r}")
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise SpecError(key, f"column {dup[0]!r} is listed more than once")
    clash = [c for c in cols if c in WAKE_COLUMNS]
    if clash:
        raise SpecError(key, f"column {clash[0]!r} clashes with a wakes-table column; rename it")
    return cols


def _bool(key: str, value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise SpecError(key, f"must be true or false, got {value!r}")


def _choice(key: str, value, allowed: Sequence[str]) -> str:
    if value in allowed and isinstance(value, str):
        return value
    close = difflib.get_close_matches(str(value), allowed, n=1) if isinstance(value, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise SpecError(key, f"must be one of {list(allowed)}, got {value!r}{hint}")


def _alpha(key: str, value) -> float:
    value = _plain(value)
    if isinstance(value, Real) and not isinstance(value, bool) and 0 < float(value) < 1:
        return value
    raise SpecError(key, f"must be a number strictly between 0 and 1, got {value!r}")


def _option(description: str, schema: dict, **kw):
    """A dataclass field that carries its description and JSON-schema type (for json_schema())."""
    return field(metadata={"description": description, "schema": schema}, **kw)


_NUMBER3 = {"type": "array", "minItems": 3, "maxItems": 3, "items": {"type": "number", "minimum": 0}}
_PAIR = {"type": "array", "minItems": 2, "maxItems": 2,
         "prefixItems": [{"type": "string", "minLength": 1}, {"type": ["string", "number", "boolean"]}]}
_COLUMNS = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}


@dataclass(frozen=True, kw_only=True)
class MWASpec:
    """Every option of one Matched Wake Analysis, normalised (tuples, Python scalars) and checked.

    Defaults are R mwa 0.5.0's (``vcov``, ``cluster_column``, ``drop_invalid`` and ``max_windows``
    are our extensions). Build one with keyword arguments, :meth:`from_mapping` (config files) or
    :meth:`replace`; an invalid value raises :class:`SpecError` naming the option.
    """

    t_window: tuple = _option(
        "Temporal window sizes (min, max, step) in t_unit: whole numbers, min >= 2 (the trend needs two "
        "units), the step divides max - min; (v, v, 0) is the single window v.", _NUMBER3)
    spat_window: tuple = _option(
        "Spatial window radii (min, max, step) in km: min > 0, the step divides max - min; (v, v, 0) is "
        "the single radius v.", _NUMBER3)
    treatment: tuple = _option(
        "(column, value): events whose column equals the value are the treatment wakes.", _PAIR)
    control: tuple = _option(
        "(column, value): events whose column equals the value are the control wakes; must differ from "
        "treatment.", _PAIR)
    dependent: tuple = _option(
        "(column, value): the events counted in each wake (the outcome); must differ from treatment and "
        "control.", _PAIR)
    match_columns: tuple = _option(
        "Covariate columns matched on (coarsened exact matching), read from each wake event's own row: "
        "numeric or pandas Categorical, no missing or infinite values on treatment/control events.",
        dict(_COLUMNS, minItems=1))
    t_unit: str = _option("Unit of t_window (elapsed time; timestamps are read as UTC).", {"enum": list(UNIT_MS)},
                          default="days")
    estimation: str = _option(
        "Per-window estimator: lm (least squares), att (cem's linear ATT), nb (negative binomial, "
        "identity link), poisson (Poisson GLM, identity link; an extension).",
        {"enum": list(ESTIMATIONS)}, default="lm")
    formula: str = _option(
        "Model of each window: the level form (post count on pre count and treatment) or the difference "
        "form (post minus pre count on treatment).", {"enum": list(FORMULAS)}, default=FORMULAS[0])
    weighted: bool = _option("Weight the regression by the CEM weights (lm, att).",
                             {"type": "boolean"}, default=False)
    estimation_controls: tuple = _option(
        "Extra numeric regressors from each wake event's row; added to the model, not matched on.",
        dict(_COLUMNS, type=["array", "null"]), default=())
    tcm: bool = _option(
        "Treatment/control matching: also match on SO_pre and MO_pre (other treatment and control events "
        "in the pre window).", {"type": "boolean"}, default=False)
    delete_sutva: bool = _option(
        "Drop wakes with another treatment or control event in their pre window (R's deleteSUTVA).",
        {"type": "boolean"}, default=False)
    alpha1: float = _option(
        "Significance level of summary() and of the plots' unhatched tiles; 0 < alpha1 <= alpha2 < 1.",
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, default=0.05)
    alpha2: float = _option(
        "Significance level of the plots' dashed hatching; 0 < alpha1 <= alpha2 < 1.",
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, default=0.1)
    match_default: bool = _option(
        "Match with CEM; false uses every wake with weight 1 (R's match.default).",
        {"type": "boolean"}, default=True)
    match_details: bool = _option(
        "Also return each window's matched flags and CEM bins (matched.csv, bins.csv).",
        {"type": "boolean"}, default=False)
    drop_invalid: bool = _option(
        "Instead of stopping: drop rows with missing or out-of-range coordinates, and leave out of the "
        "wakes the treatment/control events with missing or infinite covariates (warned and counted in "
        "parameters.json).", {"type": "boolean"}, default=False)
    vcov: str = _option(
        "Standard errors (lm, att): classical (R's), HC1 (heteroskedasticity-robust) or cluster (CR1, "
        "clusters = the values of cluster_column).", {"enum": list(VCOV_TYPES)}, default="classical")
    cluster_column: str | None = _option(
        "Column whose values define the clusters of vcov: cluster (never matched on); null otherwise.",
        {"type": ["string", "null"], "minLength": 1}, default=None)
    max_windows: int = _option(
        "Refuse a grid with more (t, s) windows than this, before anything is counted.",
        {"type": "integer", "minimum": 1}, default=DEFAULT_MAX_WINDOWS)
    calendar_match: str | None = _option(
        "Also match exactly on the calendar period of each wake's start (year, half, quarter or month; an "
        "extension guarding against calendar-time confounding); the period becomes the match column "
        "calendar_bin. null: R's matching.", {"enum": [None, *CALENDAR_UNITS]}, default=None)

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("t_window", _window("t_window", self.t_window, temporal=True))
        put("spat_window", _window("spat_window", self.spat_window, temporal=False))
        for name in ("treatment", "control", "dependent"):
            put(name, _pair(name, getattr(self, name)))
        if self.treatment == self.control:
            raise SpecError("control", f"equals treatment {self.treatment!r}; the comparison needs two "
                                       "different event types")
        for other in ("treatment", "control"):
            if self.dependent == getattr(self, other):
                raise SpecError("dependent", f"equals {other} {self.dependent!r}; the outcome must be "
                                             "another event type than the wakes")
        put("match_columns", _columns("match_columns", self.match_columns, required=True))
        put("estimation_controls", _columns("estimation_controls", self.estimation_controls, required=False))
        put("t_unit", _choice("t_unit", self.t_unit, tuple(UNIT_MS)))
        put("estimation", _choice("estimation", self.estimation, ESTIMATIONS))
        put("formula", _choice("formula", self.formula, FORMULAS))
        put("vcov", _choice("vcov", self.vcov, VCOV_TYPES))
        for name in ("weighted", "tcm", "delete_sutva", "match_default", "match_details", "drop_invalid"):
            put(name, _bool(name, getattr(self, name)))
        put("alpha1", _alpha("alpha1", self.alpha1))
        put("alpha2", _alpha("alpha2", self.alpha2))
        if self.alpha1 > self.alpha2:
            raise SpecError("alpha1", f"({self.alpha1:g}) is larger than alpha2 ({self.alpha2:g}); the plots "
                                      "need alpha1 <= alpha2")
        if self.calendar_match is not None:
            put("calendar_match", _choice("calendar_match", self.calendar_match, CALENDAR_UNITS))
        self._check_vcov()
        self._check_size()

    def _check_vcov(self) -> None:
        cluster = _plain(self.cluster_column)
        if self.vcov != "classical" and self.estimation not in ROBUST_VCOV_ESTIMATIONS:
            names = " and ".join(", ".join(repr(e) for e in ROBUST_VCOV_ESTIMATIONS).rsplit(", ", 1))
            raise SpecError("vcov", f"{self.vcov!r} is available for estimation {names} only, not {self.estimation!r}")
        if self.vcov == "cluster" and cluster is None:
            raise SpecError("cluster_column", "vcov='cluster' needs cluster_column (the column whose values "
                                              "define the clusters)")
        if self.vcov != "cluster" and cluster is not None:
            raise SpecError("cluster_column", f"is only used with vcov='cluster' (vcov is {self.vcov!r}); "
                                              "remove it or set vcov to 'cluster'")
        if cluster is not None:
            if not isinstance(cluster, str) or not cluster:
                raise SpecError("cluster_column", f"must be a column name, got {cluster!r}")
            if cluster in WAKE_COLUMNS:
                raise SpecError("cluster_column", f"column {cluster!r} clashes with a wakes-table column; "
                                                  "rename it")
        object.__setattr__(self, "cluster_column", cluster)

    def _check_size(self) -> None:
        limit = _plain(self.max_windows)
        if not isinstance(limit, Integral) or isinstance(limit, bool) or limit < 1:
            raise SpecError("max_windows", f"must be a whole number >= 1, got {self.max_windows!r}")
        object.__setattr__(self, "max_windows", int(limit))
        n_t, n_s = self.time_grid().size, self.space_grid().size
        if n_t * n_s > limit:
            raise SpecError("max_windows", f"the grid has {n_t * n_s:,} windows ({n_t:,} temporal x {n_s:,} "
                                           f"spatial), more than max_windows = {limit:,}; use coarser steps "
                                           "or raise max_windows")

    # ------------------------------------------------------------------ derived values
    def time_grid(self) -> np.ndarray:
        """The temporal windows of the grid (float64, in t_unit)."""
        return _grid(self.t_window, temporal=True)

    def space_grid(self) -> np.ndarray:
        """The spatial radii of the grid (float64, km)."""
        return _grid(self.spat_window, temporal=False)

    @property
    def n_windows(self) -> int:
        """Number of (t, s) windows of the grid."""
        return int(self.time_grid().size * self.space_grid().size)

    # ------------------------------------------------------------------ construction and export
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every option, in R's argument order (then our extensions)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def required_names(cls) -> tuple[str, ...]:
        """The options without a default."""
        return tuple(f.name for f in dataclasses.fields(cls)
                     if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)

    @classmethod
    def defaults(cls) -> dict:
        """Option → default value (as to_dict() writes it) for every option that has one."""
        return {f.name: _jsonable(f.default) for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}

    @classmethod
    def from_mapping(cls, mapping, *, where: str = "mwa") -> MWASpec:
        """Build a spec from a config mapping (YAML/JSON: lists stand for tuples).

        Unknown keys are an error naming the key's path (``where`` + key), the allowed names and the
        closest one; so are missing required keys. ``where=""`` reports bare key names.
        """
        if not isinstance(mapping, Mapping):
            raise SpecError(where, f"expected a mapping of analysis options, got {type(mapping).__name__}")
        names = cls.field_names()
        unknown = [k for k in mapping if k not in names]
        if unknown:
            raise _unknown_keys(unknown, names, where)
        missing = [k for k in cls.required_names() if k not in mapping]
        if missing:
            raise SpecError(where, f"missing required key(s) {', '.join(missing)}")
        try:
            return cls(**dict(mapping))
        except SpecError as exc:
            raise exc.under(where) from None

    @classmethod
    def from_parameters(cls, parameters: Mapping) -> MWASpec:
        """The spec of a finished run from its ``parameters.json`` (the ``run`` facts are left out)."""
        return cls.from_mapping({k: v for k, v in parameters.items() if k != "run"}, where="parameters")

    def replace(self, **changes) -> MWASpec:
        """A copy with ``changes`` applied, checked like a new spec."""
        names = self.field_names()
        unknown = [k for k in changes if k not in names]
        if unknown:
            raise _unknown_keys(unknown, names, "")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Option → value, JSON-able (tuples as lists); ``from_mapping(to_dict())`` gives the spec back."""
        return {name: _jsonable(getattr(self, name)) for name in self.field_names()}

    @classmethod
    def json_schema(cls, *, omit: Iterable[str] = (), overlay: bool = False) -> dict:
        """A JSON-schema (draft 2020-12) object for a mapping of options, generated from the fields.

        Every property has ``description`` and ``default`` (when it has one); unknown keys are refused
        (``additionalProperties: false``) and options without a default are ``required``. ``omit``
        leaves options out (the workflow sets ``dependent`` per outcome). ``overlay=True`` gives the
        schema of a partial overlay (a robustness variant): nothing is required and no property has a
        ``default``, because a validator that fills defaults would otherwise overwrite the settings
        the overlay inherits.
        """
        omit = set(omit)
        bad = omit - set(cls.field_names())
        if bad:
            raise ValueError(f"json_schema: omit names unknown options {sorted(bad)}")
        properties = {}
        for f in dataclasses.fields(cls):
            if f.name in omit:
                continue
            prop = {"description": f.metadata["description"], **f.metadata["schema"]}
            if f.default is not dataclasses.MISSING and not overlay:
                prop["default"] = _jsonable(f.default)
            properties[f.name] = prop
        schema = {
            "type": "object",
            "description": ("Overrides of the Matched Wake Analysis options (omitted = inherited)" if overlay
                            else "Options of the Matched Wake Analysis (matchedwake.MWASpec)"),
            "additionalProperties": False,
            "properties": properties,
        }
        if not overlay:
            schema["required"] = [n for n in cls.required_names() if n not in omit]
        return schema


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return _plain(value)


def _unknown_keys(unknown: list, names: Sequence[str], where: str) -> SpecError:
    paths = ", ".join(f"{where}.{k}" if where else str(k) for k in unknown)
    hints = []
    for k in unknown:
        close = difflib.get_close_matches(str(k), names, n=1)
        if close:
            hints.append(f"{close[0]!r}" + (f" for {str(k)!r}" if len(unknown) > 1 else ""))
    noun = "unknown key" if len(unknown) == 1 else "unknown keys"
    hint = f"; did you mean {', '.join(hints)}?" if hints else ""
    return SpecError(paths, f"{noun}; allowed: {', '.join(names)}{hint}")


class _Unset:
    """Marks an option the caller did not pass (so a spec's value is kept, or the default used)."""

    def __repr__(self) -> str:
        return "<MWASpec default>"


#: Default of the option arguments of matched_wake/sliding_wake: "not given".
UNSET = _Unset()


def resolve_spec(spec: MWASpec | None, **options) -> MWASpec:
    """The spec of a call: ``spec`` with the options given explicitly applied, or a new spec from them.

    Options left at :data:`UNSET` are not given. This is the one path from keyword arguments to a
    checked spec, shared by :func:`matchedwake.matched_wake` and :func:`matchedwake.sliding_wake`.
    """
    given = {k: v for k, v in options.items() if v is not UNSET}
    if spec is not None:
        if not isinstance(spec, MWASpec):
            raise TypeError(f"spec must be an MWASpec, got {type(spec).__name__}")
        return spec.replace(**given) if given else spec
    missing = [k for k in MWASpec.required_names() if k not in given]
    if missing:
        raise SpecError("", f"missing required option(s) {', '.join(missing)} (or pass spec=MWASpec(...))")
    return MWASpec(**given)
