"""The edits real organisations make, against the sandbox, on SQLite and PostgreSQL: an approved
invoice re-dated into another month (both ways, near and far), one re-dated before the sales
start, a revenue code created and used the same day, a line on a code Xero never had, one
organisation's bad document beside another's good ones, and a month re-read while the sync
commits a newer edit (the reconciliation and the sync overlapping)."""

from __future__ import annotations

import logging
from datetime import date

import dagster as dg
import pytest

from xero_pipeline.defs.history.documents import read
from xero_pipeline.defs.history.loading import MonthLoad
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.xero.filters import date_window
from xero_pipeline.xero.rows import INVOICES
from xero_pipeline_tests.conftest import AS_OF
from xero_pipeline_tests.sales_support import (
    Pipeline,
    assert_sales_equal_the_sandbox,
    dec,
    org_specs,
    query,
)

START = date(2026, 6, 1)  # the organisations' six months, up to AS_OF's
LAST = "2026-11-01"


@pytest.fixture
def loaded(make_sandbox, xero_env, warehouse_url, monkeypatch, tmp_path):
    """Six months of history with the sales tables built, history starting at START."""
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path / "data"))
    sandbox = make_sandbox(orgs=org_specs())
    xero_env(sandbox)
    monkeypatch.setenv("XERO_SALES_START_DATE", f"{START:%Y-%m}")
    instance = dg.DagsterInstance.ephemeral()
    pipeline = Pipeline(warehouse_url, START, instance=instance)
    pipeline.load_everything(LAST)
    return sandbox, pipeline, instance


def approved(sandbox: Sandbox, tenant: int, month: int) -> str:
    """An approved sales invoice of the tenant dated in `month` (of 2026)."""
    return next(
        s.id
        for s in sandbox.tenant(tenant).invoices.stubs
        if s.type == "ACCREC" and s.status in ("AUTHORISED", "PAID") and s.date.month == month
    )


def rebuild_what_automation_asks(pipeline: Pipeline, instance, cursor) -> tuple[set, object]:
    """The months the sales automation asks for after what happened, rebuilt as its runs would."""
    asked = dg.evaluate_automation_conditions(defs=pipeline.defs, instance=instance, cursor=cursor)
    months = set(asked.get_requested_partitions(dg.AssetKey("fct_sales_lines")))
    for month in sorted(months):
        assert pipeline.job("monthly_sales", month).success
    return months, asked.cursor


def test_an_approved_invoice_re_dated_either_way_moves_in_the_sales_tables(loaded, warehouse_url):
    sandbox, pipeline, instance = loaded
    cursor = dg.evaluate_automation_conditions(defs=pipeline.defs, instance=instance).cursor
    forward, backward = approved(sandbox, 0, 7), approved(sandbox, 1, 10)
    sandbox.clock.advance(10)
    sandbox.tenant(0).set_document_date("Invoice", forward, date(2026, 11, 3))
    # ... and one from far back (outside the three reconciled months) into the current month
    far = approved(sandbox, 1, 6)
    sandbox.tenant(1).set_document_date("Invoice", far, date(2026, 11, 9))
    assert pipeline.job("sales_sync").success
    months, cursor = rebuild_what_automation_asks(pipeline, instance, cursor)
    assert {"2026-06-01", "2026-07-01", "2026-11-01"} <= months  # left and joined
    assert_sales_equal_the_sandbox(sandbox, warehouse_url, START, date.fromisoformat(LAST))

    # The other way, found by the nightly reconciliation's re-read of its months (a re-dating
    # the sync missed: say its run failed), from October back to August.
    sandbox.tenant(1).set_document_date("Invoice", backward, date(2026, 8, 20))
    assert pipeline.job("sales_history", "2026-09-01", "2026-11-01").success
    months, _ = rebuild_what_automation_asks(pipeline, instance, cursor)
    assert "2026-08-01" in months
    assert_sales_equal_the_sandbox(sandbox, warehouse_url, START, date.fromisoformat(LAST))
    dated = query(warehouse_url, f"SELECT date FROM xero_invoices WHERE invoice_id = '{backward}'")
    assert [str(d)[:10] for (d,) in dated] == ["2026-08-20"]


def test_an_invoice_re_dated_before_the_sales_start_leaves(loaded, warehouse_url):
    sandbox, pipeline, instance = loaded
    cursor = dg.evaluate_automation_conditions(defs=pipeline.defs, instance=instance).cursor
    gone = approved(sandbox, 0, 8)
    sandbox.clock.advance(10)
    sandbox.tenant(0).set_document_date("Invoice", gone, date(2026, 3, 31))
    assert pipeline.job("sales_sync").success
    months, _ = rebuild_what_automation_asks(pipeline, instance, cursor)
    assert "2026-08-01" in months
    for table in ("xero_invoices", "xero_invoice_lines", "fct_sales_lines"):
        assert query(
            warehouse_url, f"SELECT count(*) FROM {table} WHERE invoice_id = '{gone}'"
        ) == [(0,)], table
    assert_sales_equal_the_sandbox(sandbox, warehouse_url, START, date.fromisoformat(LAST))


def test_a_revenue_code_created_today_is_known_by_the_sync_that_first_sees_it(
    loaded, warehouse_url
):
    sandbox, pipeline, _ = loaded
    tenant = sandbox.tenant(0)
    customer = next(c["ContactID"] for c in tenant.contacts.records if c["IsCustomer"])
    sandbox.clock.advance(10)
    tenant.add_account("275", "Workshops", "REVENUE", "REVENUE")
    new = tenant.add_document(
        "Invoice",
        contact_id=customer,
        day=AS_OF,
        lines=[{"AccountCode": "275", "UnitAmount": "450.00"}],
    )
    credit = sandbox.tenant(1).add_document(
        "CreditNote",
        contact_id=next(c["ContactID"] for c in sandbox.tenant(1).contacts.records),
        day=AS_OF,
        lines=[{"AccountCode": "200", "UnitAmount": "9.00"}],
    )
    before = sandbox.total_calls(tenant.tenant_id)
    result = pipeline.job("sales_sync")
    assert result.success
    # One extra call: the chart of accounts, once, for the tenant that used the new code.
    calls = sandbox.calls
    assert calls[(tenant.tenant_id, "Account")] >= 1
    assert sandbox.total_calls(tenant.tenant_id) - before == 3  # invoices, accounts, credit notes
    assert query(
        warehouse_url,
        f"SELECT account_code FROM xero_invoice_lines WHERE invoice_id = '{new['InvoiceID']}'",
    ) == [("275",)]
    assert query(
        warehouse_url,
        f"SELECT name FROM xero_accounts WHERE tenant_id = '{tenant.tenant_id}' AND code = '275'",
    ) == [("Workshops",)]
    assert query(
        warehouse_url,
        f"SELECT count(*) FROM xero_credit_notes WHERE credit_note_id = '{credit['CreditNoteID']}'",
    ) == [(1,)]
    refreshed = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "xero_accounts"
    ]
    assert len(refreshed) == 1  # what follows the chart (dim_account_codes) hears of it
    assert pipeline.job("monthly_sales", "2026-11-01").success
    assert query(
        warehouse_url,
        f"SELECT account_name FROM fct_sales_lines WHERE invoice_id = '{new['InvoiceID']}'",
    ) == [("Workshops",)]


def test_a_code_xero_never_had_is_reported_and_one_bad_organisation_stops_no_other(
    loaded, warehouse_url
):
    sandbox, pipeline, instance = loaded
    first, second = sandbox.tenant(0), sandbox.tenant(1)
    sandbox.clock.advance(10)
    # The first organisation: a line on a code its chart does not have (a warning, not a stop).
    odd = first.add_document(
        "Invoice",
        contact_id=first.contacts.records[0]["ContactID"],
        day=AS_OF,
        lines=[{"AccountCode": "200", "UnitAmount": "5.00"}],
    )
    first.invoices.edit(
        odd["InvoiceID"],
        lambda doc: doc["LineItems"][0].update(AccountCode="999", AccountID=None),
        touched=sandbox.clock.now(),
    )
    # The second: an invoice whose lines do not add up (its gate stops it) ...
    bad = second.add_document(
        "Invoice",
        contact_id=second.contacts.records[0]["ContactID"],
        day=AS_OF,
        lines=[{"AccountCode": "200", "UnitAmount": "10.00"}],
    )
    second.invoices.edit(
        bad["InvoiceID"], lambda doc: doc.update(SubTotal=dec("12.00")), touched=sandbox.clock.now()
    )
    # ... and a good credit note, which still arrives.
    credit = second.add_document(
        "CreditNote",
        contact_id=second.contacts.records[0]["ContactID"],
        day=AS_OF,
        lines=[{"AccountCode": "200", "UnitAmount": "3.00"}],
    )
    result = pipeline.job("sales_sync", raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    said = failure.event_specific_data.error.message
    assert second.name in said and "Invoices" in said and "lines_sum_to_subtotal" in said
    assert first.name not in said
    assert query(
        warehouse_url,
        f"SELECT account_code FROM xero_invoice_lines WHERE invoice_id = '{odd['InvoiceID']}'",
    ) == [("999",)]
    assert query(
        warehouse_url, f"SELECT count(*) FROM xero_invoices WHERE invoice_id = '{bad['InvoiceID']}'"
    ) == [(0,)]
    assert query(
        warehouse_url,
        f"SELECT count(*) FROM xero_credit_notes WHERE credit_note_id = '{credit['CreditNoteID']}'",
    ) == [(1,)]
    warned = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level == logging.WARNING and "account_code_is_known" in entry.user_message
    ]
    assert len(warned) == 1 and first.name in warned[0] and odd["InvoiceID"] in warned[0]


def test_a_month_re_read_before_a_sync_commits_never_publishes_older_data(loaded, warehouse_url):
    """The 02:00 reconciliation reads a month at t1; the 15-minute sync commits an edit and a
    new invoice at t1 + a few seconds; then the reconciliation publishes what it read. The
    edit stays, and the new invoice is not deleted as "gone from the month"."""
    sandbox, pipeline, _ = loaded
    tenant = sandbox.tenant(0)
    month = (date(2026, 10, 1), date(2026, 11, 1))
    xero, warehouse = XeroResource(), WarehouseResource(url=warehouse_url)
    with dg.build_init_resource_context() as init:
        xero.setup_for_execution(init)
    client = xero.client
    tenants = client.tenants()
    codes = dict(query(warehouse_url, "SELECT tenant_id, short_code FROM xero_organisation"))
    stale = {
        t.tenant_id: read(
            client, INVOICES, t, codes.get(t.tenant_id), params={"where": date_window(*month)}
        )
        for t in tenants
    }
    edited = approved(sandbox, 0, 10)
    sandbox.clock.advance(2)
    tenant.set_document_status("Invoice", edited, "VOIDED")
    created = tenant.add_document(
        "Invoice",
        contact_id=tenant.contacts.records[0]["ContactID"],
        day=date(2026, 10, 15),
        lines=[{"AccountCode": "200", "UnitAmount": "70.00"}],
    )
    assert pipeline.job("sales_sync").success
    context = dg.build_asset_context(resources={"xero": xero, "warehouse": warehouse})
    loader = MonthLoad(context, INVOICES, xero, warehouse, tenants, codes, *month)
    _, results = loader.load(stale)
    assert results["xero_invoices"].kept_newer == 1
    statuses = dict(
        query(
            warehouse_url,
            "SELECT invoice_id, status FROM xero_invoices WHERE invoice_id IN "
            f"('{edited}', '{created['InvoiceID']}')",
        )
    )
    assert statuses == {edited: "VOIDED", created["InvoiceID"]: "AUTHORISED"}
    lines = query(
        warehouse_url,
        f"SELECT count(*) FROM xero_invoice_lines WHERE invoice_id = '{created['InvoiceID']}'",
    )
    assert lines == [(1,)]
