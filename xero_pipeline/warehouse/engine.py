"""Connecting to the warehouse and keeping its schema current.

`WAREHOUSE_URL` picks it: unset, an SQLite file under the project's data folder (created on first
use); `postgresql+psycopg2://…` for PostgreSQL. Tables are created on first use and new columns
are added on upgrade (additive changes only), so nobody runs DDL by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from xero_pipeline.warehouse.publish import to_json
from xero_pipeline.warehouse.schema import metadata
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
    ensure_schema(engine)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers keep reading while a publish commits
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def ensure_schema(engine: Engine) -> list[str]:
    """Create missing tables and add missing columns; return what was changed."""
    changes = []
    with engine.begin() as connection:
        existing = inspect(connection)
        for table in metadata.sorted_tables:
            if not existing.has_table(table.name):
                table.create(connection)
                changes.append(f"created {table.name}")
                continue
            present = {column["name"] for column in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    kind = column.type.compile(dialect=engine.dialect)
                    connection.execute(
                        text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
                    )
                    changes.append(f"added {table.name}.{column.name}")
    return changes
