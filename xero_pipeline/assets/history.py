"""Invoice and credit-note history: monthly partitions by document date, from the sales start.

A partition run reads its month with a `where` date window (paged at 1000, with line items),
gates headers and lines with their suites, and replaces that month's rows for every tenant in one
transaction. A backfill of many months is one run (`BackfillPolicy.single_run()`) that walks the
range month by month; each month commits on its own, so a relaunch after a crash redoes the range
idempotently: no duplicates, nothing lost.
"""

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
from sqlalchemy import select

from xero_pipeline.assets.loading import organisation_short_codes
from xero_pipeline.assets.read_ahead import read_ahead
from xero_pipeline.quality.gate import GateResult, check_results, check_specs, combine, validate
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.sandbox.generator import month_start
from xero_pipeline.warehouse.publish import Load, publish, read_watermark
from xero_pipeline.warehouse.schema import (
    key_columns,
    metadata,
    xero_accounts,
)
from xero_pipeline.xero.client import Tenant, XeroClient
from xero_pipeline.xero.filters import date_window
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES, DocumentKind, document_rows

GROUP = "xero_history"
RECONCILIATION_TAG = "xero/reconciliation"
GATE_ONLY = ("subtotal_gap", "total_gap", "account_status")
SYNC_MARGIN = timedelta(seconds=1)
MonthRead = tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, datetime]]


def monthly_partitions(start: date) -> dg.MonthlyPartitionsDefinition:
    return dg.MonthlyPartitionsDefinition(start_date=start.isoformat(), end_offset=1)


def tables(kind: DocumentKind) -> tuple[Any, Any]:
    prefix = "xero_invoice" if kind is INVOICES else "xero_credit_note"
    return metadata.tables[f"{prefix}s"], metadata.tables[f"{prefix}_lines"]


def months_in(window: dg.TimeWindow) -> list[tuple[date, date]]:
    months, current = [], window.start.date()
    while current < window.end.date():
        following = month_start(current, -1)
        months.append((current, following))
        current = following
    return months


# -- reading, checking and publishing documents ----------------------------------------------


def read_documents(
    client: XeroClient,
    kind: DocumentKind,
    tenant: Tenant,
    short_code: str | None,
    stop: threading.Event | None = None,
    **read: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A paged read's documents as header and line rows. `stop`: give up before the next page
    once set (a read ahead whose run is ending; what was read is then discarded)."""
    headers: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for page in client.pages(tenant.tenant_id, kind.path, kind.path, **read):
        if stop is not None and stop.is_set():
            break
        for doc in page:
            header, doc_lines = document_rows(kind, tenant.tenant_id, doc, short_code)
            headers.append(header)
            lines += doc_lines
    return headers, lines


def add_gate_columns(
    kind: DocumentKind,
    headers: list[dict[str, Any]],
    lines: list[dict[str, Any]],
    accounts: dict[tuple[str, str], str],
) -> None:
    """Facts the suites check that need more than one row: totals that reconcile, known codes."""
    by_document: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for line in lines:
        by_document.setdefault((line["tenant_id"], line[kind.id_column]), []).append(line)
        code = line["account_code"]
        line["account_status"] = accounts.get((line["tenant_id"], code)) if code else None
    for header in headers:
        doc_lines = by_document.get((header["tenant_id"], header[kind.id_column]), [])
        amounts = sum((line["line_amount"] or Decimal(0) for line in doc_lines), Decimal(0))
        tax = sum((line["tax_amount"] or Decimal(0) for line in doc_lines), Decimal(0))
        net = amounts - tax if header["line_amount_types"] == "Inclusive" else amounts
        sub_total, total_tax, total = header["sub_total"], header["total_tax"], header["total"]
        header["subtotal_gap"] = float(abs(net - sub_total)) if sub_total is not None else None
        header["total_gap"] = (
            float(abs(sub_total + total_tax - total))
            if None not in (sub_total, total_tax, total)
            else None
        )


def strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in GATE_ONLY} for row in rows]


def account_statuses(warehouse: WarehouseResource) -> dict[tuple[str, str], str]:
    with warehouse.engine.connect() as connection:
        rows = connection.execute(
            select(xero_accounts.c.tenant_id, xero_accounts.c.code, xero_accounts.c.status)
        )
        return {(tenant, code): status for tenant, code, status in rows if code}


class GateFailed(Exception):
    def __init__(self, header_gate: GateResult, line_gate: GateResult, where: str) -> None:
        problems = "; ".join(g.summary() for g in (header_gate, line_gate) if not g.passed)
        super().__init__(
            f"The quality gate stopped {where}: {problems}. That month's published "
            "rows are untouched; see the failed checks for the rows."
        )
        self.header_gate, self.line_gate = header_gate, line_gate


def gate(
    kind: DocumentKind, headers: list[dict[str, Any]], lines: list[dict[str, Any]], where: str
) -> tuple[GateResult, GateResult]:
    header_table, line_table = tables(kind)
    header_gate = validate(header_table.name, headers, key_columns(header_table))
    line_gate = validate(line_table.name, lines, key_columns(line_table))
    if not (header_gate.passed and line_gate.passed):
        raise GateFailed(header_gate, line_gate, where)
    return header_gate, line_gate


# -- the partitioned assets ------------------------------------------------------------------


def build_document_assets(
    kind: DocumentKind,
    partitions: dg.PartitionsDefinition,
) -> dg.AssetsDefinition:
    header_table, line_table = tables(kind)
    noun = "invoices (ACCREC sales and ACCPAY bills)" if kind is INVOICES else "credit notes"

    @dg.multi_asset(
        name=f"{header_table.name}_history",
        specs=[
            dg.AssetSpec(
                header_table.name,
                group_name=GROUP,
                kinds={"xero", "sql"},
                deps=["xero_accounts", "xero_organisation"],
                description=f"Every {noun[:-1] if kind is CREDIT_NOTES else 'invoice'} "
                "header, one row per document, by month of its date.",
            ),
            dg.AssetSpec(
                line_table.name,
                group_name=GROUP,
                kinds={"xero", "sql"},
                description=f"The line items of {noun}, numbered from 1 per document.",
            ),
        ],
        check_specs=(
            check_specs(header_table.name, header_table.name)
            + check_specs(line_table.name, line_table.name)
        ),
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def load_months(
        context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        client, calls_before = xero.client, xero.client.stats.total()
        tenants = xero.tenants()
        tenant_ids = [t.tenant_id for t in tenants]
        codes, accounts = organisation_short_codes(warehouse), account_statuses(warehouse)
        months = months_in(context.partition_time_window)
        header_gates, line_gates = [], []
        totals: Counter = Counter()
        statuses: Counter = Counter()
        line_statuses: Counter = Counter()
        first_seen: dict[str, datetime] = {}

        def read_month(month: tuple[date, date], stop: threading.Event) -> MonthRead:
            headers: list[dict[str, Any]] = []
            lines: list[dict[str, Any]] = []
            seen: dict[str, datetime] = {}  # Xero's clock after each tenant's read
            for tenant in tenants:
                if stop.is_set():
                    break
                h, ls = read_documents(
                    client,
                    kind,
                    tenant,
                    codes.get(tenant.tenant_id),
                    stop,
                    params={"where": date_window(*month)},
                )
                headers += h
                lines += ls
                if tenant.tenant_id in client.server_time:
                    seen[tenant.tenant_id] = client.server_time[tenant.tenant_id]
            return headers, lines, seen

        # The next month is read while this one is gated and published (read_ahead.py).
        for number, ((start, end), (headers, lines, seen)) in enumerate(
            read_ahead(months, read_month), start=1
        ):
            for tenant_id, stamp in seen.items():
                first_seen.setdefault(tenant_id, stamp)
            add_gate_columns(kind, headers, lines, accounts)
            try:
                header_gate, line_gate = gate(kind, headers, lines, f"{kind.path} {start:%Y-%m}")
            except GateFailed as failed:
                yield from check_results(
                    header_table.name,
                    combine(header_table.name, [*header_gates, failed.header_gate]),
                )
                yield from check_results(
                    line_table.name, combine(line_table.name, [*line_gates, failed.line_gate])
                )
                raise dg.Failure(description=str(failed)) from None
            header_gates.append(header_gate)
            line_gates.append(line_gate)
            month = {"start": start, "end": end}
            results = publish(
                warehouse.engine,
                Load(
                    header_table,
                    strip(headers),
                    tenant_ids,
                    mirror=True,
                    scope=(
                        f'"{header_table.name}".date >= :start AND '
                        f'"{header_table.name}".date < :end',
                        month,
                    ),
                ),
                Load(
                    line_table,
                    strip(lines),
                    tenant_ids,
                    mirror=True,
                    scope=(
                        f'"{line_table.name}".{kind.date_column} >= :start AND '
                        f'"{line_table.name}".{kind.date_column} < :end',
                        month,
                    ),
                ),
                watermarks=_initial_watermarks(warehouse, kind, first_seen),
            )
            for name, result in results.items():
                totals.update({f"{name} {k}": v for k, v in result.as_metadata().items()})
            statuses.update(h["status"] for h in headers)
            status_of = {(h["tenant_id"], h[kind.id_column]): h["status"] for h in headers}
            line_statuses.update(
                status_of.get((ln["tenant_id"], ln[kind.id_column])) for ln in lines
            )
            context.log.info(
                f"{kind.path} {start:%Y-%m} ({number}/{len(months)}): "
                f"{len(headers)} documents, {len(lines)} lines; "
                f"{results[header_table.name].as_metadata()}"
            )
        changed = sum(
            v for k, v in totals.items() if k.endswith((" inserted", " updated", " deleted"))
        )
        common: dict[str, Any] = {
            "months": f"{months[0][0]:%Y-%m} to {months[-1][0]:%Y-%m} ({len(months)})",
            "API calls": client.stats.total() - calls_before,
            "calls left today": dg.MetadataValue.json(
                {t.name: client.governors[t.tenant_id].day_remaining for t in tenants}
            ),
            "documents by status": dg.MetadataValue.json(dict(statuses)),
            "lines by status": dg.MetadataValue.json(dict(line_statuses)),
            "rows changed": changed,
        }
        if context.run.tags.get(RECONCILIATION_TAG):
            common["corrected rows"] = changed
        if xero.is_sandbox:
            common["source"] = "Xero sandbox (generated data, not a real organisation)"
        for table, gates in ((header_table, header_gates), (line_table, line_gates)):
            own = {
                k.removeprefix(f"{table.name} "): v
                for k, v in totals.items()
                if k.startswith(f"{table.name} ")
            }
            yield dg.MaterializeResult(
                asset_key=table.name,
                metadata={**common, **own},
                check_results=check_results(table.name, combine(table.name, gates)),
            )

    return load_months


def _initial_watermarks(
    warehouse: WarehouseResource, kind: DocumentKind, first_seen: dict[str, datetime]
) -> dict[tuple[str, str], datetime]:
    """Where incremental sync starts, set once: Xero's clock when history was first read (less a
    second). Every edit after that moves UpdatedDateUTC past it, so sync misses nothing."""
    return {
        (tenant_id, kind.resource): seen - SYNC_MARGIN
        for tenant_id, seen in first_seen.items()
        if read_watermark(warehouse.engine, tenant_id, kind.resource) is None
    }
