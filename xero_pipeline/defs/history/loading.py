"""Loading a range of months of one document kind: read each month from Xero (the next one read
ahead while this one is gated and published), gate it, and replace that month's rows for every
tenant in one transaction. Each month commits on its own, so a relaunch after a crash redoes the
range idempotently: no duplicates, nothing lost.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import dagster as dg

from xero_pipeline.defs.history.documents import (
    Rows,
    account_statuses,
    add_gate_columns,
    gate,
    read_documents,
    strip,
    tables,
)
from xero_pipeline.defs.history.partitions import months_in
from xero_pipeline.defs.history.read_ahead import read_ahead
from xero_pipeline.quality.checks import check_results, stop
from xero_pipeline.quality.gate import GateFailed, GateResult, combine
from xero_pipeline.quality.publish import api_metadata
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.warehouse.organisations import short_codes
from xero_pipeline.warehouse.publish import Load, PublishResult, publish, read_watermark
from xero_pipeline.xero.filters import date_window
from xero_pipeline.xero.rows import DocumentKind

RECONCILIATION_TAG = "xero/reconciliation"
SYNC_MARGIN = timedelta(seconds=1)
MonthRead = tuple[Rows, Rows, dict[str, datetime]]


def month_scope(table_name: str, date_column: str, start: date, end: date) -> tuple[str, dict]:
    """The rows of one month of document dates, as a publish scope."""
    return (
        f'"{table_name}".{date_column} >= :start AND "{table_name}".{date_column} < :end',
        {"start": start, "end": end},
    )


class Tally:
    """What a run loaded, month after month, for its materialization metadata."""

    def __init__(self) -> None:
        self.totals: Counter = Counter()
        self.statuses: Counter = Counter()
        self.line_statuses: Counter = Counter()

    def add(
        self, kind: DocumentKind, headers: Rows, lines: Rows, results: dict[str, PublishResult]
    ) -> None:
        for name, result in results.items():
            self.totals.update({f"{name} {k}": v for k, v in result.as_metadata().items()})
        self.statuses.update(h["status"] for h in headers)
        status_of = {(h["tenant_id"], h[kind.id_column]): h["status"] for h in headers}
        self.line_statuses.update(
            status_of.get((line["tenant_id"], line[kind.id_column])) for line in lines
        )

    @property
    def changed(self) -> int:
        return sum(
            v for k, v in self.totals.items() if k.endswith((" inserted", " updated", " deleted"))
        )

    def of(self, table_name: str) -> dict[str, int]:
        return {
            k.removeprefix(f"{table_name} "): v
            for k, v in self.totals.items()
            if k.startswith(f"{table_name} ")
        }


def load_months(
    context: dg.AssetExecutionContext,
    kind: DocumentKind,
    xero: XeroResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Load the run's months of `kind`; one materialization per table, with the run's checks."""
    header_table, line_table = tables(kind)
    client, calls_before = xero.client, xero.client.stats.total()
    tenants = xero.tenants()
    tenant_ids = [t.tenant_id for t in tenants]
    codes, accounts = short_codes(warehouse.engine), account_statuses(warehouse.engine)
    months = months_in(context.partition_time_window)
    passed: dict[str, list[GateResult]] = {header_table.name: [], line_table.name: []}
    tally = Tally()
    first_seen: dict[str, datetime] = {}

    def read_month(month: tuple[date, date], stop_reading: threading.Event) -> MonthRead:
        headers: Rows = []
        lines: Rows = []
        seen: dict[str, datetime] = {}  # Xero's clock after each tenant's read
        for tenant in tenants:
            if stop_reading.is_set():
                break
            h, ls = read_documents(
                client,
                kind,
                tenant,
                codes.get(tenant.tenant_id),
                stop_reading,
                params={"where": date_window(*month)},
            )
            headers += h
            lines += ls
            if tenant.tenant_id in client.server_time:
                seen[tenant.tenant_id] = client.server_time[tenant.tenant_id]
        return headers, lines, seen

    for number, ((start, end), (headers, lines, seen)) in enumerate(
        read_ahead(months, read_month), start=1
    ):
        for tenant_id, stamp in seen.items():
            first_seen.setdefault(tenant_id, stamp)
        add_gate_columns(kind, headers, lines, accounts)
        try:
            gates = gate(
                kind, headers, lines, f"{kind.path} {start:%Y-%m}", max(seen.values(), default=None)
            )
        except GateFailed as failed:
            yield from stop(failed, earlier=passed)
        for result in gates:
            passed[result.suite].append(result)
        results = publish(
            warehouse.engine,
            Load(
                header_table,
                strip(headers),
                tenant_ids,
                mirror=True,
                scope=month_scope(header_table.name, "date", start, end),
            ),
            Load(
                line_table,
                strip(lines),
                tenant_ids,
                mirror=True,
                scope=month_scope(line_table.name, kind.date_column, start, end),
            ),
            watermarks=initial_watermarks(warehouse, kind, first_seen),
        )
        tally.add(kind, headers, lines, results)
        context.log.info(
            f"{kind.path} {start:%Y-%m} ({number}/{len(months)}): "
            f"{len(headers)} documents, {len(lines)} lines; "
            f"{results[header_table.name].as_metadata()}"
        )
    common: dict[str, Any] = {
        "months": f"{months[0][0]:%Y-%m} to {months[-1][0]:%Y-%m} ({len(months)})",
        **api_metadata(xero, tenants, calls_before),
        "documents by status": dg.MetadataValue.json(dict(tally.statuses)),
        "lines by status": dg.MetadataValue.json(dict(tally.line_statuses)),
        "rows changed": tally.changed,
    }
    if context.run.tags.get(RECONCILIATION_TAG):
        common["corrected rows"] = tally.changed
    for table in (header_table, line_table):
        yield dg.MaterializeResult(
            asset_key=table.name,
            metadata={**common, **tally.of(table.name)},
            check_results=check_results(table.name, combine(table.name, passed[table.name])),
        )


def initial_watermarks(
    warehouse: WarehouseResource, kind: DocumentKind, first_seen: dict[str, datetime]
) -> dict[tuple[str, str], datetime]:
    """Where incremental sync starts, set once: Xero's clock when history was first read (less a
    second). Every edit after that moves UpdatedDateUTC past it, so sync misses nothing."""
    return {
        (tenant_id, kind.resource): seen - SYNC_MARGIN
        for tenant_id, seen in first_seen.items()
        if read_watermark(warehouse.engine, tenant_id, kind.resource) is None
    }
