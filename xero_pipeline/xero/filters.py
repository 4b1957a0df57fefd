"""Building Xero `where` filters safely: literals are escaped, never pasted in."""

from __future__ import annotations

from datetime import date, datetime


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


def timestamp_literal(moment: datetime) -> str:
    """A UTC instant to the second, as Xero's `where` writes one."""
    return (
        f"DateTime({moment.year},{moment.month:02d},{moment.day:02d},"
        f"{moment.hour:02d},{moment.minute:02d},{moment.second:02d})"
    )


def dated_after(day: date, updated: datetime, field: str = "Date") -> str:
    """What follows a record in (`field`, UpdatedDateUTC) order: a later date, or the same date
    changed at or after `updated`'s second (inclusive: Xero compares to the second)."""
    return (
        f"({field}>{date_literal(day)} OR ({field}=={date_literal(day)} AND "
        f"UpdatedDateUTC>={timestamp_literal(updated)}))"
    )
