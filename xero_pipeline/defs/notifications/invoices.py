"""Which sales invoices are newly raised, and announcing each exactly once per sink.

A sales invoice is *raised* when it is an ACCREC invoice in status AUTHORISED or PAID in the
warehouse (the incremental sync brings new and approved ones in every 15 minutes). The table
`notifications_sent` remembers, per invoice and sink, what was done with it, so nothing is
announced twice, across ticks and across restarts (the memory is in the warehouse, not in the
Dagster instance):

- **baseline**: the first time a sink finds sales invoices in the warehouse, it records all of
  them as `baseline` and sends nothing. Loading history therefore floods nobody, and a sink
  added later starts from what is there at that moment.
- **lookback**: after the baseline, an invoice not seen before is announced only if it is dated
  within the last `XERO_NOTIFY_LOOKBACK_DAYS` days (default 14); otherwise it is recorded as
  `skipped_old`. So a later backfill of older months (an earlier `XERO_SALES_START_DATE`, a new
  organisation) does not announce years of invoices. The cost: a draft approved more than the
  lookback after its date is not announced.
- **sent**: recorded right after the receiver took the message, one row per message. A message
  that failed is not recorded and is tried again on the next tick. A crash between a receiver's
  answer and the record can repeat that one message; the `idempotency_key` (tenant and invoice)
  lets the receiver drop the repeat.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, insert, select

from xero_pipeline.defs.notifications.sinks import Sink
from xero_pipeline.warehouse.schema import notifications_sent, xero_invoices, xero_organisation
from xero_pipeline.warehouse.transactions import writing

BASELINE, SENT, SKIPPED_OLD = "baseline", "sent", "skipped_old"
RAISED_STATUSES = ("AUTHORISED", "PAID")


@dataclass
class Report:
    sent: Counter = field(default_factory=Counter)
    baseline: Counter = field(default_factory=Counter)
    skipped_old: Counter = field(default_factory=Counter)
    waiting: Counter = field(default_factory=Counter)  # failed this tick, retried on the next
    no_invoices_yet: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        for name in sorted({*self.sent, *self.baseline, *self.skipped_old, *self.waiting}):
            said = [f"{self.sent[name]} sent"]
            if self.baseline[name]:
                said.append(f"baseline of {self.baseline[name]} existing invoices (none sent)")
            if self.skipped_old[name]:
                said.append(f"{self.skipped_old[name]} older than the lookback skipped")
            if self.waiting[name]:
                said.append(f"{self.waiting[name]} waiting: delivery failed, retried next tick")
            parts.append(f"{name}: " + ", ".join(said))
        parts += [
            f"{name}: no sales invoices in the warehouse yet; the baseline is taken once there are"
            for name in self.no_invoices_yet
        ]
        return "; ".join(parts) or "nothing new"


def _pending_query(sink: str, *columns: Any) -> Any:
    """Raised sales invoices this sink has not dealt with, oldest first."""
    invoice, seen = xero_invoices.c, notifications_sent.c
    return (
        select(*columns)
        .select_from(
            xero_invoices.outerjoin(
                xero_organisation, xero_organisation.c.tenant_id == invoice.tenant_id
            )
        )
        .where(
            invoice.type == "ACCREC",
            invoice.status.in_(RAISED_STATUSES),
            ~exists().where(
                and_(
                    seen.tenant_id == invoice.tenant_id,
                    seen.invoice_id == invoice.invoice_id,
                    seen.sink == sink,
                )
            ),
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
        xero_organisation.c.name.label("organisation"),
    ).order_by(invoice.date, invoice.invoice_number, invoice.invoice_id)
    return [dict(row) for row in connection.execute(query).mappings()]


def waiting(engine: Engine, sinks: Sequence[Sink]) -> dict[str, int]:
    """Per sink, how many raised sales invoices it has not dealt with yet (a sink that has not
    started counts those it would take as its baseline); sinks with none are left out."""
    with engine.connect() as connection:
        counts = {
            sink.name: connection.execute(_pending_query(sink.name, func.count())).scalar_one()
            for sink in sinks
        }
    return {name: count for name, count in counts.items() if count}


def _record(
    connection: Connection, sink: str, invoices: Sequence[dict[str, Any]], outcome: str
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
    today: date,
    lookback_days: int,
    log: logging.Logger | Any,
) -> Report:
    """Announce every newly raised sales invoice once per sink (see the module's docstring)."""
    report = Report()
    oldest = today - timedelta(days=lookback_days)
    for sink in sinks:
        with writing(engine, [notifications_sent.name]) as connection:
            started = connection.execute(
                select(exists().where(notifications_sent.c.sink == sink.name))
            ).scalar()
            pending = _pending(connection, sink.name)
            if not started:
                if not pending:
                    report.no_invoices_yet.append(sink.name)
                    continue
                _record(connection, sink.name, pending, BASELINE)
                report.baseline[sink.name] = len(pending)
                log.info(
                    f"{sink.describe()}: baseline of {len(pending)} sales invoices already "
                    "in the warehouse; only invoices raised from now on are announced"
                )
                continue
            old = [i for i in pending if i["date"] is None or i["date"] < oldest]
            _record(connection, sink.name, old, SKIPPED_OLD)
            report.skipped_old[sink.name] = len(old)
        fresh = [i for i in pending if i["date"] is not None and i["date"] >= oldest]
        report.sent[sink.name] = 0
        for position, invoice in enumerate(fresh):
            if not sink.deliver(message(invoice), log):
                # The receiver is having trouble: leave the rest for the next tick rather than
                # spending this one on retries that will likely fail too.
                report.waiting[sink.name] = len(fresh) - position
                break
            with writing(engine, [notifications_sent.name]) as connection:
                _record(connection, sink.name, [invoice], SENT)
            report.sent[sink.name] += 1
    return report
