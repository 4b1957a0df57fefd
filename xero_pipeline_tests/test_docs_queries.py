"""docs/tables.md stays true: its example queries run on a sandbox-loaded warehouse, in SQLite and
PostgreSQL, and answer what the sandbox's own documents say; and every column of the tables it
documents is there."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from xero_pipeline.defs.sales.columns import COLUMNS
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.warehouse.schema import metadata
from xero_pipeline_tests.sales_support import (
    HALF_CENT,
    Pipeline,
    day,
    dec,
    org_specs,
    rollup,
    sandbox_sales_lines,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tables.md"
START = date(2026, 6, 1)
# The tables this file must document column by column. (The customer merge's other tables share
# a section of their own in docs/tables.md and are not pinned column by column here.)
PINNED = (
    "xero_organisation",
    "xero_contacts",
    "xero_contact_groups",
    "xero_contact_group_members",
    "xero_accounts",
    "suppliers",
    "xero_invoices",
    "xero_invoice_lines",
    "xero_credit_notes",
    "xero_credit_note_lines",
    "fct_sales_lines",
    "sales_by_account_code_monthly",
    "dim_account_codes",
    "invoiced_contacts",
    "customers",
    "notifications_sent",
    "sync_state",
    "history_months",
    "invoices_raised",
    "xero_connections",
)


def documented_columns() -> dict[str, set[str]]:
    tables: dict[str, set[str]] = {}
    current = None
    for line in DOCS.read_text().splitlines():
        heading = re.match(r"^### `(\w+)`$", line)
        if heading:
            current = heading.group(1)
            tables[current] = set()
        elif line.startswith("## "):
            current = None
        elif current and line.startswith("| `"):
            tables[current] |= set(re.findall(r"`(\w+)`", line.split("|")[1]))
    return tables


def example_queries() -> dict[str, str]:
    blocks = re.findall(r"```sql\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    return {re.match(r"-- query: (\w+)", block).group(1): block for block in blocks}


def test_every_column_of_the_documented_tables_is_documented():
    documented = documented_columns()
    for name in PINNED:
        assert documented.get(name) == {c.name for c in metadata.tables[name].columns}, name
    for name, meanings in COLUMNS.items():  # the Dagster descriptions cover the same columns
        assert set(meanings) == {c.name for c in metadata.tables[name].columns}, name


def run(url: str, sql: str, params: dict) -> list[dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [dict(row) for row in connection.execute(text(sql), params).mappings()]
    finally:
        engine.dispose()


@pytest.fixture
def docs_sandbox(make_sandbox, xero_env, tmp_path, monkeypatch) -> Sandbox:
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path / "data"))  # the chart goes there
    sandbox = make_sandbox(orgs=org_specs())
    xero_env(sandbox)
    return sandbox


def test_the_example_queries_answer_what_the_sandbox_says(docs_sandbox, warehouse_url):
    Pipeline(warehouse_url, START).load_everything("2026-11-01")
    queries = example_queries()
    assert set(queries) == {
        "top_codes_this_quarter",
        "customer_purchases_by_code",
        "month_over_month_change",
        "documents_behind_a_number",
    }
    lines = sandbox_sales_lines(docs_sandbox, START, date(2026, 11, 1))
    revenue = {
        (t.tenant_id, a["Code"])
        for t in docs_sandbox.tenants.values()
        for a in t.accounts.records
        if a["Class"] == "REVENUE"
    }

    # Top revenue codes in the quarter October to December 2026 (the sandbox ends in November).
    quarter = [line for line in lines if "2026-10-01" <= line.month < "2027-01-01"]
    expected = {
        key: group
        for key, group in rollup(quarter, key=lambda line: (line.tenant_id, line.code)).items()
        if key in revenue
    }
    top = run(
        warehouse_url,
        queries["top_codes_this_quarter"],
        {"quarter_start": "2026-10-01", "quarter_end": "2027-01-01"},
    )
    assert {(r["tenant_id"], r["account_code"]) for r in top} == set(expected)
    for row in top:
        group = expected[(row["tenant_id"], row["account_code"])]
        assert abs(dec(row["net_sales_base"]) - group.net) < HALF_CENT
        assert (row["documents"], row["lines"]) == (len(group.documents), group.lines)
    for tenant in docs_sandbox.tenants:  # best first, per organisation
        nets = [dec(r["net_sales_base"]) for r in top if r["tenant_id"] == tenant]
        assert nets == sorted(nets, reverse=True) and nets

    # The busiest customer's purchases by code.
    tenant = docs_sandbox.tenant(0).tenant_id
    per_contact = defaultdict(int)
    for line in lines:
        if line.tenant_id == tenant:
            per_contact[line.contact_id] += 1
    contact = max(per_contact, key=per_contact.get)
    theirs = [line for line in lines if (line.tenant_id, line.contact_id) == (tenant, contact)]
    by_code = rollup(theirs, key=lambda line: line.code)
    bought = run(
        warehouse_url,
        queries["customer_purchases_by_code"],
        {"tenant_id": tenant, "contact_id": contact},
    )
    assert {r["account_code"] for r in bought} == set(by_code)
    quantities = _quantities(docs_sandbox, theirs)
    for row in bought:
        group = by_code[row["account_code"]]
        dates = [line.date for line in theirs if line.code == row["account_code"]]
        assert row["documents"] == len(group.documents)
        assert abs(dec(row["net_sales_base"]) - group.net) < HALF_CENT
        assert dec(row["quantity"]) == quantities[row["account_code"]]
        assert (day(row["first_date"]), day(row["last_date"])) == (
            min(dates).isoformat(),
            max(dates).isoformat(),
        )

    # November against October.
    months = rollup(lines, key=lambda line: (line.tenant_id, line.code, line.month))
    change = run(
        warehouse_url,
        queries["month_over_month_change"],
        {"month": "2026-11-01", "previous_month": "2026-10-01"},
    )
    codes = {(t, c) for t, c, m in months if m in ("2026-10-01", "2026-11-01")}
    assert {(r["tenant_id"], r["account_code"]) for r in change} == codes
    for row in change:
        key = (row["tenant_id"], row["account_code"])
        now = months.get((*key, "2026-11-01"))
        then = months.get((*key, "2026-10-01"))
        now_net = now.net if now else Decimal(0)
        then_net = then.net if then else Decimal(0)
        assert abs(dec(row["this_month"]) - now_net) < HALF_CENT
        assert abs(dec(row["last_month"]) - then_net) < HALF_CENT
        assert abs(dec(row["change"]) - (now_net - then_net)) < 2 * HALF_CENT

    # The documents behind tenant 0's October figure for code 200.
    behind = run(
        warehouse_url,
        queries["documents_behind_a_number"],
        {"tenant_id": tenant, "month": "2026-10-01", "account_code": "200"},
    )
    october = [
        line
        for line in lines
        if (line.tenant_id, line.month, line.code) == (tenant, "2026-10-01", "200")
    ]
    assert {r["document_number"] for r in behind} == {line.number for line in october}
    assert all(r["xero_url"].startswith("https://go.xero.com/") for r in behind)
    total = sum((dec(r["net_sales_base"]) for r in behind), Decimal(0))
    assert abs(total - sum((line.base for line in october), Decimal(0))) < HALF_CENT


def _quantities(sandbox: Sandbox, lines) -> dict[str, Decimal]:
    """Quantities per code from the sandbox's documents, negative on credit notes."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        tenant = sandbox.tenant(line.tenant_id)
        resource = "Invoice" if line.document_type == "ACCREC" else "CreditNote"
        documents = tenant.documents(resource)
        doc = documents.record(documents.position[line.document_id], with_lines=True)
        quantity = Decimal(str(doc["LineItems"][line.line_number - 1]["Quantity"]))
        totals[line.code] += quantity if resource == "Invoice" else -quantity
    return totals
