"""What a sales run built, in the words and numbers the Dagster UI shows: net sales per account
code and organisation (never added across currencies), the best-selling codes, and tables of
formatted amounts."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pandas as pd

from xero_pipeline.quality.rebuild import Rebuilt

TOP_CODES = 10


def decimal(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


def money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


class SalesTally:
    """What a run built, added up month by month (bounded by tenants x codes, not by lines)."""

    def __init__(self) -> None:
        self.by_code: dict[tuple[str, str], dict[str, Any]] = {}
        self.net_by_tenant: Counter = Counter()
        self.document_types: Counter = Counter()  # fact lines by ACCREC / ACCRECCREDIT
        self.rows = self.deleted = self.inserted = 0
        self.link: str | None = None

    def add(self, built: Rebuilt, *, per_line: bool) -> None:
        """Add a month: its summary rows (`sql/*_summary.sql`: per organisation and code, and
        for the fact per document type), and the rows it staged (`per_line`: fact lines)."""
        self.rows += built.staged
        self.deleted += built.deleted
        self.inserted += built.inserted
        for row in built.rows:
            key = (row["tenant_id"], row["account_code"] or "")
            entry = self.by_code.setdefault(
                key, {"name": row["account_name"], "net": Decimal(0), "docs": 0, "lines": 0}
            )
            net = decimal(row["net_amount_base"])
            entry["net"] += net
            entry["docs"] += int(row["document_count"] or 0)
            entry["lines"] += int(row["line_count"] or 0)
            self.net_by_tenant[row["tenant_id"]] += net
            if per_line:
                self.document_types[row["document_type"]] += int(row["line_count"] or 0)
            if self.link is None and row["xero_url"]:
                self.link = row["xero_url"]

    def top_codes(self, names: dict[str, tuple[str, str]]) -> str:
        """The best-selling codes of each organisation (never ranked across currencies)."""
        ranked = sorted(
            self.by_code.items(),
            key=lambda item: (names.get(item[0][0], (item[0][0], ""))[0], -item[1]["net"]),
        )
        top, shown = [], Counter()
        for (tenant, code), entry in ranked:
            shown[tenant] += 1
            if shown[tenant] <= TOP_CODES:
                top.append(((tenant, code), entry))
        frame = pd.DataFrame(
            [
                {
                    "organisation": names.get(tenant, (tenant, ""))[0],
                    "code": code,
                    "account": entry["name"],
                    "net sales (base)": money(entry["net"]),
                    "currency": names.get(tenant, ("", ""))[1],
                    "documents": entry["docs"],
                    "lines": entry["lines"],
                }
                for (tenant, code), entry in top
            ]
        )
        return markdown(frame, "(no sales in these months)")

    def totals(self, names: dict[str, tuple[str, str]]) -> dict[str, str]:
        return {
            f"{names.get(t, (t, ''))[0]} ({names.get(t, ('', ''))[1]})": money(v)
            for t, v in sorted(self.net_by_tenant.items())
        }


def markdown(frame: pd.DataFrame, empty: str) -> str:
    """A table for the UI; numbers stay as formatted (tabulate would re-parse "1,234.50")."""
    return frame.to_markdown(index=False, disable_numparse=True) if not frame.empty else empty


def month_label(months: list[tuple[Any, Any]]) -> str:
    return f"{months[0][0]:%Y-%m} to {months[-1][0]:%Y-%m} ({len(months)})"
