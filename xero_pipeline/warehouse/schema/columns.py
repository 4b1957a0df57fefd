"""The column conventions every warehouse table shares, and the one MetaData they live in.

Every key starts with `tenant_id`; money is exact (`Numeric`); timestamps carry their zone;
`row_hash` fingerprints a row's content so a publish rewrites only what changed.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, Numeric, String, Table

metadata = MetaData()


def tenant() -> Column:
    return Column("tenant_id", String(36), primary_key=True)


def bookkeeping() -> list[Column]:
    return [
        Column("row_hash", String(32), nullable=False),
        Column("loaded_at", DateTime(timezone=True), nullable=False),
    ]


def money(name: str) -> Column:
    return Column(name, Numeric(18, 4))


def base_money(name: str) -> Column:
    """Amounts converted to the base currency: six places, because dividing by a currency rate
    is inexact and sums over thousands of lines must still be right to the cent."""
    return Column(name, Numeric(20, 6))


def key_columns(table: Table) -> list[str]:
    return [column.name for column in table.primary_key.columns]
