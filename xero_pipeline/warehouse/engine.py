"""Connecting to the warehouse and keeping its schema current.

`WAREHOUSE_URL` picks it: unset, an SQLite file under the project's data folder (created on first
use); `postgresql+psycopg2://…` for PostgreSQL. Tables are created on first use and new columns
and indexes are added on upgrade (additive changes only), so nobody runs DDL by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Index,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from xero_pipeline.warehouse.schema import metadata
from xero_pipeline.warehouse.transactions import SQLITE_WAIT_MS, sqlite_begin, writing
from xero_pipeline.warehouse.values import to_json
from xero_pipeline.xero.errors import ConfigError
from xero_pipeline.xero.settings import project_data


def warehouse_url(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    raw = (env.get("WAREHOUSE_URL") or "").strip()
    if not raw:
        return f"sqlite:///{project_data() / 'warehouse.sqlite'}"
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            "WAREHOUSE_URL",
            "is not a SQLAlchemy URL such as "
            "postgresql+psycopg2://user@host/db or sqlite:///path.sqlite",
        ) from None
    if url.drivername == "postgresql":
        raise ConfigError(
            "WAREHOUSE_URL",
            "must name its driver: postgresql+psycopg2://… "
            "(a bare postgresql:// means psycopg 3, which is not installed)",
        )
    if url.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg2"):
        raise ConfigError(
            "WAREHOUSE_URL",
            f"uses {url.drivername!r}; the warehouse supports "
            "sqlite:/// and postgresql+psycopg2://",
        )
    return raw


def connect(url: str) -> Engine:
    """An engine with the schema in place."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True, json_serializer=to_json)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", sqlite_begin)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgresql_settings)
    ensure_schema(engine)
    return engine


def _postgresql_settings(dbapi_connection, _record) -> None:
    # No JIT compilation: every statement here is bounded by a page or a month, and PostgreSQL
    # judges a month's gate query costly enough to compile it, which takes longer (~35 ms a
    # query in EXPLAIN ANALYZE of a month of 13,000 fact lines) than the query itself saves.
    cursor = dbapi_connection.cursor()
    cursor.execute("SET jit = off")
    cursor.close()
    dbapi_connection.commit()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLAlchemy, not the sqlite3 module, begins transactions (see transactions.sqlite_begin):
    # the module's own implicit BEGIN comes too late (at the first write) to serialise writers.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers keep reading while a publish commits
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_WAIT_MS}")
    cursor.close()


def ensure_schema(engine: Engine) -> list[str]:
    """Create missing tables, add missing columns and indexes; return what was changed. Looks
    first without the write lock, so the common case (nothing to do) never queues behind a
    publish."""
    with engine.connect() as connection:
        if not _schema_changes(connection):
            return []
    with writing(engine, ["schema"]) as connection:
        changes = _schema_changes(connection)  # again: another process may have done it
        for table, part in changes:
            if part is None:
                table.create(connection)
            elif isinstance(part, Index):
                part.create(connection)
            else:
                kind = part.type.compile(dialect=engine.dialect)
                connection.execute(
                    text(f'ALTER TABLE "{table.name}" ADD COLUMN "{part.name}" {kind}')
                )
    return [
        f"created {table.name}"
        if part is None
        else f"added index {part.name}"
        if isinstance(part, Index)
        else f"added {table.name}.{part.name}"
        for table, part in changes
    ]


def _schema_changes(connection: Connection) -> list[tuple[Table, Column | Index | None]]:
    """What the warehouse lacks: (table, None) for a missing table, (table, column) for a
    missing column, (table, index) for a missing index of an existing table."""
    existing = inspect(connection)
    indexes = _index_names(connection)
    changes: list[tuple[Table, Column | Index | None]] = []
    for table in metadata.sorted_tables:
        if not existing.has_table(table.name):
            changes.append((table, None))
            continue
        present = {column["name"] for column in existing.get_columns(table.name)}
        changes += [(table, column) for column in table.columns if column.name not in present]
        changes += [(table, index) for index in table.indexes if index.name not in indexes]
    return changes


def _index_names(connection: Connection) -> set[str]:
    """Every index the database has, by name, from its catalog (the inspector skips
    expression indexes on SQLite, and would report ours missing)."""
    if connection.dialect.name == "postgresql":
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
    return set(connection.execute(text(sql)).scalars())


@contextmanager
def reading(url: str, needs: str) -> Iterator[Connection | None]:
    """A connection to the warehouse at `url`, or None while it has no table `needs` (nothing
    of that kind was loaded yet). The engine is disposed of afterwards: these run once, at the
    end of a command."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            yield connection if inspect(connection).has_table(needs) else None
    finally:
        engine.dispose()
