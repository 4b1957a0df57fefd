"""Invoices and credit notes as rows: read them from Xero, add what their gates check, gate them.

Shared by the monthly history assets, the incremental sync and the reconciliation.
"""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Table, select

from xero_pipeline.quality.gate import GateResult, passed_or_raise, validate
from xero_pipeline.warehouse.schema import key_columns, metadata, xero_accounts
from xero_pipeline.xero.client import Tenant, XeroClient
from xero_pipeline.xero.rows import INVOICES, DocumentKind, document_rows

GATE_ONLY = ("subtotal_gap", "total_gap", "account_status")
Rows = list[dict[str, Any]]


def tables(kind: DocumentKind) -> tuple[Table, Table]:
    """The kind's header and line tables."""
    prefix = "xero_invoice" if kind is INVOICES else "xero_credit_note"
    return metadata.tables[f"{prefix}s"], metadata.tables[f"{prefix}_lines"]


def read_documents(
    client: XeroClient,
    kind: DocumentKind,
    tenant: Tenant,
    short_code: str | None,
    stop: threading.Event | None = None,
    **read: Any,
) -> tuple[Rows, Rows]:
    """A paged read's documents as header and line rows. `stop`: give up before the next page
    once set (a read ahead whose run is ending; what was read is then discarded)."""
    headers: Rows = []
    lines: Rows = []
    for page in client.pages(tenant.tenant_id, kind.path, kind.path, **read):
        if stop is not None and stop.is_set():
            break
        for doc in page:
            header, doc_lines = document_rows(kind, tenant.tenant_id, doc, short_code)
            headers.append(header)
            lines += doc_lines
    return headers, lines


def add_gate_columns(
    kind: DocumentKind, headers: Rows, lines: Rows, accounts: dict[tuple[str, str], str]
) -> None:
    """Facts the suites check that need more than one row: totals that reconcile, known codes."""
    by_document: dict[tuple[str, str], Rows] = {}
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
