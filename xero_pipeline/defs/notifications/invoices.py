"""Announcing each raised sales invoice exactly once per sink.

What to announce is the outbox `invoices_raised`, which only the incremental sync writes
(`outbox.py`): loading history never floods anyone. The table `notifications_sent` remembers,
per invoice and sink, what was done with it, so nothing is announced twice, across runs and
restarts (the memory is in the warehouse, not in the Dagster instance):

- **sent**: recorded right after the receiver took the message. A crash between a receiver's
  answer and the record can repeat that one message; the `idempotency_key` (tenant and invoice)
  lets the receiver drop the repeat.
- **failed**: the receiver refused it for good (an HTTP 4xx); its answer is kept in `detail`
  and the next message goes on. A message not taken this time (a timeout, a 5xx) is not
  recorded and is tried again by the next run.
- **skipped_old**: raised longer than `XERO_NOTIFY_LOOKBACK_DAYS` before this sink first dealt
  with it — a sink configured later does not receive months of old announcements.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, insert, select

from xero_pipeline.defs.notifications.sinks import NOT_TAKEN, REFUSED, Sink
from xero_pipeline.warehouse.schema import (
    invoices_raised,
    notifications_sent,
    xero_invoices,
    xero_organisation,
)
from xero_pipeline.warehouse.transactions import writing
from xero_pipeline.warehouse.values import as_utc

SENT, FAILED, SKIPPED_OLD = "sent", "failed", "skipped_old"


@dataclass
class Report:
    sent: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    skipped_old: Counter = field(default_factory=Counter)
    waiting: Counter = field(default_factory=Counter)  # not taken this run, tried again

    def summary(self) -> str:
        parts = []
        for name in sorted({*self.sent, *self.failed, *self.skipped_old, *self.waiting}):
            said = [f"{self.sent[name]} sent"]
            if self.failed[name]:
                said.append(f"{self.failed[name]} refused by the receiver (recorded as failed)")
            if self.skipped_old[name]:
                said.append(f"{self.skipped_old[name]} raised before the lookback skipped")
            if self.waiting[name]:
                said.append(f"{self.waiting[name]} waiting: not taken, sent again next run")
            parts.append(f"{name}: " + ", ".join(said))
        return "; ".join(parts) or "nothing new"


def _pending_query(sink: str, *columns: Any) -> Any:
    """Raised sales invoices this sink has not dealt with yet."""
    raised, seen = invoices_raised.c, notifications_sent.c
    return (
        select(*columns)
        .select_from(
            invoices_raised.join(
                xero_invoices,
                and_(
                    xero_invoices.c.tenant_id == raised.tenant_id,
                    xero_invoices.c.invoice_id == raised.invoice_id,
                ),
            ).outerjoin(xero_organisation, xero_organisation.c.tenant_id == raised.tenant_id)
        )
        .where(
            ~exists().where(
                and_(
                    seen.tenant_id == raised.tenant_id,
                    seen.invoice_id == raised.invoice_id,
                    seen.sink == sink,
                )
            )
        )
    )


def _pending(connection: Connection, sink: str) -> list[dict[str, Any]]:
    invoice = xero_invoices.c
    query = _pending_query(
        sink,
        invoice.tenant_id,
        invoice.invoice_id,
        invoice.invoice_number,
        invoice.contact_id,
        invoice.contact_name,
        invoice.total,
        invoice.currency_code,
        invoice.date,
        invoice.status,
        invoice.xero_url,
        invoices_raised.c.recorded_at,
        xero_organisation.c.name.label("organisation"),
    ).order_by(invoices_raised.c.raised_at, invoice.invoice_number, invoice.invoice_id)
    return [dict(row) for row in connection.execute(query).mappings()]


def waiting(engine: Engine, sinks: Sequence[Sink]) -> dict[str, int]:
    """Per sink, how many raised sales invoices it has not dealt with yet; sinks with none are
    left out."""
    with engine.connect() as connection:
        counts = {
            sink.name: connection.execute(_pending_query(sink.name, func.count())).scalar_one()
            for sink in sinks
        }
    return {name: count for name, count in counts.items() if count}


def _record(
    connection: Connection,
    sink: str,
    invoices: Sequence[dict[str, Any]],
    outcome: str,
    detail: str | None = None,
) -> None:
    if not invoices:
        return
    now = datetime.now(UTC)
    connection.execute(
        insert(notifications_sent),
        [
            {
                "tenant_id": i["tenant_id"],
                "invoice_id": i["invoice_id"],
                "sink": sink,
                "sent_at": now,
                "outcome": outcome,
                "detail": detail,
            }
            for i in invoices
        ],
    )


def _amount(value: Decimal | None) -> Decimal | None:
    """The warehouse keeps four places; an invoice total has two, shown as Xero shows them."""
    if value is None:
        return None
    cents = value.quantize(Decimal("0.01"))
    return cents if cents == value else value


def message(invoice: dict[str, Any]) -> dict[str, Any]:
    """What a recipient gets: enough to act on, and the link to open the invoice in Xero."""
    return {
        "event": "sales_invoice_raised",
        "idempotency_key": f"{invoice['tenant_id']}:{invoice['invoice_id']}",
        "tenant_id": invoice["tenant_id"],
        "organisation": invoice["organisation"],
        "invoice_id": invoice["invoice_id"],
        "number": invoice["invoice_number"],
        "customer": invoice["contact_name"],
        "contact_id": invoice["contact_id"],
        "total": _amount(invoice["total"]),
        "currency": invoice["currency_code"],
        "date": invoice["date"],
        "status": invoice["status"],
        "xero_url": invoice["xero_url"],
    }


def notify_new_invoices(
    engine: Engine,
    sinks: Sequence[Sink],
    *,
    lookback_days: int,
    log: logging.Logger | Any,
) -> Report:
    """Announce every raised sales invoice once per sink (see the module's docstring)."""
    report = Report()
    oldest = datetime.now(UTC) - timedelta(days=lookback_days)
    for sink in sinks:
        with writing(engine, [notifications_sent.name]) as connection:
            pending = _pending(connection, sink.name)
            old = [i for i in pending if as_utc(i["recorded_at"]) < oldest]
            _record(connection, sink.name, old, SKIPPED_OLD)
        report.skipped_old[sink.name] = len(old)
        report.sent[sink.name] = 0
        fresh = [i for i in pending if as_utc(i["recorded_at"]) >= oldest]
        for position, invoice in enumerate(fresh):
            delivery = sink.deliver(message(invoice), log)
            if delivery.outcome == NOT_TAKEN:
                # The receiver is having trouble: leave the rest for the next run rather than
                # spending this one on retries that will likely fail too.
                report.waiting[sink.name] = len(fresh) - position
                break
            refused = delivery.outcome == REFUSED
            with writing(engine, [notifications_sent.name]) as connection:
                _record(
                    connection,
                    sink.name,
                    [invoice],
                    FAILED if refused else SENT,
                    delivery.detail if refused else None,
                )
            (report.failed if refused else report.sent)[sink.name] += 1
    return report
