"""An operator's working day, through the real daemon on PostgreSQL (`operator_support.py`).

The pipeline runs as an operator runs it: history launched as the UI launches it, then the
daemon alone — the sync every minute, the reconciliation every two (so the two keep overlapping,
as the 02:00 reconciliation and the 15-minute sync do in NZ business hours), reference data every
three, declarative automation rebuilding the sales tables. Meanwhile the organisations do what
real ones do: an approved invoice moves month (both ways), a line is re-coded (which Xero does
not stamp), a revenue code is created and used on a contact's first invoice (which makes it a
customer, unstamped too), a contact is renamed and then archived, an invoice is voided. Within
a few minutes of each change the warehouse shows it; at the end every table equals the sandbox
exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from itertools import pairwise
from typing import Any

import dagster as dg
import pytest

from xero_pipeline.defs.history.schedules import (
    reconcile_recent_months,
    sales_sync_every_15_minutes,
)
from xero_pipeline.defs.reference.schedules import reference_data_daily
from xero_pipeline.defs.sales.automation import sales_automation
from xero_pipeline.months import month_start
from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline_tests.conftest import AS_OF
from xero_pipeline_tests.operator_support import ONBOARDING, Operator, operator_daemon
from xero_pipeline_tests.sales_support import (
    assert_sales_equal_the_sandbox,
    org_specs,
    query,
)
from xero_pipeline_tests.test_history import assert_equal_to_sandbox
from xero_pipeline_tests.test_reference_assets import sandbox_contacts

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1500)]

FIRST = month_start(AS_OF, 5)  # the organisations' six months
LAST = month_start(AS_OF)
SCHEDULES = tuple(
    s.name for s in (sales_sync_every_15_minutes, reconcile_recent_months, reference_data_daily)
)
SHOWS_WITHIN = 360  # seconds: "within a few minutes" of a change (240 timed out on a slow day)


@pytest.fixture
def day(pg_admin: Any, tmp_path) -> Iterator[tuple[Operator, Sandbox]]:
    sandbox = Sandbox(
        SandboxConfig(orgs=org_specs(months=6), as_of=AS_OF, limits=LimitConfig(enabled=False))
    ).start()
    env = {
        "XERO_SALES_START_DATE": f"{FIRST:%Y-%m}",
        "XERO_SYNC_SCHEDULE": "* * * * *",
        "XERO_RECONCILE_SCHEDULE": "*/2 * * * *",
        "XERO_REFERENCE_SCHEDULE": "*/3 * * * *",
    }
    try:
        with operator_daemon(tmp_path, pg_admin, sandbox, env, stopped=(ONBOARDING,)) as op:
            op.wait_for_runs(op.launch("reference_data"))
            history = {
                "dagster/asset_partition_range_start": FIRST.isoformat(),
                "dagster/asset_partition_range_end": LAST.isoformat(),
            }
            op.wait_for_runs(op.launch(("sales_history", history)), 600)
            yield op, sandbox
    finally:
        sandbox.stop()


def shows(op: Operator, what: str, sql: str, expected: Callable[[list[tuple]], bool]) -> None:
    """Wait until the warehouse answers `sql` as `expected` says."""
    op.wait_for(lambda: expected(query(op.warehouse_url, sql)), SHOWS_WITHIN, what)


def approved(sandbox: Sandbox, tenant: int, month: date) -> dict[str, Any]:
    return next(
        sandbox.tenant(tenant).invoices.record(pos, with_lines=True)
        for pos, s in enumerate(sandbox.tenant(tenant).invoices.stubs)
        if s.type == "ACCREC"
        and s.status == "AUTHORISED"
        and month_start(s.date) == month
        and len(sandbox.tenant(tenant).invoices.record(pos, with_lines=True)["LineItems"]) > 1
    )


def test_an_operators_day_ends_with_the_warehouse_equal_to_xero(day):
    op, sandbox = day
    first, second = sandbox.tenant(0), sandbox.tenant(1)
    facts = "SELECT DISTINCT month FROM fct_sales_lines WHERE invoice_id = '{}'"
    shows(
        op,
        "the automation's first sales marts (invoiced_contacts)",
        "SELECT count(*) FROM invoiced_contacts",
        lambda rows: rows[0][0] > 0,
    )

    # The morning's changes, as they happen in a busy organisation: all at once.
    # An approved invoice moves forward, to the current month ...
    forward = approved(sandbox, 0, month_start(AS_OF, 3))
    backward = approved(sandbox, 1, month_start(AS_OF, 1))
    recoded = approved(sandbox, 1, LAST)
    voided = approved(sandbox, 0, month_start(AS_OF, 2))
    contact = next(
        c for c in second.contacts.records if c["IsCustomer"] and c["ContactStatus"] == "ACTIVE"
    )
    sandbox.clock.advance(5)
    first.set_document_date("Invoice", forward["InvoiceID"], AS_OF.replace(day=2))
    # ... and another backward, from last month to four months ago.
    second.set_document_date("Invoice", backward["InvoiceID"], month_start(AS_OF, 4))
    # A line re-coded: Xero does not stamp it, so only the reconciliation can see it.
    code = next(c for c in ("260", "270", "200") if c != recoded["LineItems"][0]["AccountCode"])
    second.recode_line("Invoice", recoded["InvoiceID"], 0, code)
    # A revenue code created and used the same day, on a contact's first sales invoice: Xero
    # makes the contact a customer without stamping it (the end shows it a customer).
    first.add_account("275", "Workshops", "REVENUE", "REVENUE")
    newcomer = next(
        c for c in first.contacts.records if not c["IsCustomer"] and c["ContactStatus"] == "ACTIVE"
    )
    workshop = first.add_document(
        "Invoice",
        contact_id=newcomer["ContactID"],
        day=AS_OF,
        lines=[{"AccountCode": "275", "UnitAmount": "450.00"}],
    )
    # A contact renamed; an invoice voided.
    second.update_contact(contact["ContactID"], Name="Renamed Partners Ltd")
    first.set_document_status("Invoice", voided["InvoiceID"], "VOIDED")

    shows(
        op,
        "the invoice re-dated forward, in the fact under its new month only",
        facts.format(forward["InvoiceID"]),
        lambda rows: [str(m)[:10] for (m,) in rows] == [LAST.isoformat()],
    )
    shows(
        op,
        "the invoice re-dated backward, in the fact under its new month only",
        facts.format(backward["InvoiceID"]),
        lambda rows: [str(m)[:10] for (m,) in rows] == [month_start(AS_OF, 4).isoformat()],
    )
    shows(
        op,
        f"the re-coded line under {code} in the fact",
        f"SELECT account_code FROM fct_sales_lines WHERE invoice_id = '{recoded['InvoiceID']}' "
        "AND line_number = 1",
        lambda rows: rows == [(code,)],
    )
    shows(
        op,
        "the invoice on the new code in the fact, with the code's name",
        f"SELECT account_name FROM fct_sales_lines WHERE invoice_id = '{workshop['InvoiceID']}'",
        lambda rows: rows == [("Workshops",)],
    )
    shows(
        op,
        "the renamed contact",
        f"SELECT name FROM xero_contacts WHERE contact_id = '{contact['ContactID']}'",
        lambda rows: rows == [("Renamed Partners Ltd",)],
    )
    shows(
        op,
        "the voided invoice gone from the fact",
        f"SELECT count(*) FROM fct_sales_lines WHERE invoice_id = '{voided['InvoiceID']}'",
        lambda rows: rows == [(0,)],
    )

    # The afternoon: the renamed contact is archived.
    sandbox.clock.advance(5)
    second.update_contact(contact["ContactID"], ContactStatus="ARCHIVED")
    shows(
        op,
        "the archived contact",
        f"SELECT contact_status FROM xero_contacts WHERE contact_id = '{contact['ContactID']}'",
        lambda rows: rows == [("ARCHIVED",)],
    )

    # The end of the day: a sync and a reconciliation begun after the last change have both
    # finished; the operator then stops the schedules, what they queued runs, the automation
    # catches up — and every table equals Xero.
    last_change = max(run.created for run in op.runs())

    def synced_and_reconciled() -> bool:
        done = {
            run.job
            for run in op.runs()
            if run.created > last_change and run.status == dg.DagsterRunStatus.SUCCESS
        }
        return {"sales_sync", "sales_history"} <= done

    op.wait_for(
        synced_and_reconciled, SHOWS_WITHIN, "a sync and a reconciliation after the last change"
    )
    for schedule in SCHEDULES:
        op.set_running("schedule", schedule, False)
    op.wait_for(lambda: op.idle(sales_automation.name), SHOWS_WITHIN, "the end of the day's runs")
    assert_equal_to_sandbox(sandbox, op.warehouse_url, since=FIRST)
    assert_sales_equal_the_sandbox(sandbox, op.warehouse_url, FIRST, LAST)
    contacts = query(
        op.warehouse_url,
        "SELECT tenant_id, contact_id, name, contact_status, is_customer, is_supplier "
        "FROM xero_contacts",
    )
    assert {(t, i, n, s, bool(c), bool(p)) for t, i, n, s, c, p in contacts} == sandbox_contacts(
        sandbox
    )
    assert newcomer["IsCustomer"]  # the sandbox made it a customer, and so did the warehouse
    codes = query(op.warehouse_url, "SELECT tenant_id, code FROM xero_accounts WHERE code <> ''")
    assert set(codes) == {
        (t.tenant_id, a["Code"])
        for t in sandbox.tenants.values()
        for a in t.accounts.records
        if a.get("Code")
    }
    # Nothing failed along the way, and the sync and the reconciliation took turns.
    failed = [str(run) for run in op.runs() if run.status.value == "FAILURE"]
    assert not failed, op.report()
    writers = sorted(
        (run for run in op.runs() if run.job in ("sales_sync", "sales_history")),
        key=lambda run: run.start or 0,
    )
    assert len({run.job for run in writers}) == 2
    for earlier, later in pairwise(writers):
        assert earlier.end is not None and earlier.end <= (later.start or 0)
