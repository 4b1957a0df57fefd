"""What the warehouse holds, per table and tenant: printed at the end of `make run`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import String, create_engine, func, inspect, select

from xero_pipeline.warehouse.rebuild import execute, sql_file
from xero_pipeline.warehouse.schema import metadata, xero_organisation

SUMMARY_TABLES = (
    "xero_organisation",
    "xero_contacts",
    "xero_contact_groups",
    "xero_contact_group_members",
    "xero_accounts",
    "suppliers",
)


def loaded_summary(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("xero_organisation"):
                return "(the warehouse is empty)"
            names = dict(
                connection.execute(
                    select(xero_organisation.c.tenant_id, xero_organisation.c.name)
                ).all()
            )
            counts: dict[str, dict[str, int]] = {}
            for name in SUMMARY_TABLES:
                table = metadata.tables[name]
                for tenant_id, count in connection.execute(
                    select(table.c.tenant_id, func.count()).group_by(table.c.tenant_id)
                ):
                    counts.setdefault(tenant_id, {})[name] = count
    finally:
        engine.dispose()
    width = max(len(t) for t in SUMMARY_TABLES)
    lines = []
    for tenant_id, tables in counts.items():
        lines.append(f"{names.get(tenant_id, '?')}  (tenant {tenant_id})")
        lines += [f"  {name:<{width}} {tables.get(name, 0):>7}" for name in SUMMARY_TABLES]
    return "\n".join(lines)


def history_summary(url: str, last_months: int | None = None) -> str:
    """Documents and lines per month, both resources, all tenants."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("xero_invoices"):
                return "(no sales history loaded)"
            counts: dict[str, list[int]] = {}
            for position, (table, date_column) in enumerate(
                (
                    ("xero_invoices", "date"),
                    ("xero_invoice_lines", "invoice_date"),
                    ("xero_credit_notes", "date"),
                    ("xero_credit_note_lines", "credit_note_date"),
                )
            ):
                column = metadata.tables[table].c[date_column]
                month = func.substr(func.cast(column, String), 1, 7)
                for key, count in connection.execute(select(month, func.count()).group_by(month)):
                    counts.setdefault(key, [0, 0, 0, 0])[position] = count
    finally:
        engine.dispose()
    months = sorted(counts)[-last_months:] if last_months else sorted(counts)
    lines = [f"{'month':<8} {'invoices':>9} {'lines':>7} {'credit notes':>13} {'lines':>7}"]
    lines += [
        f"{m:<8} {c[0]:>9} {c[1]:>7} {c[2]:>13} {c[3]:>7}" for m in months for c in [counts[m]]
    ]
    return "\n".join(lines)


def sales_summary(url: str, last_months: int = 3) -> str:
    """Net sales by account code for the last few months, per organisation in its own base
    currency (amounts in different currencies are never added up)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("sales_by_account_code_monthly"):
                return "(no sales by account code yet)"
            months = sorted(
                str(m)[:10]
                for (m,) in execute(
                    connection, "SELECT DISTINCT month FROM sales_by_account_code_monthly"
                )
            )
            if not months:
                return "(no sales by account code yet)"
            since = date.fromisoformat(months[-last_months:][0])
            rows = execute(connection, sql_file("sales_summary"), {"since": since}).mappings().all()
    finally:
        engine.dispose()
    lines: list[str] = []
    current = None
    header = (
        f"  {'month':<8} {'code':<6} {'account':<28} {'net sales':>14} "
        f"{'documents':>9} {'customers':>9}"
    )
    for row in rows:
        if row["tenant_id"] != current:
            current = row["tenant_id"]
            currency = row["base_currency"] or "base currency"
            lines += [f"{row['organisation']}  (net sales in {currency})", header]
        net = Decimal(str(row["net_amount_base"] or 0)).quantize(Decimal("0.01"))
        lines.append(
            f"  {str(row['month'])[:7]:<8} {row['account_code'] or '-':<6} "
            f"{(row['account_name'] or '')[:28]:<28} {net:>14,} "
            f"{row['invoice_count']:>9} {row['customer_count']:>9}"
        )
    return "\n".join(lines)
