"""Sales by account code against the sandbox, on SQLite and PostgreSQL: the fact and the monthly
rollup equal what the sandbox's own documents add up to; voids and credit notes move their month;
a fact that would not reconcile publishes nothing; the account-code dimension, invoiced contacts,
the chart, and the declarative automation that keeps it all fresh."""

from __future__ import annotations

import re
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import pytest
from sqlalchemy import create_engine

from xero_pipeline.cli import main
from xero_pipeline.defs.sales.queries import sql
from xero_pipeline.quality.rebuild import gated_rebuild
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.generator import CENT
from xero_pipeline.warehouse.rebuild import replace, stage
from xero_pipeline.warehouse.schema import fct_sales_lines
from xero_pipeline.warehouse.transactions import write_transaction
from xero_pipeline_tests.conftest import AS_OF
from xero_pipeline_tests.sales_support import (
    HALF_CENT,
    Coverage,
    Pipeline,
    day,
    dec,
    execute,
    org_specs,
    query,
    rollup,
    sandbox_sales_lines,
)

START = date(2026, 6, 1)  # the sandbox's six months up to AS_OF
LAST = "2026-11-01"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sales_sandbox(make_sandbox, xero_env, tmp_path, monkeypatch) -> Sandbox:
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path / "data"))  # the chart goes there
    sandbox = make_sandbox(orgs=org_specs())
    xero_env(sandbox)
    return sandbox


def fact_lines(url: str) -> dict[tuple, tuple]:
    rows = query(
        url,
        "SELECT tenant_id, document_type, invoice_id, credit_note_id, line_number, account_code, "
        "month, net_amount, tax_amount, gross_amount, net_amount_base, status, xero_url, "
        "document_number, contact_id FROM fct_sales_lines",
    )
    facts = {}
    for t, kind, invoice, credit, n, code, month, net, tax, gross, base, *rest in rows:
        status, link, number, contact = rest
        facts[(t, kind, invoice or credit, n)] = (
            code,
            day(month),
            dec(net).quantize(CENT),
            dec(tax).quantize(CENT),
            dec(gross).quantize(CENT),
            dec(base),
            status,
            link,
            number,
            contact,
        )
    return facts


def rollup_rows(url: str) -> dict[tuple, tuple]:
    rows = query(
        url,
        "SELECT tenant_id, month, account_code, net_amount_base, invoice_count, line_count, "
        "customer_count FROM sales_by_account_code_monthly",
    )
    return {
        (t, day(m), code): (dec(net), docs, lines, customers)
        for t, m, code, net, docs, lines, customers in rows
    }


def assert_rollup_equals(url: str, expected: dict) -> None:
    actual = rollup_rows(url)
    assert set(actual) == set(expected)
    for key, group in expected.items():
        net, documents, lines, customers = actual[key]
        assert abs(net - group.net) < HALF_CENT, key  # to the cent
        assert (documents, lines, customers) == (
            len(group.documents),
            group.lines,
            len(group.contacts),
        ), key


def deep_link(sandbox: Sandbox, tenant_id: str, kind: str, document_id: str) -> str:
    """XERO_API_NOTES.md's deep links, spelled out here rather than taken from xero/links.py."""
    short_code = sandbox.tenant(tenant_id).organisation["ShortCode"]
    page = (
        f"/AccountsReceivable/View.aspx?InvoiceID={document_id}"
        if kind == "ACCREC"
        else f"/AccountsPayable/ViewCreditNote.aspx?creditNoteID={document_id}"
    )
    return (
        "https://go.xero.com/organisationlogin/default.aspx"
        f"?shortcode={short_code}&redirecturl={page}"
    )


def test_fact_and_rollup_equal_the_sandbox_documents_to_the_cent(sales_sandbox, warehouse_url):
    pipeline = Pipeline(warehouse_url, START)
    pipeline.job("reference_data")
    result = pipeline.job("sales_history", START.isoformat(), LAST)
    coverage = Coverage()
    lines = sandbox_sales_lines(sales_sandbox, START, date(2026, 11, 1), coverage)
    # The organisation really has what the issue asks to be handled.
    assert coverage.statuses == {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"}
    assert coverage.amount_types == {"Exclusive", "Inclusive", "NoTax"}
    assert coverage.foreign > 0 and coverage.credit_notes > 0

    fact = fact_lines(warehouse_url)
    expected = {
        (line.tenant_id, line.document_type, line.document_id, line.line_number): line
        for line in lines
    }
    assert set(fact) == set(expected)  # approved sales lines only, each once
    for key, line in expected.items():
        code, month, net, tax, gross, base, status, link, number, contact = fact[key]
        assert (code, month, status, number, contact) == (
            line.code,
            line.month,
            line.status,
            line.number,
            line.contact_id,
        )
        assert (net, tax, gross) == (line.net, line.tax, line.net + line.tax), key
        assert abs(base - line.base) < Decimal("0.000001"), key
        assert link == deep_link(sales_sandbox, *key[:3])
    assert_rollup_equals(warehouse_url, rollup(lines))

    # Metadata: one materialization per month, with the top codes and a real link.
    fact_events = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "fct_sales_lines"
    ]
    assert len({e.partition for e in fact_events}) == 6
    shown = fact_events[0].materialization.metadata
    assert shown["lines"].value == len(lines)
    assert shown["link example"].value in {row[7] for row in fact.values()}
    by_code = rollup(lines, key=lambda line: (line.tenant_id, line.code))
    best = {
        sales_sandbox.tenant(tenant_id).name: max(
            (key for key in by_code if key[0] == tenant_id), key=lambda key: by_code[key].net
        )[1]
        for tenant_id in sales_sandbox.tenants
    }
    first_shown: dict[str, str] = {}
    for row in shown["top account codes"].value.splitlines()[2:]:
        organisation, code = (cell.strip() for cell in row.split("|")[1:3])
        first_shown.setdefault(organisation, code)
    assert first_shown == best  # each organisation's best-selling code heads its rows


def test_marts_equal_the_sandbox(sales_sandbox, warehouse_url):
    pipeline = Pipeline(warehouse_url, START)
    pipeline.load_everything(LAST)
    accounts = {
        (tenant.tenant_id, a["Code"]): (a["Name"], a["Class"], a["Status"])
        for tenant in sales_sandbox.tenants.values()
        for a in tenant.accounts.records
        if a.get("Code")
    }
    dim = query(
        warehouse_url,
        "SELECT tenant_id, code, name, class, status, is_revenue FROM dim_account_codes",
    )
    assert {(t, c): (n, k, s) for t, c, n, k, s, _ in dim} == accounts
    assert {(t, c) for t, c, *_, revenue in dim if revenue} == {
        key for key, (_, class_, _) in accounts.items() if class_ == "REVENUE"
    }

    lines = sandbox_sales_lines(sales_sandbox, START, date(2026, 11, 1))
    per_contact = rollup(lines, key=lambda line: (line.tenant_id, line.contact_id))
    invoice_dates: dict[tuple, list[date]] = {}
    for line in lines:
        if line.document_type == "ACCREC":
            invoice_dates.setdefault((line.tenant_id, line.contact_id), []).append(line.date)
    contacts = {
        (t, c): (first, last, count, dec(total), customer)
        for t, c, first, last, count, total, customer in query(
            warehouse_url,
            "SELECT tenant_id, contact_id, first_invoice_date, last_invoice_date, invoice_count, "
            "lifetime_net_sales_base, customer_id FROM invoiced_contacts",
        )
    }
    assert set(contacts) == set(invoice_dates)  # invoiced at least once; credit-only left out
    for key, dates in invoice_dates.items():
        first, last, count, total, customer = contacts[key]
        invoices = {
            line.document_id
            for line in lines
            if (line.tenant_id, line.contact_id) == key and line.document_type == "ACCREC"
        }
        assert (day(first), day(last), count) == (
            min(dates).isoformat(),
            max(dates).isoformat(),
            len(invoices),
        )
        assert abs(total - per_contact[key].net) < HALF_CENT
        assert customer is None  # the customer merge has not linked anyone in this warehouse


def test_voiding_an_invoice_removes_its_lines_and_a_credit_note_reduces_its_month(
    sales_sandbox, warehouse_url
):
    pipeline = Pipeline(warehouse_url, START)
    pipeline.job("reference_data")
    pipeline.job("sales_history", START.isoformat(), LAST)
    before = rollup_rows(warehouse_url)
    tenant = sales_sandbox.tenant(0)
    september = [
        s
        for s in tenant.invoices.stubs
        if s.type == "ACCREC" and s.status in ("AUTHORISED", "PAID") and s.date.month == 9
    ]
    voided = september[0]
    sales_sandbox.clock.advance(10)
    tenant.set_document_status("Invoice", voided.id, "VOIDED")
    customer = voided.contact_id
    credit = tenant.add_document(
        "CreditNote",
        contact_id=customer,
        day=date(2026, 9, 15),
        lines=[{"AccountCode": "260", "UnitAmount": "25.00", "Quantity": 2}],
    )
    pipeline.job("sales_history", "2026-09-01")

    fact = fact_lines(warehouse_url)
    assert not [k for k in fact if k[2] == voided.id]
    assert fact[(tenant.tenant_id, "ACCRECCREDIT", credit["CreditNoteID"], 1)][2] == Decimal(
        "-50.00"
    )
    after = rollup_rows(warehouse_url)
    lines = sandbox_sales_lines(sales_sandbox, START, date(2026, 11, 1))
    assert_rollup_equals(warehouse_url, rollup(lines))
    # Exactly the voided invoice's lines and the credit note left September's figures.
    voided_lines = [
        item
        for item in tenant.invoices.record(tenant.invoices.position[voided.id], with_lines=True)[
            "LineItems"
        ]
    ]
    inclusive = tenant.invoices.overrides[voided.id]["LineAmountTypes"] == "Inclusive"
    for code in {item["AccountCode"] for item in voided_lines} | {"260"}:
        key = (tenant.tenant_id, "2026-09-01", code)
        removed = sum(
            (item["LineAmount"] - (item["TaxAmount"] if inclusive else 0))
            for item in voided_lines
            if item["AccountCode"] == code
        ) / Decimal(str(voided.rate))
        credited = Decimal(50) if code == "260" else 0
        was = before.get(key, (Decimal(0),))[0]
        now = after.get(key, (Decimal(0),))[0]
        assert abs((was - now) - (removed + credited)) < HALF_CENT, code
    others = {k: v for k, v in before.items() if k[1] != "2026-09-01"}
    assert {k: v for k, v in after.items() if k[1] != "2026-09-01"} == others


def test_a_fact_that_does_not_reconcile_fails_the_gate_and_publishes_nothing(
    sales_sandbox, warehouse_url
):
    pipeline = Pipeline(warehouse_url, START)
    pipeline.job("reference_data")
    pipeline.job("sales_history", START.isoformat(), LAST)
    month = "SELECT * FROM {} WHERE month = '2026-08-01' ORDER BY 1, 2, 3, 4, 5, 6"
    fact_before = query(warehouse_url, month.format("fct_sales_lines"))
    rollup_before = query(warehouse_url, month.format("sales_by_account_code_monthly"))
    assert fact_before and rollup_before
    tenant = sales_sandbox.tenant(1)
    august = next(
        s
        for s in tenant.invoices.stubs
        if s.type == "ACCREC" and s.status in ("AUTHORISED", "PAID") and s.date.month == 8
    )
    # Someone edits a published line by hand: the fact would no longer sum to the invoice.
    execute(
        warehouse_url,
        "UPDATE xero_invoice_lines SET line_amount = line_amount + 5 "
        "WHERE invoice_id = :id AND line_number = 1",
        {"id": august.id},
    )
    result = pipeline.job("monthly_sales", "2026-08-01", raise_on_error=False)
    assert not result.success
    checks = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert not checks["net_amounts_sum_to_subtotal"].passed
    assert checks["net_amounts_sum_to_subtotal"].metadata["unexpected count"].value == len(
        [k for k in fact_lines(warehouse_url) if k[2] == august.id]
    )
    assert checks["traces_to_a_document_line"].passed
    assert query(warehouse_url, month.format("fct_sales_lines")) == fact_before
    assert query(warehouse_url, month.format("sales_by_account_code_monthly")) == rollup_before


def test_a_missing_currency_rate_counts_one_only_in_the_base_currency(sales_sandbox, warehouse_url):
    tenant = sales_sandbox.tenant(0)
    raised = [
        s
        for s in tenant.invoices.stubs
        if s.type == "ACCREC" and s.status in ("AUTHORISED", "PAID") and s.date >= START
    ]
    abroad = next(s for s in raised if s.currency != "NZD")  # NZD is the base currency
    home = next(s for s in raised if s.currency == "NZD" and s.date.month == abroad.date.month)
    month = abroad.date.replace(day=1).isoformat()
    pipeline = Pipeline(warehouse_url, START)
    pipeline.job("reference_data")
    pipeline.job("sales_history", month)
    no_rate = "UPDATE xero_invoices SET currency_rate = NULL WHERE invoice_id = :id"
    execute(warehouse_url, no_rate, {"id": home.id})
    assert pipeline.job("monthly_sales", month).success
    home_lines = query(
        warehouse_url,
        "SELECT net_amount, net_amount_base FROM fct_sales_lines WHERE invoice_id = :id",
        {"id": home.id},
    )
    assert home_lines and all(dec(net) == dec(base) for net, base in home_lines)

    before = query(warehouse_url, "SELECT * FROM fct_sales_lines ORDER BY 1, 2, 3, 4, 5, 6")
    execute(warehouse_url, no_rate, {"id": abroad.id})
    result = pipeline.job("monthly_sales", month, raise_on_error=False)
    assert not result.success
    failed = {
        e.event_specific_data.check_name
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    }
    assert "base_amount_known" in failed
    assert query(warehouse_url, "SELECT * FROM fct_sales_lines ORDER BY 1, 2, 3, 4, 5, 6") == before


def test_the_chart_asset_and_command_draw_a_png(sales_sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path / "data"))
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    pipeline = Pipeline(url, START)
    pipeline.job("reference_data")
    pipeline.job("sales_history", "2026-09-01", LAST)
    result = pipeline.job("sales_marts")
    shown = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "sales_by_account_code_chart"
    )
    path = tmp_path / "data" / "sales_by_account_code.png"
    assert shown["path"].value == str(path)
    picture = path.read_bytes()
    assert picture.startswith(PNG_SIGNATURE) and len(picture) > 20_000
    assert shown["chart"].value.startswith("![net sales by revenue account code](data:image/png;")
    assert shown["organisations"].value == 2
    assert shown["months"].value == "2026-09 to 2026-11"
    # Revenue codes only: one series per (organisation, revenue code) with sales.
    revenue = {
        (tenant.tenant_id, account["Code"])
        for tenant in sales_sandbox.tenants.values()
        for account in tenant.accounts.records
        if account["Class"] == "REVENUE"
    }
    lines = sandbox_sales_lines(sales_sandbox, date(2026, 9, 1), date(2026, 11, 1))
    assert shown["account codes"].value == len(
        {(line.tenant_id, line.code) for line in lines} & revenue
    )

    monkeypatch.setenv("WAREHOUSE_URL", url)
    out = tmp_path / "elsewhere" / "chart.png"
    assert main(["chart", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(PNG_SIGNATURE) and out.stat().st_size > 20_000


def requested(result, asset: str) -> set:
    return set(result.get_requested_partitions(dg.AssetKey(asset)))


def test_automation_rebuilds_the_months_history_and_sync_touched(
    sales_sandbox, tmp_path, monkeypatch
):
    # History from July: the months July to November are the whole of it, so the sync (which
    # reads an organisation once its history is complete) reads these organisations.
    monkeypatch.setenv("XERO_SALES_START_DATE", "2026-07")
    instance = dg.DagsterInstance.ephemeral()
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    pipeline = Pipeline(url, START, instance=instance)
    pipeline.job("reference_data")
    defs = pipeline.defs

    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0  # nothing changed since the conditions were applied

    pipeline.job("history_only", "2026-07-01", "2026-11-01")
    after_history = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=first.cursor
    )
    months = {"2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01", "2026-11-01"}
    assert requested(after_history, "fct_sales_lines") == months
    assert requested(after_history, "sales_by_account_code_monthly") == months
    # The tables built from every month wait for the monthly ones to be rebuilt (Dagster does
    # not put partitioned and unpartitioned assets in one run), and xero_accounts did not change.
    assert requested(after_history, "invoiced_contacts") == set()
    assert requested(after_history, "dim_account_codes") == set()

    settled = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=after_history.cursor
    )
    assert settled.total_requested == 0  # requested once, not again on every tick

    # The runs the sensor would launch: the months of fact and rollup.
    pipeline.job("monthly_sales", "2026-07-01", "2026-11-01")
    rebuilt = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    assert requested(rebuilt, "invoiced_contacts") == {None}
    assert requested(rebuilt, "sales_by_account_code_chart") == {None}
    assert requested(rebuilt, "fct_sales_lines") == set()
    assert requested(rebuilt, "sales_by_account_code_monthly") == set()

    # The incremental sync records materializations for the months it touched.
    tenant = sales_sandbox.tenant(0)
    august = next(
        s
        for s in tenant.invoices.stubs
        if s.type == "ACCREC" and s.status == "AUTHORISED" and s.date.month == 8
    )
    sales_sandbox.clock.advance(10)
    tenant.set_document_status("Invoice", august.id, "PAID")
    synced = pipeline.job("sales_sync")
    touched = {
        e.partition
        for e in synced.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "xero_invoices"
    }
    assert touched == {"2026-08-01"}  # the month of the one invoice that changed
    after_sync = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=rebuilt.cursor
    )
    assert requested(after_sync, "fct_sales_lines") == touched
    assert requested(after_sync, "sales_by_account_code_monthly") == touched

    # A run that rebuilt the fact along with the history asks for nothing more.
    pipeline.job("sales_history", "2026-09-01")
    after_full = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=after_sync.cursor
    )
    assert requested(after_full, "fct_sales_lines") == set()
    assert requested(after_full, "sales_by_account_code_monthly") == set()
    assert requested(after_full, "invoiced_contacts") == {None}

    # The customer merge (its `customers` asset) links contacts: every month takes customer_id.
    instance.report_runless_asset_event(dg.AssetMaterialization("customers"))
    after_merge = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=after_full.cursor
    )
    every_month = set(pipeline.partitions.get_partition_keys())
    assert requested(after_merge, "fct_sales_lines") == every_month
    assert requested(after_merge, "sales_by_account_code_monthly") == every_month


class September:
    """September's history, fact and rollup built, each asset then republished on demand, and
    the automation's ticks evaluated in between: the setting of the race tests below."""

    MONTH = "2026-09-01"

    def __init__(self, tmp_path, monkeypatch) -> None:
        monkeypatch.setenv("XERO_SALES_START_DATE", "2026-09")
        self.instance = dg.DagsterInstance.ephemeral()
        url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
        self.pipeline = Pipeline(url, START, instance=self.instance)
        self.pipeline.job("reference_data")
        self.publish_history()
        self.pipeline.job("monthly_sales", self.MONTH)

    def publish(self, *assets: str) -> None:
        """September of each asset, in its own run, in this order."""
        for asset in assets:
            self.pipeline.job("monthly_sales", self.MONTH, asset_selection=[dg.AssetKey(asset)])

    def publish_history(self) -> None:
        """September's invoices and credit notes again: the fact's sources change."""
        self.pipeline.job("history_only", self.MONTH)

    def tick(
        self, after: dg.EvaluateAutomationConditionsResult | None = None
    ) -> dg.EvaluateAutomationConditionsResult:
        return dg.evaluate_automation_conditions(
            defs=self.pipeline.defs,
            instance=self.instance,
            cursor=after.cursor if after is not None else None,
        )


def test_a_rollup_built_before_its_fact_between_two_ticks_is_rebuilt(
    sales_sandbox, tmp_path, monkeypatch
):
    """The race the operator's day once lost: a rollup run asked for earlier finishes, then a
    run of the fact alone publishes a newer fact, and the next tick sees both at once. The
    rollup was built from the older fact, so it must be asked for again."""
    september = September(tmp_path, monkeypatch)
    first = september.tick()

    september.publish("sales_by_account_code_monthly", "fct_sales_lines")
    raced = september.tick(first)
    assert requested(raced, "sales_by_account_code_monthly") == {"2026-09-01"}
    assert requested(raced, "fct_sales_lines") == set()  # its history did not change

    # The fact again before the rollup asked for has run: that run may read either fact, so the
    # month is asked for again (the daemon holds it back while the first run is in progress).
    september.publish("fct_sales_lines")
    again = september.tick(raced)
    assert requested(again, "sales_by_account_code_monthly") == {"2026-09-01"}
    settled = september.tick(again)
    assert requested(settled, "sales_by_account_code_monthly") == set()  # asked for once

    # The other way round the rollup is already newer than its fact: nothing to rebuild.
    september.publish("fct_sales_lines", "sales_by_account_code_monthly")
    assert requested(september.tick(settled), "sales_by_account_code_monthly") == set()


def test_a_fact_month_waits_while_its_rollup_is_being_built(sales_sandbox, tmp_path, monkeypatch):
    """The other way round: a rollup run reads the fact, and a newer fact published before that
    run ends would be older than the rollup's materialization, so the rollup would look up to
    date. So the fact is not rebuilt while a reader of the month is in progress."""
    september = September(tmp_path, monkeypatch)
    first = september.tick()

    rollup_run = september.instance.create_run_for_job(
        september.pipeline.defs.resolve_job_def("monthly_sales"),
        asset_selection={dg.AssetKey("sales_by_account_code_monthly")},
        tags={"dagster/partition": September.MONTH},
    )
    september.publish_history()  # while the rollup run is in progress
    waiting = september.tick(first)
    assert requested(waiting, "fct_sales_lines") == set()

    # The rollup run ends (the month published, as that run would): now the fact is rebuilt,
    # and the rollup with it.
    september.publish("sales_by_account_code_monthly")
    september.instance.report_run_canceled(rollup_run)
    ended = september.tick(waiting)
    assert requested(ended, "fct_sales_lines") == {"2026-09-01"}
    assert requested(ended, "sales_by_account_code_monthly") == {"2026-09-01"}


def test_run_command_ends_with_sales_by_account_code_and_the_chart(tmp_path, monkeypatch, capsys):
    for name in (
        "XERO_CLIENT_ID",
        "XERO_CLIENT_SECRET",
        "XERO_API_BASE",
        "XERO_IDENTITY_BASE",
        "WAREHOUSE_URL",
        "DAGSTER_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path))
    first = (AS_OF.replace(day=1) - timedelta(days=45)).replace(day=1)
    run = [
        "run",
        "--size",
        "tiny",
        "--as-of",
        AS_OF.isoformat(),
        "--history-from",
        f"{first:%Y-%m}",
    ]
    assert main(run) == 0
    out = capsys.readouterr().out
    summary = out[out.index("Net sales by account code, the last 3 months:") :]
    warehouse = tmp_path / "warehouse.sqlite"
    assert f"Chart: {tmp_path / 'sales_by_account_code.png'}" in summary
    assert f"Warehouse: sqlite:///{warehouse}" in summary
    assert (tmp_path / "sales_by_account_code.png").read_bytes().startswith(PNG_SIGNATURE)
    url = f"sqlite:///{warehouse}"
    names = dict(query(url, "SELECT name, tenant_id FROM xero_organisation"))
    rows = query(
        url,
        "SELECT tenant_id, month, account_code, net_amount_base FROM sales_by_account_code_monthly",
    )
    expected = {(t, day(m)[:7], c): dec(n).quantize(CENT) for t, m, c, n in rows}
    printed = {}
    tenant = None
    for line in summary.splitlines():
        header = re.match(r"^(\S.*)  \(net sales in (\w+)\)$", line)
        if header:
            tenant = names[header.group(1)]
            continue
        row = re.match(r"^  (\d{4}-\d{2})\s+(\d+)\s.*?\s(-?[\d,]+\.\d\d)\s+\d+\s+\d+$", line)
        if row:
            printed[(tenant, row.group(1), row.group(2))] = Decimal(row.group(3).replace(",", ""))
    # The merge ran after the backfill; the fact was rebuilt after it, so customer_id is there.
    linked = query(
        url,
        "SELECT f.customer_id, c.customer_id FROM fct_sales_lines f LEFT JOIN customers c "
        "ON c.tenant_id = f.tenant_id AND c.contact_id = f.contact_id",
    )
    assert all(fact == merged for fact, merged in linked)
    assert any(fact is not None for fact, _ in linked)
    assert {tenant for tenant, *_ in printed} == set(names.values())  # both organisations
    assert {month for _, month, _ in printed} == {m for _, m, _ in expected}  # 3 months loaded
    assert printed == {
        key: value
        for key, value in expected.items()
        if key[1] in {month for _, month, _ in printed}
    }


@pytest.mark.postgres
def test_two_rebuilds_of_the_same_month_take_turns_on_postgresql(sales_sandbox, postgres_url):
    """A second rebuild of a month that starts while the first is replacing it waits, then
    replaces the first one's rows: no duplicate key, no duplicated lines."""
    pipeline = Pipeline(postgres_url, START)
    pipeline.job("reference_data")
    pipeline.job("sales_history", "2026-08-01")
    august = "SELECT * FROM fct_sales_lines WHERE month = '2026-08-01' ORDER BY 1, 2, 3, 4, 5, 6"
    before = query(postgres_url, august)
    params = {"start": date(2026, 8, 1), "end": date(2026, 9, 1), "month": date(2026, 8, 1)}
    engine = create_engine(postgres_url)
    outcome: dict = {}

    def second_rebuild() -> None:
        try:
            outcome["rebuilt"] = gated_rebuild(
                engine,
                fct_sales_lines,
                select_sql=sql("fct_sales_lines"),
                gate_sql=sql("fct_sales_lines_gate"),
                scope="month = :month",
                params=params,
                id_columns=("tenant_id", "document_type", "document_id", "line_number"),
                where="the second rebuild",
            )
        except Exception as exc:  # reported below, with the assertion
            outcome["error"] = exc

    try:
        with engine.connect() as first:
            with first.begin():
                staging, _ = stage(first, fct_sales_lines, sql("fct_sales_lines"), params)
            thread = threading.Thread(target=second_rebuild)
            with write_transaction(first, [fct_sales_lines.name]):
                replace(first, fct_sales_lines, staging, "month = :month", params)
                thread.start()  # while the first replace is not committed yet
                waiting = (
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
                deadline = time.monotonic() + 60
                while query(postgres_url, waiting) == [(0,)] and thread.is_alive():
                    assert time.monotonic() < deadline, "the second rebuild never queued"
                    time.sleep(0.05)
            thread.join(timeout=120)
    finally:
        engine.dispose()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["rebuilt"].deleted == outcome["rebuilt"].inserted == len(before)
    assert query(postgres_url, august) == before
