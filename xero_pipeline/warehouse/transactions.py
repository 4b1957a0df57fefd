"""Write transactions: one per unit of work, serialised against any other writer of the same
tables, so a schedule and a manual launch of the same asset queue behind each other instead of
interleaving their deletes and inserts (PostgreSQL advisory locks; SQLite `BEGIN IMMEDIATE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

WRITER = "xero_pipeline_writer"  # execution option: this transaction writes published tables
SQLITE_WAIT_MS = 120_000  # how long an SQLite writer queues behind another before giving up


def sqlite_begin(connection: Connection) -> None:
    """SQLAlchemy's `begin` event on SQLite engines (see engine.connect): writers take the
    database's one write slot when they begin, not at their first write, where SQLite would
    refuse them outright instead of letting them wait."""
    immediate = connection.get_execution_options().get(WRITER, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def writing(engine: Engine, tables: Iterable[str]) -> Iterator[Connection]:
    """A connection in a write transaction on `tables` (see `write_transaction`)."""
    with engine.connect() as connection, write_transaction(connection, tables):
        yield connection


@contextmanager
def write_transaction(connection: Connection, tables: Iterable[str]) -> Iterator[Connection]:
    """A transaction that writes `tables`, begun only once no other writer of them is at work;
    whoever comes second waits, then sees the first one's committed rows. On a connection of
    its own, or on one that holds temporary tables the transaction needs.

    PostgreSQL: a transaction-scoped advisory lock per table, taken in name order so that two
    writers never wait on each other crosswise. SQLite: `BEGIN IMMEDIATE`."""
    connection.execution_options(**{WRITER: True})
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                for name in sorted(set(tables)):
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                        {"name": f"xero_pipeline:{name}"},
                    )
            yield connection
    finally:
        connection.execution_options(**{WRITER: False})
