"""Would the warehouse store a row exactly as it is? The check every gated table gets for free.

Xero can send anything in a field — a 10 KB status, a NUL character, an amount with twenty
digits. Parsing keeps such values rather than guess, and the suites check meaning, not storage;
without this check PostgreSQL would refuse the row half-way through a publish (`value too long`,
`numeric field overflow`, `invalid byte sequence`), or round it silently, and the run would end
in a database traceback. Derived from the table's own column types, so it never drifts from the
schema: a row either fits every column exactly or is stopped at the gate, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Numeric, String, Table

from xero_pipeline.warehouse.publish import to_json

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
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate, which is not valid text"
    if kind.length is not None and len(value) > kind.length:
        return f"{len(value)} characters, more than the column's {kind.length}"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
