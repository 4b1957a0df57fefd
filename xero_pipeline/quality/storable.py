"""Would the warehouse store a row exactly as it is? The check every gated table gets for free.

Xero can send anything in a field — a 10 KB status, a NUL character, an amount with twenty
digits. Parsing keeps such values rather than guess, and the suites check meaning, not storage;
without this check PostgreSQL would refuse the row half-way through a publish (`value too long`,
`numeric field overflow`, `invalid byte sequence`), or round it silently, and the run would end
in a database traceback. Derived from the table's own column types, so it never drifts from the
schema: a row either fits every column exactly or is stopped at the gate, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Numeric, String, Table

from xero_pipeline.warehouse.values import to_json

CHECK_NAME = "rows_fit_the_warehouse"
INT4 = 2**31


def row_problems(table: Table, row: Mapping[str, Any]) -> list[str]:
    """What the warehouse would refuse or change in `row`, one line per column."""
    found = []
    for column in table.columns:
        value = row.get(column.name)
        if value is not None:
            problem = value_problem(column.type, value)
            if problem:
                found.append(f"{column.name}: {problem}")
    return found


def problems_by_row(table: Table, rows: Sequence[Mapping[str, Any]]) -> dict[int, list[str]]:
    """`row_problems` for many rows at once: {row index: its problems}, rows without any left
    out. The same lines in the same order, found column by column: a cheap test that a value
    surely fits (`_suspects`) passes the common case without a call per value, and only the
    values it cannot pass get the full check and its message. A month of invoice lines is
    ~300,000 values; this is what keeps the check a small part of the gate."""
    found: dict[int, list[str]] = {}
    for column in table.columns:
        name, kind = column.name, column.type
        values = [row.get(name) for row in rows]
        for index in _suspects(kind, values):
            problem = value_problem(kind, values[index])
            if problem:
                found.setdefault(index, []).append(f"{name}: {problem}")
    return dict(sorted(found.items()))


def _suspects(kind: Any, values: list[Any]) -> list[int]:
    """Positions of the values that might not fit `kind` (never one that surely fits is kept
    out of the full check: each test below passes only what `value_problem` would pass).
    The branches follow `value_problem`'s order of column types."""
    if isinstance(kind, Boolean):
        return [i for i, v in enumerate(values) if v is not None and type(v) is not bool]
    if isinstance(kind, Integer):
        return [
            i
            for i, v in enumerate(values)
            if v is not None and not (type(v) is int and -INT4 <= v < INT4)
        ]
    if isinstance(kind, Numeric):
        if kind.precision is None:
            return [
                i
                for i, v in enumerate(values)
                if v is not None and not (type(v) is Decimal and v.is_finite())
            ]
        limit, places = Decimal(10) ** (kind.precision - (kind.scale or 0)), -(kind.scale or 0)
        return [
            i
            for i, v in enumerate(values)
            if v is not None
            and not (
                type(v) is Decimal
                and v.is_finite()
                and -limit < v < limit
                and v.as_tuple().exponent >= places  # no more decimal places than the scale
            )
        ]
    if isinstance(kind, String):
        longest = kind.length if kind.length is not None else float("inf")
        return [
            i
            for i, v in enumerate(values)
            if v is not None
            and not (type(v) is str and v.isascii() and "\x00" not in v and len(v) <= longest)
        ]
    if isinstance(kind, DateTime):
        return [i for i, v in enumerate(values) if v is not None and not isinstance(v, datetime)]
    if isinstance(kind, Date):
        return [i for i, v in enumerate(values) if v is not None and not isinstance(v, date)]
    if isinstance(kind, JSON):  # an empty list is always JSON; anything else is serialised
        return [i for i, v in enumerate(values) if v is not None and v != []]
    return []


def value_problem(kind: Any, value: Any) -> str | None:
    if isinstance(kind, Boolean):
        return None if isinstance(value, bool) else f"not a boolean: {_show(value)}"
    if isinstance(kind, Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"not a whole number: {_show(value)}"
        return None if -INT4 <= value < INT4 else f"{value} does not fit a 32-bit integer"
    if isinstance(kind, Numeric):
        return _numeric_problem(kind, value)
    if isinstance(kind, String):
        return _text_problem(kind, value)
    if isinstance(kind, DateTime):
        return None if isinstance(value, datetime) else f"not a timestamp: {_show(value)}"
    if isinstance(kind, Date):
        return None if isinstance(value, date) else f"not a date: {_show(value)}"
    if isinstance(kind, JSON):
        try:
            to_json(value).encode("utf-8")
        except (TypeError, ValueError, UnicodeEncodeError) as exc:
            return f"not storable as JSON ({type(exc).__name__})"
    return None


def _numeric_problem(kind: Numeric, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return f"not a number: {_show(value)}"
    amount = Decimal(value)
    if not amount.is_finite():
        return f"not a finite number: {amount}"
    precision, scale = kind.precision, kind.scale or 0
    if precision is None:
        return None
    if abs(amount) >= Decimal(10) ** (precision - scale):
        return f"{_show(amount)} is too large for NUMERIC({precision},{scale})"
    if amount != amount.quantize(Decimal(1).scaleb(-scale), rounding="ROUND_DOWN"):
        return f"{_show(amount)} has more than {scale} decimal places; they would be lost"
    return None


def _text_problem(kind: String, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"not text: {_show(value)}"
    if "\x00" in value:
        return "contains a NUL character, which PostgreSQL text cannot hold"
    if not encodes(value):
        return "contains an unpaired UTF-16 surrogate, which is not valid text"
    if kind.length is not None and len(value) > kind.length:
        return f"{len(value)} characters, more than the column's {kind.length}"
    return None


def encodes(text: str) -> bool:
    """Whether `text` is valid text: Xero's JSON can carry an unpaired UTF-16 surrogate, which
    Python decodes into a str that UTF-8 (and so the warehouse) cannot hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
