"""Reference-data assets: materialized with real resources against the sandbox over HTTP, into
SQLite and PostgreSQL, and compared with the sandbox's own records."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import create_engine, text

from xero_pipeline.defs.reference import assets as reference
from xero_pipeline.months import month_start
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.xero.client import READ_OVERLAP
from xero_pipeline_tests.conftest import AS_OF
from xero_pipeline_tests.sales_support import Pipeline

reference_assets = dg.load_assets_from_modules([reference])

TABLES = (
    "xero_organisation",
    "xero_contacts",
    "xero_contact_groups",
    "xero_contact_group_members",
    "xero_accounts",
    "suppliers",
    "sync_state",
)


def materialize(url: str, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        reference_assets,
        raise_on_error=raise_on_error,
        resources={"xero": XeroResource(), "warehouse": WarehouseResource(url=url)},
    )


def query(url: str, sql: str) -> list[tuple]:
    with create_engine(url).connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Each reference table's materialization metadata (not the ledger of organisations the
    run records beside them, `xero_connections`)."""
    return {
        event.asset_key.to_user_string(): {
            k: v.value for k, v in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
        if event.asset_key.to_user_string() != "xero_connections"
    }


def checksum(url: str) -> dict[str, str]:
    """A fingerprint of every table's content, to prove a failed run changed nothing."""
    sums = {}
    for table in TABLES:
        columns = "watermark" if table == "sync_state" else "row_hash"
        rows = sorted(repr(r) for r in query(url, f"SELECT tenant_id, {columns} FROM {table}"))
        sums[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return sums


def sandbox_contacts(sandbox: Sandbox) -> set[tuple]:
    return {
        (
            t.tenant_id,
            c["ContactID"],
            c["Name"],
            c["ContactStatus"],
            c["IsCustomer"],
            c["IsSupplier"],
        )
        for t in sandbox.tenants.values()
        for c in t.contacts.records
    }


@pytest.fixture
def pointed(sandbox: Sandbox, xero_env) -> Sandbox:
    xero_env(sandbox)
    return sandbox


def test_tables_equal_the_sandbox_row_for_row(pointed: Sandbox, warehouse_url: str):
    calls_before = pointed.total_calls()
    result = materialize(warehouse_url)
    assert result.success
    sandbox = pointed
    # Organisation, Contacts (one page), ContactGroups and Accounts per tenant, and no read per
    # group: every contact was read, each with its groups, so the members come from them.
    assert pointed.total_calls() - calls_before == 4 * len(pointed.tenants)
    sources = {
        k: v
        for k, v in metadata(result)["xero_contact_group_members"].items()
        if k.startswith("members of")
    }
    assert len(sources) == len(pointed.tenants)
    assert set(sources.values()) == {"this run's read of all its contacts"}
    got = {
        (t, i, n, s, bool(c), bool(p))
        for t, i, n, s, c, p in query(
            warehouse_url,
            "SELECT tenant_id, contact_id, name, contact_status, is_customer, "
            "is_supplier FROM xero_contacts",
        )
    }
    assert got == sandbox_contacts(sandbox)
    groups = {
        (t.tenant_id, g["ContactGroupID"], g["Name"])
        for t in sandbox.tenants.values()
        for g in t.groups.records
        if g["Status"] == "ACTIVE"
    }
    assert (
        set(
            query(
                warehouse_url, "SELECT tenant_id, contact_group_id, name FROM xero_contact_groups"
            )
        )
        == groups
    )
    members = {
        (t.tenant_id, g["ContactGroupID"], c)
        for t in sandbox.tenants.values()
        for g in t.groups.records
        if g["Status"] == "ACTIVE"
        for c in t.members[g["ContactGroupID"]]
    }
    assert (
        set(
            query(
                warehouse_url,
                "SELECT tenant_id, contact_group_id, contact_id FROM xero_contact_group_members",
            )
        )
        == members
    )
    accounts = {
        (t.tenant_id, a["AccountID"], a.get("Code"), a["Name"], a["Type"], a["Class"], a["Status"])
        for t in sandbox.tenants.values()
        for a in t.accounts.records
    }
    assert (
        set(
            query(
                warehouse_url,
                'SELECT tenant_id, account_id, code, name, type, "class", '
                "status FROM xero_accounts",
            )
        )
        == accounts
    )
    suppliers = {(t, i) for t, i, _, _, _, is_supplier in sandbox_contacts(sandbox) if is_supplier}
    assert set(query(warehouse_url, "SELECT tenant_id, contact_id FROM suppliers")) == suppliers
    organisations = {
        (t.tenant_id, t.organisation["BaseCurrency"], t.organisation["ShortCode"])
        for t in sandbox.tenants.values()
    }
    assert (
        set(
            query(
                warehouse_url, "SELECT tenant_id, base_currency, short_code FROM xero_organisation"
            )
        )
        == organisations
    )
    links = query(warehouse_url, "SELECT xero_url FROM xero_contacts LIMIT 1")
    assert links[0][0].startswith("https://go.xero.com/organisationlogin/default.aspx?shortcode=!")


def in_the_overlap(sandbox: Sandbox, since: datetime | None = None) -> int:
    """Contacts an incremental read re-reads although unchanged: those stamped within
    READ_OVERLAP before the newest stamp the warehouse has (the watermark), up to `since`."""
    count = 0
    for tenant in sandbox.tenants.values():
        stamps = [c["UpdatedDateUTC"] for c in tenant.contacts.records]
        newest = max(s for s in stamps if since is None or s < since)
        count += sum(newest - READ_OVERLAP <= s <= newest for s in stamps)
    return count


def test_second_run_rewrites_nothing_and_spends_one_call_per_resource(pointed, warehouse_url):
    materialize(warehouse_url)
    before = checksum(warehouse_url)
    calls_before = pointed.total_calls()
    second = metadata(materialize(warehouse_url))
    for asset, values in second.items():
        assert (values["inserted"], values["updated"], values["deleted"]) == (0, 0, 0), asset
    # The incremental read re-reads only its overlap (READ_OVERLAP before the watermark).
    assert second["xero_contacts"]["rows read"] == in_the_overlap(pointed)
    tenants = len(pointed.tenants)
    groups = sum(
        1 for t in pointed.tenants.values() for g in t.groups.records if g["Status"] == "ACTIVE"
    )
    # Organisation, Contacts (incremental), ContactGroups and Accounts: one call each per tenant;
    # members: one per group.
    assert pointed.total_calls() - calls_before == 4 * tenants + groups
    assert checksum(warehouse_url) == before


def test_edits_in_xero_land_exactly(pointed: Sandbox, warehouse_url: str):
    materialize(warehouse_url)
    tenant = pointed.tenant(0)
    pointed.clock.advance(5)
    renamed, archived = tenant.contacts.records[20], tenant.contacts.records[21]
    tenant.update_contact(renamed["ContactID"], Name="Renamed & Sons")
    tenant.update_contact(archived["ContactID"], ContactStatus="ARCHIVED")
    group = next(g for g in tenant.groups.records if g["Name"] == "Datagate")
    leaving = tenant.members[group["ContactGroupID"]][2]
    joining = next(
        c["ContactID"]
        for c in tenant.contacts.records
        if c["ContactID"] not in tenant.members[group["ContactGroupID"]]
    )
    tenant.set_group_member(group["ContactGroupID"], leaving, member=False)
    tenant.set_group_member(group["ContactGroupID"], joining)
    tenant.add_account("215", "Workshops", "REVENUE", "REVENUE")
    overlap = in_the_overlap(pointed, since=pointed.clock.now() - timedelta(seconds=5))
    changes = metadata(materialize(warehouse_url))
    assert (changes["xero_contacts"]["rows read"], changes["xero_contacts"]["updated"]) == (
        2 + overlap,
        2,
    )
    members = changes["xero_contact_group_members"]
    active = {g["ContactGroupID"] for g in tenant.groups.records if g["Status"] == "ACTIVE"}
    renamed_memberships = sum(renamed["ContactID"] in tenant.members[g] for g in active)
    # Member rows carry the contact's name, so the rename updates each of its memberships.
    assert (members["inserted"], members["deleted"], members["updated"]) == (
        1,
        1,
        renamed_memberships,
    )
    assert (changes["xero_accounts"]["inserted"], changes["xero_accounts"]["updated"]) == (1, 0)
    assert query(
        warehouse_url, f"SELECT name FROM xero_contacts WHERE contact_id = '{renamed['ContactID']}'"
    ) == [("Renamed & Sons",)]
    assert query(
        warehouse_url,
        f"SELECT contact_status FROM xero_contacts WHERE contact_id = '{archived['ContactID']}'",
    ) == [("ARCHIVED",)]
    assert got_members(warehouse_url, group["ContactGroupID"]) == set(
        tenant.members[group["ContactGroupID"]]
    )


def test_an_invoice_that_makes_a_customer_reaches_the_contact(pointed: Sandbox, warehouse_url):
    """Xero makes a contact a customer when a sales invoice is raised for it (a supplier: a
    bill) without stamping the contact; the next refresh re-reads exactly those contacts."""
    materialize(warehouse_url)
    tenant = pointed.tenant(0)
    buyer = next(c for c in tenant.contacts.records if not c["IsCustomer"])
    seller = next(c for c in tenant.contacts.records if not c["IsSupplier"] and c is not buyer)
    line = [{"AccountCode": "200", "UnitAmount": "80.00"}]
    tenant.add_document("Invoice", contact_id=buyer["ContactID"], day=AS_OF, lines=line)
    tenant.add_document(
        "Invoice", contact_id=seller["ContactID"], day=AS_OF, lines=line, type_="ACCPAY"
    )
    Pipeline(warehouse_url, month_start(AS_OF)).job("history_only", month_start(AS_OF).isoformat())
    groups = sum(
        1 for t in pointed.tenants.values() for g in t.groups.records if g["Status"] == "ACTIVE"
    )
    calls_before = pointed.total_calls()
    shown = metadata(materialize(warehouse_url))
    roles = query(
        warehouse_url,
        "SELECT contact_id, is_customer, is_supplier FROM xero_contacts "
        f"WHERE contact_id IN ('{buyer['ContactID']}', '{seller['ContactID']}')",
    )
    assert {(i, bool(c), bool(s)) for i, c, s in roles} == {
        (buyer["ContactID"], True, bool(buyer["IsSupplier"])),
        (seller["ContactID"], bool(seller["IsCustomer"]), True),
    }
    assert shown["xero_contacts"]["updated"] == 2
    assert shown["xero_contacts"][f"roles re-read in {tenant.name}"] == 2
    assert shown["xero_contacts"][f"roles re-read in {pointed.tenant(1).name}"] == 0
    assert (seller["ContactID"],) in query(
        warehouse_url, f"SELECT contact_id FROM suppliers WHERE tenant_id = '{tenant.tenant_id}'"
    )
    # One call more than a quiet refresh: both contacts in one read by id.
    assert pointed.total_calls() - calls_before == 4 * len(pointed.tenants) + groups + 1


def got_members(url: str, group_id: str) -> set[str]:
    return {
        r[0]
        for r in query(
            url,
            f"SELECT contact_id FROM xero_contact_group_members "
            f"WHERE contact_group_id = '{group_id}'",
        )
    }


def inject_duplicate_contact(sandbox: Sandbox, index: int = 0) -> str:
    tenant = sandbox.tenant(index)
    sandbox.clock.advance(5)
    tenant.put_raw(
        "Contact",
        {**tenant.contacts.records[3], "Name": "Twin", "UpdatedDateUTC": sandbox.clock.now()},
    )
    tenant.update_contact(tenant.contacts.records[3]["ContactID"], Name="Original")
    return tenant.tenant_id


def inject_empty_name(sandbox: Sandbox) -> str:
    tenant = sandbox.tenant(0)
    sandbox.clock.advance(5)
    tenant.update_contact(tenant.contacts.records[4]["ContactID"], Name="")
    return tenant.tenant_id


def inject_unknown_account_type(sandbox: Sandbox) -> str:
    tenant = sandbox.tenant(1)
    tenant.add_account("999", "Mystery", "NOTATYPE", "REVENUE")
    return tenant.tenant_id


def inject_member_who_is_not_a_contact(sandbox: Sandbox) -> str:
    tenant = sandbox.tenant(0)
    group = next(g for g in tenant.groups.records if g["Name"] == "Datagate")
    tenant.add_raw_member(group["ContactGroupID"], "00000000-dead-4bee-8000-000000000000")
    return tenant.tenant_id


def tenant_checksum(url: str, tenant_id: str) -> dict[str, str]:
    """`checksum`, of one organisation's rows."""
    sums = {}
    for table in TABLES:
        columns = "watermark" if table == "sync_state" else "row_hash"
        sql = f"SELECT {columns} FROM {table} WHERE tenant_id = '{tenant_id}'"
        rows = sorted(repr(r) for r in query(url, sql))
        sums[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return sums


def check_evaluations(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    return {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.asset_key.to_user_string() == asset
    }


@pytest.mark.parametrize(
    "inject,asset,check",
    [
        (inject_duplicate_contact, "xero_contacts", "contact_id_unique_per_tenant"),
        (inject_empty_name, "xero_contacts", "name_not_empty"),
        (inject_unknown_account_type, "xero_accounts", "column_values_to_be_in_set__type"),
        (
            inject_member_who_is_not_a_contact,
            "xero_contact_group_members",
            "member_is_a_known_contact",
        ),
    ],
)
def test_bad_data_fails_the_gate_for_its_organisation_only(
    pointed, warehouse_url, inject, asset, check
):
    """Bad rows of one organisation: nothing of that organisation is published, it is marked
    failing with the check that stopped it, and the other organisation's changes publish."""
    materialize(warehouse_url)
    bad = inject(pointed)
    good = next(t for t in pointed.tenants.values() if t.tenant_id != bad)
    before = tenant_checksum(warehouse_url, bad)
    pointed.clock.advance(5)
    renamed = good.contacts.records[5]["ContactID"]
    good.update_contact(renamed, Name="Renamed While Another Organisation Failed")
    result = materialize(warehouse_url, raise_on_error=False)
    assert result.success, "one organisation's bad rows must not stop the others"
    loaded = check_evaluations(result, asset)["organisations_loaded"]
    assert not loaded.passed
    assert "quality gate stopped" in loaded.metadata["failed"].value[bad]
    assert check in loaded.metadata["failed"].value[bad]
    assert any(key.startswith("sample failing rows") for key in loaded.metadata)
    assert tenant_checksum(warehouse_url, bad) == before  # its tables exactly as they were
    assert query(
        warehouse_url,
        f"SELECT name FROM xero_contacts WHERE contact_id = '{renamed}'",
    ) == [("Renamed While Another Organisation Failed",)]
    status, error, failures = query(
        warehouse_url,
        f"SELECT status, last_error, failures FROM xero_connections WHERE tenant_id = '{bad}'",
    )[0]
    assert status == "failing" and check in error and failures >= 1
    assert query(
        warehouse_url,
        f"SELECT status, failures FROM xero_connections WHERE tenant_id = '{good.tenant_id}'",
    ) == [("connected", 0)]


def test_bad_data_in_every_organisation_fails_the_gate_and_publishes_nothing(
    pointed, warehouse_url
):
    materialize(warehouse_url)
    before = checksum(warehouse_url)
    for index in range(len(pointed.tenants)):
        inject_duplicate_contact(pointed, index)
    result = materialize(warehouse_url, raise_on_error=False)
    assert not result.success
    failed = [e for e in result.get_step_failure_events() if e.step_key == "xero_contacts"]
    assert failed and "quality gate stopped" in failed[0].event_specific_data.error.message
    evaluation = check_evaluations(result, "xero_contacts")["contact_id_unique_per_tenant"]
    assert not evaluation.passed
    shown = evaluation.metadata
    assert shown["unexpected count"].value >= 2
    assert "sample failing rows" in shown
    assert checksum(warehouse_url) == before  # tables and watermark exactly as they were


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"ContactGroups": [{"ContactGroupID": "AB-1", "Name": "Datagate"}]}, {"ab-1"}),
        ({"ContactGroups": [{"Name": "no id"}, "junk", {"ContactGroupID": "c"}]}, {"c"}),
        ({"ContactGroups": "not a list"}, set()),
        ({}, set()),
        (None, set()),
        (["a list, not a contact"], set()),
    ],
)
def test_the_groups_a_stored_contact_lists_are_read_tolerantly(raw, expected):
    assert reference.listed_groups(raw) == expected
