"""Read the raw provider files and build the harmonised events table (docs/data_contracts.md).

Readers (`read_acled`, `read_ucdp`, `read_qips`, `read_iati`, `read_admin3`) turn one raw file into
a small normalised table and fail loudly on anything the contract does not allow: a missing column
is named together with the file, an unparseable value with the file, row and field. They are
lenient only where the contract says the providers are sloppy (QIP coordinates and amounts, both
ACLED date formats, ACLED `inter1` as codes or labels, IATI day numbers or ISO dates). Missing
coordinates and dates are *kept* as NaN/NaT by the readers so that `prepare_events` can count the
rows it drops for each reason.

Row numbers in error messages are 1-based data rows: row 1 is the first row after the header.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from qipstudy.atomic import write_parquet
from qipstudy.event_order import ORDER_RULE, is_sorted, sort_events

log = logging.getLogger(__name__)

ACLED_EVENT_TYPES = (
    "Battles",
    "Violence against civilians",
    "Explosions/Remote violence",
    "Riots",
    "Protests",
    "Strategic developments",
)
# Code k (1-8 in older exports) is ACLED_INTER_LABELS[k - 1].
ACLED_INTER_LABELS = (
    "State forces",
    "Rebel group",
    "Political militia",
    "Identity militia",
    "Rioters",
    "Protesters",
    "Civilians",
    "External/Other forces",
)
UCDP_VIOLENCE_TYPES = {1: "State-based conflict", 2: "Non-state conflict", 3: "One-sided violence"}
QIP_ACTIVITY_TYPES = (
    "Infrastructure & equipment",
    "Training/workshops",
    "Sensitization, advocacy & outreach",
    "Sport & cultural events",
    "Conferences/seminars",
    "Other",
)
QIP_CATEGORIES = (
    "Public services & civil administration",
    "Confidence building in mission",
    "Political & economic inclusivity",
    "Early recovery",
    "Rule of Law",
    "Protection of civilians & conflict prevention",
    "Other",
)

ACLED_COLUMNS = ("event_id_cnty", "event_date", "event_type", "inter1", "latitude", "longitude")
UCDP_COLUMNS = ("id", "type_of_violence", "latitude", "longitude", "date_start")
QIP_COLUMNS = ("ref", "start_date", "latitude", "longitude", "amount_disbursed", "activity_type", "category")
IATI_COLUMNS = ("aid", "day_start", "sector_group", "location_latitude", "location_longitude", "commitment")

# Columns of the normalised tables the readers return (and prepare_events expects).
ACLED_TABLE = ("event_id", "event_type", "inter1", "date", "lat", "lon")
UCDP_TABLE = ("event_id", "event_type", "type_of_violence", "date", "lat", "lon")
PROJECT_TABLE = ("event_id", "date", "lat", "lon", "funding_usd", "activity_type", "category")

EVENTS_COLUMNS = (
    "event_id",
    "source",
    "event_type",
    "date",
    "timestamp",
    "lat",
    "lon",
    "admin1",
    "outcome_civilians",
    "outcome_battles",
    "outcome_nsag",
    "funding_usd",
    "activity_type",
    "category",
)
OUTCOME_KEYS = ("acled_event_types", "acled_inter1", "ucdp_types")

# Space-like characters that spreadsheets put into numbers (NBSP, narrow NBSP, figure space, thin space).
_SPACES = "\u00a0\u202f\u2007\u2009"
_SPACE_RE = re.compile(rf"[\s{_SPACES}]+")
_AMOUNT_RE = re.compile(rf"^-?(\d+|\d{{1,3}}([,\s{_SPACES}]\d{{3}})+)(\.\d+)?$")
_DAYNUMBER_RE = re.compile(r"^-?\d+(\.0+)?$")
_MAX_DAYNUMBER = 100_000  # |days since 1970| beyond this (year ~2243) is not a d-portal day number


# ----------------------------------------------------------------------------- helpers


def _read_csv(path, required: Iterable[str], what: str) -> pd.DataFrame:
    """Read a CSV as text (so nothing is guessed) and name the missing columns on schema drift."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig")
    df.columns = [str(c).strip() for c in df.columns]
    _require_columns(df, required, f"{what} file {path}")
    return df


def _require_columns(df: pd.DataFrame, required: Iterable[str], where: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {', '.join(map(repr, missing))} "
            f"(present: {', '.join(map(str, df.columns))})"
        )


def _bad_value(path, where: pd.Series, values: pd.Series, field: str, expected: str) -> ValueError:
    """Build the error for the first bad row; `where` is a boolean mask over the data rows."""
    idx = np.flatnonzero(where.to_numpy())
    first = int(idx[0])
    more = f" ({len(idx) - 1} more bad row(s))" if len(idx) > 1 else ""
    return ValueError(
        f"{path}: row {first + 1}, field '{field}': cannot parse {values.iloc[first]!r} as {expected}{more}"
    )


def _text(s: pd.Series) -> pd.Series:
    return s.astype(str).str.strip()


def _parse_float(s: pd.Series, path, field: str, *, lenient: bool = False) -> pd.Series:
    """Parse decimal numbers; empty → NaN. `lenient` drops inner spaces/NBSP and accepts a comma decimal."""
    t = _text(s)
    if lenient:
        t = t.str.replace(_SPACE_RE, "", regex=True).str.replace("\u2212", "-", regex=False)
        t = t.str.replace(",", ".", regex=False)
    missing = t.eq("")
    vals = pd.to_numeric(t.where(~missing).astype(object), errors="coerce").astype("float64")
    bad = (~missing & ~np.isfinite(vals.fillna(0.0))) | (~missing & vals.isna())
    if bad.any():
        raise _bad_value(path, bad, s, field, "a decimal number")
    return vals


def _parse_coordinates(df: pd.DataFrame, lat_col: str, lon_col: str, path, *, lenient: bool = False):
    lat = _parse_float(df[lat_col], path, lat_col, lenient=lenient)
    lon = _parse_float(df[lon_col], path, lon_col, lenient=lenient)
    for vals, col, lim in ((lat, lat_col, 90.0), (lon, lon_col, 180.0)):
        out = vals.abs().gt(lim)
        if out.any():
            raise _bad_value(path, out, df[col], col, f"degrees within ±{lim:g}")
    return lat, lon


def _parse_amount(s: pd.Series, path, field: str) -> pd.Series:
    """Parse US$ amounts with optional thousands separators (',', space, NBSP); empty → NaN.

    The grouping must be regular (groups of three digits) so that a comma decimal such as
    '12,5' is refused instead of silently read as 125.
    """
    t = _text(s).str.strip(_SPACES)
    missing = t.eq("")
    ok = t.str.match(_AMOUNT_RE)
    bad = ~missing & ~ok
    if bad.any():
        raise _bad_value(path, bad, s, field, "an amount in US$ (digits, optional ',' or space thousands separators)")
    cleaned = t.str.replace(rf"[,\s{_SPACES}]", "", regex=True)
    return pd.to_numeric(cleaned.where(~missing).astype(object), errors="coerce").astype("float64")


def _parse_dates(s: pd.Series, path, field: str, formats: Iterable[str], expected: str) -> pd.Series:
    """Parse dates trying each strptime format in turn; empty → NaT; anything else unparsed is an error."""
    t = _text(s)
    missing = t.eq("")
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    for fmt in formats:
        pending = ~missing & out.isna()
        if not pending.any():
            break
        parsed = pd.to_datetime(t.where(pending), format=fmt, errors="coerce")
        out = out.where(~(pending & parsed.notna()), parsed.astype("datetime64[ns]"))
    bad = ~missing & out.isna()
    if bad.any():
        raise _bad_value(path, bad, s, field, expected)
    return out.dt.normalize()


def _check_unique(ids: pd.Series, path, field: str) -> None:
    dup = ids.duplicated(keep=False)
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())[:5] + 1
        raise ValueError(
            f"{path}: field '{field}': duplicate id {ids.iloc[rows[0] - 1]!r} "
            f"(rows {', '.join(map(str, rows))}); ids must be unique"
        )


def _check_nonempty(s: pd.Series, path, field: str) -> None:
    empty = _text(s).eq("")
    if empty.any():
        raise _bad_value(path, empty, s, field, "a non-empty value")


def _check_labels(s: pd.Series, path, field: str, allowed: Iterable[str], *, allow_empty: bool) -> None:
    allowed = tuple(allowed)
    t = _text(s)
    bad = ~t.isin(allowed)
    if allow_empty:
        bad &= t.ne("")
    if bad.any():
        raise _bad_value(path, bad, s, field, f"one of {list(allowed)}")


def _inter_key(label: str) -> str:
    """Compare inter labels ignoring case, spacing and plural 's' ('Rebel Groups' = 'Rebel group')."""
    words = re.split(r"[\s/]+", str(label).strip().casefold())
    return " ".join(w[:-1] if w.endswith("s") else w for w in words if w)


_INTER_BY_KEY = {_inter_key(lab): lab for lab in ACLED_INTER_LABELS}


def _canonical_inter(value) -> str | None:
    """Canonical ACLED inter label for a code (1–8, int or text) or a label; None if unknown."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return ACLED_INTER_LABELS[int(value) - 1] if 1 <= int(value) <= 8 else None
    text = str(value).strip()
    if _DAYNUMBER_RE.match(text):
        code = int(float(text))
        return ACLED_INTER_LABELS[code - 1] if 1 <= code <= 8 else None
    return _INTER_BY_KEY.get(_inter_key(text))


def _nfc(name) -> str:
    """Normalise place names so that composed and decomposed 'Ségou' (and case) compare equal."""
    return unicodedata.normalize("NFC", str(name)).strip().casefold()


# ----------------------------------------------------------------------------- readers


def read_acled(path) -> pd.DataFrame:
    """Read an ACLED export into (event_id, event_type, inter1, date, lat, lon).

    Accepts both `event_date` formats (`YYYY-MM-DD`, `DD Month YYYY`) and `inter1` as text labels
    or the older codes 1–8; `inter1` is returned as the canonical text label so both exports give
    identical outcome flags. Empty dates/coordinates become NaT/NaN (dropped and counted later).
    """
    raw = _read_csv(path, ACLED_COLUMNS, "ACLED")
    _check_nonempty(raw["event_id_cnty"], path, "event_id_cnty")
    ids = _text(raw["event_id_cnty"])
    _check_unique(ids, path, "event_id_cnty")
    _check_labels(raw["event_type"], path, "event_type", ACLED_EVENT_TYPES, allow_empty=False)
    labels = {v: _canonical_inter(v) for v in raw["inter1"].unique()}  # few distinct values: map once each
    inter = raw["inter1"].map(labels)
    bad = inter.isna()
    if bad.any():
        raise _bad_value(path, bad, raw["inter1"], "inter1", f"an ACLED actor type (code 1-8 or one of {list(ACLED_INTER_LABELS)})")
    date = _parse_dates(raw["event_date"], path, "event_date", ("%Y-%m-%d", "%d %B %Y"), "a date (YYYY-MM-DD or DD Month YYYY)")
    lat, lon = _parse_coordinates(raw, "latitude", "longitude", path)
    return pd.DataFrame(
        {
            "event_id": ids,
            "event_type": _text(raw["event_type"]),
            "inter1": inter.astype(str),
            "date": date,
            "lat": lat,
            "lon": lon,
        }
    )


def read_ucdp(path) -> pd.DataFrame:
    """Read UCDP GED into (event_id, event_type, type_of_violence, date, lat, lon).

    `event_type` is the name of `type_of_violence` (1 state-based, 2 non-state, 3 one-sided) so that
    UCDP rows read like ACLED rows in the events table; the date is `date_start` (time dropped).
    """
    raw = _read_csv(path, UCDP_COLUMNS, "UCDP GED")
    _check_nonempty(raw["id"], path, "id")
    ids = _text(raw["id"])
    _check_unique(ids, path, "id")
    tv = _text(raw["type_of_violence"])
    bad = ~tv.isin([str(k) for k in UCDP_VIOLENCE_TYPES])
    if bad.any():
        raise _bad_value(path, bad, raw["type_of_violence"], "type_of_violence", "1, 2 or 3")
    tv = tv.astype(int).astype("int8")
    date = _parse_dates(
        raw["date_start"],
        path,
        "date_start",
        ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"),
        "a date (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS.000)",
    )
    lat, lon = _parse_coordinates(raw, "latitude", "longitude", path)
    return pd.DataFrame(
        {
            "event_id": ids,
            "event_type": tv.map(UCDP_VIOLENCE_TYPES).astype(str),
            "type_of_violence": tv,
            "date": date,
            "lat": lat,
            "lon": lon,
        }
    )


def read_qips(path, column_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read the QIP file into (event_id, date, lat, lon, funding_usd, activity_type, category).

    `column_map` renames provider columns to the contract's names ({provider: contract}) before
    anything is checked. Coordinates are parsed leniently (inner spaces/NBSP removed, comma decimal
    accepted) because the real file carries them; empty → NaN. Amounts may carry ',', space or NBSP
    thousands separators. The date is the project start date (`YYYY-MM-DD` or `DD/MM/YYYY`).
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig")
    raw.columns = [str(c).strip() for c in raw.columns]
    if column_map:
        absent = [c for c in column_map if c not in raw.columns]
        if absent:
            raise ValueError(
                f"QIP file {path}: column_map names column(s) {', '.join(map(repr, absent))} "
                f"that the file does not have (present: {', '.join(raw.columns)})"
            )
        raw = raw.rename(columns=dict(column_map))
    _require_columns(raw, QIP_COLUMNS, f"QIP file {path}")
    _check_nonempty(raw["ref"], path, "ref")
    ids = _text(raw["ref"])
    _check_unique(ids, path, "ref")
    _check_labels(raw["activity_type"], path, "activity_type", QIP_ACTIVITY_TYPES, allow_empty=True)
    _check_labels(raw["category"], path, "category", QIP_CATEGORIES, allow_empty=True)
    date = _parse_dates(raw["start_date"], path, "start_date", ("%Y-%m-%d", "%d/%m/%Y"), "a date (YYYY-MM-DD or DD/MM/YYYY)")
    lat, lon = _parse_coordinates(raw, "latitude", "longitude", path, lenient=True)
    return pd.DataFrame(
        {
            "event_id": ids,
            "date": date,
            "lat": lat,
            "lon": lon,
            "funding_usd": _parse_amount(raw["amount_disbursed"], path, "amount_disbursed"),
            "activity_type": _text(raw["activity_type"]),
            "category": _text(raw["category"]),
        }
    )


def read_iati(path) -> pd.DataFrame:
    """Read a d-portal activities×locations file into (event_id, date, lat, lon, funding_usd, activity_type, category).

    One row per activity location; `event_id` is `aid#k` with k the 1-based position of the
    location among the activity's rows in file order (stable whatever the later filters drop).
    `day_start` may be a d-portal day number (days since 1970-01-01) or `YYYY-MM-DD`. The DAC
    sector group goes to `category`; `funding_usd` is the commitment.
    """
    raw = _read_csv(path, IATI_COLUMNS, "IATI")
    _check_nonempty(raw["aid"], path, "aid")
    aid = _text(raw["aid"])
    k = aid.groupby(aid, sort=False).cumcount() + 1
    day = _text(raw["day_start"])
    is_num = day.str.match(_DAYNUMBER_RE)
    days = pd.to_numeric(day.where(is_num).astype(object), errors="coerce")
    too_far = is_num & days.abs().gt(_MAX_DAYNUMBER)
    if too_far.any():
        raise _bad_value(path, too_far, raw["day_start"], "day_start", f"a day number (|days since 1970-01-01| ≤ {_MAX_DAYNUMBER})")
    from_num = pd.Timestamp("1970-01-01") + pd.to_timedelta(days.where(is_num), unit="D")
    from_iso = _parse_dates(day.where(~is_num, ""), path, "day_start", ("%Y-%m-%d",), "a day number or a date (YYYY-MM-DD)")
    date = from_iso.where(~is_num, from_num.astype("datetime64[ns]")).astype("datetime64[ns]")
    lat, lon = _parse_coordinates(raw, "location_latitude", "location_longitude", path)
    return pd.DataFrame(
        {
            "event_id": (aid + "#" + k.astype(str)).astype(str),
            "date": date,
            "lat": lat,
            "lon": lon,
            "funding_usd": _parse_float(raw["commitment"], path, "commitment"),
            "activity_type": pd.Series("", index=raw.index, dtype=str),
            "category": _text(raw["sector_group"]),
        }
    )


def read_admin3(path, admin1_field: str, admin3_field: str, *, admin2_field: str | None = None, layer: str = "adm3") -> gpd.GeoDataFrame:
    """Read the admin-3 polygons (EPSG:4326) keeping the configured name fields.

    Besides the provider's fields (e.g. `ADM1_FR`, `ADM3_FR`) the result carries standard copies
    `admin1` and `admin3` (and `admin2`), so later steps need not know the country's field names.
    Invalid rings (common in COD-AB) are repaired with `make_valid` so point-in-polygon is reliable;
    empty geometries and empty names are errors.
    """
    import pyogrio

    layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    if layer not in layers:
        raise ValueError(f"admin-3 file {path}: no layer {layer!r} (layers: {', '.join(layers)})")
    gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    fields = [admin1_field] + ([admin2_field] if admin2_field else []) + [admin3_field]
    _require_columns(gdf, fields, f"admin-3 file {path} (layer {layer})")
    if gdf.crs is None:
        raise ValueError(f"admin-3 file {path}: layer {layer!r} has no CRS (the contract says EPSG:4326)")
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0]) + 1
        raise ValueError(f"admin-3 file {path}: row {row}, field 'geometry': feature {gdf[admin3_field].iloc[row - 1]!r} has no geometry")
    for f in fields:
        _check_nonempty(gdf[f].fillna(""), path, f)
    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        gdf.loc[invalid, "geometry"] = gdf.geometry[invalid].make_valid()
    out = gdf[fields + ["geometry"]].copy()
    for std, f in (("admin1", admin1_field), ("admin2", admin2_field), ("admin3", admin3_field)):
        if f:
            out[std] = _text(gdf[f])
    return gpd.GeoDataFrame(out, geometry="geometry", crs=gdf.crs).reset_index(drop=True)


# ----------------------------------------------------------------------------- prepare_events


def _normalise_outcomes(outcomes: Mapping[str, Mapping]) -> dict[str, dict]:
    """Validate the config's outcome definitions and turn inter1 codes/labels into canonical labels."""
    if not outcomes:
        raise ValueError("outcomes: at least one outcome definition is needed")
    spec = {}
    for name, rule in outcomes.items():
        if not isinstance(rule, Mapping):
            raise ValueError(f"outcomes.{name}: expected a mapping with keys from {list(OUTCOME_KEYS)}, got {rule!r}")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(name)):
            raise ValueError(f"outcomes: name {name!r} must be snake_case (it becomes column outcome_{name})")
        # Other keys (title, published_table) are labels for tables; a misspelt selection key must not pass silently.
        unknown = [k for k in rule if str(k).startswith(("acled_", "ucdp_")) and k not in OUTCOME_KEYS]
        if unknown:
            raise ValueError(f"outcomes.{name}: unknown selection key(s) {unknown}; allowed: {list(OUTCOME_KEYS)}")
        types = list(rule.get("acled_event_types") or [])
        bad = [t for t in types if t not in ACLED_EVENT_TYPES]
        if bad:
            raise ValueError(f"outcomes.{name}.acled_event_types: unknown ACLED event type(s) {bad}; known: {list(ACLED_EVENT_TYPES)}")
        inter = []
        for v in rule.get("acled_inter1") or []:
            lab = _canonical_inter(v)
            if lab is None:
                raise ValueError(f"outcomes.{name}.acled_inter1: {v!r} is neither an ACLED code 1-8 nor a label {list(ACLED_INTER_LABELS)}")
            inter.append(lab)
        ucdp = []
        for v in rule.get("ucdp_types") or []:
            if str(v).strip() not in {str(k) for k in UCDP_VIOLENCE_TYPES}:
                raise ValueError(f"outcomes.{name}.ucdp_types: {v!r} is not a UCDP type_of_violence (1, 2, 3)")
            ucdp.append(int(str(v).strip()))
        spec[str(name)] = {
            "acled_event_types": types if "acled_event_types" in rule else None,
            "acled_inter1": inter if "acled_inter1" in rule else None,
            "ucdp_types": ucdp if "ucdp_types" in rule else None,
        }
    return spec


def _outcome_flags(table: pd.DataFrame, source: str, spec: dict[str, dict]) -> dict[str, pd.Series]:
    """Flag rows per outcome. ACLED criteria given together must all hold; none given → no ACLED event counts."""
    flags = {}
    for name, rule in spec.items():
        if source == "acled":
            crits = []
            if rule["acled_event_types"] is not None:
                crits.append(table["event_type"].isin(rule["acled_event_types"]))
            if rule["acled_inter1"] is not None:
                crits.append(table["inter1"].isin(rule["acled_inter1"]))
            flag = np.logical_and.reduce(crits) if crits else np.zeros(len(table), dtype=bool)
        elif source == "ucdp":
            flag = table["type_of_violence"].isin(rule["ucdp_types"]) if rule["ucdp_types"] is not None else np.zeros(len(table), dtype=bool)
        else:
            flag = np.zeros(len(table), dtype=bool)
        flags[name] = pd.Series(np.asarray(flag, dtype="int8"), index=table.index)
    return flags


def _as_timestamp(value, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: cannot parse {value!r} as a date") from exc
    if pd.isna(ts):
        raise ValueError(f"{what}: a date is required, got {value!r}")
    return ts.normalize()


def prepare_events(
    acled: pd.DataFrame | None,
    qips: pd.DataFrame,
    iati: pd.DataFrame,
    admin3: gpd.GeoDataFrame,
    *,
    period_start,
    period_end,
    study_regions: Iterable[str],
    admin1_field: str,
    outcomes: Mapping[str, Mapping],
    outcome_source: str = "acled",
    ucdp: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Harmonise QIPs (treatment), IATI locations (control) and outcome events into one table.

    Filters, applied to every source in this order and counted in `result.attrs["filter_counts"]`
    ({source: {read, missing_coordinates, missing_date, outside_period, outside_polygons,
    outside_study_regions, kept}}): rows without coordinates, rows without a date, dates outside
    `period_start`..`period_end` (both inclusive; the config's dates are whole years), points on no
    admin-3 polygon, points whose polygon's admin-1 name (`admin1_field`) is not a study region.
    A point on a shared border takes the first polygon in file order. Every outcome-source event
    (all ACLED event types, or all UCDP rows) stays in the table — the engine needs them for wake
    completeness and ordering — and `outcome_<name>` flags those that count for each outcome in
    `outcomes` (see `_outcome_flags`). Row order: `qipstudy.event_order.sort_events` (same-day
    outcome events before projects, whatever their provider).
    """
    if outcome_source not in ("acled", "ucdp"):
        raise ValueError(f"outcome_source must be 'acled' or 'ucdp', got {outcome_source!r}")
    spec = _normalise_outcomes(outcomes)
    start = _as_timestamp(period_start, "period_start")
    end = _as_timestamp(period_end, "period_end")
    if end < start:
        raise ValueError(f"period_end {end.date()} is before period_start {start.date()}")

    if outcome_source == "acled":
        if acled is None:
            raise ValueError("outcome_source is 'acled' but no ACLED table was given")
        outcome_table, outcome_cols = acled, ACLED_TABLE
    else:
        if ucdp is None:
            raise ValueError("outcome_source is 'ucdp' but no UCDP table was given (ucdp=...)")
        outcome_table, outcome_cols = ucdp, UCDP_TABLE
    tables = [(outcome_source, outcome_table, outcome_cols), ("qip", qips, PROJECT_TABLE), ("iati", iati, PROJECT_TABLE)]
    for source, table, cols in tables:
        _require_columns(table, cols, f"{source} table (pass the output of read_{'qips' if source == 'qip' else source})")

    polygons = _study_polygons(admin3, admin1_field, study_regions)

    counts: dict[str, dict[str, int]] = {}
    parts = []
    for source, table, _ in tables:
        c = {"read": len(table)}
        t = table.reset_index(drop=True)
        keep = t["lat"].notna() & t["lon"].notna()
        c["missing_coordinates"] = int((~keep).sum())
        t = t[keep]
        keep = t["date"].notna()
        c["missing_date"] = int((~keep).sum())
        t = t[keep]
        date = t["date"].astype("datetime64[ns]").dt.normalize()
        keep = (date >= start) & (date <= end)
        c["outside_period"] = int((~keep).sum())
        t = t[keep]
        admin1, in_region = _locate(t["lon"].to_numpy(float), t["lat"].to_numpy(float), polygons)
        on_polygon = admin1.notna().to_numpy()
        c["outside_polygons"] = int((~on_polygon).sum())
        c["outside_study_regions"] = int((on_polygon & ~in_region).sum())
        t = t[in_region].copy()
        t["admin1"] = admin1[in_region].to_numpy()
        c["kept"] = len(t)
        counts[source] = c
        parts.append(_to_events(t, source, spec))

    events = pd.concat(parts, ignore_index=True)
    events = sort_events(events)  # same-day rule: qipstudy.event_order
    events = _coerce_events(events, spec)
    events.attrs["filter_counts"] = counts
    for source, c in counts.items():
        log.info("prepare_events %s: %s", source, c)
    return events


def _study_polygons(admin3: gpd.GeoDataFrame, admin1_field: str, study_regions: Iterable[str]) -> gpd.GeoDataFrame:
    """The admin-3 polygons with their admin-1 name and whether it is a study region (config typos fail)."""
    if not isinstance(admin3, gpd.GeoDataFrame):
        raise ValueError("admin3 must be a GeoDataFrame (use read_admin3)")
    _require_columns(admin3, [admin1_field], "admin-3 polygons")
    if admin3.crs is None:
        raise ValueError("admin-3 polygons have no CRS (expected EPSG:4326)")
    polys = admin3[[admin1_field, "geometry"]].reset_index(drop=True)
    if polys.crs.to_epsg() != 4326:
        polys = polys.to_crs(4326)
    regions = {_nfc(r) for r in study_regions}
    if not regions:
        raise ValueError("study_regions is empty")
    names = {_nfc(n) for n in polys[admin1_field].dropna()}
    unknown = sorted(r for r in study_regions if _nfc(r) not in names)
    if unknown:
        raise ValueError(
            f"study_regions {unknown} match no admin-1 name in field {admin1_field!r} "
            f"(names: {sorted(set(map(str, polys[admin1_field].dropna())))})"
        )
    polys = polys.rename(columns={admin1_field: "_admin1"})
    polys["_study"] = polys["_admin1"].map(lambda n: _nfc(n) in regions)
    return polys


def _locate(lon: np.ndarray, lat: np.ndarray, polys: gpd.GeoDataFrame) -> tuple[pd.Series, np.ndarray]:
    """Admin-1 name of the polygon containing each point (NaN if none) and the study-region mask."""
    if len(lon) == 0:
        return pd.Series([], dtype=object), np.zeros(0, dtype=bool)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=polys.crs)
    pts["_row"] = np.arange(len(pts))
    joined = gpd.sjoin(pts, polys, how="left", predicate="intersects")
    joined = joined.sort_values(["_row", "index_right"], kind="mergesort", na_position="last")
    joined = joined.drop_duplicates("_row", keep="first").set_index("_row").reindex(np.arange(len(pts)))
    admin1 = joined["_admin1"].astype(object).where(joined["_admin1"].notna(), None)
    in_region = joined["_study"].eq(True).to_numpy()
    return admin1.reset_index(drop=True), in_region


def _to_events(t: pd.DataFrame, source: str, spec: dict[str, dict]) -> pd.DataFrame:
    n = len(t)
    out = pd.DataFrame(
        {
            "event_id": t["event_id"].astype(str).to_numpy(),
            "source": [source] * n,
            "event_type": t["event_type"].astype(str).to_numpy() if source in ("acled", "ucdp") else [source] * n,
            "date": t["date"].astype("datetime64[ns]").dt.normalize().to_numpy(),
            "lat": t["lat"].to_numpy(float),
            "lon": t["lon"].to_numpy(float),
            "admin1": t["admin1"].astype(str).to_numpy(),
        }
    )
    for name, flag in _outcome_flags(t, source, spec).items():
        out[f"outcome_{name}"] = flag.to_numpy()
    if source in ("qip", "iati"):
        out["funding_usd"] = t["funding_usd"].to_numpy(float)
        out["activity_type"] = t["activity_type"].fillna("").astype(str).to_numpy()
        out["category"] = t["category"].fillna("").astype(str).to_numpy()
    else:
        out["funding_usd"] = np.nan
        out["activity_type"] = ""
        out["category"] = ""
    return out


def _coerce_events(events: pd.DataFrame, spec: dict[str, dict]) -> pd.DataFrame:
    """Give the table the contract's column order and dtypes (outcome columns in config order)."""
    outcome_cols = [f"outcome_{name}" for name in spec]
    cols = ["event_id", "source", "event_type", "date", "timestamp", "lat", "lon", "admin1"] + outcome_cols + [
        "funding_usd",
        "activity_type",
        "category",
    ]
    events["date"] = events["date"].astype("datetime64[ns]")
    events["timestamp"] = events["date"].dt.strftime("%Y-%m-%d").astype(str)
    for c in ("event_id", "source", "event_type", "admin1", "activity_type", "category"):
        events[c] = events[c].astype(str)
    for c in ("lat", "lon", "funding_usd"):
        events[c] = events[c].astype("float64")
    for c in outcome_cols:
        events[c] = events[c].astype("int8")
    return events[cols]


# ----------------------------------------------------------------------------- contract checks and writing


def validate_events(events: pd.DataFrame, where: str = "events table") -> None:
    """Check the events contract (columns, no missing values where none are allowed, sort order)."""
    _require_columns(events, EVENTS_COLUMNS, where)
    if not pd.api.types.is_datetime64_any_dtype(events["date"]):
        raise ValueError(f"{where}: column 'date' must be datetime64, got {events['date'].dtype}")
    for c in ("event_id", "source", "event_type", "date", "timestamp", "lat", "lon", "admin1"):
        if events[c].isna().any():
            row = int(np.flatnonzero(events[c].isna().to_numpy())[0])
            raise ValueError(f"{where}: row {row + 1}, field '{c}': missing value")
    bad_src = ~events["source"].isin(["acled", "ucdp", "qip", "iati"])
    if bad_src.any():
        raise _bad_value(where, bad_src, events["source"], "source", "one of acled, ucdp, qip, iati")
    for c in [c for c in events.columns if c.startswith("outcome_")]:
        if not events[c].isin([0, 1]).all():
            raise ValueError(f"{where}: column {c!r} must hold only 0/1")
    if not is_sorted(events):
        raise ValueError(f"{where}: rows are not in the study's order ({ORDER_RULE}); "
                         "sort with qipstudy.event_order.sort_events")
    if events[["source", "event_id"]].duplicated().any():
        raise ValueError(f"{where}: duplicate (source, event_id) pairs")


def write_events(events: pd.DataFrame, path) -> None:
    """Validate against the contract, then write atomically (a crash never leaves half a table)."""
    validate_events(events, f"events table for {path}")
    write_parquet(events, path)
