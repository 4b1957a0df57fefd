"""The ledger of organisations (`xero_connections`): which are connected, which failed and when
to try them again, which are gone. Written in small transactions of its own, never inside a
publish, so that recording a failure can never undo (or be undone by) an organisation's data.

Backoff: an organisation whose work failed is left alone for 15 minutes, then 30, 60, … up to a
day (`backoff`), unless its failure says when to come back (a day limit's reset). Any success
clears it. Disconnected organisations are not called at all until /connections lists them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, true, update

from xero_pipeline.warehouse.schema import xero_connections
from xero_pipeline.warehouse.transactions import writing
from xero_pipeline.warehouse.values import as_utc
from xero_pipeline.xero.client import Tenant

CONNECTED, FAILING, DISCONNECTED = "connected", "failing", "disconnected"
FIRST_BACKOFF = timedelta(minutes=15)
LONGEST_BACKOFF = timedelta(hours=24)
ERROR_LENGTH = 2000  # last_error is for people: Xero's words, not a page of HTML
NOT_LISTED = "no longer listed by Xero's /connections"


def backoff(failures: int) -> timedelta:
    """How long to leave an organisation alone after its `failures`-th failure in a row."""
    return min(FIRST_BACKOFF * 2 ** max(failures - 1, 0), LONGEST_BACKOFF)


@dataclass(frozen=True)
class Organisation:
    """One row of `xero_connections`."""

    tenant_id: str
    tenant_name: str | None
    status: str
    failures: int
    last_error: str | None = None
    last_success_at: datetime | None = None
    next_attempt_at: datetime | None = None
    connected_at: datetime | None = None
    connection_id: str | None = None
    failed_in_run: str | None = None

    def waiting(self, now: datetime) -> bool:
        """Left alone for now: disconnected, or failing and not yet due again."""
        if self.status == DISCONNECTED:
            return True
        return (
            self.status == FAILING
            and self.next_attempt_at is not None
            and as_utc(self.next_attempt_at) > now
        )

    def describe(self) -> str:
        if self.status == DISCONNECTED:
            return f"disconnected ({self.last_error or 'no longer connected'})"
        if self.status == FAILING:
            when = self.next_attempt_at
            then = f"; next attempt {when:%Y-%m-%d %H:%M} UTC" if when else ""
            return f"failing {self.failures}× ({self.last_error}){then}"
        return "connected"


def organisations(engine: Engine) -> dict[str, Organisation]:
    """Every organisation the pipeline has seen, by tenant id."""
    fields = Organisation.__dataclass_fields__
    with engine.connect() as connection:
        rows = connection.execute(select(xero_connections)).mappings().all()
    return {
        row["tenant_id"]: Organisation(**{k: v for k, v in row.items() if k in fields})
        for row in rows
    }


@dataclass(frozen=True)
class Listing:
    """What one reading of /connections changed in the ledger."""

    new: tuple[str, ...] = ()
    reconnected: tuple[str, ...] = ()
    disconnected: tuple[str, ...] = ()


def note_listed(engine: Engine, listed: Sequence[Tenant], now: datetime) -> Listing:
    """Bring the ledger in line with the organisations /connections lists now: new ones are
    added as connected, disconnected ones that are back are connected again, and those it no
    longer lists are disconnected (their rows stay)."""
    known = organisations(engine)
    by_id = {t.tenant_id: t for t in listed}
    new, back, gone = [], [], []
    with writing(engine, [xero_connections.name]) as connection:
        for tenant_id, tenant in by_id.items():
            before = known.get(tenant_id)
            if before is None:
                new.append(tenant_id)
                connection.execute(
                    insert(xero_connections).values(
                        tenant_id=tenant_id,
                        tenant_name=tenant.name,
                        connection_id=tenant.connection_id,
                        connected_at=now,
                        status=CONNECTED,
                        failures=0,
                        updated_at=now,
                    )
                )
                continue
            changes: dict[str, Any] = {}
            if tenant.name and tenant.name != before.tenant_name:
                changes["tenant_name"] = tenant.name
            if tenant.connection_id and tenant.connection_id != before.connection_id:
                changes["connection_id"] = tenant.connection_id
            # Back when /connections lists it again after leaving it, or under a new connection
            # (a new consent); one Xero refused (403) while still listed stays disconnected.
            if before.status == DISCONNECTED and (
                before.last_error == NOT_LISTED or tenant.connection_id != before.connection_id
            ):
                back.append(tenant_id)
                changes.update(status=CONNECTED, connected_at=now, failures=0, next_attempt_at=None)
            if changes:
                _update(connection, tenant_id, {**changes, "updated_at": now})
        for tenant_id, before in known.items():
            if tenant_id not in by_id and before.status != DISCONNECTED:
                gone.append(tenant_id)
                _update(
                    connection,
                    tenant_id,
                    {
                        "status": DISCONNECTED,
                        "last_error": NOT_LISTED,
                        "next_attempt_at": None,
                        "updated_at": now,
                    },
                )
    return Listing(tuple(new), tuple(back), tuple(gone))


def record_success(
    engine: Engine, tenant_ids: Iterable[str], now: datetime, run_id: str | None = None
) -> None:
    """These organisations' work succeeded: connected, failures cleared — unless another step
    of the same run (`run_id`) failed for them: a run is a success for an organisation only
    when all of its work for it is."""
    ids = sorted(set(tenant_ids))
    if not ids:
        return
    same_run = xero_connections.c.failed_in_run == run_id
    with writing(engine, [xero_connections.name]) as connection:
        connection.execute(
            update(xero_connections)
            .where(
                xero_connections.c.tenant_id.in_(ids),
                xero_connections.c.status != DISCONNECTED,
                ~same_run if run_id else true(),
            )
            .values(
                status=CONNECTED,
                failures=0,
                next_attempt_at=None,
                last_success_at=now,
                updated_at=now,
            )
        )


def record_failure(
    engine: Engine,
    tenant: Tenant,
    reason: str,
    now: datetime,
    *,
    disconnected: bool = False,
    retry_at: datetime | None = None,
    run_id: str | None = None,
) -> Organisation:
    """An organisation's work failed: `failing` with a backoff (or until `retry_at`), or
    `disconnected` when Xero refused it for good. Returns its new state."""
    reason = reason[:ERROR_LENGTH]
    known = organisations(engine).get(tenant.tenant_id)
    failures = (known.failures if known else 0) + 1
    state = Organisation(
        tenant_id=tenant.tenant_id,
        tenant_name=tenant.name or (known.tenant_name if known else None),
        status=DISCONNECTED if disconnected else FAILING,
        failures=failures,
        last_error=reason,
        last_success_at=known.last_success_at if known else None,
        next_attempt_at=None if disconnected else (retry_at or now + backoff(failures)),
        connected_at=known.connected_at if known else now,
        connection_id=known.connection_id if known else None,
        failed_in_run=run_id,
    )
    values = {
        "tenant_name": state.tenant_name,
        "status": state.status,
        "failures": failures,
        "last_error": reason,
        "next_attempt_at": state.next_attempt_at,
        "failed_in_run": run_id,
        "updated_at": now,
    }
    with writing(engine, [xero_connections.name]) as connection:
        if known is None:
            connection.execute(
                insert(xero_connections).values(
                    tenant_id=tenant.tenant_id, connected_at=now, **values
                )
            )
        else:
            _update(connection, tenant.tenant_id, values)
    return state


def _update(connection: Any, tenant_id: str, values: dict[str, Any]) -> None:
    connection.execute(
        update(xero_connections).where(xero_connections.c.tenant_id == tenant_id).values(**values)
    )
