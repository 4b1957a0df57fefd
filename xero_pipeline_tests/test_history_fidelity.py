"""History loads meeting Xero as it is in 2026: unit prices to four decimal places, Xero's clock
rather than ours, and the ISO 8601 `UpdatedDateUTCString`."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from xero_pipeline.sandbox import Sandbox, xerojson
from xero_pipeline.sandbox.auth import AuthConfig
from xero_pipeline.xero.parse import parse_timestamp
from xero_pipeline_tests.conftest import HISTORY_ORGS
from xero_pipeline_tests.test_history import load_reference, query, run

FOUR_PLACES = Decimal("0.0001")
MONTH = ("2026-10-01", "2026-10-01")


def unit_prices_in_october(sandbox: Sandbox, resource: str) -> dict[tuple, Decimal]:
    """(tenant, document, line number) -> UnitAmount as the organisation entered it."""
    prices = {}
    for tenant in sandbox.tenants.values():
        docs = tenant.collection(resource)
        for pos in range(len(docs)):
            doc = docs.record(pos, with_lines=True)
            if (doc["Date"].year, doc["Date"].month) != (2026, 10):
                continue
            for number, line in enumerate(doc["LineItems"], start=1):
                key = (tenant.tenant_id, doc[f"{resource}ID"], number)
                prices[key] = line["UnitAmount"]
    return prices


def test_unit_prices_to_four_places_arrive_as_entered(history_sandbox, warehouse_url):
    load_reference(warehouse_url)
    assert run(warehouse_url, *MONTH).success
    for resource, table, id_column in (
        ("Invoice", "xero_invoice_lines", "invoice_id"),
        ("CreditNote", "xero_credit_note_lines", "credit_note_id"),
    ):
        entered = unit_prices_in_october(history_sandbox, resource)
        if resource == "Invoice":
            assert any(p != p.quantize(Decimal("0.01")) for p in entered.values())
        loaded = query(
            warehouse_url,
            f"SELECT tenant_id, {id_column}, line_number, unit_amount FROM {table}",
        )
        assert {
            (t, i, n): Decimal(str(u)).quantize(FOUR_PLACES) for t, i, n, u in loaded
        } == entered, resource


# Far ahead of this machine's clock whatever today is (the test does not depend on the date).
XERO_NOW = datetime(2100, 1, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def ahead(make_sandbox, xero_env) -> Sandbox:
    """The history organisations, whose refresh tokens outlive a jump of decades."""
    sandbox = make_sandbox(orgs=HISTORY_ORGS, auth=AuthConfig(refresh_token_days=10**5))
    xero_env(sandbox)
    return sandbox


def updated(url: str, table: str, id_column: str, record_id: str) -> datetime:
    with create_engine(url).connect() as connection:
        value = connection.execute(
            text(f"SELECT updated_date_utc FROM {table} WHERE {id_column} = :id"), {"id": record_id}
        ).scalar_one()
    if isinstance(value, str):  # SQLite
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_records_xero_stamped_just_now_pass_when_xero_is_ahead_of_us(ahead, warehouse_url):
    """The gate's "not in the future" asks Xero's clock (its `Date` header), not this machine's."""
    load_reference(warehouse_url)
    assert run(warehouse_url, *MONTH).success
    ahead.clock.advance((XERO_NOW - ahead.clock.now()).total_seconds())
    tenant = ahead.tenant(0)
    october = next(
        s.id
        for s in tenant.invoices.stubs
        if s.date.month == 10 and s.date.year == 2026 and s.status == "AUTHORISED"
    )
    tenant.set_document_status("Invoice", october, "PAID")
    contact = tenant.contacts.records[3]["ContactID"]
    tenant.update_contact(contact, Name="Renamed In 2100 Ltd")

    load_reference(warehouse_url)  # raises if the gate stops contacts
    assert query(
        warehouse_url, f"SELECT name FROM xero_contacts WHERE contact_id = '{contact}'"
    ) == {("Renamed In 2100 Ltd",)}
    assert run(warehouse_url, sync=True).success
    assert run(warehouse_url, *MONTH).success
    assert query(
        warehouse_url, f"SELECT status FROM xero_invoices WHERE invoice_id = '{october}'"
    ) == {("PAID",)}
    assert updated(warehouse_url, "xero_invoices", "invoice_id", october) >= XERO_NOW


def test_updated_date_utc_string_alone_still_dates_a_document(history_sandbox, warehouse_url):
    """Both shapes: `UpdatedDateUTC` (to the millisecond) wins when present; a document with
    only Xero's 2026 `UpdatedDateUTCString` still gets its updated_date_utc."""
    tenant = history_sandbox.tenant(0)
    source = next(
        pos
        for pos, stub in enumerate(tenant.invoices.stubs)
        if (stub.date.year, stub.date.month) == (2026, 10)
    )
    usual = tenant.invoices.record(source, with_lines=True)
    only_string = copy.deepcopy(usual)
    only_string.update(
        InvoiceID=str(uuid.uuid4()),
        InvoiceNumber="INV-ISO-ONLY",
        UpdatedDateUTC=None,  # Xero omits it: only the string form is served
        UpdatedDateUTCString="2026-10-20T08:15:42Z",
    )
    for line in only_string["LineItems"]:
        line["LineItemID"] = str(uuid.uuid4())
    tenant.put_raw("Invoice", only_string)
    load_reference(warehouse_url)
    with create_engine(warehouse_url).connect() as connection:
        raws = connection.execute(text("SELECT raw FROM xero_organisation")).scalars().all()
    plans = {(json.loads(raw) if isinstance(raw, str) else raw)["Class"] for raw in raws}
    assert plans == {"PREMIUM", "ULTRA"}  # ULTRA: a plan new in Xero's 2026 OpenAPI
    assert run(warehouse_url, *MONTH).success
    assert updated(warehouse_url, "xero_invoices", "invoice_id", only_string["InvoiceID"]) == (
        datetime(2026, 10, 20, 8, 15, 42, tzinfo=UTC)
    )
    stamped = usual["UpdatedDateUTC"]
    served = parse_timestamp(xerojson.ms_date(stamped))  # the /Date(…)/ form, to the millisecond
    assert served.microsecond and usual["UpdatedDateUTCString"] == f"{stamped:%Y-%m-%dT%H:%M:%SZ}"
    assert updated(warehouse_url, "xero_invoices", "invoice_id", usual["InvoiceID"]) == served
