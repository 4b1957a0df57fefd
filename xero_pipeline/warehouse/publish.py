"""Stage rows in bulk and publish them in one transaction: readers see the old table or the new,
never a mix, and a watermark moves only with the rows it covers.

Two ways to publish a table's rows for some tenants:
- mirror: the rows are the whole truth for those tenants (new rows inserted, changed rows
  replaced, rows no longer there deleted);
- upsert: the rows are changes (new rows inserted, changed rows replaced, nothing deleted).
A row counts as changed when its content fingerprint (`row_hash`) differs, so publishing the same
data twice writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from xero_pipeline.warehouse.schema import key_columns, sync_state
from xero_pipeline.warehouse.staging import stage
from xero_pipeline.warehouse.transactions import writing
from xero_pipeline.warehouse.values import as_utc, row_hash

log = logging.getLogger(__name__)
RECONNECT_ATTEMPTS = 4
RECONNECT_WAIT_SECONDS = 2.0  # doubled after each lost connection


@dataclass(frozen=True)
class PublishResult:
    staged: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    kept_newer: int = 0  # staged rows dropped: the published row was newer (Newest)

    @property
    def unchanged(self) -> int:
        return self.staged - self.inserted - self.updated - self.kept_newer

    def as_metadata(self) -> dict[str, int]:
        shown = {
            "rows read": self.staged,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
        }
        if self.kept_newer:
            shown["kept newer"] = self.kept_newer
        return shown


@dataclass(frozen=True)
class Newest:
    """How a load of Xero records keeps the newest version of each when writers overlap (a
    nightly month re-read and the 15-minute sync): a staged row older than the published one —
    by `stamp` on the row itself, or, for lines, on their document's row in `parent` (table
    name) joined by `parent_id` — is dropped, and a mirror delete spares rows changed after
    `read_started` (the Xero clock when the read began: a read cannot prove such rows gone).
    Lines (`parent` set) follow their documents: the staged documents' published lines that are
    not staged again are deleted wherever they sit, so a document re-dated into a month leaves
    no line behind in the month it left (the parent must be published first, in the same call)."""

    stamp: str = "updated_date_utc"
    parent: str | None = None
    parent_id: str | None = None
    read_started: datetime | None = None


@dataclass(frozen=True)
class Load:
    """Rows for one table. With `mirror`, rows of `tenant_ids` that are not in `rows` are deleted
    — only within `scope` when given: an SQL condition on the table (e.g. a month of document
    dates) and its parameters (lists expand to `IN (…)`). With `newest`, older data never
    replaces newer, and lines are published whole per document (see `Newest`)."""

    table: Table
    rows: Sequence[Mapping[str, Any]]
    tenant_ids: Sequence[str]
    mirror: bool
    scope: tuple[str, dict[str, Any]] | None = None
    newest: Newest | None = None
    # Writes that must commit with these rows (bookkeeping: the notifications' outbox, history
    # months), run in the publish's transaction after the rows are merged; `also_writes` names
    # the tables they write, so the transaction takes their write locks too.
    then: Callable[[Connection], None] | None = None
    also_writes: tuple[str, ...] = ()


class WarehouseUnavailableError(Exception):
    """The warehouse connection kept dropping while publishing. The transaction was rolled back
    by the database, so nothing was published; running again is safe."""


def publish(
    engine: Engine,
    *loads: Load,
    watermarks: Mapping[tuple[str, str], datetime | None] | None = None,
) -> dict[str, PublishResult]:
    """Publish every load and set the watermarks `{(tenant_id, resource): timestamp}`, all in one
    transaction. Returns what happened per table.

    A connection lost mid-publish (a database restart, a killed backend) rolls the transaction
    back on the server; the rows are still here, so the whole transaction is simply redone on a
    fresh connection, a few times, before giving up with a clear error."""
    for attempt in range(1, RECONNECT_ATTEMPTS + 1):
        try:
            return _publish(engine, loads, watermarks or {})
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            names = ", ".join(load.table.name for load in loads)
            problem = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            if attempt == RECONNECT_ATTEMPTS:
                raise WarehouseUnavailableError(
                    f"lost the warehouse connection {attempt} times while publishing {names} "
                    f"({problem}). Nothing was published; run again once the database is back."
                ) from None
            wait = RECONNECT_WAIT_SECONDS * 2 ** (attempt - 1)
            log.warning(
                "warehouse connection lost while publishing %s (%s); nothing was published, "
                "retrying in %.0f s",
                names,
                problem,
                wait,
            )
            time.sleep(wait)
    raise AssertionError("unreachable")


def _publish(
    engine: Engine,
    loads: Sequence[Load],
    watermarks: Mapping[tuple[str, str], datetime | None],
) -> dict[str, PublishResult]:
    loaded_at = datetime.now(UTC)
    results = {}
    stale: dict[str, set[str]] = {}  # table -> ids of documents whose staged rows were older
    staged: dict[str, Table] = {}  # table -> its staging table, kept to the end of the publish
    tables = [load.table.name for load in loads] + ([sync_state.name] if watermarks else [])
    tables += [name for load in loads for name in load.also_writes]
    with writing(engine, tables) as connection:
        for load in loads:
            rows = load.rows
            newest = load.newest
            older = stale.get(newest.parent, set()) if newest and newest.parent else set()
            if older:  # the lines of documents whose published version is newer stay as they are
                rows = [row for row in rows if row[newest.parent_id] not in older]
            hashes = [row_hash(row) for row in rows]
            staging = staged[load.table.name] = stage(
                connection, load.table, rows, hashes, loaded_at
            )
            dropped = _drop_older(connection, load, staging) if newest and not newest.parent else []
            if dropped:
                stale[load.table.name] = set(dropped)
            parent = staged.get(newest.parent) if newest and newest.parent else None
            result = _merge(connection, load, staging, len(hashes), older, parent)
            results[load.table.name] = (
                replace(result, staged=result.staged + len(dropped), kept_newer=len(dropped))
                if dropped
                else result
            )
            if load.then is not None:
                load.then(connection)
        for (tenant_id, resource), watermark in watermarks.items():
            set_watermark(connection, tenant_id, resource, watermark)
        # Dropped only on success: after a failure the rollback takes the staging tables with
        # it, and a DROP in an aborted transaction would hide the real error.
        for staging in staged.values():
            staging.drop(connection)
    return results


def _drop_older(connection: Connection, load: Load, staging: Table) -> list[str]:
    """Remove from the staged rows those older than the published row with the same key;
    return their last key column's values (a document's id)."""
    assert load.newest is not None
    keys = key_columns(load.table)
    stamp = load.newest.stamp
    target, stg = f'"{load.table.name}"', f'"{staging.name}"'

    def older(staged: str) -> str:
        same_key = " AND ".join(f'{target}."{k}" = {staged}."{k}"' for k in keys)
        return (
            f"EXISTS (SELECT 1 FROM {target} WHERE {same_key} "
            f'AND {target}."{stamp}" IS NOT NULL AND ({staged}."{stamp}" IS NULL '
            f'OR {target}."{stamp}" > {staged}."{stamp}"))'
        )

    found = [
        row[0]
        for row in connection.execute(
            text(f'SELECT s."{keys[-1]}" FROM {stg} s WHERE {older("s")}')
        )
    ]
    if found:
        connection.execute(text(f"DELETE FROM {stg} WHERE {older(stg)}"))
    return found


def _merge(
    connection: Connection,
    load: Load,
    staging: Table,
    staged: int,
    spared: set[str],
    parent: Table | None = None,
) -> PublishResult:
    """Apply the staged rows to the published table. The counts come from the statements that
    do the work (rows deleted as changed, rows inserted, rows deleted as gone), not from counting
    queries beforehand: the key is unique in both tables (the gate checks the staged rows), so a
    changed row is one deleted and one inserted, and a new one is inserted only."""
    table = load.table
    keys = key_columns(table)
    target, stg = f'"{table.name}"', f'"{staging.name}"'
    if connection.dialect.name == "postgresql":
        # The staged rows are looked up in the published table by its key, a month against all
        # of history. PostgreSQL's default page costs (random_page_cost 4, for spinning disks)
        # price 17,000 index lookups above a scan of a million rows, and then every month of a
        # backfill scans everything loaded before it (0.33 s a statement at a million lines,
        # against 0.03 s by key). 1.1 is the usual value for SSDs and cached tables; LOCAL: for
        # this transaction only.
        connection.execute(text("SET LOCAL random_page_cost = 1.1"))
    same_key = " AND ".join(f'{target}."{k}" = s."{k}"' for k in keys)
    columns = ", ".join(f'"{c.name}"' for c in table.columns)

    def run(sql: str, params: dict[str, Any] | None = None) -> Any:
        typed = [
            bindparam(name, expanding=True)
            if isinstance(value, list)
            else bindparam(name, type_=DateTime(timezone=True))
            for name, value in (params or {}).items()
            if isinstance(value, list | datetime)
        ]
        statement = text(sql).bindparams(*typed) if typed else text(sql)
        return connection.execute(statement, params or {})

    deleted = 0
    if load.mirror and load.tenant_ids:
        scope, params = load.scope or ("1 = 1", {})
        if parent is not None and load.newest is not None and load.newest.parent_id:
            of = load.newest.parent_id
            scope = (
                f'({scope}) OR EXISTS (SELECT 1 FROM "{parent.name}" p '
                f'WHERE p.tenant_id = {target}.tenant_id AND p."{of}" = {target}."{of}")'
            )
        gone = (
            f"{target}.tenant_id IN :tenants AND ({scope}) AND NOT EXISTS "
            f"(SELECT 1 FROM {stg} s WHERE {same_key})"
        )
        params = {**params, "tenants": list(load.tenant_ids)}
        guard, guarded = _spare(load, target, spared)
        gone += guard
        params.update(guarded)
        deleted = run(f"DELETE FROM {target} WHERE {gone}", params).rowcount
    changed = f"{same_key} AND {target}.row_hash <> s.row_hash"
    if connection.dialect.name == "postgresql":  # a join PostgreSQL can drive from the batch
        updated = run(f"DELETE FROM {target} USING {stg} s WHERE {changed}").rowcount
    else:  # SQLite has no DELETE … USING
        updated = run(
            f"DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM {stg} s WHERE {changed})"
        ).rowcount
    written = run(
        f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {stg} s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {same_key})"
    ).rowcount
    return PublishResult(
        staged=staged, inserted=written - updated, updated=updated, deleted=deleted
    )


def _spare(load: Load, target: str, spared: set[str]) -> tuple[str, dict[str, Any]]:
    """What a mirror delete of a `Newest` load must leave: rows (or lines of documents) changed
    after the read began, and lines of documents whose staged version was dropped as older."""
    newest = load.newest
    if newest is None:
        return "", {}
    condition, params = "", {}
    if newest.read_started is not None:
        params["read_started"] = newest.read_started
        if newest.parent is None:
            condition += f' AND NOT ({target}."{newest.stamp}" > :read_started)'
        else:
            parent, parent_id = f'"{newest.parent}"', newest.parent_id
            condition += (
                f" AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.tenant_id = {target}.tenant_id"
                f' AND p."{parent_id}" = {target}."{parent_id}"'
                f' AND p."{newest.stamp}" > :read_started)'
            )
    if spared and newest.parent_id:
        params["spared"] = sorted(spared)
        condition += f' AND {target}."{newest.parent_id}" NOT IN :spared'
    return condition, params


def read_watermark(engine: Engine, tenant_id: str, resource: str) -> datetime | None:
    with engine.connect() as connection:
        value = connection.execute(
            select(sync_state.c.watermark).where(
                sync_state.c.tenant_id == tenant_id, sync_state.c.resource == resource
            )
        ).scalar_one_or_none()
    return as_utc(value) if value is not None else None


def set_watermark(
    connection: Connection, tenant_id: str, resource: str, watermark: datetime | None
) -> None:
    """Move the watermark forward, never back: of two runs that overlapped, the one that read
    further decides (the other's changes are a subset of its)."""
    if watermark is None:
        return
    current = connection.execute(
        select(sync_state.c.watermark).where(
            sync_state.c.tenant_id == tenant_id, sync_state.c.resource == resource
        )
    ).scalar_one_or_none()
    if current is not None and as_utc(current) >= as_utc(watermark):
        return
    connection.execute(
        delete(sync_state).where(
            sync_state.c.tenant_id == tenant_id, sync_state.c.resource == resource
        )
    )
    connection.execute(
        insert(sync_state).values(
            tenant_id=tenant_id,
            resource=resource,
            watermark=watermark,
            updated_at=datetime.now(UTC),
        )
    )
