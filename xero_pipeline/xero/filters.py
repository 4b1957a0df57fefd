"""Building Xero `where` filters safely: literals are escaped, never pasted in."""

from __future__ import annotations

from datetime import date


def escape_string(value: str) -> str:
    r"""A `where` string literal, quotes included: `O'Brien "Ltd"` -> `"O'Brien \"Ltd\""`.

    Backslashes are escaped first, so the backslash put before a quote is not itself escaped;
    whatever the value holds (quotes, `AND`, parentheses) stays inside the literal.
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def equals(field: str, value: str) -> str:
    if not field.replace(".", "").isalnum():
        raise ValueError(f"not a Xero field name: {field!r}")
    return f"{field}=={escape_string(value)}"


def date_literal(day: date) -> str:
    return f"DateTime({day.year},{day.month:02d},{day.day:02d})"


def date_window(start: date, end: date, field: str = "Date") -> str:
    """Documents dated in [start, end): how history is read month by month."""
    return f"{field}>={date_literal(start)} AND {field}<{date_literal(end)}"
