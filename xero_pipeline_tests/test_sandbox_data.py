"""The generated organisations: believable, awkward where it matters, and reconciling."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from xero_pipeline.months import month_start
from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.generator import (
    AWKWARD_CUSTOMER_NAMES,
    GeneratedOrg,
    OrgGenerator,
    OrgSpec,
    default_orgs,
)
from xero_pipeline_tests.conftest import AS_OF


@pytest.fixture(scope="module")
def small() -> Sandbox:
    return Sandbox(SandboxConfig(size="small", as_of=AS_OF))


def documents(sandbox: Sandbox, tenant: int, resource: str) -> list[dict]:
    docs = sandbox.tenant(tenant).collection(resource)
    return [docs.record(pos, with_lines=True) for pos in range(len(docs))]


def test_two_tenants_one_with_the_customer_group(small: Sandbox) -> None:
    first, second = small.tenant(0), small.tenant(1)
    assert first.tenant_id != second.tenant_id
    assert "Datagate" in {g["Name"] for g in first.groups.records if g["Status"] == "ACTIVE"}
    assert "Datagate" not in {g["Name"] for g in second.groups.records}
    assert first.organisation["BaseCurrency"] != second.organisation["BaseCurrency"]


def test_awkward_names_and_contact_kinds(small: Sandbox) -> None:
    contacts = small.tenant(0).contacts.records
    names = {c["Name"] for c in contacts}
    assert set(AWKWARD_CUSTOMER_NAMES) <= names
    assert {"ACTIVE", "ARCHIVED", "GDPRREQUEST"} <= {c["ContactStatus"] for c in contacts}
    kinds = Counter((c["IsCustomer"], c["IsSupplier"]) for c in contacts)
    assert kinds[(True, False)] and kinds[(False, True)] and kinds[(True, True)]


def test_chart_of_accounts_has_revenue_expense_and_archived_codes(small: Sandbox) -> None:
    accounts = small.tenant(0).accounts.records
    codes = {a.get("Code"): a for a in accounts}
    assert {"200", "260", "270"} <= set(codes)
    assert codes["210"]["Status"] == "ARCHIVED" and codes["210"]["Class"] == "REVENUE"
    assert {a["Class"] for a in accounts} == {"ASSET", "EQUITY", "EXPENSE", "LIABILITY", "REVENUE"}
    assert any(a.get("Code") is None for a in accounts)  # bank accounts may have no code


def test_every_status_tax_mode_type_and_currency_appears(small: Sandbox) -> None:
    invoices = documents(small, 0, "Invoice")
    assert {i["Status"] for i in invoices} == {
        "DRAFT",
        "SUBMITTED",
        "AUTHORISED",
        "PAID",
        "VOIDED",
        "DELETED",
    }
    assert {i["LineAmountTypes"] for i in invoices} == {"Exclusive", "Inclusive", "NoTax"}
    assert {i["Type"] for i in invoices} == {"ACCREC", "ACCPAY"}
    assert len({i["CurrencyCode"] for i in invoices}) > 1
    lines = [line for i in invoices for line in i["LineItems"]]
    assert any(line.get("DiscountRate") for line in lines)
    assert any(line["Tracking"] for line in lines)
    credit_types = {c["Type"] for c in documents(small, 0, "CreditNote")}
    assert credit_types == {"ACCRECCREDIT", "ACCPAYCREDIT"}


@pytest.mark.parametrize("resource", ["Invoice", "CreditNote"])
def test_documents_reconcile_like_xero(small: Sandbox, resource: str) -> None:
    for doc in documents(small, 0, resource) + documents(small, 1, resource):
        lines = doc["LineItems"]
        line_total = sum(line["LineAmount"] for line in lines)
        tax = sum(line["TaxAmount"] for line in lines)
        expected_subtotal = (
            line_total - tax if doc["LineAmountTypes"] == "Inclusive" else line_total
        )
        assert doc["SubTotal"] == expected_subtotal
        assert doc["TotalTax"] == tax
        assert doc["Total"] == doc["SubTotal"] + doc["TotalTax"]
        if doc["LineAmountTypes"] == "NoTax":
            assert tax == Decimal("0.00")
        if doc["Status"] == "PAID":
            assert doc["FullyPaidOnDate"] >= doc["Date"]


def test_credit_note_lines_have_no_line_item_id_and_invoice_lines_do(small: Sandbox) -> None:
    assert all(
        "LineItemID" in line for i in documents(small, 0, "Invoice") for line in i["LineItems"]
    )
    assert all(
        "LineItemID" not in line
        for c in documents(small, 0, "CreditNote")
        for line in c["LineItems"]
    )


def test_history_runs_to_as_of_and_spans_the_months(small: Sandbox) -> None:
    """Documents may be dated "today" (as_of), as a business raises them; every one was last
    changed before the sandbox's clock starts (midnight UTC of as_of)."""
    invoices = documents(small, 0, "Invoice")
    months = {(i["Date"].year, i["Date"].month) for i in invoices}
    assert len(months) == 24
    assert max(i["Date"] for i in invoices) <= AS_OF
    assert max(i["UpdatedDateUTC"] for i in invoices).date() < AS_OF


def test_line_account_codes_exist_in_the_chart(small: Sandbox) -> None:
    codes = {a.get("Code") for a in small.tenant(0).accounts.records}
    used = {line["AccountCode"] for i in documents(small, 0, "Invoice") for line in i["LineItems"]}
    assert used <= codes


def test_sizes_are_exact() -> None:
    spec = OrgSpec(name="Exact", contacts=7, invoices=33, credit_notes=5, months=3)
    tenant = Sandbox(SandboxConfig(orgs=(spec,), as_of=AS_OF)).tenant(0)
    assert (len(tenant.contacts), len(tenant.invoices), len(tenant.credit_notes)) == (7, 33, 5)


# Days on which a calendar bug would show: the 1st (the current month has one day), the ends of
# months of every length, 29 February, and the days New Zealand and Australia change clocks.
AWKWARD_DAYS = [
    date(2026, 12, 1),
    date(2026, 11, 28),
    date(2026, 11, 30),
    date(2026, 12, 31),
    date(2026, 2, 28),
    date(2024, 2, 29),
    date(2025, 1, 31),
    date(2026, 4, 5),  # NZ daylight saving ends; AU (NSW, Victoria) too
    date(2026, 9, 27),  # NZ daylight saving begins
    date(2026, 10, 4),  # AU daylight saving begins
]


def month_counts(org: GeneratedOrg) -> list[int]:
    counted = Counter(month_start(stub.date) for stub in org.invoices)
    return [counted[month_start(org.first_month, -m)] for m in range(org.spec.months)]


@pytest.mark.parametrize("today", AWKWARD_DAYS, ids=str)
def test_the_organisations_do_not_depend_on_the_day_of_the_month(today: date) -> None:
    """Every document is generated whatever the day: the current month holds its share even on
    the 1st, and each month holds as many documents on the 1st as on any other day."""
    for size in ("tiny", "small"):
        for index, spec in enumerate(default_orgs(size)):
            org = OrgGenerator(spec, 42, index, today).generate()
            on_the_first = OrgGenerator(spec, 42, index, today.replace(day=1)).generate()
            assert len(org.invoices) == spec.invoices
            assert len(org.credit_notes) == spec.credit_notes
            first = month_start(today, spec.months - 1)
            for stub in org.invoices + org.credit_notes:
                assert first <= stub.date <= today
                assert stub.paid_on is None or stub.date <= stub.paid_on <= today
            counts = month_counts(org)
            assert all(counts), counts  # no month is empty, the current one included
            assert counts == month_counts(on_the_first)
