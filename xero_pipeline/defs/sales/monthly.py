"""Rebuilding a partition run's months of a monthly sales table: one gated SQL rebuild per month
(`quality/rebuild.py`), so no month is published unless its gate passed and no run holds more than
one month of rows in memory."""

from __future__ import annotations

from collections.abc import Generator

import dagster as dg
from sqlalchemy import Engine, Table

from xero_pipeline.defs.history.partitions import months_in
from xero_pipeline.defs.sales.queries import sql
from xero_pipeline.defs.sales.report import SalesTally
from xero_pipeline.quality.checks import stop
from xero_pipeline.quality.gate import GateFailed, GateResult
from xero_pipeline.quality.rebuild import gated_rebuild


def rebuild_months(
    context: dg.AssetExecutionContext,
    engine: Engine,
    table: Table,
    *,
    id_columns: tuple[str, ...],
    per_line: bool,
    document_key: tuple[str, ...] = (),
) -> Generator[dg.AssetCheckResult, None, tuple[list[tuple], list[GateResult], SalesTally]]:
    """Rebuild each month of the run; return (months, their gates, the tally). A month whose gate
    fails stops the run there, reporting the checks of every month so far."""
    months = months_in(context.partition_time_window)
    gates: list[GateResult] = []
    tally = SalesTally()
    for number, (start, end) in enumerate(months, start=1):
        try:
            built = gated_rebuild(
                engine,
                table,
                select_sql=sql(table.name),
                gate_sql=sql(f"{table.name}_gate"),
                summary_sql=sql(f"{table.name}_summary"),
                scope="month = :month",
                params={"start": start, "end": end, "month": start},
                id_columns=id_columns,
                where=f"{table.name} {start:%Y-%m}",
                document_key=document_key,
            )
        except GateFailed as failed:
            yield from stop(failed, earlier={table.name: gates})
        gates.append(built.gate)
        tally.add(built, per_line=per_line)
        context.log.info(
            f"{table.name} {start:%Y-%m} ({number}/{len(months)}): {built.staged} rows; "
            f"replaced {built.deleted} with {built.inserted}"
        )
    return months, gates, tally
