"""Reading over HTTP as Xero serves it: paging, line items, filters, If-Modified-Since."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime

import pytest
import requests

from xero_pipeline.sandbox.generator import OrgSpec
from xero_pipeline_tests.conftest import XeroHTTP


def org(contacts: int = 5, invoices: int = 30) -> tuple[OrgSpec]:
    return (
        OrgSpec(
            name="Paging Test Ltd", contacts=contacts, invoices=invoices, credit_notes=3, months=3
        ),
    )


@pytest.mark.parametrize("count", [0, 1, 1000, 1001])
def test_paging_boundaries(make_sandbox, count: int) -> None:
    xero = XeroHTTP(make_sandbox(orgs=org(contacts=count, invoices=0 if count == 0 else 5)))
    seen: list[str] = []
    page = 1
    while True:
        body = xero.get(
            "Contacts", params={"page": page, "pageSize": 1000, "includeArchived": "true"}
        ).json()
        batch = body["Contacts"]
        assert body["pagination"] == {
            "page": page,
            "pageSize": 1000,
            "pageCount": -(-count // 1000),
            "itemCount": count,
        }
        seen += [c["ContactID"] for c in batch]
        if len(batch) < 1000:
            break
        page += 1
    assert len(seen) == len(set(seen)) == count
    assert page == count // 1000 + 1  # a full last page costs one more (empty) call


def test_page_size_defaults_to_100_and_is_capped_at_1000(make_sandbox) -> None:
    xero = XeroHTTP(make_sandbox(orgs=org(contacts=1500)))
    default = xero.get("Contacts", params={"page": 1, "includeArchived": "true"}).json()
    assert len(default["Contacts"]) == 100 and default["pagination"]["pageSize"] == 100
    capped = xero.get("Contacts", params={"page": 1, "pageSize": 5000, "includeArchived": "true"})
    assert capped.json()["pagination"]["pageSize"] == 1000
    assert len(capped.json()["Contacts"]) == 1000
    bad = xero.get("Contacts", params={"page": 0})
    assert bad.status_code == 400 and bad.json()["Type"] == "ValidationException"


@pytest.mark.parametrize("path,key", [("Invoices", "Invoices"), ("CreditNotes", "CreditNotes")])
def test_line_items_only_when_paged(xero: XeroHTTP, path: str, key: str) -> None:
    unpaged = xero.records(path, key)
    paged = xero.records(path, key, page=1, pageSize=1000)
    assert unpaged and all("LineItems" not in doc for doc in unpaged)
    assert all(doc["LineItems"] for doc in paged)
    assert [d[f"{key[:-1]}ID"] for d in unpaged] == [d[f"{key[:-1]}ID"] for d in paged]
    summary = xero.records(path, key, page=1, pageSize=1000, summaryOnly="true")
    assert all("LineItems" not in doc for doc in summary)


def test_archived_contacts_only_with_include_archived(xero: XeroHTTP) -> None:
    everyone = xero.records("Contacts", "Contacts", includeArchived="true")
    default = xero.records("Contacts", "Contacts")
    archived = [c for c in everyone if c["ContactStatus"] == "ARCHIVED"]
    assert archived
    assert len(default) == len(everyone) - len(archived)
    assert all(c["ContactStatus"] != "ARCHIVED" for c in default)


def test_xero_json_shapes(xero: XeroHTTP) -> None:
    body = xero.get("Invoices", params={"page": 1}).json()
    assert body["Status"] == "OK" and body["DateTimeUTC"].startswith("/Date(")
    invoice = body["Invoices"][0]
    assert invoice["Date"].startswith("/Date(") and invoice["Date"].endswith("+0000)/")
    assert invoice["DateString"].endswith("T00:00:00")
    assert invoice["UpdatedDateUTC"].startswith("/Date(")
    assert isinstance(invoice["Total"], int | float)
    assert set(invoice["Contact"]) >= {"ContactID", "Name"}


def test_if_modified_since_in_both_formats(sandbox, xero: XeroHTTP) -> None:
    tenant = sandbox.tenant(0)
    sandbox.clock.advance(600)  # less than the token's 30 minutes
    since = sandbox.clock.now()
    sandbox.clock.advance(5)
    contact = tenant.contacts.records[3]
    tenant.update_contact(contact["ContactID"], Name="Renamed For Sync Ltd")
    iso = since.strftime("%Y-%m-%dT%H:%M:%S")
    rfc = format_datetime(since.astimezone(UTC), usegmt=True)
    for header in (iso, iso + "Z", rfc):
        changed = xero.get(
            "Contacts", headers={"If-Modified-Since": header}, params={"includeArchived": "true"}
        ).json()["Contacts"]
        assert [c["ContactID"] for c in changed] == [contact["ContactID"]], header
    later = (sandbox.clock.now() + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    nothing = xero.get("Contacts", headers={"If-Modified-Since": later})
    assert nothing.status_code == 200 and nothing.json()["Contacts"] == []
    bad = xero.get("Contacts", headers={"If-Modified-Since": "yesterday"})
    assert bad.status_code == 400


def test_if_modified_since_includes_the_watermark_second(sandbox, xero: XeroHTTP) -> None:
    """Compared to the second, inclusive: a record stamped in the same second comes back."""
    tenant = sandbox.tenant(0)
    contact = tenant.update_contact(tenant.contacts.records[0]["ContactID"], Name="Same Second")
    stamp = contact["UpdatedDateUTC"].replace(microsecond=0)
    header = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    changed = xero.get("Contacts", headers={"If-Modified-Since": header}).json()["Contacts"]
    assert contact["ContactID"] in {c["ContactID"] for c in changed}


def test_where_date_window_selects_one_month(sandbox, xero: XeroHTTP) -> None:
    invoices = sandbox.tenant(0).invoices
    expected = {
        invoices.stubs[p].id
        for p in range(len(invoices))
        if (invoices.stubs[p].date.year, invoices.stubs[p].date.month) == (2026, 6)
    }
    assert expected
    got = xero.records(
        "Invoices",
        "Invoices",
        page=1,
        pageSize=1000,
        where="Date>=DateTime(2026,06,01) AND Date<DateTime(2026,07,01)",
    )
    assert {i["InvoiceID"] for i in got} == expected


def test_where_on_names_with_quotes_and_a_parse_error(sandbox, xero: XeroHTTP) -> None:
    got = xero.records("Contacts", "Contacts", where='Name=="Smith \\"Best\\" Bakery"')
    assert [c["Name"] for c in got] == ['Smith "Best" Bakery']
    got = xero.records("Contacts", "Contacts", where='Name=="O\'Brien & Sons Ltd"')
    assert [c["Name"] for c in got] == ["O'Brien & Sons Ltd"]
    bad = xero.get("Invoices", params={"where": 'Status=="PAID" AND ('})
    assert bad.status_code == 400
    body = bad.json()
    assert body["Type"] == "QueryParseException" and body["ErrorNumber"] == 16 and body["Message"]
    unknown = xero.get("Invoices", params={"where": 'Colour=="red"'})
    assert unknown.status_code == 400 and "Colour" in unknown.json()["Message"]


def test_filters_by_ids_statuses_contacts_and_order(sandbox, xero: XeroHTTP) -> None:
    paid = xero.records("Invoices", "Invoices", Statuses="PAID,VOIDED")
    assert paid and {i["Status"] for i in paid} == {"PAID", "VOIDED"}
    ids = [paid[0]["InvoiceID"], paid[-1]["InvoiceID"].upper()]
    assert {i["InvoiceID"] for i in xero.records("Invoices", "Invoices", IDs=",".join(ids))} == {
        paid[0]["InvoiceID"],
        paid[-1]["InvoiceID"],
    }
    contact = paid[0]["Contact"]["ContactID"]
    by_contact = xero.records("Invoices", "Invoices", ContactIDs=contact)
    assert by_contact and {i["Contact"]["ContactID"] for i in by_contact} == {contact}
    ordered = xero.records("Invoices", "Invoices", order="Total DESC")
    totals = [i["Total"] for i in ordered]
    assert totals == sorted(totals, reverse=True)
    names = [c["Name"] for c in xero.records("Contacts", "Contacts", order="Name")]
    assert names == sorted(names)
    assert xero.get("Contacts", params={"order": "Nope DESC"}).status_code == 400


def test_single_records_groups_and_404(sandbox, xero: XeroHTTP) -> None:
    invoice = xero.records("Invoices", "Invoices")[0]
    one = xero.records(f"Invoices/{invoice['InvoiceID']}", "Invoices")
    assert len(one) == 1 and one[0]["LineItems"]
    groups = xero.records("ContactGroups", "ContactGroups")
    assert groups and all(g["Status"] == "ACTIVE" and g["Contacts"] == [] for g in groups)
    datagate = next(g for g in groups if g["Name"] == "Datagate")
    detail = xero.records(f"ContactGroups/{datagate['ContactGroupID']}", "ContactGroups")[0]
    tenant = sandbox.tenant(0)
    expected = tenant.members[datagate["ContactGroupID"]]
    assert [m["ContactID"] for m in detail["Contacts"]] == expected and expected
    missing = xero.get("Invoices/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and "cannot be found" in missing.text
    assert missing.headers["Content-Type"].startswith("text/plain")
    assert xero.get("NoSuchThing").status_code == 404


def test_a_paged_contacts_read_lists_each_contacts_groups(sandbox, xero: XeroHTTP) -> None:
    """As Xero does (XeroAPI/xero-node#524): `ContactGroups` on each contact of a paged read,
    empty on an unpaged one; only active groups; a group's members left out."""
    tenant = sandbox.tenant(0)
    datagate = next(g for g in tenant.groups.records if g["Name"] == "Datagate")
    retired = tenant.add_group("Retired", status="DELETED")
    member = tenant.members[datagate["ContactGroupID"]][0]
    tenant.set_group_member(retired["ContactGroupID"], member)
    paged = {
        c["ContactID"]: c["ContactGroups"]
        for c in xero.records("Contacts", "Contacts", page=1, pageSize=1000, includeArchived="true")
    }
    expected: dict[str, set[str]] = {}
    for group in tenant.groups.records:
        if group["Status"] == "ACTIVE":
            for contact_id in tenant.members[group["ContactGroupID"]]:
                expected.setdefault(contact_id, set()).add(group["ContactGroupID"])
    got = {cid: {g["ContactGroupID"] for g in groups} for cid, groups in paged.items() if groups}
    assert got == expected and datagate["ContactGroupID"] in got[member]
    assert retired["ContactGroupID"] not in got[member]
    shown = next(g for g in paged[member] if g["ContactGroupID"] == datagate["ContactGroupID"])
    assert (shown["Name"], shown["Status"], shown["Contacts"]) == ("Datagate", "ACTIVE", [])
    unpaged = xero.records("Contacts", "Contacts", includeArchived="true")
    assert unpaged and all(c["ContactGroups"] == [] for c in unpaged)
    one = xero.records(f"Contacts/{member}", "Contacts")[0]
    assert datagate["ContactGroupID"] in {g["ContactGroupID"] for g in one["ContactGroups"]}


def test_organisation_and_accounts(sandbox, xero: XeroHTTP) -> None:
    organisation = xero.records("Organisation", "Organisations")
    assert organisation[0]["OrganisationID"] == sandbox.tenant(0).tenant_id
    assert organisation[0]["ShortCode"].startswith("!")
    accounts = xero.records("Accounts", "Accounts")
    assert {"200", "260", "270"} <= {a.get("Code") for a in accounts}
    revenue = xero.records("Accounts", "Accounts", where='Class=="REVENUE"')
    assert revenue and {a["Class"] for a in revenue} == {"REVENUE"}
    future = datetime.now(UTC) + timedelta(days=3650)
    stale = xero.get(
        "Accounts", headers={"If-Modified-Since": future.strftime("%Y-%m-%dT%H:%M:%S")}
    )
    assert stale.status_code == 200 and stale.json()["Accounts"] == []


def unit_prices(xero: XeroHTTP, path: str, **params) -> dict[tuple[str, int], Decimal]:
    """(document id, line index) -> UnitAmount, as the JSON's own digits, over every page."""
    prices: dict[tuple[str, int], Decimal] = {}
    for page in (1, 2):  # the small organisation's 1,200 invoices
        response = xero.get(path, params={"page": page, "pageSize": 1000, **params})
        for doc in json.loads(response.text, parse_float=Decimal)[path]:
            for index, line in enumerate(doc["LineItems"]):
                prices[(doc[f"{path[:-1]}ID"], index)] = Decimal(line["UnitAmount"])
    return prices


@pytest.mark.parametrize("resource, path", [("Invoice", "Invoices"), ("CreditNote", "CreditNotes")])
def test_unit_amounts_have_two_places_unless_unitdp_4(make_sandbox, resource, path):
    sandbox = make_sandbox(size="small")  # enough lines for a twentieth of them to show
    xero = XeroHTTP(sandbox)
    docs = sandbox.tenant(0).collection(resource)
    stored = {}
    for pos in range(len(docs)):
        doc = docs.record(pos, with_lines=True)
        for index, line in enumerate(doc["LineItems"]):
            stored[(doc[f"{resource}ID"], index)] = line["UnitAmount"]
    four_places = {k for k, v in stored.items() if v != v.quantize(Decimal("0.01"))}
    assert four_places, "the organisation prices some lines to four places"
    assert len(four_places) < len(stored) / 5  # a small share
    rounded = unit_prices(xero, path)
    assert rounded == {k: v.quantize(Decimal("0.01")) for k, v in stored.items()}
    assert all(rounded[k] != stored[k] for k in four_places)
    assert unit_prices(xero, path, unitdp=4) == stored
    assert unit_prices(xero, path) == rounded  # the cached pages keep the two apart
    one = next(iter(four_places))[0]
    single = json.loads(xero.get(f"{path}/{one}", params={"unitdp": 4}).text, parse_float=Decimal)
    assert [line["UnitAmount"] for line in single[path][0]["LineItems"]] == [
        v for (doc_id, _), v in stored.items() if doc_id == one
    ]


def test_every_answer_is_dated_by_the_sandbox_clock(make_sandbox) -> None:
    sandbox = make_sandbox(frozen_clock=True)
    xero = XeroHTTP(sandbox)
    sandbox.clock.advance(400 * 86400 + 3661.7)  # far from this machine's clock
    answers = [
        xero.get("Invoices", params={"page": 1}),
        xero.get("Nowhere"),  # 404
        xero.get("Invoices", params={"where": "Total >"}),  # 400
        requests.get(f"{sandbox.url}/connections", timeout=5),  # 401
        xero.session.get(
            f"{sandbox.url}/connections",
            timeout=5,
            headers={"Authorization": f"Bearer {xero.token}"},
        ),
        requests.post(f"{sandbox.url}/connect/token", data={"grant_type": "x"}, timeout=5),
        requests.get(f"{sandbox.url}/__sandbox/state", timeout=5),
    ]
    expected = sandbox.clock.now().replace(microsecond=0)
    assert [parsedate_to_datetime(a.headers["Date"]) for a in answers] == [expected] * len(answers)


@pytest.mark.parametrize("path", ["Invoices", "CreditNotes"])
def test_documents_carry_updated_date_utc_string(sandbox, xero: XeroHTTP, path: str) -> None:
    def both_forms(documents: list[dict]) -> None:
        assert documents
        for doc in documents:
            ms = int(doc["UpdatedDateUTC"][len("/Date(") :].split("+")[0].rstrip(")/"))
            stamp = datetime.fromtimestamp(ms // 1000, UTC)
            assert doc["UpdatedDateUTCString"] == stamp.strftime("%Y-%m-%dT%H:%M:%SZ")

    both_forms(xero.records(path, path))
    both_forms(xero.records(path, path, page=1, pageSize=1000, summaryOnly="true"))
    first = xero.records(path, path)[0][f"{path[:-1]}ID"]
    sandbox.clock.advance(600)  # inside the access token's half hour
    resource = path[:-1]
    edited = sandbox.tenant(0).set_document_status(resource, first, "VOIDED")
    (served,) = xero.records(f"{path}/{first}", path)
    both_forms([served])
    assert served["UpdatedDateUTCString"] == edited["UpdatedDateUTC"].strftime("%Y-%m-%dT%H:%M:%SZ")


def test_organisations_are_on_old_and_new_plans(sandbox, xero: XeroHTTP) -> None:
    classes = [xero.records("Organisation", "Organisations", tenant=t)[0]["Class"] for t in (0, 1)]
    assert classes == ["PREMIUM", "ULTRA"]  # ULTRA: new in Xero's 2026 OpenAPI
