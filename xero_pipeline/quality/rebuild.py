"""The one way a table built in SQL is published: stage its SELECT inside the warehouse, gate the
staged rows there, and only if every blocking check passed replace the published rows in one
transaction (`warehouse/rebuild.py` does the SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table

from xero_pipeline.quality import in_warehouse
from xero_pipeline.quality.gate import GateResult, passed_or_raise, validate
from xero_pipeline.warehouse.rebuild import count_rows, drop, gate_table, read_back, replace, stage
from xero_pipeline.warehouse.transactions import write_transaction


@dataclass(frozen=True)
class Rebuilt:
    gate: GateResult
    rows: list[dict[str, Any]]  # what the caller asked back: its summary, or the gated rows
    staged: int  # rows staged
    deleted: int
    inserted: int


def gated_rebuild(
    engine: Engine,
    table: Table,
    *,
    select_sql: str,
    gate_sql: str,
    scope: str,
    params: dict[str, Any],
    id_columns: Sequence[str],
    where: str,
    same_document: str | None = None,
    summary_sql: str | None = None,
) -> Rebuilt:
    """Stage `select_sql`, put it through `gate_sql` into a second temporary table, run the
    table's suite on that (inside the warehouse when it can: `in_warehouse.py`; else Great
    Expectations on the rows read back) and, only if it passed, replace the rows in `scope`
    (and those of the same documents, `same_document`; see `warehouse.rebuild.replace`) in one
    transaction. Raises GateFailed otherwise, and the table keeps its previous rows.

    `summary_sql` (a query over `{gated}`) is what the caller wants back, e.g. totals for the
    UI; without it, the gated rows themselves are read back."""
    with engine.connect() as connection:
        with connection.begin():
            staging = stage(connection, table, select_sql, params)
            gated = gate_table(connection, gate_sql, staging, params)
        try:
            with connection.begin():
                staged = count_rows(connection, gated)
                rows = read_back(connection, summary_sql or "SELECT * FROM {gated}", gated)
                if in_warehouse.supported(table.name):
                    gate = in_warehouse.validate_in_warehouse(
                        connection, table.name, gated, list(id_columns)
                    )
                else:
                    gated_rows = (
                        rows
                        if summary_sql is None
                        else read_back(connection, "SELECT * FROM {gated}", gated)
                    )
                    gate = validate(table.name, gated_rows, list(id_columns))
            passed_or_raise(where, gate)
            with write_transaction(connection, [table.name]):
                deleted, inserted = replace(
                    connection, table, staging, scope, params, same_document
                )
        finally:
            with connection.begin():
                drop(connection, gated)
                staging.drop(connection)
    return Rebuilt(gate, rows, staged, deleted, inserted)
