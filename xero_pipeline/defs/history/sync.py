"""The incremental sync (job `sales_sync`, every 15 minutes): invoices and credit notes modified
since the committed watermark, read by keyset in UpdatedDateUTC order from a few minutes before
it (`xero.client.READ_OVERLAP`). Changed documents are upserted — an
edited document's lines replace its old ones, a voided or deleted one keeps its row with its new
status, an older copy never replaces a newer one — and the watermark moves in the same
transaction. A document re-dated before the sales start leaves the warehouse. The months it
touched, and those re-dated documents left, are reported as materializations of the history
assets, which is what the sales tables' automation follows. It reads an organisation only once
its history is complete (before that, its history load owns its documents), so the sales
invoices it sees being raised go to the notifications' outbox: loading history floods nobody.

Each organisation is its own unit of work (`defs/connections/work.py`): one failing (its gate,
Xero refusing it) is recorded and left out while the others finish; the run then fails, naming
every one that did not. Organisations backing off after a failure are left alone meanwhile.
"""

from collections import Counter
from datetime import date, timedelta
from typing import Any

import dagster as dg
from sqlalchemy import Connection, delete

from xero_pipeline.configuration import sales_start
from xero_pipeline.defs.connections.assets import record_ledger
from xero_pipeline.defs.connections.work import OrganisationWork
from xero_pipeline.defs.history.documents import (
    Rows,
    account_statuses,
    add_gate_columns,
    gate,
    months_left,
    published_dates,
    read,
    strip,
    tables,
    unknown_code_tenants,
)
from xero_pipeline.defs.history.loading import report_touched
from xero_pipeline.defs.history.progress import history_complete
from xero_pipeline.defs.notifications.outbox import newly_raised, record_raised
from xero_pipeline.defs.notifications.sinks import lookback_days
from xero_pipeline.defs.reference.accounts import refresh_accounts
from xero_pipeline.months import month_start
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.warehouse.organisations import short_codes
from xero_pipeline.warehouse.publish import Load, Newest, publish, read_watermark
from xero_pipeline.warehouse.schema import invoices_raised
from xero_pipeline.xero.client import READ_OVERLAP, Tenant
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES, DocumentKind


def sync_tenant(
    context: dg.OpExecutionContext,
    xero: XeroResource,
    warehouse: WarehouseResource,
    kind: DocumentKind,
    tenant: Tenant,
    start: date,
) -> Counter:
    """Sync one kind of one organisation; what it did, counted."""
    engine, client = warehouse.engine, xero.client
    header_table, line_table = tables(kind)
    watermark = read_watermark(engine, tenant.tenant_id, kind.resource)
    with engine.connect() as connection:
        complete = history_complete(connection, tenant.tenant_id, start)
    if watermark is None or not complete:
        # Its history is loading (a backfill, or the onboarding sensor's run for it): the sync
        # takes over once it is complete, and never writes beside that run meanwhile.
        context.log.info(f"{tenant.name}: {kind.path} history not complete yet; not synced")
        return Counter()
    code = short_codes(engine).get(tenant.tenant_id)
    found = read(client, kind, tenant, code, since=watermark - READ_OVERLAP)
    if not found.headers:
        return Counter()
    # What the warehouse held of these documents, and their dates there.
    before = published_dates(
        engine, kind, [(h["tenant_id"], h[kind.id_column]) for h in found.headers]
    )
    leaving = {h[kind.id_column] for h in found.headers if h["date"] and h["date"] < start}
    headers = [h for h in found.headers if h[kind.id_column] not in leaving]
    lines = [ln for ln in found.lines if ln[kind.id_column] not in leaving]
    gone = {key: day for key, day in before.items() if key[1] in leaving}
    # New to the warehouse or changed since the last sync (the overlap re-read changes nothing).
    fresh = [
        h
        for h in headers
        if (tenant.tenant_id, h[kind.id_column]) not in before
        or h["updated_date_utc"] is None
        or h["updated_date_utc"] > watermark
    ]
    touched = months_left(before, kind, headers) | {month_start(d) for d in gone.values() if d}
    add_gate_columns(kind, headers, lines, account_statuses(engine))
    if unknown_code_tenants(lines):
        refresh_accounts(context, client, engine, tenant, f"{kind.path} sync")
        add_gate_columns(kind, headers, lines, account_statuses(engine))
    now = client.server_time.get(tenant.tenant_id)  # Xero's clock, for the suites' "now"
    for result in gate(kind, headers, lines, f"{kind.path} sync for {tenant.name}", now):
        for outcome in result.warnings:
            context.log.warning(
                f"{tenant.name}: {kind.path} {outcome.expectation.name}: "
                f"{outcome.unexpected_count} row(s), e.g. {list(outcome.sample[:3])}"
            )
    raised = announcements(engine, kind, headers, found.started)
    stamps = [h["updated_date_utc"] for h in found.headers if h["updated_date_utc"] is not None]

    def bookkeeping(connection: Connection) -> None:
        """The documents re-dated before the start leave; raised invoices enter the outbox."""
        ids = sorted(i for _, i in gone)
        for table in (line_table, header_table) if ids else ():
            connection.execute(
                delete(table).where(
                    table.c.tenant_id == tenant.tenant_id, table.c[kind.id_column].in_(ids)
                )
            )
        if raised:
            record_raised(connection, raised, found.started or max(stamps))

    results = publish(
        engine,
        Load(header_table, strip(headers), [tenant.tenant_id], mirror=False, newest=Newest()),
        Load(
            line_table,
            strip(lines),
            [tenant.tenant_id],
            mirror=True,
            scope=("1 = 0", {}),  # only the lines of the documents synced: see Newest
            newest=Newest(parent=header_table.name, parent_id=kind.id_column),
            then=bookkeeping,
            also_writes=(invoices_raised.name,),
        ),
        watermarks={(tenant.tenant_id, kind.resource): max(stamps, default=watermark)},
    )
    synced = {month_start(h["date"]) for h in fresh if h["date"] is not None}
    for table in (header_table, line_table):
        for month in sorted(synced):
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=table.name,
                    partition=month.isoformat(),
                    metadata={
                        "sync": "incremental",
                        "tenant": tenant.name,
                        **results[table.name].as_metadata(),
                    },
                )
            )
    report_touched(
        context,
        kind,
        touched - synced,
        "documents re-dated out of this month",
        {"tenant": tenant.name},
    )
    context.log.info(
        f"{tenant.name}: {len(fresh)} changed {kind.path} ({len(headers)} read); months "
        f"{[f'{m:%Y-%m}' for m in sorted(synced)]}"
        + (f"; {len(gone)} re-dated before the sales start removed" if gone else "")
        + (f"; {len(raised)} raised" if raised else "")
    )
    return Counter(documents=len(fresh), lines=len(lines), removed=len(gone), raised=len(raised))


def announcements(engine: Any, kind: DocumentKind, headers: Rows, read_at: Any) -> Rows:
    """The sales invoices this sync raises (`outbox.py`); the lookback counts back from Xero's
    today. (The sync reads only organisations whose history is complete: loading history
    announces nothing.)"""
    if kind is not INVOICES or read_at is None:
        return []
    return newly_raised(engine, headers, read_at.date() - timedelta(days=lookback_days()))


@dg.op(
    description="Upsert invoices and credit notes changed since the committed watermark.",
)
def sync_invoices_and_credit_notes(
    context: dg.OpExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> None:
    calls, start = xero.client.stats.total(), sales_start()
    work = OrganisationWork.start(context, xero, warehouse)
    done: Counter = Counter()
    for kind in (INVOICES, CREDIT_NOTES):
        # Each kind on its own too: an organisation whose invoices failed still syncs its
        # credit notes (both use the same calls; only the failed kind waits).
        for tenant in work.tenants:
            with work.each(tenant):
                done += sync_tenant(context, xero, warehouse, kind, tenant, start)
    context.log.info(f"sync done: {dict(done)}; {xero.client.stats.total() - calls} API calls")
    organisations = work.finish(required=False)
    record_ledger(context, warehouse.engine)
    if work.failed:
        problems = [
            f"{t.name} ({t.tenant_id}): {work.failed[t.tenant_id]}"
            for t in work.tenants
            if t.tenant_id in work.failed
        ]
        raise dg.Failure(
            description="The sync did not finish for: "
            + " | ".join(problems)
            + ". Every other organisation was synced; a failing one is tried again after a "
            "backoff (see xero_connections).",
            metadata={"failed": dg.MetadataValue.json(problems), **organisations, **dict(done)},
        )
    context.add_output_metadata({**organisations, **dict(done)})


@dg.job(description="Incremental sync of invoices and credit notes.")
def sales_sync() -> None:
    sync_invoices_and_credit_notes()
