"""The client against the sandbox over HTTP: full reads, paging calls, incremental reads."""

from __future__ import annotations

import math
from datetime import date

import pytest

from xero_pipeline.sandbox.generator import OrgSpec
from xero_pipeline.xero.filters import date_window, equals
from xero_pipeline.xero.parse import parse_timestamp

READS = [
    ("Contacts", "Contacts", "ContactID", {"includeArchived": "true"}),
    ("Invoices", "Invoices", "InvoiceID", {}),
    ("CreditNotes", "CreditNotes", "CreditNoteID", {}),
]


@pytest.mark.parametrize("count", [0, 1, 1000, 1001])
def test_full_read_at_paging_boundaries_in_fewest_calls(make_sandbox, connect_client, count):
    spec = OrgSpec(
        name="Boundary Ltd",
        contacts=max(count, 1),
        invoices=count,
        credit_notes=count,
        months=6,
        max_lines=2,
    )
    sandbox = make_sandbox(orgs=(spec,))
    client = connect_client(sandbox)
    tenant = client.tenants()[0]
    assert tenant.tenant_id == sandbox.tenant(0).tenant_id
    data = sandbox.tenant(0)
    for path, key, id_field, params in READS:
        got = [r[id_field] for r in client.records(tenant.tenant_id, path, key, params=params)]
        resource = {"Contacts": "Contact", "Invoices": "Invoice", "CreditNotes": "CreditNote"}[path]
        items = data.collection(resource)
        expected = [str(items.view(p)[id_field]) for p in range(len(items))]
        assert got == expected
        assert client.stats.calls[(tenant.tenant_id, path)] == max(
            math.ceil(len(expected) / 1000), 1
        )


def test_pages_come_with_line_items(sandbox, connect_client):
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    invoices = list(client.records(tenant, "Invoices", "Invoices"))
    assert invoices and all(i["LineItems"] for i in invoices)


def test_amounts_are_exact_decimals(sandbox, connect_client):
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    for invoice in client.records(tenant, "Invoices", "Invoices"):
        lines = sum(line["LineAmount"] for line in invoice["LineItems"])
        tax = sum(line["TaxAmount"] for line in invoice["LineItems"])
        subtotal = lines - tax if invoice["LineAmountTypes"] == "Inclusive" else lines
        assert subtotal == invoice["SubTotal"]  # exact, not approximately
        assert invoice["SubTotal"] + invoice["TotalTax"] == invoice["Total"]


def test_month_window_and_escaped_names(sandbox, connect_client):
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    june = list(
        client.records(
            tenant,
            "Invoices",
            "Invoices",
            params={"where": date_window(date(2026, 6, 1), date(2026, 7, 1))},
        )
    )
    stubs = sandbox.tenant(0).invoices.stubs
    assert {i["InvoiceID"] for i in june} == {
        s.id for s in stubs if (s.date.year, s.date.month) == (2026, 6)
    }
    hostile = 'O\'Brien "Ltd" \\ AND Name!="x" OR (1==1)'
    sandbox.tenant(0).add_contact(hostile)
    found = client.get(tenant, "Contacts", {"where": equals("Name", hostile)})["Contacts"]
    assert [c["Name"] for c in found] == [hostile]


def test_incremental_read_returns_exactly_the_changes(sandbox, connect_client):
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    data = sandbox.tenant(0)
    everything = list(
        client.changed_since(
            tenant, "Contacts", "Contacts", None, params={"includeArchived": "true"}
        )
    )
    watermark = max(parse_timestamp(c["UpdatedDateUTC"]) for c in everything)
    before = client.stats.total(tenant)
    unchanged = list(
        client.changed_since(
            tenant, "Contacts", "Contacts", watermark, params={"includeArchived": "true"}
        )
    )
    assert unchanged == [] and client.stats.total(tenant) == before + 1
    sandbox.clock.advance(5)
    renamed = data.update_contact(data.contacts.records[4]["ContactID"], Name="Renamed Ltd")
    added = data.add_contact("Brand New Customer")
    changed = list(
        client.changed_since(
            tenant, "Contacts", "Contacts", watermark, params={"includeArchived": "true"}
        )
    )
    assert sorted(c["ContactID"] for c in changed) == sorted(
        [renamed["ContactID"], added["ContactID"]]
    )
    accounts = list(client.changed_since(tenant, "Accounts", "Accounts", watermark, paged=False))
    assert accounts == []


def test_bad_where_surfaces_xeros_message(sandbox, connect_client):
    from xero_pipeline.xero.errors import XeroRequestError

    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    with pytest.raises(XeroRequestError) as raised:
        client.get(tenant, "Invoices", {"where": 'Colour=="red"'})
    assert raised.value.status == 400
    assert "No property or field 'Colour' exists in type 'Invoice'" in str(raised.value)
