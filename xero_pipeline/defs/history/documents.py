"""Invoices and credit notes as rows: read them from Xero, add what their gates check, gate them.

Shared by the monthly history assets, the incremental sync and the reconciliation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Table, select

from xero_pipeline.months import month_start
from xero_pipeline.quality.gate import GateResult, passed_or_raise, validate
from xero_pipeline.warehouse.schema import key_columns, metadata, xero_accounts
from xero_pipeline.warehouse.values import as_utc
from xero_pipeline.xero.client import Tenant, XeroClient, latest_copies
from xero_pipeline.xero.rows import INVOICES, DocumentKind, document_rows

GATE_ONLY = ("subtotal_gap", "total_gap", "account_status")
UNKNOWN = "UNKNOWN"  # account_status of a line whose code is not in the published chart
IN_LIST_SIZE = 5000
Rows = list[dict[str, Any]]


def tables(kind: DocumentKind) -> tuple[Table, Table]:
    """The kind's header and line tables."""
    prefix = "xero_invoice" if kind is INVOICES else "xero_credit_note"
    return metadata.tables[f"{prefix}s"], metadata.tables[f"{prefix}_lines"]


@dataclass
class Read:
    """What one read brought: header and line rows, and Xero's clock when its first page was
    answered (changes after that may or may not be in it)."""

    headers: Rows = field(default_factory=list)
    lines: Rows = field(default_factory=list)
    started: datetime | None = None

    def add(self, kind: DocumentKind, tenant_id: str, docs: list[dict], short_code: str | None):
        for doc in docs:
            header, doc_lines = document_rows(kind, tenant_id, doc, short_code)
            self.headers.append(header)
            self.lines += doc_lines


def read(
    client: XeroClient,
    kind: DocumentKind,
    tenant: Tenant,
    short_code: str | None,
    *,
    since: datetime | None = None,
    params: dict[str, Any] | None = None,
    stop: threading.Event | None = None,
) -> Read:
    """The documents `params` select (a month's `where`, say), modified at or after `since`
    when given, read by keyset in UpdatedDateUTC order (`XeroClient.changes`): a document that
    changes or leaves the selection while it is read cannot push another past the reader, as
    it can with offset pages. Each document once: its last copy (`latest_copies`). `stop`:
    give up before the next page once set (a read ahead whose run is ending; what was read is
    then discarded)."""
    started = None
    pages = []
    for page in client.changes(tenant.tenant_id, kind.path, kind.path, since, params=params):
        if stop is not None and stop.is_set():
            break
        if started is None:
            started = client.server_time.get(tenant.tenant_id)
        pages.append(page)
    found = Read(started=started)
    found.add(kind, tenant.tenant_id, latest_copies(pages, kind.path), short_code)
    return found


def read_documents(
    client: XeroClient,
    kind: DocumentKind,
    tenant: Tenant,
    short_code: str | None,
    stop: threading.Event | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[Rows, Rows]:
    """`read`'s header and line rows (the benchmarks' reader)."""
    found = read(client, kind, tenant, short_code, params=params, stop=stop)
    return found.headers, found.lines


def read_by_ids(
    client: XeroClient, kind: DocumentKind, tenant: Tenant, short_code: str | None, ids: list[str]
) -> Read:
    """The documents with these ids, wherever they are dated now (with their lines: paged, as
    Xero sends lines only on paged reads), 50 ids a request. Xero never deletes invoices or
    credit notes, so one it does not return is gone from this app's view."""
    found = Read()
    for page in client.by_ids(tenant.tenant_id, kind.path, kind.path, ids):
        found.add(kind, tenant.tenant_id, page, short_code)
    return found


def published_dates(
    engine: Engine, kind: DocumentKind, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], date | None]:
    """(tenant_id, document id) -> the date the warehouse holds for it, for those it holds."""
    header = tables(kind)[0]
    id_column = header.c[kind.id_column]
    by_tenant: dict[str, list[str]] = {}
    for tenant_id, doc_id in keys:
        by_tenant.setdefault(tenant_id, []).append(doc_id)
    found: dict[tuple[str, str], date | None] = {}
    with engine.connect() as connection:
        for tenant_id, ids in by_tenant.items():
            for chunk in range(0, len(ids), IN_LIST_SIZE):
                rows = connection.execute(
                    select(id_column, header.c.date).where(
                        header.c.tenant_id == tenant_id,
                        id_column.in_(ids[chunk : chunk + IN_LIST_SIZE]),
                    )
                )
                found.update(((tenant_id, doc_id), day) for doc_id, day in rows)
    return found


def published_in_month(
    engine: Engine, kind: DocumentKind, tenant_ids: list[str], start: date, end: date
) -> dict[tuple[str, str], datetime | None]:
    """(tenant_id, document id) -> its UpdatedDateUTC, for the documents the warehouse holds
    dated in [start, end)."""
    header = tables(kind)[0]
    id_column = header.c[kind.id_column]
    with engine.connect() as connection:
        rows = connection.execute(
            select(header.c.tenant_id, id_column, header.c.updated_date_utc).where(
                header.c.tenant_id.in_(tenant_ids), header.c.date >= start, header.c.date < end
            )
        )
        return {(t, i): (as_utc(u) if u is not None else None) for t, i, u in rows}


def add_gate_columns(
    kind: DocumentKind, headers: Rows, lines: Rows, accounts: dict[tuple[str, str], str]
) -> None:
    """Facts the suites check that need more than one row: totals that reconcile, known codes."""
    by_document: dict[tuple[str, str], Rows] = {}
    for line in lines:
        by_document.setdefault((line["tenant_id"], line[kind.id_column]), []).append(line)
        code = line["account_code"]
        # A code the chart lacks gets a status of its own: the suites ignore nulls, so a null
        # here would let an unknown code pass unseen.
        line["account_status"] = accounts.get((line["tenant_id"], code), UNKNOWN) if code else None
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


def strip(rows: Rows) -> Rows:
    """The rows without the columns only the gate reads."""
    return [{k: v for k, v in row.items() if k not in GATE_ONLY} for row in rows]


def account_statuses(engine: Engine) -> dict[tuple[str, str], str]:
    """(tenant_id, code) -> the account's status, for the lines' `account_code_is_known`."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(xero_accounts.c.tenant_id, xero_accounts.c.code, xero_accounts.c.status)
        )
        return {(tenant, code): status for tenant, code, status in rows if code}


def gate(
    kind: DocumentKind, headers: Rows, lines: Rows, where: str, now: datetime | None = None
) -> tuple[GateResult, ...]:
    """Run the header and line suites; raise GateFailed (naming `where`) unless both pass.
    `now`: Xero's clock when it answered the read (see `validate`)."""
    header_table, line_table = tables(kind)
    gates = (
        validate(header_table.name, headers, key_columns(header_table), now),
        validate(line_table.name, lines, key_columns(line_table), now),
    )
    passed_or_raise(where, *gates)
    return gates


def unknown_code_tenants(lines: Rows) -> set[str]:
    """Tenants with a coded line whose account the published chart does not know (after
    `add_gate_columns`)."""
    return {
        line["tenant_id"]
        for line in lines
        if line.get("account_code") and line.get("account_status") == UNKNOWN
    }


def months_left(
    before: dict[tuple[str, str], date | None],
    kind: DocumentKind,
    headers: Rows,
    within: tuple[date, date] | None = None,
) -> set[date]:
    """The months (first days) these documents were dated in before (`before`: what the
    warehouse held, from `published_dates`), where that is not their month now (nor inside
    `within`, the unit's own range): a re-dated document leaves a month whose sales must be
    rebuilt too."""
    left = set()
    for header in headers:
        old = before.get((header["tenant_id"], header[kind.id_column]))
        if old is None or (header["date"] and month_start(old) == month_start(header["date"])):
            continue
        if within is None or not within[0] <= old < within[1]:
            left.add(month_start(old))
    return left
