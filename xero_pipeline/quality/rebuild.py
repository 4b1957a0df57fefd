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
from xero_pipeline.warehouse.rebuild import read_back, replace, stage
from xero_pipeline.warehouse.transactions import write_transaction


@dataclass(frozen=True)
class Rebuilt:
    gate: GateResult
    rows: list[dict[str, Any]]  # what the caller asked back: its summary, or the staged rows
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
    document_key: tuple[str, ...] = (),
    summary_sql: str | None = None,
) -> Rebuilt:
    """Stage `select_sql`, judge the staged rows as `gate_sql` shows them (`{rows}` in it names
    the staged copy) with the table's suite — inside the warehouse when it can
    (`in_warehouse.py`: one query, nothing read back), else Great Expectations on the rows read
    back — and, only if it passed, replace the rows in `scope` (and those of the same documents,
    `document_key`; see `warehouse.rebuild.replace`) in one transaction. Raises GateFailed
    otherwise, and the table keeps its previous rows.

    `summary_sql` (a query over `{rows}`) is what the caller wants back, e.g. totals for the
    UI; without it, the staged rows themselves are read back."""
    with engine.connect() as connection:
        with connection.begin():
            staging, staged = stage(connection, table, select_sql, params)
        rows_sql = f'"{staging.name}"'
        gated = gate_sql.replace("{rows}", rows_sql)
        try:
            with connection.begin():
                if in_warehouse.supported(table.name):
                    gate = in_warehouse.validate_in_warehouse(
                        connection, table.name, gated, list(id_columns), params
                    )
                else:
                    gated_rows = read_back(connection, gated, params)
                    gate = validate(table.name, gated_rows, list(id_columns))
                summary = (summary_sql or "SELECT * FROM {rows} s").replace("{rows}", rows_sql)
                rows = read_back(connection, summary, params)
            passed_or_raise(where, gate)
            with write_transaction(connection, [table.name]):
                deleted, inserted = replace(connection, table, staging, scope, params, document_key)
        finally:
            with connection.begin():
                staging.drop(connection)
    return Rebuilt(gate, rows, staged, deleted, inserted)
