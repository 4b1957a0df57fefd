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

import hashlib
import io
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from xero_pipeline.warehouse.schema import key_columns, sync_state
from xero_pipeline.warehouse.transactions import writing

log = logging.getLogger(__name__)
RECONNECT_ATTEMPTS = 4
RECONNECT_WAIT_SECONDS = 2.0  # doubled after each lost connection

BOOKKEEPING = ("row_hash", "loaded_at")


@dataclass(frozen=True)
class PublishResult:
    staged: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def unchanged(self) -> int:
        return self.staged - self.inserted - self.updated

    def as_metadata(self) -> dict[str, int]:
        return {
            "rows read": self.staged,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
        }


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def to_json(value: Any) -> str:
    """JSON for the warehouse's `raw` and `tracking` columns. Amounts stay numbers where a float
    holds them exactly (the typed columns are exact in any case). Strict JSON: an infinite or
    NaN number (which Python's parser lets through from a hostile body) raises ValueError, and
    the gate's storage check stops the row, rather than PostgreSQL refusing it mid-publish."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, allow_nan=False)


def row_hash(row: Mapping[str, Any]) -> str:
    """md5 of the row's content (bookkeeping left out) as sorted-key JSON, values made canonical
    by `_canonical`. Only datetimes are converted here: a date or Decimal reaches `default=str`,
    which writes the same text `_canonical` would, without a Python call per value."""
    content = dict(row)
    for name in BOOKKEEPING:
        content.pop(name, None)
    for name in [k for k, v in content.items() if isinstance(v, datetime)]:
        content[name] = _canonical(content[name])
    return hashlib.md5(
        json.dumps(content, sort_keys=True, default=str).encode(), usedforsecurity=False
    ).hexdigest()


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything the warehouse stores is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Load:
    """Rows for one table. With `mirror`, rows of `tenant_ids` that are not in `rows` are deleted
    — only within `scope` when given: an SQL condition on the table (e.g. a month of document
    dates) and its parameters (lists expand to `IN (…)`)."""

    table: Table
    rows: Sequence[Mapping[str, Any]]
    tenant_ids: Sequence[str]
    mirror: bool
    scope: tuple[str, dict[str, Any]] | None = None


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
    tables = [load.table.name for load in loads] + ([sync_state.name] if watermarks else [])
    with writing(engine, tables) as connection:
        for load in loads:
            hashes = [row_hash(row) for row in load.rows]
            staging = _stage(connection, load.table, load.rows, hashes, loaded_at)
            results[load.table.name] = _merge(connection, load, staging, len(hashes))
            # Dropped only on success: after a failure the rollback takes the staging table
            # with it, and a DROP in an aborted transaction would hide the real error.
            staging.drop(connection)
        for (tenant_id, resource), watermark in watermarks.items():
            set_watermark(connection, tenant_id, resource, watermark)
    return results


def _stage(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    hashes: list[str],
    loaded_at: datetime,
) -> Table:
    """A temporary copy of `table` holding `rows` with their `row_hash` and `loaded_at`: COPY
    on PostgreSQL, executemany elsewhere.

    On PostgreSQL the copy gets an index on the table's key and statistics on it (ANALYZE: a
    temporary table has none until then; the key's columns are all the merge joins on). The
    merge looks staged rows up by key; without the index, a published table whose own
    statistics are stale (just after a bulk load, before autovacuum has seen it) is planned as
    a nested loop over every staged row for every published one: 16 s instead of 0.1 s to
    re-publish an unchanged month of invoice lines."""
    staging = Table(
        f"stg_{table.name}_{uuid.uuid4().hex[:8]}",
        MetaData(),
        *[Column(c.name, c.type) for c in table.columns],
        prefixes=["TEMPORARY"],
    )
    staging.create(connection)
    if not rows:
        return staging
    if connection.dialect.name == "postgresql":
        columns = [c.name for c in table.columns]
        buffer = io.StringIO(_csv_text(rows, columns, hashes, loaded_at))
        names = ", ".join(f'"{name}"' for name in columns)
        copy = f'COPY "{staging.name}" ({names}) FROM STDIN WITH (FORMAT csv)'
        raw = connection.connection.driver_connection
        cursor = raw.cursor()
        try:
            cursor.copy_expert(copy, buffer)
        except connection.dialect.loaded_dbapi.Error as exc:
            # The driver's own cursor bypasses SQLAlchemy: report a lost connection the way
            # SQLAlchemy does for its statements, so publish() can redo the transaction.
            lost = connection.dialect.is_disconnect(exc, raw, cursor)
            if lost:
                connection.invalidate(exc)
            raise DBAPIError.instance(
                copy, None, exc, connection.dialect.loaded_dbapi.Error, connection_invalidated=lost
            ) from exc
        keys = ", ".join(f'"{name}"' for name in key_columns(table))
        connection.execute(text(f'CREATE INDEX ON "{staging.name}" ({keys})'))
        connection.execute(text(f'ANALYZE "{staging.name}" ({keys})'))  # the merge joins on these
    else:
        connection.execute(
            insert(staging),
            [
                {**row, "row_hash": digest, "loaded_at": loaded_at}
                for row, digest in zip(rows, hashes, strict=True)
            ],
        )
    return staging


def _csv_text(
    rows: Sequence[Mapping[str, Any]], columns: list[str], hashes: list[str], loaded_at: datetime
) -> str:
    """The rows as COPY … (FORMAT csv) input, one line each: exactly `_csv_value` of each field,
    built a column at a time so that the common types (text, NULL, amounts, dates) need no
    Python call per value."""
    fields = []
    for name in columns:
        if name == "loaded_at":  # the same for every row
            fields.append([_csv_value(loaded_at)] * len(rows))
            continue
        values = hashes if name == "row_hash" else [row.get(name) for row in rows]
        fields.append(
            [
                '"' + v.replace('"', '""') + '"'
                if type(v) is str
                else ""
                if v is None
                else str(v)
                if type(v) is Decimal or type(v) is int
                else v.isoformat()
                if type(v) is date
                else '"[]"'  # what _csv_value writes for an empty list (lines' tracking)
                if type(v) is list and not v
                else _csv_value(v)
                for v in values
            ]
        )
    return "".join(line + "\n" for line in map(",".join, zip(*fields, strict=True)))


def _csv_value(value: Any) -> str:
    """One field for COPY … (FORMAT csv): unquoted empty is NULL, quoted text is text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, dict | list):
        value = to_json(value)
    return '"' + str(value).replace('"', '""') + '"'


def _merge(connection: Connection, load: Load, staging: Table, staged: int) -> PublishResult:
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
        statement = text(sql)
        expanding = [name for name, value in (params or {}).items() if isinstance(value, list)]
        if expanding:
            statement = statement.bindparams(*[bindparam(n, expanding=True) for n in expanding])
        return connection.execute(statement, params or {})

    deleted = 0
    if load.mirror and load.tenant_ids:
        scope, params = load.scope or ("1 = 1", {})
        gone = (
            f"{target}.tenant_id IN :tenants AND ({scope}) AND NOT EXISTS "
            f"(SELECT 1 FROM {stg} s WHERE {same_key})"
        )
        params = {**params, "tenants": list(load.tenant_ids)}
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
