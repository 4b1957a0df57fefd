"""Net sales by account code for the last few months, as `make run` prints it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from xero_pipeline.defs.sales.queries import sql
from xero_pipeline.warehouse.engine import reading
from xero_pipeline.warehouse.rebuild import execute

NO_SALES = "(no sales by account code yet)"


def sales_summary(url: str, last_months: int = 3) -> str:
    """Net sales by account code for the last few months, per organisation in its own base
    currency (amounts in different currencies are never added up)."""
    with reading(url, "sales_by_account_code_monthly") as connection:
        if connection is None:
            return NO_SALES
        months = sorted(
            str(m)[:10]
            for (m,) in execute(
                connection, "SELECT DISTINCT month FROM sales_by_account_code_monthly"
            )
        )
        if not months:
            return NO_SALES
        since = date.fromisoformat(months[-last_months:][0])
        rows = execute(connection, sql("sales_summary"), {"since": since}).mappings().all()
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
