"""Which sales invoices are newly raised, as the incremental sync sees them: the notifications'
outbox (`invoices_raised`), written in the sync's own transaction.

A sales invoice is *raised* when an ACCREC invoice reaches AUTHORISED or PAID: it arrives new in
that state, or moves into it from DRAFT or SUBMITTED. Only the sync writes here, and only for an
organisation whose history is complete (`defs/history/progress.py`): loading history — a first
backfill, a newly connected organisation, a backfill from an earlier start — announces nothing.
An invoice dated more than `XERO_NOTIFY_LOOKBACK_DAYS` before Xero's today is not announced
either (a draft approved long after its date). Each invoice is raised once, ever.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from xero_pipeline.warehouse.schema import invoices_raised, xero_invoices

RAISED_STATUSES = ("AUTHORISED", "PAID")


def newly_raised(
    engine: Engine, headers: Sequence[dict[str, Any]], oldest: date
) -> list[dict[str, Any]]:
    """The sales invoices among `headers` (about to be published) that are raised now and were
    not before — absent from the warehouse, or there in another status — dated `oldest` or
    later."""
    candidates = [
        h
        for h in headers
        if h.get("type") == "ACCREC"
        and h.get("status") in RAISED_STATUSES
        and h.get("date") is not None
        and h["date"] >= oldest
    ]
    if not candidates:
        return []
    by_tenant: dict[str, list[str]] = {}
    for header in candidates:
        by_tenant.setdefault(header["tenant_id"], []).append(header["invoice_id"])
    before: dict[tuple[str, str], str | None] = {}
    with engine.connect() as connection:
        for tenant_id, ids in by_tenant.items():
            rows = connection.execute(
                select(xero_invoices.c.invoice_id, xero_invoices.c.status).where(
                    xero_invoices.c.tenant_id == tenant_id, xero_invoices.c.invoice_id.in_(ids)
                )
            )
            before.update(((tenant_id, i), status) for i, status in rows)
    return [
        h
        for h in candidates
        if before.get((h["tenant_id"], h["invoice_id"])) not in RAISED_STATUSES
    ]


def record_raised(
    connection: Connection, invoices: Sequence[dict[str, Any]], raised_at: datetime
) -> int:
    """Add the invoices to the outbox, each once ever; how many were new."""
    if not invoices:
        return 0
    keys = {(i["tenant_id"], i["invoice_id"]) for i in invoices}
    present = {
        (t, i)
        for t, i in connection.execute(
            select(invoices_raised.c.tenant_id, invoices_raised.c.invoice_id).where(
                invoices_raised.c.invoice_id.in_(sorted(i for _, i in keys))
            )
        )
    }
    fresh = sorted(keys - present)
    if fresh:
        now = datetime.now(UTC)
        connection.execute(
            insert(invoices_raised),
            [
                {"tenant_id": t, "invoice_id": i, "raised_at": raised_at, "recorded_at": now}
                for t, i in fresh
            ],
        )
    return len(fresh)
