"""Sales history is partitioned by month of the document's date, from the sales start
(`XERO_SALES_START_DATE`; with the built-in sandbox, its default organisations' first month)."""

from datetime import date

import dagster as dg

from xero_pipeline.configuration import sales_start
from xero_pipeline.months import months_between

SALES_START = sales_start()  # a bad value stops the code location from loading, naming it

# end_offset=1: the current month is a partition too (documents are raised every day).
sales_months = dg.MonthlyPartitionsDefinition(start_date=SALES_START.isoformat(), end_offset=1)


def months_in(window: dg.TimeWindow) -> list[tuple[date, date]]:
    """The months of a partition run (one, or a backfill's range), as (first day, next first)."""
    return months_between(window.start.date(), window.end.date())
