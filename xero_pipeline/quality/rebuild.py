"""The one way a table built in SQL is published: stage its SELECT inside the warehouse, read the
staged rows back for the gate, and only if every blocking check passed replace the published rows
in one transaction (`warehouse/rebuild.py` does the SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table

from xero_pipeline.quality.gate import GateResult, passed_or_raise, validate
from xero_pipeline.warehouse.rebuild import read_back, replace, stage
from xero_pipeline.warehouse.transactions import write_transaction


@dataclass(frozen=True)
class Rebuilt:
    gate: GateResult
    rows: list[dict[str, Any]]  # the staged rows as the gate read them
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
) -> Rebuilt:
    """Stage `select_sql`, read it back through `gate_sql`, run the table's suite and, only if
    it passed, replace the rows in `scope` (and those of the same documents, `same_document`;
    see `warehouse.rebuild.replace`) in one transaction. Raises GateFailed otherwise, and the
    table keeps its previous rows."""
    with engine.connect() as connection:
        with connection.begin():
            staging = stage(connection, table, select_sql, params)
            rows = read_back(connection, gate_sql, staging, params)
        try:
            gate = validate(table.name, rows, list(id_columns))
            passed_or_raise(where, gate)
            with write_transaction(connection, [table.name]):
                deleted, inserted = replace(
                    connection, table, staging, scope, params, same_document
                )
        finally:
            with connection.begin():
                staging.drop(connection)
    return Rebuilt(gate, rows, deleted, inserted)
