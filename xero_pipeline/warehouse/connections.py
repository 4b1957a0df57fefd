"""The ledger of organisations (`xero_connections`): which are connected, which failed and when
to try them again, which are gone. Written in small transactions of its own, never inside a
publish, so that recording a failure can never undo (or be undone by) an organisation's data.

Backoff: an organisation whose work failed is left alone for 15 minutes, then 30, 60, … up to a
day (`backoff`), unless its failure says when to come back (a day limit's reset). Any success
clears it. Disconnected organisations are not called at all until /connections lists them again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, or_, select, true, update

from xero_pipeline.warehouse.schema import (
    dim_account_codes,
    fct_sales_lines,
    invoiced_contacts,
    sales_by_account_code_monthly,
    xero_connections,
)
from xero_pipeline.warehouse.transactions import writing
from xero_pipeline.warehouse.values import as_utc
from xero_pipeline.xero.client import Tenant

CONNECTED, FAILING, DISCONNECTED = "connected", "failing", "disconnected"
FIRST_BACKOFF = timedelta(minutes=15)
LONGEST_BACKOFF = timedelta(hours=24)
ERROR_LENGTH = 2000  # last_error is for people: Xero's words, not a page of HTML
NOT_LISTED = "no longer listed by Xero's /connections"
# The marts that say whether their organisation is still connected (`is_connected`).
MARKED = (fct_sales_lines, sales_by_account_code_monthly, invoiced_contacts, dim_account_codes)


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
    token_key: str | None = None
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
    with engine.connect() as connection:
        return _read(connection)


def _read(connection: Connection, tenant_id: str | None = None) -> dict[str, Organisation]:
    """The ledger's rows (only `tenant_id`'s, when given), by tenant id. Writers read it inside
    their write transaction, so two runs noting the same new organisation take turns."""
    fields = Organisation.__dataclass_fields__
    query = select(xero_connections)
    if tenant_id is not None:
        query = query.where(xero_connections.c.tenant_id == tenant_id)
    return {
        row["tenant_id"]: Organisation(**{k: v for k, v in row.items() if k in fields})
        for row in connection.execute(query).mappings()
    }


def disconnected_tenants(connection: Connection) -> set[str]:
    """The tenant ids of the organisations that are disconnected."""
    return set(
        connection.execute(
            select(xero_connections.c.tenant_id).where(xero_connections.c.status == DISCONNECTED)
        ).scalars()
    )


def mark_marts(engine: Engine, tenant_ids: Iterable[str], connected: bool) -> None:
    """Set `is_connected` on every row of these organisations in the marts, at once (their
    next rebuild computes the same from the ledger)."""
    ids = sorted(set(tenant_ids))
    if not ids:
        return
    with writing(engine, [table.name for table in MARKED]) as connection:
        for table in MARKED:
            connection.execute(
                update(table).where(table.c.tenant_id.in_(ids)).values(is_connected=connected)
            )


@dataclass(frozen=True)
class Listing:
    """What one reading of /connections changed in the ledger."""

    new: tuple[str, ...] = ()
    reconnected: tuple[str, ...] = ()
    disconnected: tuple[str, ...] = ()


def note_listed(
    engine: Engine,
    listed: Sequence[Tenant],
    now: datetime,
    *,
    token_keys: Mapping[str, str | None] | None = None,
    broken: Mapping[str, str] | None = None,
    within: Collection[str] | None = None,
) -> Listing:
    """Bring the ledger in line with the organisations /connections lists now: new ones are
    added as connected, disconnected ones that are back are connected again, and those it no
    longer lists are disconnected (their rows stay). `token_keys`: the stored consent that read
    each one; `broken`: consents whose /connections failed (their reason), whose organisations
    are then failing — their token needs a reconnect — not disconnected; `within`: the
    organisations `listed` was narrowed to (XERO_TENANT_IDS): no other is judged gone."""
    by_id = {t.tenant_id: t for t in listed}
    token_keys, broken = token_keys or {}, broken or {}
    new, back, gone = [], [], []
    with writing(engine, [xero_connections.name]) as connection:
        known = _read(connection)
        for tenant_id, tenant in by_id.items():
            before = known.get(tenant_id)
            if before is None:
                new.append(tenant_id)
                connection.execute(
                    insert(xero_connections).values(
                        tenant_id=tenant_id,
                        tenant_name=tenant.name,
                        connection_id=tenant.connection_id,
                        token_key=token_keys.get(tenant_id),
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
            if token_keys.get(tenant_id) and token_keys[tenant_id] != before.token_key:
                changes["token_key"] = token_keys[tenant_id]
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
            if tenant_id in by_id or before.status == DISCONNECTED:
                continue
            if within is not None and tenant_id not in within:
                continue  # not read by this configuration, not gone
            if before.token_key in broken:
                _update(
                    connection,
                    tenant_id,
                    {
                        "status": FAILING,
                        "last_error": broken[before.token_key][:ERROR_LENGTH],
                        "next_attempt_at": None,  # tried whenever its consent works again
                        "updated_at": now,
                    },
                )
            else:
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
    mark_marts(engine, gone, connected=False)
    mark_marts(engine, back, connected=True)
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
    failed_in = xero_connections.c.failed_in_run
    other_run = or_(failed_in.is_(None), failed_in != run_id)  # (NULL != x is not true in SQL)
    with writing(engine, [xero_connections.name]) as connection:
        connection.execute(
            update(xero_connections)
            .where(
                xero_connections.c.tenant_id.in_(ids),
                xero_connections.c.status != DISCONNECTED,
                other_run if run_id else true(),
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
    count: bool = True,
) -> Organisation:
    """An organisation's work failed: `failing` with a backoff (or until `retry_at`), or
    `disconnected` when Xero refused it for good. Returns its new state."""
    reason = reason[:ERROR_LENGTH]
    with writing(engine, [xero_connections.name]) as connection:
        known = _read(connection, tenant.tenant_id).get(tenant.tenant_id)
        # `count`: a new failure (False: one more reason for the failure just recorded).
        failures = max((known.failures if known else 0) + (1 if count else 0), 1)
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
        if known is None:
            connection.execute(
                insert(xero_connections).values(
                    tenant_id=tenant.tenant_id, connected_at=now, **values
                )
            )
        else:
            _update(connection, tenant.tenant_id, values)
    if disconnected and (known is None or known.status != DISCONNECTED):
        mark_marts(engine, [tenant.tenant_id], connected=False)
    return state


def _update(connection: Any, tenant_id: str, values: dict[str, Any]) -> None:
    connection.execute(
        update(xero_connections).where(xero_connections.c.tenant_id == tenant_id).values(**values)
    )
