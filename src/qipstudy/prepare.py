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
from collections.abc import Iterable, Mapping, Sequence

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

# Event types of ACLED's pre-2019 typology (Codebook version 8, 2017, and earlier releases; the
# wording "Battle-Rebels overtake territory" and "Non-violent activity by a conflict actor" is of
# versions 1-5) mapped to the current six types and, where one-to-one, to the current sub-event
# type. Source: ACLED, "ACLED introduces new event types and sub-event types" (14 March 2019,
# https://www.acleddata.com/2019/03/14/acled-introduces-new-event-types-and-sub-event-types/) and the
# 2019 Codebook's sub-event list. Keys are compared case- and space-insensitively.
# "Riots/Protests" is split by the first actor: Protesters (inter1 6) -> Protests, else Riots.
ACLED_PRE2019_EVENT_TYPES = {
    "Battle-No change of territory": ("Battles", "Armed clash"),
    "Battle-Government regains territory": ("Battles", "Government regains territory"),
    "Battle-Non-state actor overtakes territory": ("Battles", "Non-state actor overtakes territory"),
    "Battle-Rebels overtake territory": ("Battles", "Non-state actor overtakes territory"),
    "Remote violence": ("Explosions/Remote violence", ""),
    "Riots/Protests": ("Riots", ""),
    "Strategic development": ("Strategic developments", ""),
    "Headquarters or base established": ("Strategic developments", "Headquarters or base established"),
    "Non-violent transfer of territory": ("Strategic developments", "Non-violent transfer of territory"),
    "Non-violent activity by a conflict actor": ("Strategic developments", ""),
}
# Column names of older exports (upper case in the 2017 files; ALLY_ACTOR_* before 2019).
ACLED_COLUMN_ALIASES = {"ally_actor_1": "assoc_actor_1", "ally_actor_2": "assoc_actor_2", "geo_precis": "geo_precision"}
# Fields on which the rows of one event in a monadic export (one row per actor) must agree.
ACLED_EVENT_FIELDS = ("event_date", "event_type", "latitude", "longitude", "location")
ACLED_DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d/%m/%Y")

ACLED_COLUMNS = ("event_id_cnty", "event_date", "event_type", "inter1", "latitude", "longitude")
# Every field read_acled uses (the required ones, the monadic merge's event fields and actors, the
# pre-2019 sub-event type); an export's other columns (notes, source, tags, …) are not parsed.
ACLED_READ_FIELDS = frozenset(ACLED_COLUMNS + ACLED_EVENT_FIELDS + (
    "sub_event_type", "actor1", "actor2", "inter2", "assoc_actor_1", "assoc_actor_2"))
UCDP_COLUMNS = ("id", "type_of_violence", "latitude", "longitude", "date_start")
# The columns the QIP and IATI readers need: the data contract of qips.csv and activities.csv
# (docs/data_contracts.md). Every other column of a provider file is allowed and ignored.
QIP_COLUMNS = ("ref", "start_date", "latitude", "longitude", "amount_disbursed", "activity_type", "category")
IATI_COLUMNS = ("aid", "day_start", "location_latitude", "location_longitude", "sector_group")
# Read when present: the commitment (US$) becomes funding_usd; a non-USD `value_currency` blanks it.
IATI_OPTIONAL_COLUMNS = ("commitment", "value_currency", "sector_code")

# OECD DAC 3-digit sector groups ("sector categories") under the names the paper's appendix Table 2
# prints. They are d-portal's 2017 vocabulary (IATI/D-Portal, dstore/csv/sector_category.csv), except
# 231, printed without the vocabulary's " – general"; headings the paper never prints (110, 120, 150,
# 310, 320) and codes added to the DAC list later (123) carry today's DAC names.
DAC3_SECTOR_GROUPS = {
    "110": "Education", "111": "Education, level unspecified", "112": "Basic education",
    "113": "Secondary education", "114": "Post-secondary education", "120": "Health",
    "121": "Health, general", "122": "Basic health", "123": "Non-communicable diseases (NCDs)",
    "130": "Population policies / programmes and reproductive health", "140": "Water and sanitation",
    "150": "Government and civil society", "151": "Government and civil society, general",
    "152": "Conflict prevention and resolution, peace and security",
    "160": "Other social infrastructure and services", "210": "Transport and storage", "220": "Communication",
    "230": "Energy generation and supply", "231": "Energy generation, distribution and efficiency",
    "232": "Energy generation, renewable sources", "233": "Energy generation, non-renewable sources",
    "234": "Hybrid energy electric power plants", "235": "Nuclear energy electric power plants",
    "236": "Heating, cooling and energy distribution", "240": "Banking and financial services",
    "250": "Business and other services", "310": "Agriculture, forestry, fishing", "311": "Agriculture",
    "312": "Forestry", "313": "Fishing", "320": "Industry, mining, construction", "321": "Industry",
    "322": "Mineral resources and mining", "323": "Construction",
    "330": "Trade policy and regulations and trade-related adjustment",
    "331": "Trade policy and regulations and trade-related adjustment", "332": "Tourism",
    "410": "General environmental protection", "430": "Other multisector", "510": "General budget support",
    "520": "Developmental food aid / food security assistance", "530": "Other commodity assistance",
    "600": "Action relating to debt", "720": "Emergency response",
    "730": "Reconstruction relief and rehabilitation", "740": "Disaster prevention and preparedness",
    "910": "Administrative costs of donors", "920": "Support to non-governmental organisations (NGOs)",
    "930": "Refugees in donor countries", "998": "Unallocated / unspecified",
}
# Today's DAC names, as d-portal's `human=1` export writes them after a roman-numbered prefix
# ("I.4. Water supply and sanitation"; IATI/D-Portal dstore/json/iati_codes.json), mapped back to
# their code so that such an export lands on the paper's labels.
_DAC3_CURRENT_NAMES = {
    "Education, level nnspecified": "111", "Upper secondary education": "113",
    "Population policies/programmes and reproductive health": "130", "Water supply and sanitation": "140",
    "Conflict, peace and security": "152", "Communications": "220", "Energy": "230", "Energy policy": "231",
    "Hybrid energy plants": "234", "Nuclear energy plants": "235", "Energy distribution": "236",
    "Trade Policies and Regulations": "331", "General Environment Protection": "410",
    "Development Food Assistance": "520", "Reconstruction and Rehabilitation": "730",
    "Disaster Preparedness": "740", "Refugees/Asylum Seekers in Donor Countries": "930",
}

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
# d-portal stores dates as days since 1970-01-01. A larger day number than 2040-01-01's is taken for
# what it almost always is: an Excel serial date (days since 1899-12-30; 43466 = 2019-01-01), which
# read as a day number would put a project start in the 2080s.
_MAX_DAYNUMBER = (pd.Timestamp("2040-01-01") - pd.Timestamp("1970-01-01")).days
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_MAX_EXCEL_SERIAL = (pd.Timestamp("2100-01-01") - _EXCEL_EPOCH).days
# Cells holding nothing: d-portal's q.csv writes SQL NULL as the bare text `null`.
_NULL_TEXT = ("null", "NULL", "Null")


# ----------------------------------------------------------------------------- helpers


def _read_csv(path, required: Iterable[str], what: str, usecols=None) -> pd.DataFrame:
    """Read a CSV as text (so nothing is guessed) and name the missing columns on schema drift;
    ``usecols`` (a predicate on the header's names) leaves the other columns unparsed."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
                     usecols=usecols)
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


def _acled_key(label) -> str:
    return " ".join(str(label).split()).casefold()


_ACLED_TYPE_BY_KEY = {_acled_key(t): (t, None) for t in ACLED_EVENT_TYPES}
_ACLED_TYPE_BY_KEY.update({_acled_key(old): new for old, new in ACLED_PRE2019_EVENT_TYPES.items()})


def _acled_name(column) -> str:
    """An ACLED column's current name: lower-cased, older names renamed (`ALLY_ACTOR_1`)."""
    name = str(column).strip().lower()
    return ACLED_COLUMN_ALIASES.get(name, name)


def _acled_vocabulary(raw: pd.DataFrame, source) -> tuple[pd.DataFrame, dict]:
    """Current column names and event types, row for row (see `harmonise_acled`)."""
    df = raw.copy()
    names = [_acled_name(c) for c in df.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{source}: column(s) {', '.join(twice)} appear twice (after "
                         "lower-casing and renaming older names); keep one of each")
    df.columns = names
    _require_columns(df, ACLED_COLUMNS, str(source))
    report: dict = {}
    labels = _text(df["event_type"])
    # an export holds a handful of distinct labels and actor codes: look each up once
    mapped = {v: _ACLED_TYPE_BY_KEY.get(_acled_key(v), (v, None)) for v in labels.unique()}
    new_type = labels.map({v: m[0] for v, m in mapped.items()})
    old = labels.map({v: m[1] is not None for v, m in mapped.items()}).astype(bool)
    if old.any():
        inter = {v: _canonical_inter(v) for v in df["inter1"].unique()}
        protesters = df["inter1"].map(inter).eq("Protesters")
        riots = _acled_key("Riots/Protests")
        split = old & labels.map({v: _acled_key(v) == riots for v in mapped}).astype(bool) & protesters
        new_type = new_type.where(~split, "Protests")
        sub = labels.map({v: m[1] or "" for v, m in mapped.items()})
        given = _text(df["sub_event_type"]) if "sub_event_type" in df.columns else pd.Series("", index=df.index)
        df["sub_event_type"] = given.where(given.ne("") | ~old, sub)
        df["event_type_pre2019"] = labels.where(old, "")
        counts = labels[old].value_counts().sort_index()
        report["pre2019_event_types_mapped"] = {str(k): int(v) for k, v in counts.items()}
        log.info("%s: %d event(s) of the pre-2019 ACLED typology mapped to current event types (%s)",
                 source, int(old.sum()), report["pre2019_event_types_mapped"])
    df["event_type"] = new_type
    _check_nonempty(df["event_id_cnty"], source, "event_id_cnty")
    return df, report


def _acled_merge_monadic(df: pd.DataFrame, source) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """One row per event from a monadic export; returns the table, the kept-row mask and a report."""
    ids = _text(df["event_id_cnty"])
    repeated = ids.duplicated(keep=False)
    if not repeated.any():
        return df, np.ones(len(df), dtype=bool), {}
    rows = pd.Series(np.arange(1, len(df) + 1), index=df.index)
    for field in [f for f in ACLED_EVENT_FIELDS if f in df.columns]:
        spread = _text(df[field])[repeated].groupby(ids[repeated]).nunique()
        if (spread > 1).any():
            eid = spread[spread > 1].index[0]
            at = ids.eq(eid)
            shown = ", ".join(f"row {r}: {v!r}" for r, v in zip(rows[at], _text(df[field])[at]))
            raise ValueError(
                f"{source}: event_id_cnty {eid!r} appears in several rows that disagree on field "
                f"'{field}' ({shown}); one event has one {field}. A monadic export repeats an event "
                "once per actor with identical event fields: re-export the file from ACLED")
    order = ids.groupby(ids).cumcount()
    first, second = order.eq(0), order.eq(1)
    partner = df[second].set_index(ids[second])
    kept = df[first].copy()
    kept_ids = ids[first]
    for target, origin in (("actor2", "actor1"), ("inter2", "inter1"), ("assoc_actor_2", "assoc_actor_1")):
        if origin not in df.columns:
            continue
        fill = kept_ids.map(partner[origin])
        present = _text(kept[target]) if target in kept.columns else pd.Series("", index=kept.index)
        kept[target] = present.where(present.ne("") | fill.isna(), fill)
    merged = int(len(df) - len(kept))
    log.info("%s: %d repeated row(s) of %d event(s) merged (monadic export: one row per actor)",
             source, merged, int(ids[repeated].nunique()))
    return kept, first.to_numpy(), {"monadic_rows_merged": merged}


def harmonise_acled(raw: pd.DataFrame, source) -> tuple[pd.DataFrame, dict]:
    """Bring an ACLED export of any vintage to the current shape.

    * column names lower-cased, older names renamed (`ALLY_ACTOR_1` -> `assoc_actor_1`);
    * pre-2019 event types mapped to the current six (ACLED_PRE2019_EVENT_TYPES), the original
      label kept in `event_type_pre2019`, the sub-event type filled where the mapping is one-to-one;
    * a monadic export (one row per actor, the same `event_id_cnty` repeated) merged to one row per
      event: the first row is actor 1 and the second row's actor becomes actor 2, as ACLED's own
      acledR does (`acled_transform_wider(type = "api_monadic")`, R/acled_transform_wider.R). Rows
      of one event that disagree on ACLED_EVENT_FIELDS are refused with the file, rows and field.

    `source` names the file in messages (e.g. "ACLED file x.csv"). Returns the table and a report
    of what changed (for provenance and the log). Errors are ValueErrors naming the file, the
    1-based data row and the field.
    """
    df, report = _acled_vocabulary(raw, source)
    merged, _, merge_report = _acled_merge_monadic(df, source)
    return merged.reset_index(drop=True), {**report, **merge_report}


def read_acled(path) -> pd.DataFrame:
    """Read an ACLED export of any vintage into (event_id, event_type, inter1, date, lat, lon).

    Accepts the current API columns and older exports (upper-case names, the pre-2019 event types,
    the monadic one-row-per-actor layout: see `harmonise_acled`), the `event_date` formats
    `YYYY-MM-DD`, `DD Month YYYY` and `DD/MM/YYYY`, and `inter1` as text labels or the codes 1–8;
    `inter1` is returned as the canonical text label so every export gives identical outcome
    flags. Only ACLED_COLUMNS are required. Empty dates/coordinates become NaT/NaN (dropped and
    counted later).
    """
    where = f"ACLED file {path}"
    header = pd.read_csv(path, dtype=str, nrows=0, encoding="utf-8-sig").columns
    # schema drift is named against the whole header, then only the fields used are parsed
    _require_columns(pd.DataFrame(columns=[_acled_name(c) for c in header]), ACLED_COLUMNS, where)
    raw, _ = _acled_vocabulary(_read_csv(path, (), "ACLED", usecols=lambda c: _acled_name(c) in ACLED_READ_FIELDS),
                               where)
    ids = _text(raw["event_id_cnty"])
    _check_labels(raw["event_type"], path, "event_type", ACLED_EVENT_TYPES, allow_empty=False)
    labels = {v: _canonical_inter(v) for v in raw["inter1"].unique()}  # few distinct values: map once each
    inter = raw["inter1"].map(labels)
    bad = inter.isna()
    if bad.any():
        raise _bad_value(path, bad, raw["inter1"], "inter1", f"an ACLED actor type (code 1-8 or one of {list(ACLED_INTER_LABELS)})")
    date = _parse_dates(raw["event_date"], path, "event_date", ACLED_DATE_FORMATS,
                        "a date (YYYY-MM-DD, DD Month YYYY or DD/MM/YYYY)")
    lat, lon = _parse_coordinates(raw, "latitude", "longitude", path)
    table = pd.DataFrame(
        {
            "event_id": ids,
            "event_type": _text(raw["event_type"]),
            "inter1": inter.astype(str),
            "date": date,
            "lat": lat,
            "lon": lon,
        }
    )
    _, kept, _ = _acled_merge_monadic(raw, where)  # after the row checks, so row numbers are the file's
    return table[kept].reset_index(drop=True)


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


def _label_key(label) -> str:
    """Compare vocabulary labels ignoring case, spacing and '&' against 'and'."""
    text = re.sub(r"\s*&\s*|\s+and\s+", " and ", str(label).strip().casefold())
    return re.sub(r"\s+", " ", re.sub(r"\s*/\s*", "/", text))


def _canonical_labels(s: pd.Series, vocabulary: Iterable[str]) -> tuple[pd.Series, list[str]]:
    """Known labels in their vocabulary spelling; unknown ones kept as they are (and returned)."""
    by_key = {_label_key(v): v for v in vocabulary}
    t = _text(s)
    mapping = {v: by_key.get(_label_key(v), v) for v in t.unique()}
    unknown = sorted(v for v, c in mapping.items() if v and v == c and c not in by_key.values())
    return t.map(mapping), unknown


def _qip_ids(raw: pd.DataFrame, path) -> tuple[pd.Series, dict[str, int]]:
    """`ref`, or `row<k>` when empty; repeats get `#2`, `#3`, ... so that every QIP keeps a unique id."""
    ref = _text(raw["ref"])
    empty = ref.eq("")
    ref = ref.where(~empty, "row" + pd.Series(np.arange(1, len(ref) + 1), index=ref.index).astype(str))
    k = ref.groupby(ref, sort=False).cumcount() + 1
    repeated = k.gt(1)
    ids = ref.where(~repeated, ref + "#" + k.astype(str))
    if empty.any():
        log.warning("%s: %d QIP(s) without a `ref` (first: row %d) get the id row<k>", path, int(empty.sum()),
                    int(np.flatnonzero(empty.to_numpy())[0]) + 1)
    if repeated.any():
        log.warning("%s: %d repeated `ref` value(s) (e.g. %s) are told apart as <ref>#2, #3, ...", path,
                    int(repeated.sum()), ", ".join(map(repr, ref[repeated].unique()[:3])))
    return ids.astype(str), {"empty_refs": int(empty.sum()), "repeated_refs": int(repeated.sum())}


def _refuse_excel_serials(s: pd.Series, path, field: str, *, usual: str) -> None:
    """A five-digit number where a date belongs is an Excel serial date: say so instead of 'cannot parse'."""
    t = _text(s)
    serial = t.str.fullmatch(r"\d{5}(\.0+)?")
    if serial.any():
        first = int(np.flatnonzero(serial.to_numpy())[0])
        value = t.iloc[first]
        as_excel = (_EXCEL_EPOCH + pd.Timedelta(days=int(float(value)))).date()
        raise ValueError(
            f"{path}: row {first + 1}, field '{field}': {value!r} looks like an Excel serial date "
            f"({value} = {as_excel} in Excel's date system), not a date; save the column as dates "
            f"({usual}) and retrieve the file again"
        )


def read_qips(path, column_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a QIP list into (event_id, date, lat, lon, funding_usd, activity_type, category).

    The file is the contract `qips.csv` or the paper's prepared QIP file as it comes: UTF-8 with or
    without BOM; only QIP_COLUMNS are required (others, such as `end_date` in dd.mm.yy, are ignored).
    Coordinates are parsed leniently (inner spaces/NBSP removed, comma decimal accepted); empty ones
    are kept as NaN so that prepare_events counts them, but a file where no row has both coordinates
    is refused here, not at estimation. Amounts may carry ',', space or NBSP thousands separators.
    The start date is `YYYY-MM-DD` (a time part, as the Data Hub writes it, is dropped),
    `DD/MM/YYYY`, `DD.MM.YY` or `DD.MM.YYYY`. Labels are matched to the paper's vocabulary ignoring
    case, spacing and '&'/'and'; unknown labels are kept (Table 1 lists them after the printed rows)
    and logged. Every row is kept: an empty `ref` becomes `row<k>`, a repeated one `<ref>#2`, ...
    `column_map` renames provider columns first ({provider: contract}). Counts of what was lenient
    are in `result.attrs["read_notes"]`.
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
    ids, notes = _qip_ids(raw, path)
    activity, unknown_activity = _canonical_labels(raw["activity_type"], QIP_ACTIVITY_TYPES)
    category, unknown_category = _canonical_labels(raw["category"], QIP_CATEGORIES)
    for field, unknown in (("activity_type", unknown_activity), ("category", unknown_category)):
        if unknown:
            log.warning("%s: %s label(s) outside the paper's vocabulary kept as they are: %s", path, field,
                        ", ".join(map(repr, unknown)))
    start = _text(raw["start_date"]).str.replace(r"^(\d{4}-\d{2}-\d{2})[T ].*$", r"\1", regex=True)
    _refuse_excel_serials(start, path, "start_date", usual="YYYY-MM-DD")
    date = _parse_dates(start, path, "start_date", ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%y", "%d.%m.%Y"),
                        "a date (YYYY-MM-DD, DD/MM/YYYY or DD.MM.YY)")
    lat, lon = _parse_coordinates(raw, "latitude", "longitude", path, lenient=True)
    located = lat.notna() & lon.notna()
    if len(raw) and not located.any():
        raise ValueError(
            f"QIP file {path}: none of the {len(raw)} rows has both 'latitude' and 'longitude'; the "
            "analysis needs located QIPs. If the coordinates are in other columns, map them "
            "(datasets.qip.options.columns); a Data Hub export with latitude1..5 must go through the "
            "retrieve step (mode: user), which picks each QIP's first located site"
        )
    table = pd.DataFrame(
        {
            "event_id": ids,
            "date": date,
            "lat": lat,
            "lon": lon,
            "funding_usd": _parse_amount(raw["amount_disbursed"], path, "amount_disbursed"),
            "activity_type": activity.astype(str),
            "category": category.astype(str),
        }
    )
    table.attrs["read_notes"] = {**notes, "rows": len(raw), "rows_with_coordinates": int(located.sum()),
                                 "unknown_activity_types": unknown_activity, "unknown_categories": unknown_category}
    return table


def _sector_key(name: str) -> str:
    text = re.sub(r"^[IVX]+(\.\d+)?(\.[a-z])?\.\s+", "", str(name).strip())
    return _label_key(text)


_SECTOR_CODE_BY_NAME = {**{_sector_key(n): c for c, n in DAC3_SECTOR_GROUPS.items() if c != "330"},
                        **{_sector_key(n): c for n, c in _DAC3_CURRENT_NAMES.items()}}


def sector_group_name(value) -> str:
    """The paper's label of a DAC sector group given as a 3-digit code, a 5-digit purpose code or a name.

    d-portal's `sector_group` is the 3-digit code (names only with `human=1`, today's DAC names
    behind a roman-numbered prefix); both land on the appendix Table 2 labels. A name outside the
    DAC list is returned unchanged, an empty value as "".
    """
    text = str(value).strip()
    if text in _NULL_TEXT:
        return ""
    if re.fullmatch(r"\d{3}(\d{2})?(\.0+)?", text):
        return DAC3_SECTOR_GROUPS.get(text[:3], text)
    code = _SECTOR_CODE_BY_NAME.get(_sector_key(text))
    return DAC3_SECTOR_GROUPS[code] if code else text


def read_iati(path) -> pd.DataFrame:
    """Read a d-portal activities×locations file into (event_id, date, lat, lon, funding_usd, activity_type, category).

    One row per activity location; `event_id` is `aid#k` with k the 1-based position of the
    location among the activity's rows in file order (stable whatever the later filters drop).
    Accepts d-portal's q.csv as it comes: the text `null` for missing values, `day_start` as a
    day number (days since 1970-01-01) or `YYYY-MM-DD` (`human=1`), `sector_group` as the DAC
    3-digit code or a name (mapped to the paper's labels, see `sector_group_name`; derived from
    `sector_code` when the group is absent). An Excel serial date in `day_start` (e.g. 43466) and a
    file without a single located row fail here with the reason. `funding_usd` is `commitment`
    (US$; d-portal converts) when present; a row whose `value_currency` is not USD gets NaN, so
    currencies are never mixed.
    """
    raw = _read_csv(path, [c for c in IATI_COLUMNS if c != "sector_group"], "IATI")
    raw = raw.apply(lambda col: col.where(~_text(col).isin(_NULL_TEXT), ""))
    if "sector_group" not in raw.columns and "sector_code" not in raw.columns:
        raise ValueError(f"IATI file {path}: missing column 'sector_group' (or 'sector_code' to derive it from) "
                         f"(present: {', '.join(raw.columns)})")
    _check_nonempty(raw["aid"], path, "aid")
    aid = _text(raw["aid"]).str.replace(r"^https?://\S*[?&]aid=", "", regex=True)  # human=1 writes links
    k = aid.groupby(aid, sort=False).cumcount() + 1
    day = _text(raw["day_start"]).str.replace(r"^(\d{4}-\d{2}-\d{2})[T ].*$", r"\1", regex=True)
    is_num = day.str.match(_DAYNUMBER_RE)
    days = pd.to_numeric(day.where(is_num).astype(object), errors="coerce")
    too_far = is_num & days.gt(_MAX_DAYNUMBER)
    not_excel = too_far & days.gt(_MAX_EXCEL_SERIAL)
    if not_excel.any():
        raise _bad_value(path, not_excel, raw["day_start"], "day_start",
                         "a d-portal day number (days since 1970-01-01) or a date (YYYY-MM-DD)")
    if too_far.any():
        first = int(np.flatnonzero(too_far.to_numpy())[0])
        value = int(days.iloc[first])
        as_dportal = (pd.Timestamp("1970-01-01") + pd.Timedelta(days=value)).date()
        as_excel = (_EXCEL_EPOCH + pd.Timedelta(days=value)).date()
        raise ValueError(
            f"{path}: row {first + 1}, field 'day_start': {value} is not a d-portal day number (it would be "
            f"{as_dportal}); it looks like an Excel serial date ({value} = {as_excel} in Excel's date system). "
            "Save day_start as YYYY-MM-DD dates (or keep d-portal's day numbers) and retrieve the file again"
            + (f" ({int(too_far.sum()) - 1} more such row(s))" if too_far.sum() > 1 else "")
        )
    too_early = is_num & days.lt(-_MAX_DAYNUMBER)
    if too_early.any():
        raise _bad_value(path, too_early, raw["day_start"], "day_start", "a d-portal day number after 1900")
    from_num = pd.Timestamp("1970-01-01") + pd.to_timedelta(days.where(is_num), unit="D")
    from_iso = _parse_dates(day.where(~is_num, ""), path, "day_start", ("%Y-%m-%d",), "a day number or a date (YYYY-MM-DD)")
    date = from_iso.where(~is_num, from_num.astype("datetime64[ns]")).astype("datetime64[ns]")
    lat, lon = _parse_coordinates(raw, "location_latitude", "location_longitude", path)
    if len(raw) and not (lat.notna() & lon.notna()).any():
        raise ValueError(
            f"IATI file {path}: none of the {len(raw)} rows has both 'location_latitude' and "
            "'location_longitude'; the control group needs located aid projects (query d-portal with "
            "from=act,location,country, or check the column names)"
        )
    groups = raw["sector_group"] if "sector_group" in raw.columns else pd.Series("", index=raw.index)
    if "sector_code" in raw.columns:
        groups = groups.where(_text(groups).ne(""), raw["sector_code"])
    names = {v: sector_group_name(v) for v in groups.unique()}
    funding = (_parse_float(raw["commitment"], path, "commitment") if "commitment" in raw.columns
               else pd.Series(np.nan, index=raw.index, dtype="float64"))
    if "value_currency" in raw.columns:
        currency = _text(raw["value_currency"]).str.upper()
        foreign = currency.ne("") & currency.ne("USD")
        if foreign.any():
            log.warning("%s: %d row(s) with values not in US$ (%s) get no funding_usd", path, int(foreign.sum()),
                        ", ".join(sorted(currency[foreign].unique())))
            funding = funding.where(~foreign)
    return pd.DataFrame(
        {
            "event_id": (aid + "#" + k.astype(str)).astype(str),
            "date": date,
            "lat": lat,
            "lon": lon,
            "funding_usd": funding,
            "activity_type": pd.Series("", index=raw.index, dtype=str),
            "category": groups.map(names).astype(str),
        }
    )


def read_admin3(path, admin1_field: str, admin3_field: str, *, admin2_field: str | None = None, layer: str = "adm3") -> gpd.GeoDataFrame:
    """Read the admin-3 polygons (EPSG:4326) keeping the configured name fields.

    The field names are the country file's `boundaries.admin1_field` etc.; besides them the result
    carries standard copies `admin1` and `admin3` (and `admin2`), so later steps need not know the
    country's field names. Invalid rings (common in COD-AB) are repaired with `make_valid` so
    point-in-polygon is reliable; empty geometries and empty names are errors.
    """
    import pyogrio

    layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    if layer not in layers:
        raise ValueError(f"admin-3 file {path}: no layer {layer!r} (layers: {', '.join(layers)})")
    gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    keys = [("admin1_field", admin1_field)] + ([("admin2_field", admin2_field)] if admin2_field else []) + [
        ("admin3_field", admin3_field)]
    fields = [f for _, f in keys]
    missing = [(k, f) for k, f in keys if f not in gdf.columns]
    if missing:
        present = [c for c in gdf.columns if c != gdf.geometry.name]
        raise ValueError(
            f"admin-3 file {path} (layer {layer}): missing column(s) {', '.join(repr(f) for _, f in missing)} "
            f"(present: {', '.join(map(str, present))}); the country file's boundaries.{missing[0][0]} must name "
            "a field of this file"
        )
    if gdf.crs is None:
        raise ValueError(f"admin-3 file {path}: layer {layer!r} has no CRS (the contract says EPSG:4326)")
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0]) + 1
        raise ValueError(f"admin-3 file {path}: row {row}, field 'geometry': feature {gdf[admin3_field].iloc[row - 1]!r} has no geometry")
    x0, y0, x1, y1 = gdf.total_bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise ValueError(f"admin-3 file {path}: bounds [{x0:g}, {y0:g}, {x1:g}, {y1:g}] are not degrees of "
                         "longitude/latitude although the layer says EPSG:4326 (a wrong .prj or CRS tag)")
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
    max_share_outside_country: float | None = None,
    max_share_dropped: float | None = None,
    extent: Sequence[float] | None = None,
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

    Coverage checks stop the run (CoverageError, with numbers and the likely cause) when a source
    keeps no row at all; when the admin-3 bounds do not fit the country's `extent` (swapped axes);
    when more than `max_share_outside_country` of a source's located rows fall on no polygon
    (swapped lat/lon, another country); when one filter drops more than `max_share_dropped` of the
    rows reaching it. `None` switches a threshold off. `filter_table` turns the counts into a table.
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
    if extent is not None and len(polygons):
        from qipstudy.country import bounds_problem

        problem = bounds_problem(polygons.total_bounds, extent, "admin-3 boundaries")
        if problem:
            raise CoverageError(f"{problem}; fix the boundaries file (or the country file's extent) and rerun")

    counts: dict[str, dict[str, int]] = {}
    located: dict[str, dict] = {}
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
        dropped_dates = date[~keep]
        t = t[keep]
        lon, lat = t["lon"].to_numpy(float), t["lat"].to_numpy(float)
        admin1, in_region = _locate(lon, lat, polygons)
        on_polygon = admin1.notna().to_numpy()
        c["outside_polygons"] = int((~on_polygon).sum())
        c["outside_study_regions"] = int((on_polygon & ~in_region).sum())
        located[source] = {"lon": lon[~on_polygon], "lat": lat[~on_polygon],
                           "other_regions": admin1[on_polygon & ~in_region].value_counts(),
                           "dropped_dates": (dropped_dates.min(), dropped_dates.max()) if len(dropped_dates) else None}
        t = t[in_region].copy()
        t["admin1"] = admin1[in_region].to_numpy()
        c["kept"] = len(t)
        counts[source] = c
        parts.append(_to_events(t, source, spec))

    _check_coverage(counts, located, polygons, start=start, end=end, study_regions=list(study_regions),
                    max_share_outside_country=max_share_outside_country, max_share_dropped=max_share_dropped)
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
        known = sorted(set(map(str, polys[admin1_field].dropna())))
        hints = [f"did you mean {close!r} for {r!r}?" for r in unknown for close in _closest(r, known)]
        raise ValueError(
            f"study_regions {unknown} match no admin-1 name in field {admin1_field!r} "
            f"(names: {known}){'; ' + ' '.join(hints) if hints else ''}"
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


def _closest(name: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """The candidate spellings closest to `name` (accents and case ignored), for 'did you mean' hints."""
    import difflib

    by_key = {_nfc(_strip_accents(c)): c for c in candidates}
    return [by_key[k] for k in difflib.get_close_matches(_nfc(_strip_accents(name)), list(by_key), n=n, cutoff=0.6)]


def _strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", str(text)) if not unicodedata.combining(ch))


# ----------------------------------------------------------------------------- coverage checks and the filter table

FILTER_STEPS = ("missing_coordinates", "missing_date", "outside_period", "outside_polygons", "outside_study_regions")


class CoverageError(ValueError):
    """A source loses most of its rows to a filter, or lies outside the country: the run stops here."""


def filter_table(filter_counts: Mapping[str, Mapping[str, int]]) -> pd.DataFrame:
    """The filter log as a table: one row per source and filter step, in the order applied.

    Columns: source, step, rows_in (reaching the step), dropped, share_dropped (of rows_in),
    share_of_read (of the source's rows read), rows_out. A last row per source (step `kept`) gives
    the rows kept.
    """
    rows = []
    for source, c in filter_counts.items():
        read = int(c.get("read", 0))
        n = read
        for step in FILTER_STEPS:
            d = int(c.get(step, 0))
            rows.append({"source": source, "step": step, "rows_in": n, "dropped": d,
                         "share_dropped": d / n if n else 0.0, "share_of_read": d / read if read else 0.0,
                         "rows_out": n - d})
            n -= d
        rows.append({"source": source, "step": "kept", "rows_in": read, "dropped": read - n,
                     "share_dropped": (read - n) / read if read else 0.0,
                     "share_of_read": (read - n) / read if read else 0.0, "rows_out": n})
    return pd.DataFrame(rows, columns=["source", "step", "rows_in", "dropped", "share_dropped", "share_of_read",
                                       "rows_out"])


def write_filter_table(filter_counts: Mapping[str, Mapping[str, int]], path) -> None:
    """Write `filter_table` as CSV, atomically (for the report)."""
    from qipstudy.atomic import write_with

    write_with(path, lambda tmp: filter_table(filter_counts).to_csv(tmp, index=False))


def _box(lon: np.ndarray, lat: np.ndarray) -> str:
    return f"lon {np.nanmin(lon):.2f}..{np.nanmax(lon):.2f}, lat {np.nanmin(lat):.2f}..{np.nanmax(lat):.2f}"


def _outside_cause(source: str, where: dict, polygons: gpd.GeoDataFrame, all_outside: bool) -> str:
    lon, lat = where["lon"], where["lat"]
    swapped, _ = _locate(lat, lon, polygons)
    n_swapped = int(swapped.notna().sum())
    x0, y0, x1, y1 = polygons.total_bounds
    if all_outside and n_swapped >= 0.5 * len(lon):
        return (f"every source misses the boundaries but fits them with lat/lon exchanged: the boundaries' axes are "
                f"swapped (their bounds: lon {x0:.2f}..{x1:.2f}, lat {y0:.2f}..{y1:.2f})")
    if n_swapped >= 0.5 * len(lon):
        return (f"{n_swapped:,} of them fall inside when latitude and longitude are exchanged: the {source} file has "
                "its latitude and longitude swapped")
    if all_outside:
        return (f"every source misses the boundaries (points: {_box(lon, lat)}; boundaries: lon {x0:.2f}..{x1:.2f}, "
                f"lat {y0:.2f}..{y1:.2f}): the boundaries are of another country, in another CRS, or have swapped axes")
    return (f"the points outside span {_box(lon, lat)}, the boundaries lon {x0:.2f}..{x1:.2f}, lat {y0:.2f}..{y1:.2f}: "
            f"the {source} data covers another area (another country in the download, or coordinates in another CRS)")


def _drop_cause(step: str, where: dict, start, end, study_regions: list) -> str:
    if step == "missing_coordinates":
        return ("the coordinate columns are empty (a column map pointing at the wrong columns, or an export without "
                "coordinates)")
    if step == "missing_date":
        return "the date column is empty (the wrong column, or dates the reader could not parse)"
    if step == "outside_period":
        span = where.get("dropped_dates")
        seen = f"the dropped dates span {span[0].date()}..{span[1].date()}; " if span else ""
        return (f"{seen}the study period is {start.date()}..{end.date()} (a wrong period, or dates misread: day and "
                "month exchanged, two-digit years, Excel serial numbers)")
    if step == "outside_study_regions":
        top = where["other_regions"].head(5)
        seen = ", ".join(f"{name} ({k:,})" for name, k in top.items())
        return (f"the points fall in {seen}, not in the study regions {study_regions} (a study-region typo, or the "
                "wrong admin-1 field)")
    return "see the filter table"


def _check_coverage(counts, located, polygons, *, start, end, study_regions, max_share_outside_country,
                    max_share_dropped) -> None:
    """Raise CoverageError listing every source that lost (nearly) all rows or lies outside the country."""
    problems = []
    reaching = {s: c["read"] - c["missing_coordinates"] - c["missing_date"] - c["outside_period"]
                for s, c in counts.items()}
    outside_share = {s: counts[s]["outside_polygons"] / n for s, n in reaching.items() if n}
    over = {s for s, share in outside_share.items()
            if max_share_outside_country is not None and share > max_share_outside_country}
    all_outside = bool(over) and over == set(outside_share)
    for source, c in counts.items():
        if source in over:
            n, k = reaching[source], c["outside_polygons"]
            problems.append(
                f"{source}: {k:,} of {n:,} rows that reach the boundaries ({k / n:.1%}) fall on no admin-3 polygon "
                f"(limit checks.max_share_outside_country = {max_share_outside_country:g}); likely cause: "
                + _outside_cause(source, located[source], polygons, all_outside))
            continue
        if max_share_dropped is not None:
            n = c["read"]
            for step in FILTER_STEPS:
                d = c[step]
                if n and d / n > max_share_dropped:
                    if step == "outside_polygons":
                        cause = _outside_cause(source, located[source], polygons, all_outside)
                    else:
                        cause = _drop_cause(step, located[source], start, end, study_regions)
                    problems.append(f"{source}: the filter {step} dropped {d:,} of {n:,} rows ({d / n:.1%}; limit "
                                    f"checks.max_share_dropped = {max_share_dropped:g}); likely cause: {cause}")
                    break
                n -= d
        if c["kept"] == 0 and not any(p.startswith(f"{source}:") for p in problems):
            steps = ", ".join(f"{step} {c[step]:,}" for step in FILTER_STEPS if c[step])
            problems.append(f"{source}: no row of {c['read']:,} survives the filters ({steps or 'the input is empty'})")
    if problems:
        raise CoverageError("prepare_events stopped:\n" + "\n".join(problems))


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
