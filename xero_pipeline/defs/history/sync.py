"""The incremental sync (job `sales_sync`, every 15 minutes): invoices and credit notes modified
since the committed watermark (If-Modified-Since, paged, with lines). Changed documents are
upserted, an edited document's lines replace its old ones, a voided or deleted document keeps its
row with its new status, and the watermark moves in the same transaction. Documents dated before
the sales start are ignored. The months it touched are reported as materializations of the
history assets, which is what the sales tables' automation follows.
"""

from datetime import date
from typing import Any

import dagster as dg

from xero_pipeline.configuration import sales_start
from xero_pipeline.defs.history.documents import (
    account_statuses,
    add_gate_columns,
    gate,
    read_documents,
    strip,
    tables,
)
from xero_pipeline.quality.gate import GateFailed
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.warehouse.organisations import short_codes
from xero_pipeline.warehouse.publish import Load, publish, read_watermark
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES, DocumentKind


def sync_kind(
    context: dg.OpExecutionContext,
    xero: XeroResource,
    warehouse: WarehouseResource,
    kind: DocumentKind,
    start: date,
) -> dict[str, Any]:
    header_table, line_table = tables(kind)
    client = xero.client
    codes = short_codes(warehouse.engine)
    accounts = account_statuses(warehouse.engine)
    summary: dict[str, Any] = {"documents": 0, "lines": 0}
    for tenant in xero.tenants():
        watermark = read_watermark(warehouse.engine, tenant.tenant_id, kind.resource)
        if watermark is None:
            context.log.info(f"{tenant.name}: no {kind.path} history loaded yet; backfill first")
            continue
        headers, lines = read_documents(
            client, kind, tenant, codes.get(tenant.tenant_id), modified_since=watermark
        )
        fresh = {
            h[kind.id_column]
            for h in headers
            if (h["updated_date_utc"] is None or h["updated_date_utc"] > watermark)
            and h["date"] is not None
            and h["date"] >= start
        }
        headers = [h for h in headers if h[kind.id_column] in fresh]
        lines = [line for line in lines if line[kind.id_column] in fresh]
        if not headers:
            continue
        add_gate_columns(kind, headers, lines, accounts)
        gate(
            kind,
            headers,
            lines,
            f"{kind.path} sync for {tenant.name}",
            client.server_time.get(tenant.tenant_id),
        )
        stamps = [h["updated_date_utc"] for h in headers if h["updated_date_utc"] is not None]
        results = publish(
            warehouse.engine,
            Load(header_table, strip(headers), [tenant.tenant_id], mirror=False),
            Load(
                line_table,
                strip(lines),
                [tenant.tenant_id],
                mirror=True,
                scope=(
                    f'"{line_table.name}".{kind.id_column} IN :documents',
                    {"documents": sorted(fresh)},
                ),
            ),
            watermarks={(tenant.tenant_id, kind.resource): max(stamps, default=watermark)},
        )
        summary["documents"] += len(headers)
        summary["lines"] += len(lines)
        months = sorted({h["date"].replace(day=1) for h in headers})
        for table in (header_table, line_table):
            for month in months:
                yield_event = dg.AssetMaterialization(
                    asset_key=table.name,
                    partition=month.isoformat(),
                    metadata={
                        "sync": "incremental",
                        "tenant": tenant.name,
                        **results[table.name].as_metadata(),
                    },
                )
                context.log_event(yield_event)
        context.log.info(
            f"{tenant.name}: {len(headers)} changed {kind.path}, "
            f"{len(lines)} lines; months {[f'{m:%Y-%m}' for m in months]}"
        )
    return summary


@dg.op(description="Upsert invoices and credit notes changed since the committed watermark.")
def sync_invoices_and_credit_notes(
    context: dg.OpExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> None:
    calls, start = xero.client.stats.total(), sales_start()
    try:
        done = {
            kind.path: sync_kind(context, xero, warehouse, kind, start)
            for kind in (INVOICES, CREDIT_NOTES)
        }
    except GateFailed as failed:
        raise dg.Failure(description=str(failed)) from None
    context.log.info(f"sync done: {done}; {xero.client.stats.total() - calls} API calls")


@dg.job(description="Incremental sync of invoices and credit notes.")
def sales_sync() -> None:
    sync_invoices_and_credit_notes()
