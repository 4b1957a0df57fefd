"""Bad input from Xero: hostile records are either stored faithfully or stopped at the gate.

Property-based (hypothesis): records shaped like Xero's with any field missing, null, of the
wrong type, huge or negative, dated at the epoch or past the year 9999, an unknown enum value,
10 KB long, full of control characters, emoji, quotes, SQL and `where` metacharacters. For each
one: parsing never raises; what parses is what Xero sent; the gate either passes the rows, and
then the warehouse stores them exactly (SQLite and PostgreSQL), or stops them with a message
naming the failed check, and then nothing published changes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dagster as dg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from xero_pipeline.defs.history.documents import add_gate_columns, gate, strip
from xero_pipeline.quality.gate import GateFailed, validate
from xero_pipeline.warehouse.engine import connect
from xero_pipeline.warehouse.publish import Load, publish
from xero_pipeline.warehouse.schema import (
    xero_contacts,
    xero_invoice_lines,
    xero_invoices,
)
from xero_pipeline.xero.parse import XeroParseError, parse_timestamp
from xero_pipeline.xero.rows import INVOICES, contact_row, document_rows
from xero_pipeline_tests.test_reference_assets import materialize, query

TENANT = "6f1f3bd4-7b1a-4c44-9d8e-5d6d0e6a1c01"
NASTY_STRINGS = (
    "",
    " ",
    'O\'Brien "Ltd" & Sons',
    "Robert'); DROP TABLE xero_contacts; --",
    'Name=="x" OR 1==1',
    "\\'\\\"\\\\",
    "nul\x00inside",
    "\x01\x02\x1b[31mred\x7f",
    "tab\tnew\nline\r\n",
    "😀🎉 Café Zoë Ngā",
    "a" * 10_000,
    "\ud800 lone surrogate",
    "%s %(x)s {0} $1 ?",
    "ACTIVE",
    "ARCHIVED",
)
NASTY_NUMBERS = (
    0,
    -1,
    10**40,
    -(10**40),
    Decimal("1e-30"),
    Decimal("12345678901234567890.123456"),
    Decimal("99999999999999.9999"),
    Decimal("-0.00001"),
    Decimal("NaN"),
    Decimal("Infinity"),
)
NASTY_STAMPS = (
    "/Date(0)/",
    "/Date(-62135596800000)/",
    "/Date(253402300800000+0000)/",
    "/Date(1700000000000+1300)/",
    "\\/Date(1700000000000)\\/",
    "2026-01-01T00:00:00",
    "not a date",
    "/Date(abc)/",
    "",
)

texts = st.one_of(st.sampled_from(NASTY_STRINGS), st.text(max_size=40))
numbers = st.one_of(
    st.sampled_from(NASTY_NUMBERS), st.integers(), st.decimals(places=4, allow_nan=False)
)
stamps = st.one_of(
    st.sampled_from(NASTY_STAMPS),
    st.integers(min_value=-(10**14), max_value=10**14).map(lambda ms: f"/Date({ms}+0000)/"),
)
anything = st.one_of(
    st.none(),
    st.booleans(),
    texts,
    numbers,
    stamps,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def hostile(template: dict[str, Any], fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """`template` with any of `fields` replaced by a value of its own kind or of any kind at
    all, and any of them removed."""
    names = sorted(fields)
    return st.builds(
        _mangle,
        st.just(template),
        st.fixed_dictionaries({}, optional={n: st.one_of(fields[n], anything) for n in names}),
        st.sets(st.sampled_from(names), max_size=3),
    )


def _mangle(template: dict[str, Any], changes: dict[str, Any], gone: set[str]) -> dict[str, Any]:
    record = {**template, **changes}
    for name in gone:
        record.pop(name, None)
    return record


CONTACT = {
    "ContactID": "00000000-0000-4000-8000-000000000000",
    "Name": "Good Name Ltd",
    "ContactStatus": "ACTIVE",
    "EmailAddress": "a@b.example",
    "IsCustomer": True,
    "IsSupplier": False,
    "UpdatedDateUTC": "/Date(1700000000000+0000)/",
}
CONTACT_FIELDS = {
    "ContactID": texts,
    "Name": texts,
    "ContactStatus": texts,
    "EmailAddress": texts,
    "IsCustomer": st.booleans(),
    "IsSupplier": st.booleans(),
    "UpdatedDateUTC": stamps,
    "ContactNumber": texts,
}
INVOICE = {
    "InvoiceID": "00000000-0000-4000-8000-000000000001",
    "InvoiceNumber": "INV-1",
    "Type": "ACCREC",
    "Status": "AUTHORISED",
    "Contact": {"ContactID": CONTACT["ContactID"], "Name": "Good Name Ltd"},
    "Date": "/Date(1700000000000+0000)/",
    "DateString": "2023-11-14T00:00:00",
    "LineAmountTypes": "Exclusive",
    "SubTotal": Decimal("100.00"),
    "TotalTax": Decimal("15.00"),
    "Total": Decimal("115.00"),
    "CurrencyCode": "NZD",
    "CurrencyRate": Decimal("1"),
    "UpdatedDateUTC": "/Date(1700000000000+0000)/",
}
INVOICE_FIELDS = {
    "InvoiceNumber": texts,
    "Type": texts,
    "Status": texts,
    "Date": stamps,
    "DateString": texts,
    "SubTotal": numbers,
    "TotalTax": numbers,
    "Total": numbers,
    "CurrencyCode": texts,
    "CurrencyRate": numbers,
    "UpdatedDateUTC": stamps,
    "Reference": texts,
}
LINE = {
    "LineItemID": "00000000-0000-4000-8000-000000000002",
    "Description": "Roasted beans",
    "Quantity": Decimal("2"),
    "UnitAmount": Decimal("50.00"),
    "AccountCode": "200",
    "TaxAmount": Decimal("15.00"),
    "LineAmount": Decimal("100.00"),
}
LINE_FIELDS = {
    "Description": texts,
    "Quantity": numbers,
    "UnitAmount": numbers,
    "AccountCode": texts,
    "TaxAmount": numbers,
    "LineAmount": numbers,
}
hostile_contacts = hostile(CONTACT, CONTACT_FIELDS)
hostile_invoices = st.builds(
    lambda header, lines: {**header, "LineItems": lines},
    hostile(INVOICE, INVOICE_FIELDS),
    st.lists(hostile(LINE, LINE_FIELDS), min_size=1, max_size=3),
)
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def expected_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return None


def expected_stamp(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value)
    except XeroParseError:
        return None


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def engine(warehouse_url: str) -> Engine:
    engine = connect(warehouse_url)
    yield engine
    engine.dispose()


@PROPERTY
@given(record=hostile_contacts)
def test_a_hostile_contact_is_stored_faithfully_or_stopped(engine: Engine, record: dict):
    row = contact_row(TENANT, record, "!Short")
    for field, column in (
        ("ContactID", "contact_id"),
        ("Name", "name"),
        ("ContactStatus", "contact_status"),
        ("EmailAddress", "email_address"),
        ("ContactNumber", "contact_number"),
    ):
        assert row[column] == expected_text(record.get(field)), column
    assert row["updated_date_utc"] == expected_stamp(record.get("UpdatedDateUTC"))
    assert row["is_customer"] == (
        record.get("IsCustomer") if isinstance(record.get("IsCustomer"), bool) else None
    )

    result = validate("xero_contacts", [row], ["tenant_id", "contact_id"])
    before = count(engine, xero_contacts)
    if not result.passed:
        assert result.summary()  # names each failed check and how many rows it stopped
        assert count(engine, xero_contacts) == before
        return
    publish(engine, Load(xero_contacts, [row], [TENANT], mirror=False))
    with engine.connect() as connection:
        stored = (
            connection.execute(
                select(xero_contacts).where(
                    xero_contacts.c.tenant_id == TENANT,
                    xero_contacts.c.contact_id == row["contact_id"],
                )
            )
            .mappings()
            .one()
        )
    for column in ("name", "contact_status", "email_address", "contact_number"):
        assert stored[column] == row[column], column
    assert stored["raw"] == _json_round_trip(record)


def _json_round_trip(value: Any) -> Any:
    """What a JSON column gives back for `value`: numbers as numbers, the rest as is."""
    import json

    from xero_pipeline.warehouse.values import to_json

    return json.loads(to_json(value))


@PROPERTY
@given(invoice=hostile_invoices)
def test_a_hostile_invoice_is_stored_faithfully_or_stopped(engine: Engine, invoice: dict):
    invoice = {**invoice, "InvoiceID": str(uuid.uuid4())}
    header, lines = document_rows(INVOICES, TENANT, invoice, "!Short")
    assert header["invoice_number"] == expected_text(invoice.get("InvoiceNumber"))
    assert len(lines) == len(invoice["LineItems"])
    add_gate_columns(INVOICES, [header], lines, {(TENANT, "200"): "ACTIVE"})
    before = (count(engine, xero_invoices), count(engine, xero_invoice_lines))
    try:
        gate(INVOICES, [header], lines, "a hostile invoice")
    except GateFailed as failed:
        assert "The quality gate stopped a hostile invoice" in str(failed)
        assert (count(engine, xero_invoices), count(engine, xero_invoice_lines)) == before
        return
    day = header["date"]
    assert isinstance(day, date)
    publish(
        engine,
        Load(xero_invoices, strip([header]), [TENANT], mirror=False),
        Load(xero_invoice_lines, strip(lines), [TENANT], mirror=False),
    )
    with engine.connect() as connection:
        stored = (
            connection.execute(
                select(xero_invoices).where(xero_invoices.c.invoice_id == header["invoice_id"])
            )
            .mappings()
            .one()
        )
        amounts = connection.execute(
            select(xero_invoice_lines.c.line_amount)
            .where(xero_invoice_lines.c.invoice_id == header["invoice_id"])
            .order_by(xero_invoice_lines.c.line_number)
        ).scalars()
        assert [Decimal(str(a)) if a is not None else None for a in amounts] == [
            line["line_amount"] for line in lines
        ]
    for column in ("invoice_number", "status", "type", "currency_code", "reference"):
        assert stored[column] == header[column], column
    assert Decimal(str(stored["total"])) == header["total"]
    assert stored["date"] == day


HOSTILE_NAMES = (
    "Robert'); DROP TABLE xero_contacts; --",
    'Smith "Best" \\ Bakery; DELETE FROM customers WHERE 1=1',
    "😀🎉 Café Zoë Ngā Tāonga",
    "x" * 10_000,
)


def test_hostile_names_through_the_whole_pipeline_round_trip_intact(
    sandbox, xero_env, warehouse_url
):
    """Over HTTP from the sandbox into each warehouse: names full of quotes, semicolons, SQL,
    emoji and 10 KB of text come out exactly as they went in."""
    xero_env(sandbox)
    tenant = sandbox.tenant(0)
    for name in HOSTILE_NAMES:
        tenant.add_contact(name)
    assert materialize(warehouse_url).success
    stored = {name for (name,) in query(warehouse_url, "SELECT name FROM xero_contacts")}
    assert set(HOSTILE_NAMES) <= stored
    assert query(warehouse_url, "SELECT count(*) FROM xero_accounts")[0][0] > 0  # tables intact


def test_a_nul_in_a_name_stops_the_gate_for_its_organisation(sandbox, xero_env, warehouse_url):
    """A NUL no column can hold: that organisation's contacts are not published (the run goes
    on for the other organisation), and the check shows the row."""
    xero_env(sandbox)
    assert materialize(warehouse_url).success
    before = query(warehouse_url, "SELECT contact_id, row_hash FROM xero_contacts ORDER BY 1")
    sandbox.clock.advance(5)
    sandbox.tenant(0).add_contact("Null\x00Byte Ltd")
    result = materialize(warehouse_url, raise_on_error=False)
    assert result.success  # the other organisation is not held up
    evaluations = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.asset_key == dg.AssetKey("xero_contacts")
    }
    stopped = evaluations["organisations_loaded"]
    assert not stopped.passed
    failed = stopped.metadata["failed"].value
    assert "rows_fit_the_warehouse" in failed[sandbox.tenant(0).tenant_id]
    samples = [v.value for k, v in stopped.metadata.items() if k.startswith("sample failing rows")]
    assert any("NUL character" in sample for sample in samples)
    after = query(warehouse_url, "SELECT contact_id, row_hash FROM xero_contacts ORDER BY 1")
    assert after == before
