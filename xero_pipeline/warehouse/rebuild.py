"""Tables built inside the warehouse, in SQL: stage a SELECT into a temporary table, let the gate
judge it there, then replace the published rows in one transaction.

The Xero mirrors arrive from the API as Python rows and go through `publish.py`. The sales tables
are derived from those mirrors; carrying a month of lines (or all of history) through Python to
rebuild them would make memory grow with history, so their rows stay in the database:
`INSERT … SELECT` into a temporary copy of the table (no constraints, so a duplicated key reaches
the gate, which shows it, instead of failing the insert), judged there by the gate's query, then
`DELETE` the scope and `INSERT … SELECT` from the copy in one transaction, so readers see the old
rows or the new, never a mix, and a crash changes nothing.

The SELECTs are the callers' (the sales tables keep theirs in `defs/sales/sql/`), one portable
text for SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    MetaData,
    Table,
    TextClause,
    bindparam,
    text,
)


def statement(sql: str, params: dict[str, Any] | None = None) -> tuple[TextClause, dict[str, Any]]:
    """`text(sql)` and the parameters it names, with dates and timestamps typed so SQLite stores
    and compares them as the ISO text SQLAlchemy writes for Date/DateTime columns (PostgreSQL
    as dates). Parameters the SQL does not name are left out."""
    used = {k: v for k, v in (params or {}).items() if re.search(rf":{k}\b", sql)}
    typed = []
    for name, value in used.items():
        if isinstance(value, datetime):
            typed.append(bindparam(name, type_=DateTime(timezone=True)))
        elif isinstance(value, date):
            typed.append(bindparam(name, type_=Date()))
    clause = text(sql)
    return (clause.bindparams(*typed) if typed else clause), used


def execute(connection: Connection, sql: str, params: dict[str, Any] | None = None) -> Any:
    clause, used = statement(sql, params)
    return connection.execute(clause, used)


def _columns(table: Table) -> str:
    return ", ".join(f'"{column.name}"' for column in table.columns)


def stage(
    connection: Connection, table: Table, select_sql: str, params: dict[str, Any]
) -> tuple[Table, int]:
    """A temporary copy of `table` (no constraints) filled by `select_sql`, whose columns come in
    the table's order, and the rows staged. It lives as long as the connection, across its
    transactions."""
    staging = Table(
        f"stg_{table.name}_{uuid.uuid4().hex[:8]}",
        MetaData(),
        *[Column(column.name, column.type) for column in table.columns],
        prefixes=["TEMPORARY"],
    )
    staging.create(connection)
    sql = f'INSERT INTO "{staging.name}" ({_columns(table)}) {select_sql}'
    return staging, execute(connection, sql, params).rowcount


def read_back(connection: Connection, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in execute(connection, query, params).mappings()]


def replace(
    connection: Connection,
    table: Table,
    staging: Table,
    scope: str,
    params: dict[str, Any] | None = None,
    document_key: tuple[str, ...] = (),
) -> tuple[int, int]:
    """Delete the published rows in `scope` (an SQL condition on `table`) and insert the staged
    rows. `document_key`: SQL expressions naming a row's document (the same on both tables);
    published rows of a document the staged rows hold are replaced too, in whatever scope they
    sit: a document re-dated into this month leaves the month it was in. The caller holds the
    write transaction (`transactions.write_transaction`), so two runs rebuilding the same month
    take turns. Returns (deleted, inserted)."""
    target = f'"{table.name}"'
    deleted = execute(connection, f"DELETE FROM {target} WHERE {scope}", params).rowcount
    if document_key:
        key = ", ".join(document_key)
        deleted += connection.execute(
            text(f'DELETE FROM {target} WHERE ({key}) IN (SELECT {key} FROM "{staging.name}")')
        ).rowcount
    inserted = connection.execute(
        text(
            f"INSERT INTO {target} ({_columns(table)}) "
            f'SELECT {_columns(table)} FROM "{staging.name}"'
        )
    ).rowcount
    return deleted, inserted
