"""`xero-pipeline backfill`: sales history for a range of months, as one Dagster run (the same
single-run backfill the UI launches), with a progress bar fed by the assets' per-month log lines.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import date
from typing import IO, Any

import dagster as dg

from xero_pipeline.xero.errors import ConfigError

MONTH_DONE = re.compile(r"^(Invoices|CreditNotes) (\d{4}-\d{2}) \((\d+)/(\d+)\)")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def parse_month(value: str, option: str) -> date:
    try:
        return date.fromisoformat(f"{value}-01" if len(value) == 7 else value).replace(day=1)
    except ValueError:
        raise ConfigError(option, f"must be a month like 2021-01, not {value!r}") from None


class ProgressBar(logging.Handler):
    """Draws `[#####     ] 12/48 months  Invoices 2026-03` as months complete; shows warnings."""

    def __init__(self, total: int, out: IO[str]) -> None:
        super().__init__(logging.INFO)
        self.total, self.done, self.out = total, 0, out

    def emit(self, record: logging.LogRecord) -> None:
        message = getattr(record, "dagster_meta", {}).get("orig_message") or record.getMessage()
        match = MONTH_DONE.match(message)
        if match:
            self.done += 1
            filled = int(30 * self.done / max(self.total, 1))
            self.out.write(
                f"\r[{'#' * filled}{' ' * (30 - filled)}] {self.done}/{self.total} "
                f"months  {match.group(1)} {match.group(2)}   "
            )
            self.out.flush()
        elif record.levelno >= logging.WARNING:
            self.out.write(f"\n{record.levelname}: {message}\n")


def progress_logger(bar: ProgressBar) -> dg.LoggerDefinition:
    @dg.logger(description="A progress bar for backfills in a terminal.")
    def progress(_init_context: Any) -> logging.Logger:
        logger = logging.Logger("xero_pipeline.defs.history.backfill", level=logging.INFO)
        logger.addHandler(bar)
        return logger

    return progress


def run_backfill(
    defs: dg.Definitions,
    first: date,
    last: date,
    resources: dict[str, Any],
    out: IO[str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize every history asset for the months first..last (inclusive) in one run."""
    partitions = defs.resolve_job_def("sales_history").partitions_def
    keys = [
        k for k in partitions.get_partition_keys() if first.isoformat() <= k <= last.isoformat()
    ]
    if not keys:
        raise ConfigError(
            "--from/--to",
            f"no months between {first:%Y-%m} and {last:%Y-%m} "
            f"(history starts {partitions.get_first_partition_key()[:7]})",
        )
    out = out or sys.stdout
    bar = ProgressBar(total=2 * len(keys), out=out)  # invoices and credit notes
    job_defs = dg.Definitions(
        assets=list(defs.assets or []),
        jobs=list(defs.jobs or []),
        resources=resources,
        loggers={"progress": progress_logger(bar)},
    )
    result = job_defs.resolve_job_def("sales_history").execute_in_process(
        tags={RANGE_START: keys[0], RANGE_END: keys[-1]},
        raise_on_error=False,
        run_config={"loggers": {"progress": {}}},
        instance=dg.DagsterInstance.get(),
    )
    out.write("\n")
    return result
