"""Loading a range of months of one document kind: read each organisation's documents of the
range in one sweep (`sweep.py`), taking each month as the sweep passes it (the next one read
ahead while this one is gated and published), gate it, and replace that month's rows for every
tenant in one transaction. Each month commits on its own, so a relaunch after a crash redoes the
range idempotently: no duplicates, nothing lost.

Each organisation is its own unit of work (`defs/connections/work.py`): one whose read fails
(Xero offline, a 403, its day limit) or whose month fails its gate is recorded as failing and
left out of the rest of the run; the other organisations' months publish as usual.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from xero_pipeline.configuration import sales_start
from xero_pipeline.defs.connections.work import OrganisationWork
from xero_pipeline.defs.history.documents import (
    Read,
    Rows,
    account_statuses,
    add_gate_columns,
    gate,
    months_left,
    published_dates,
    published_in_month,
    read_by_ids,
    strip,
    tables,
    unknown_code_tenants,
)
from xero_pipeline.defs.history.partitions import months_in, sales_months
from xero_pipeline.defs.history.progress import (
    FIRST_READ,
    committed_since,
    history_complete,
    month_rows,
)
from xero_pipeline.defs.history.read_ahead import read_ahead
from xero_pipeline.defs.history.sweep import Sweep
from xero_pipeline.defs.reference.accounts import refresh_accounts
from xero_pipeline.months import month_start
from xero_pipeline.quality.checks import check_results, stop
from xero_pipeline.quality.gate import GateFailed, GateResult, combine
from xero_pipeline.quality.publish import api_metadata
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.warehouse.organisations import short_codes
from xero_pipeline.warehouse.publish import Load, Newest, PublishResult, publish, read_watermark
from xero_pipeline.warehouse.schema import history_months
from xero_pipeline.xero.client import Tenant
from xero_pipeline.xero.errors import XeroError
from xero_pipeline.xero.rows import DocumentKind

RECONCILIATION_TAG = "xero/reconciliation"
SYNC_MARGIN = timedelta(seconds=1)


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
    work = OrganisationWork.start(context, xero, warehouse)
    if context.run.tags.get(RECONCILIATION_TAG):
        # The reconciliation re-reads what the sync keeps: an organisation whose history is
        # still loading belongs to its own history run, which it must not write beside.
        with warehouse.engine.connect() as connection:
            for tenant in list(work.tenants):
                if not history_complete(connection, tenant.tenant_id, sales_start()):
                    work.leave_alone(tenant, "history still loading; not reconciled", not_due=True)
    tenants = work.tenants
    codes = short_codes(warehouse.engine)
    months = months_in(context.partition_time_window)
    done = resumed_after(context, warehouse, kind, [t.tenant_id for t in tenants], months)
    if done:
        context.log.info(
            f"{kind.path}: resuming at {months[done][0]:%Y-%m}; an earlier attempt of this run "
            f"committed the {done} month(s) before it"
        )
    passed: dict[str, list[GateResult]] = {header_table.name: [], line_table.name: []}
    tally = Tally()

    sweeps: dict[str, Sweep] = {}

    def read_month(
        month: tuple[date, date], stop_reading: threading.Event
    ) -> dict[str, Read | XeroError]:
        """Each organisation still in the run, its month taken from its sweep of the run's
        range; a failed read is kept as its error (it is recorded on the main thread, in
        order)."""
        reads: dict[str, Read | XeroError] = {}
        for tenant in work.active:
            if stop_reading.is_set():
                break
            sweep = sweeps.get(tenant.tenant_id)
            if sweep is None:
                sweep = sweeps[tenant.tenant_id] = Sweep(
                    client,
                    kind,
                    tenant,
                    codes.get(tenant.tenant_id),
                    months[done][0],
                    months[-1][1],
                )
            try:
                reads[tenant.tenant_id] = sweep.month(*month, stop=stop_reading)
            except XeroError as failed:
                reads[tenant.tenant_id] = failed
        return reads

    for number, ((start, end), reads) in enumerate(
        read_ahead(months[done:], read_month), start=done + 1
    ):
        for tenant in work.active:
            outcome = reads.get(tenant.tenant_id)
            if isinstance(outcome, XeroError):
                work.fail(tenant, outcome)
        if not work.active:
            break
        month = MonthLoad(context, kind, xero, warehouse, work.active, codes, start, end)
        good = {
            t.tenant_id: r for t in work.active if isinstance(r := reads.get(t.tenant_id), Read)
        }
        try:
            gates, results = month.load(good, work)
        except GateFailed as failed:
            yield from stop(failed, earlier=passed)
        for result in gates:
            passed[result.suite].append(result)
        tally.add(kind, month.headers, month.lines, results)
        context.log.info(
            f"{kind.path} {start:%Y-%m} ({number}/{len(months)}): "
            f"{len(month.headers)} documents, {len(month.lines)} lines; "
            f"{results[header_table.name].as_metadata()}"
        )
    common: dict[str, Any] = {
        "months": f"{months[0][0]:%Y-%m} to {months[-1][0]:%Y-%m} ({len(months)})"
        + (f", resumed after {done}" if done else ""),
        **api_metadata(xero, tenants, calls_before),
        **work.finish(),
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
            check_results=[
                *check_results(table.name, combine(table.name, passed[table.name])),
                work.check_result(table.name),
            ],
        )


def resumed_after(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    kind: DocumentKind,
    tenant_ids: list[str],
    months: list[tuple[date, date]],
) -> int:
    """On a re-execution of a run that stopped part-way (killed, out of calls for the day; the
    UI's "Re-execute"), how many of the range's leading months the earlier attempts committed for
    every organisation in this one: its sweep starts after them. A fresh run reads them all."""
    root = context.run.root_run_id
    record = context.instance.get_run_record_by_id(root) if root else None
    if record is None:
        return 0
    started = record.start_time or record.create_timestamp.timestamp()
    with warehouse.engine.connect() as connection:
        done = committed_since(
            connection, kind.resource, tenant_ids, months, datetime.fromtimestamp(started, UTC)
        )
    return min(done, len(months) - 1)  # the last month is always read (and the range's end)


class MonthLoad:
    """One month of one kind for every tenant: confirm what seems gone, keep the chart of
    accounts current, gate, publish in one transaction, and say which other months changed."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        kind: DocumentKind,
        xero: XeroResource,
        warehouse: WarehouseResource,
        tenants: list[Tenant],
        codes: dict[str, str],
        start: date,
        end: date,
    ) -> None:
        self.context, self.kind, self.client, self.engine = (
            context,
            kind,
            xero.client,
            warehouse.engine,
        )
        self.tenants, self.codes, self.start, self.end = tenants, codes, start, end
        self.headers: Rows = []
        self.lines: Rows = []

    def load(
        self, reads: dict[str, Read], work: OrganisationWork | None = None
    ) -> tuple[tuple[GateResult, ...], dict]:
        kind, engine = self.kind, self.engine
        for found in reads.values():
            self.headers += found.headers
            self.lines += found.lines
        starts = [r.started for r in reads.values() if r.started is not None]
        read_started = min(starts) - SYNC_MARGIN if starts else None
        confirmed = self.confirm_gone(read_started)
        before = published_dates(
            engine, kind, [(h["tenant_id"], h[kind.id_column]) for h in self.headers]
        )
        touched = months_left(before, kind, self.headers, within=(self.start, self.end))
        touched |= {month_start(h["date"]) for h in confirmed if h["date"]} - {self.start}
        gates = self.gate(work)
        header_table, line_table = tables(kind)
        tenant_ids = [t.tenant_id for t in self.tenants]
        results = publish(
            engine,
            Load(
                header_table,
                strip(self.headers),
                tenant_ids,
                mirror=True,
                scope=month_scope(header_table.name, "date", self.start, self.end),
                newest=Newest(read_started=read_started),
            ),
            Load(
                line_table,
                strip(self.lines),
                tenant_ids,
                mirror=True,
                scope=month_scope(line_table.name, kind.date_column, self.start, self.end),
                newest=Newest(
                    parent=header_table.name, parent_id=kind.id_column, read_started=read_started
                ),
            ),
            Load(
                history_months,
                month_rows(kind.resource, self.start, self.headers, tenant_ids),
                tenant_ids,
                mirror=False,
            ),
            watermarks=first_watermarks(engine, kind, reads),
        )
        report_touched(self.context, kind, touched, "documents moved from or to this month")
        return gates, results

    def confirm_gone(self, read_started: datetime | None) -> Rows:
        """Documents the warehouse holds in this month that the read did not bring are asked for
        by id before anything is deleted: a read can miss a record that moved between its pages.
        Those Xero returns are published as they are now (dated before the sales start: left
        out, so the month's mirror removes them); only those it does not return are gone.
        Returns the headers found elsewhere."""
        kind = self.kind
        read = {(h["tenant_id"], h[kind.id_column]) for h in self.headers}
        tenant_ids = [t.tenant_id for t in self.tenants]
        missing: dict[str, list[str]] = {}
        for (tenant_id, doc_id), updated in published_in_month(
            self.engine, kind, tenant_ids, self.start, self.end
        ).items():
            changed_since_read = (
                updated is not None and read_started is not None and updated > read_started
            )
            if (tenant_id, doc_id) not in read and not changed_since_read:
                missing.setdefault(tenant_id, []).append(doc_id)
        moved: Rows = []
        start = sales_start()
        for tenant in self.tenants:
            ids = missing.get(tenant.tenant_id)
            if not ids:
                continue
            found = read_by_ids(self.client, kind, tenant, self.codes.get(tenant.tenant_id), ids)
            kept = {
                h[kind.id_column] for h in found.headers if h["date"] is None or h["date"] >= start
            }
            self.headers += [h for h in found.headers if h[kind.id_column] in kept]
            self.lines += [ln for ln in found.lines if ln[kind.id_column] in kept]
            moved += [h for h in found.headers if h[kind.id_column] in kept]
            self.context.log.info(
                f"{tenant.name}: {len(ids)} {kind.path} no longer read in {self.start:%Y-%m} "
                f"asked for by id; {len(kept)} found elsewhere, {len(ids) - len(kept)} gone"
            )
        return moved

    def gate(self, work: OrganisationWork | None = None) -> tuple[GateResult, ...]:
        """The month's gates, after bringing the chart of accounts up to date for any tenant
        whose lines use a code it does not know yet. With `work`, a tenant whose rows fail is
        recorded as failing and its rows left out, unless every tenant fails."""
        kind, engine = self.kind, self.engine
        add_gate_columns(kind, self.headers, self.lines, account_statuses(engine))
        unknown = unknown_code_tenants(self.lines)
        if unknown:
            for tenant in self.tenants:
                if tenant.tenant_id in unknown:
                    refresh_accounts(
                        self.context, self.client, engine, tenant, f"{kind.path} {self.start:%Y-%m}"
                    )
            add_gate_columns(kind, self.headers, self.lines, account_statuses(engine))
        # "now" for the suites is Xero's clock, as it last answered for these tenants.
        clocks = [self.client.server_time.get(t.tenant_id) for t in self.tenants]
        now = max((c for c in clocks if c is not None), default=None)
        where = f"{kind.path} {self.start:%Y-%m}"
        try:
            return gate(kind, self.headers, self.lines, where, now)
        except GateFailed:
            if work is None or len(self.tenants) < 2:
                raise
        return self.gate_each(work, where, now)

    def gate_each(
        self, work: OrganisationWork, where: str, now: datetime | None
    ) -> tuple[GateResult, ...]:
        """Gate each tenant's rows on their own; leave out (and record) those that fail."""
        kind, failures = self.kind, []
        for tenant in list(self.tenants):
            headers = [h for h in self.headers if h["tenant_id"] == tenant.tenant_id]
            lines = [ln for ln in self.lines if ln["tenant_id"] == tenant.tenant_id]
            try:
                gate(kind, headers, lines, f"{where} of {tenant.name}", now)
            except GateFailed as failed:
                failures.append(failed)
                work.fail(tenant, failed)
        kept = work.active_ids
        if not any(t.tenant_id in kept for t in self.tenants):
            raise GateFailed(where, [g for f in failures for g in f.gates])
        self.tenants = [t for t in self.tenants if t.tenant_id in kept]
        self.headers = [h for h in self.headers if h["tenant_id"] in kept]
        self.lines = [ln for ln in self.lines if ln["tenant_id"] in kept]
        return gate(kind, self.headers, self.lines, where, now)


def report_touched(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    kind: DocumentKind,
    months: set[date],
    why: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Record a materialization of the kind's tables for each month whose documents changed,
    so that what follows them (the sales fact and rollup) rebuilds those months too."""
    for table in tables(kind):
        for month in sorted(months):
            key = month.isoformat()
            if not sales_months.has_partition_key(key):
                continue  # outside the sales history's months: nothing is built from it
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=table.name,
                    partition=key,
                    metadata={"why": why, **(extra or {})},
                )
            )


def first_watermarks(
    engine: Any, kind: DocumentKind, reads: dict[str, Read]
) -> dict[tuple[str, str], datetime]:
    """Where incremental sync starts, set once: Xero's clock when history was first read (less a
    second); every edit after that moves UpdatedDateUTC past it, so the sync misses nothing. The
    same moment marks when history was first read (`progress.FIRST_READ`)."""
    marks = {}
    for tenant_id, found in reads.items():
        if found.started is None:
            continue
        for resource in (kind.resource, FIRST_READ):
            if read_watermark(engine, tenant_id, resource) is None:
                marks[(tenant_id, resource)] = found.started - SYNC_MARGIN
    return marks
