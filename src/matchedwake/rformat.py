"""R's ``format()`` of a numeric column, as seen through ``as.matrix`` (docs/mwa_reference.md Appendix B, Q4).

R's ``slidingWake`` hands Java a character matrix, so every numeric column is printed with 7
significant digits and one decimal count (or one scientific precision) shared by the whole column.
Coordinates and covariates in R's output are those printed values read back as doubles; to get
identical wakes, cem strata and L1 values we must round the same way.

The work is vectorised: significant digits and decimal exponents come from a scaled ``rint``;
the few values whose scaled fraction lies too close to a rounding tie for float arithmetic to
decide are redone with Python's exact ``'%.6e'`` / ``'%.*f'`` formatting.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["format_column", "format_values"]

_DIGITS = 7
# |fraction - 0.5| below this (relative to the scaled magnitude) is re-done exactly.
_TIE_TOL = 64 * np.finfo(float).eps
_POW10 = 10.0 ** np.arange(-330, 309, dtype=float)  # index k + 330 -> 10**k (0 below 1e-324)


def _pow10(k: np.ndarray) -> np.ndarray:
    return np.take(_POW10, np.asarray(k, dtype=np.int64) + 330)  # take: cheaper than fancy indexing


def _scale_down(a: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """a / 10**shift, dividing by an exact power (better than multiplying by an inexact inverse)
    for shift >= 0 and multiplying by 10**-shift below; one branch when all shifts agree in sign
    (the usual case: a column's values share their magnitude)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if shift.size and shift.min() >= 0:
            return a / _pow10(np.minimum(shift, 300))
        if shift.size and shift.max() < 0:
            return a * _pow10(np.minimum(-shift, 300))
        return np.where(shift >= 0, a / _pow10(np.maximum(shift, -300)),
                        a * _pow10(np.minimum(-shift, 300)))


def _decimal_exponent(a: np.ndarray) -> np.ndarray:
    """e with 10**e <= a < 10**(e+1), for finite a > 0."""
    e = np.floor(np.log10(a)).astype(np.int64)
    # log10 can be off by one next to powers of ten; fix the exponent so 10**e <= a < 10**(e+1).
    e = np.where(a < _pow10(e), e - 1, e)
    return np.where(a >= _pow10(e + 1), e + 1, e)


def _near_tie(scaled: np.ndarray) -> np.ndarray:
    """Flag scaled magnitudes whose rounding cannot be trusted from float arithmetic."""
    frac = scaled - np.floor(scaled)
    return np.abs(frac - 0.5) <= _TIE_TOL * np.maximum(scaled, 1.0)


def _sig_and_exponent(a: np.ndarray, e: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Significant digits (trailing zeros stripped) and decimal exponent of |x| rounded to 7 digits.

    Equivalent to reading the mantissa and exponent of ``'%.6e' % a``; ``a`` is finite and > 0.
    ``e`` is ``_decimal_exponent(a)`` if the caller has it.
    """
    if e is None:
        e = _decimal_exponent(a)
    # a / 10**(e-6): dividing by an exact power is better than multiplying by an inexact inverse.
    shift = e - (_DIGITS - 1)
    scaled = _scale_down(a, shift)
    bad = _near_tie(scaled) | ~np.isfinite(scaled) | (np.abs(shift) > 280)
    m = np.rint(scaled).astype(np.int64)
    carry = m >= 10 ** _DIGITS  # 9999999.6 -> 1.000000e+07: rounding widens the exponent
    m = np.where(carry, m // 10, m)
    e = np.where(carry, e + 1, e)
    if bad.any():
        for i in np.flatnonzero(bad):
            mant, exp = ("%.6e" % a[i]).split("e")
            m[i] = int(mant.replace(".", ""))
            e[i] = int(exp)
    # Strip trailing zeros of the 7-digit integer mantissa (at most 6), following only the values
    # that still end in 0, so real-valued data costs one pass.
    sig = np.full(m.shape, _DIGITS, dtype=np.int64)
    idx = np.flatnonzero(m % 10 == 0)
    rest = m[idx] // 10
    for _ in range(_DIGITS - 1):
        if idx.size == 0:
            break
        sig[idx] -= 1
        more = rest % 10 == 0
        idx, rest = idx[more], rest[more] // 10
    return sig, e


def _round_fixed(x: np.ndarray, rgt: int) -> np.ndarray:
    """``float('%.{rgt}f' % x)`` for each x (rgt <= 22, |x|·10**rgt < 2**52 in practice)."""
    p = 10.0 ** rgt
    scaled = np.abs(x) * p
    n = np.rint(scaled)
    out = np.copysign(n / p, x)
    bad = _near_tie(scaled) | (scaled >= 2.0 ** 52)
    for i in np.flatnonzero(bad):
        out[i] = float("%.*f" % (rgt, x[i]))
    return out


def _round_sci(x: np.ndarray, digits: int, e: np.ndarray | None = None) -> np.ndarray:
    """``float('%.{digits-1}e' % x)`` for each finite x; ``e`` is the decimal exponent of the
    non-zero x (``_decimal_exponent``) if the caller has it."""
    out = np.zeros_like(x)
    nz = x != 0
    a = np.abs(x[nz])
    if e is None:
        e = _decimal_exponent(a)
    shift = e - (digits - 1)
    scaled = _scale_down(a, shift)
    n = np.rint(scaled)
    # n·10**shift is correctly rounded only when 10**|shift| is exact (|shift| <= 22).
    with np.errstate(over="ignore", invalid="ignore"):
        if shift.size and shift.min() >= 0:
            val = n * _pow10(np.minimum(shift, 300))
        elif shift.size and shift.max() < 0:
            val = n / _pow10(np.minimum(-shift, 300))
        else:
            val = np.where(shift >= 0, n * _pow10(np.clip(shift, 0, 300)),
                           n / _pow10(np.clip(-shift, 0, 300)))
    bad = _near_tie(scaled) | (np.abs(shift) > 22) | ~np.isfinite(val)
    res = np.copysign(val, x[nz])
    xs = x[nz]
    for i in np.flatnonzero(bad):
        res[i] = float("%.*e" % (digits - 1, xs[i]))
    out[nz] = res
    return out


#: Values handled at once: the temporaries of a block stay in cache, which makes a million-value
#: column several times faster than whole-column passes.
_BLOCK = 1 << 15


def _column_layout(v: np.ndarray) -> tuple[bool, int, np.ndarray | None]:
    """The choice R's ``format`` makes once for a whole column of finite values ``v``:
    (fixed notation?, decimals if fixed else significant digits, the decimal exponents of the
    non-zero values if already computed). Every value counts, so this pass covers the column,
    block by block."""
    # Over the column: max(sig - left), max(sleft), max(sig), max(left), min(left), any negative
    right_max = sleft_max = sig_max = left_max = -(1 << 62)
    left_min = 1 << 62
    anyneg = False
    e_nz = None
    for start in range(0, v.size, _BLOCK):
        block = v[start:start + _BLOCK]
        neg = block < 0
        a = np.abs(block)
        nz = a > 0
        if nz.all():
            e = _decimal_exponent(a)
            sig, kp = _sig_and_exponent(a, e)
            if v.size <= _BLOCK:
                e_nz = e
        else:
            sig = np.ones(block.shape, dtype=np.int64)
            kp = np.zeros(block.shape, dtype=np.int64)
            if nz.any():
                e = _decimal_exponent(a[nz])
                sig[nz], kp[nz] = _sig_and_exponent(a[nz], e)
                if v.size <= _BLOCK:
                    e_nz = e
        left = kp + 1
        right_max = max(right_max, int((sig - left).max()))
        sleft_max = max(sleft_max, int((neg + np.maximum(left, 1)).max()))
        sig_max = max(sig_max, int(sig.max()))
        left_max = max(left_max, int(left.max()))
        left_min = min(left_min, int(left.min()))
        anyneg = anyneg or bool(neg.any())
    rgt = max(right_max, 0)
    mxsl = sleft_max
    if left_max < 0:
        mxsl = 1 + anyneg
    mxns = sig_max
    w_fixed = mxsl + rgt + (rgt > 0)
    e_width = 2 if (left_max > 100 or left_min <= -99) else 1
    w_sci = anyneg + (mxns > 1) + (mxns - 1) + 4 + e_width
    if w_fixed <= w_sci:
        return True, rgt, e_nz
    return False, mxns, e_nz


def _round_blocks(values: np.ndarray, fixed: bool, digits: int, e_nz: np.ndarray | None) -> np.ndarray:
    """:func:`_round_fixed` or :func:`_round_sci` of finite ``values``, block by block."""
    if values.size <= _BLOCK:
        return _round_fixed(values, digits) if fixed else _round_sci(values, digits, e_nz)
    out = np.empty_like(values)
    for start in range(0, values.size, _BLOCK):
        block = values[start:start + _BLOCK]
        out[start:start + _BLOCK] = _round_fixed(block, digits) if fixed else _round_sci(block, digits)
    return out


def format_values(x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Round a float array the way R's ``format(x, digits = 7)`` prints it; NaN/±inf are kept.

    With ``rows`` (integer positions), only ``x[rows]`` is returned, rounded as part of the whole
    column: the notation and digits are still chosen from every value of ``x`` (Appendix B), but
    only the rows asked for are rounded, which is most of the work saved when a few thousand wake
    rows are read from a million events.
    """
    x = np.asarray(x, dtype=float)
    fin = np.isfinite(x)
    if not fin.any():
        return x.copy() if rows is None else x[rows]
    column_finite = bool(fin.all())
    fixed, digits, e_nz = _column_layout(x if column_finite else x[fin])
    if rows is None:
        target, sel, finite = x, fin, column_finite
    else:
        target = x[rows]  # a copy
        sel = np.isfinite(target)
        finite = bool(sel.all())
        e_nz = None  # the column's exponents do not belong to these rows
    values = target if finite else target[sel]
    rounded = _round_blocks(values, fixed, digits, e_nz)
    if finite:
        return rounded
    out = target.copy() if rows is None else target
    out[sel] = rounded
    return out


def format_column(col: pd.Series, rows: np.ndarray | None = None) -> pd.Series | np.ndarray:
    """Apply :func:`format_values` to a float column; other dtypes (integer, bool, text) pass through.

    Integer columns print without rounding in R, so they are returned unchanged; NA stays NA.
    With ``rows``, the formatted values of those rows are returned as an array (see
    :func:`format_values`); otherwise a Series like ``col``.
    """
    if pd.api.types.is_float_dtype(col.dtype):
        vals = col.to_numpy(dtype=float, na_value=np.nan)
        if rows is not None:
            return format_values(vals, rows)
        return pd.Series(format_values(vals), index=col.index, name=col.name)
    return col if rows is None else col.to_numpy()[rows]
