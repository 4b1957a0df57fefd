"""Month arithmetic, the unit of sales history: partitions, backfills and reconciliation all
count in calendar months of a document's date."""

from __future__ import annotations

from datetime import date


def month_start(day: date, back: int = 0) -> date:
    """The first day of `day`'s month, `back` months earlier (negative: later)."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def months_between(start: date, end: date) -> list[tuple[date, date]]:
    """Each month from `start`'s to the one before `end` (exclusive), as (first day, first day of
    the next month)."""
    months, current = [], month_start(start)
    while current < end:
        following = month_start(current, -1)
        months.append((current, following))
        current = following
    return months


# The built-in sandbox's default organisations hold this many months of history; with no Xero app
# configured, sales history starts at their first month (configuration.sales_start).
SANDBOX_HISTORY_MONTHS = 24
