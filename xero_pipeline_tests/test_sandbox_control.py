"""Determinism, the edit API tests use to change "Xero" over time, and the HTTP control API."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import requests

from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline_tests.conftest import AS_OF, XeroHTTP

READS = (
    ("Organisation", {}),
    ("Contacts", {"page": 1, "pageSize": 1000, "includeArchived": "true"}),
    ("ContactGroups", {}),
    ("Accounts", {}),
    ("Invoices", {"page": 1, "pageSize": 1000}),
    ("CreditNotes", {"page": 1, "pageSize": 1000}),
    ("Invoices", {"page": 1, "pageSize": 1000, "unitdp": 4}),
)


def transcript(seed: int) -> list[bytes]:
    config = SandboxConfig(
        size="tiny", seed=seed, as_of=AS_OF, frozen_clock=True, limits=LimitConfig(enabled=False)
    )
    with Sandbox(config) as sandbox:
        xero = XeroHTTP(sandbox)
        return [
            xero.get(path, tenant, params).content for tenant in (0, 1) for path, params in READS
        ]


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first, second, other = transcript(7), transcript(7), transcript(8)
    assert first == second
    assert all(a != b for a, b in zip(first, other, strict=True))


def changed_since(xero: XeroHTTP, path: str, key: str, since) -> list[dict]:
    header = since.strftime("%Y-%m-%dT%H:%M:%S")
    response = xero.get(
        path, params={"page": 1, "includeArchived": "true"}, headers={"If-Modified-Since": header}
    )
    return response.json()[key]


def test_document_edits_move_updated_date_except_a_recode(sandbox: Sandbox, xero: XeroHTTP) -> None:
    tenant = sandbox.tenant(0)
    customer = next(c for c in tenant.contacts.records if c["IsCustomer"])
    sandbox.clock.advance(60)
    since = sandbox.clock.now()
    sandbox.clock.advance(2)
    new = tenant.add_document(
        "Invoice",
        contact_id=customer["ContactID"],
        day=AS_OF - timedelta(1),
        lines=[{"AccountCode": "200", "UnitAmount": "100.00", "Quantity": 2}],
    )
    assert new["SubTotal"] == Decimal("200.00") and new["Total"] == Decimal("230.00")
    old = xero.records("Invoices", "Invoices", Statuses="AUTHORISED")[0]
    tenant.set_document_status("Invoice", old["InvoiceID"], "PAID")
    voided = xero.records("Invoices", "Invoices", Statuses="PAID")[0]
    tenant.set_document_status("Invoice", voided["InvoiceID"], "VOIDED")
    moved = xero.records("Invoices", "Invoices", Statuses="DRAFT")[0]
    tenant.set_document_date("Invoice", moved["InvoiceID"], date(2026, 1, 15))
    recoded = xero.records("Invoices", "Invoices", page=1, Statuses="SUBMITTED")[0]
    tenant.recode_line("Invoice", recoded["InvoiceID"], 0, "260")

    changed = {i["InvoiceID"]: i for i in changed_since(xero, "Invoices", "Invoices", since)}
    assert set(changed) == {
        new["InvoiceID"],
        old["InvoiceID"],
        voided["InvoiceID"],
        moved["InvoiceID"],
    }
    assert changed[old["InvoiceID"]]["Status"] == "PAID"
    assert changed[old["InvoiceID"]]["AmountDue"] == 0
    assert changed[voided["InvoiceID"]]["Status"] == "VOIDED"
    assert changed[moved["InvoiceID"]]["DateString"] == "2026-01-15T00:00:00"
    again = xero.records(f"Invoices/{recoded['InvoiceID']}", "Invoices")[0]
    assert again["LineItems"][0]["AccountCode"] == "260"
    assert again["UpdatedDateUTC"] == recoded["UpdatedDateUTC"]


def test_contact_and_group_edits(sandbox: Sandbox, xero: XeroHTTP) -> None:
    tenant = sandbox.tenant(0)
    since = sandbox.clock.now()
    sandbox.clock.advance(2)
    renamed, archived = tenant.contacts.records[5], tenant.contacts.records[6]
    tenant.update_contact(renamed["ContactID"], Name="New Name & Co")
    tenant.update_contact(archived["ContactID"], ContactStatus="ARCHIVED")
    changed = {c["ContactID"]: c for c in changed_since(xero, "Contacts", "Contacts", since)}
    assert changed[renamed["ContactID"]]["Name"] == "New Name & Co"
    assert changed[archived["ContactID"]]["ContactStatus"] == "ARCHIVED"
    group = next(g for g in tenant.groups.records if g["Name"] == "Datagate")
    outsider = next(
        c
        for c in tenant.contacts.records
        if c["ContactID"] not in tenant.members[group["ContactGroupID"]]
    )
    tenant.set_group_member(group["ContactGroupID"], outsider["ContactID"])
    members = xero.records(f"ContactGroups/{group['ContactGroupID']}", "ContactGroups")[0][
        "Contacts"
    ]
    assert outsider["ContactID"] in {m["ContactID"] for m in members}
    tenant.set_group_member(group["ContactGroupID"], outsider["ContactID"], member=False)
    members = xero.records(f"ContactGroups/{group['ContactGroupID']}", "ContactGroups")[0][
        "Contacts"
    ]
    assert outsider["ContactID"] not in {m["ContactID"] for m in members}


def test_an_invoice_gives_its_contact_the_role_without_a_stamp(
    sandbox: Sandbox, xero: XeroHTTP
) -> None:
    """A sales invoice makes its contact a customer, a bill makes it a supplier; Xero does not
    move the contact's UpdatedDateUTC, so an incremental read of contacts does not see it."""
    tenant = sandbox.tenant(0)
    buyer = next(c for c in tenant.contacts.records if not c["IsCustomer"])
    seller = next(c for c in tenant.contacts.records if not c["IsSupplier"])
    stamps = {c["ContactID"]: c["UpdatedDateUTC"] for c in (buyer, seller)}
    sandbox.clock.advance(60)
    since = sandbox.clock.now()
    sandbox.clock.advance(2)
    line = [{"AccountCode": "200", "UnitAmount": "10.00"}]
    tenant.add_document("Invoice", contact_id=buyer["ContactID"], day=AS_OF, lines=line)
    tenant.add_document(
        "Invoice", contact_id=seller["ContactID"], day=AS_OF, lines=line, type_="ACCPAY"
    )
    ids = ",".join(stamps)
    read = {c["ContactID"]: c for c in xero.records("Contacts", "Contacts", IDs=ids, page=1)}
    assert read[buyer["ContactID"]]["IsCustomer"] is True
    assert read[seller["ContactID"]]["IsSupplier"] is True
    assert {i: tenant.contacts.find(i)["UpdatedDateUTC"] for i in stamps} == stamps
    assert not set(stamps) & {
        c["ContactID"] for c in changed_since(xero, "Contacts", "Contacts", since)
    }


def test_bad_data_can_be_injected(sandbox: Sandbox, xero: XeroHTTP) -> None:
    tenant = sandbox.tenant(0)
    duplicate = dict(tenant.contacts.records[0], Name="")
    tenant.put_raw("Contact", duplicate)
    ids = [c["ContactID"] for c in xero.records("Contacts", "Contacts", includeArchived="true")]
    assert ids.count(duplicate["ContactID"]) == 2
    tenant.put_raw(
        "Account",
        {
            "AccountID": "0000aaaa-0000-4000-8000-000000000001",
            "Code": "999",
            "Name": "Weird",
            "Type": "NOTATYPE",
            "Class": "REVENUE",
            "Status": "ACTIVE",
        },
    )
    assert "NOTATYPE" in {a["Type"] for a in xero.records("Accounts", "Accounts")}


def test_http_control_api(make_sandbox) -> None:
    sandbox = make_sandbox(limits=LimitConfig(enabled=False))
    control = f"{sandbox.url}/__sandbox"
    state = requests.get(f"{control}/state", timeout=5).json()
    assert [t["tenant_id"] for t in state["tenants"]] == list(sandbox.tenants)
    before = sandbox.clock.now()
    requests.post(f"{control}/clock", json={"advance_seconds": 3600}, timeout=5).raise_for_status()
    assert sandbox.clock.now() - before >= timedelta(seconds=3600)
    contact_id = sandbox.tenant(0).contacts.records[2]["ContactID"]
    edited = requests.post(
        f"{control}/edit",
        timeout=5,
        json={
            "tenant": 0,
            "op": "update_contact",
            "args": {"contact_id": contact_id, "Name": "Via HTTP Ltd"},
        },
    ).json()
    assert edited["Name"] == "Via HTTP Ltd" and edited["UpdatedDateUTC"].startswith("/Date(")
    invoice = requests.post(
        f"{control}/edit",
        timeout=5,
        json={
            "tenant": 0,
            "op": "add_document",
            "args": {
                "resource": "Invoice",
                "contact_id": contact_id,
                "day": "2026-11-01",
                "lines": [{"AccountCode": "200", "UnitAmount": 10}],
            },
        },
    ).json()
    assert invoice["Total"] == 11.5 and invoice["DateString"] == "2026-11-01T00:00:00"
    refused = requests.post(f"{control}/edit", json={"op": "__class__"}, timeout=5)
    assert refused.status_code == 400
    requests.post(f"{control}/faults", json={"kind": "503", "count": 1}, timeout=5)
    xero = XeroHTTP(sandbox)
    assert xero.get("Accounts").status_code == 503
    # Counting starts when limits are switched on (with limits off nothing is counted).
    requests.post(f"{control}/limits", json={"per_minute": 1}, timeout=5).raise_for_status()
    assert [xero.get("Accounts").status_code for _ in range(2)] == [200, 429]
