"""How far each organisation's history has loaded: one `history_months` row per organisation,
document kind and month, written in the month's own publish. An organisation's history is
complete once every month from the sales start to the month history was first read in (the
`history_first_read` mark in `sync_state`, set once, with the first watermarks) is loaded for
both kinds: from then on the incremental sync alone keeps it current, and what the sync brings
is news (notifications). A warehouse loaded before months were tracked has watermarks but no
such mark: its history counts as complete."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from xero_pipeline.months import month_start, months_between
from xero_pipeline.warehouse.schema import history_months, sync_state
from xero_pipeline.warehouse.values import as_utc
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES

RESOURCES = (INVOICES.resource, CREDIT_NOTES.resource)
FIRST_READ = "history_first_read"  # sync_state resource: when history was first read (set once)


def month_rows(
    resource: str, month: date, headers: list[dict[str, Any]], tenant_ids: list[str]
) -> list[dict[str, Any]]:
    """The `history_months` rows of one month's load: every tenant read, with its documents."""
    counts = {tenant_id: 0 for tenant_id in tenant_ids}
    for header in headers:
        if header["tenant_id"] in counts:
            counts[header["tenant_id"]] += 1
    return [
        {"tenant_id": tenant_id, "resource": resource, "month": month, "documents": count}
        for tenant_id, count in counts.items()
    ]


def history_complete(connection: Connection, tenant_id: str, start: date) -> bool:
    """Whether every month from `start` to the month history was first read in is loaded,
    for invoices and credit notes alike."""
    marks = dict(
        connection.execute(
            select(sync_state.c.resource, sync_state.c.watermark).where(
                sync_state.c.tenant_id == tenant_id,
                sync_state.c.resource.in_([*RESOURCES, FIRST_READ]),
            )
        ).all()
    )
    if FIRST_READ not in marks:
        return bool(marks)  # loaded before months were tracked, or never loaded
    first_read = _moment(marks[FIRST_READ])
    needed = {m for m, _ in months_between(start, month_start(first_read.date(), -1))}
    for resource in RESOURCES:
        loaded = {
            month if isinstance(month, date) else date.fromisoformat(str(month)[:10])
            for (month,) in connection.execute(
                select(history_months.c.month).where(
                    history_months.c.tenant_id == tenant_id,
                    history_months.c.resource == resource,
                    history_months.c.month >= start,
                )
            )
        }
        if not needed <= loaded:
            return False
    return True


def committed_since(
    connection: Connection,
    resource: str,
    tenant_ids: list[str],
    months: list[tuple[date, date]],
    since: datetime,
) -> int:
    """How many of `months`, from the first, were committed at or after `since` for every one
    of `tenant_ids`: where a re-execution of a run stopped part-way picks up. (A month whose
    `history_months` row came out the same, re-read over itself, keeps its older `loaded_at`
    and is read again: only ever more work, never less.)"""
    if not months or not tenant_ids:
        return 0
    loaded: dict[date, set[str]] = {}
    for month, tenant_id, loaded_at in connection.execute(
        select(
            history_months.c.month, history_months.c.tenant_id, history_months.c.loaded_at
        ).where(
            history_months.c.resource == resource,
            history_months.c.tenant_id.in_(tenant_ids),
            history_months.c.month >= months[0][0],
            history_months.c.month < months[-1][1],
        )
    ):
        if _moment(loaded_at) >= since:
            day = month if isinstance(month, date) else date.fromisoformat(str(month)[:10])
            loaded.setdefault(day, set()).add(tenant_id)
    done = 0
    for start, _ in months:
        if not set(tenant_ids) <= loaded.get(start, set()):
            break
        done += 1
    return done


def _moment(value: Any) -> datetime:
    """A timestamp as SQLite (text) or PostgreSQL (datetime) hands it back, in UTC."""
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))
