"""Customer lists per organisation: a list row that names an organisation merges only with that
organisation's Xero customers, at every step of the ladder; a row without one, or a list without
the column, is for every organisation as before. Pure parts first, then end to end on a sandbox
of two organisations, into SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from xero_pipeline.defs.customers.matching import Customer, Decision, XeroCustomer, match
from xero_pipeline.defs.customers.organisations import Organisation, resolve
from xero_pipeline.defs.customers.plan import build_plan
from xero_pipeline.defs.customers.source import ListedCustomer, read_csv, read_table
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.customers import sample_customers
from xero_pipeline.xero.errors import ConfigError
from xero_pipeline_tests.test_customer_merge import (
    contact,
    failure,
    load_reference,
    merge,
    query,
    write_list,
)

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)
A, B = "tenant-a", "tenant-b"


def outcomes(result) -> dict[tuple[str, str], tuple]:
    return {
        (o.tenant_id, o.contact_id): (o.action, o.customer_id, o.match_method, o.reason)
        for o in result.outcomes
    }


# -- the ladder ------------------------------------------------------------------------------


def test_one_name_in_two_organisations_lists_links_each_to_its_own():
    people = [
        XeroCustomer(A, "a1", "Harbour Lights Cafe"),
        XeroCustomer(B, "b1", "HARBOUR LIGHTS CAFE LTD"),
    ]
    scoped = [
        Customer("HA", "Harbour Lights Cafe", list_tenant_id=A),
        Customer("HB", "Harbour Lights Cafe", list_tenant_id=B),
    ]
    assert outcomes(match(scoped, people)) == {
        (A, "a1"): ("link", "HA", "exact", None),
        (B, "b1"): ("link", "HB", "normalised", None),
    }
    # The same list without organisations: one name, two customers, two contacts: review.
    shared = [Customer("HA", "Harbour Lights Cafe"), Customer("HB", "Harbour Lights Cafe")]
    got = outcomes(match(shared, people))
    assert {action for action, *_ in got.values()} == {"review"}
    assert got[(A, "a1")][3] == (
        "ambiguous: two customers have the exact name 'Harbour Lights Cafe'"
    )


def test_a_row_for_one_organisation_never_meets_another_organisations_contacts():
    customers = [Customer("K", "Kauri Point Joinery", list_tenant_id=A)]
    people = [
        XeroCustomer(B, "b1", "Kauri Point Joinery"),  # exact, but in the other organisation
        XeroCustomer(B, "b2", "Kauri Pont Joinery"),  # a fuzzy candidate, ditto
        XeroCustomer(A, "a1", "Kauri Point Joinery Ltd"),
    ]
    assert outcomes(match(customers, people)) == {
        (A, "a1"): ("link", "K", "normalised", None),
        (B, "b1"): ("new", "xero-b1", "new", None),
        (B, "b2"): ("new", "xero-b2", "new", None),
    }
    # Nothing in its own organisation: it stays unlinked rather than meet B's exact match.
    alone = outcomes(match(customers, people[:2]))
    assert {action for action, *_ in alone.values()} == {"new"}


def test_a_row_for_every_organisation_is_shared_as_before():
    people = [XeroCustomer(A, "a1", "Acme"), XeroCustomer(B, "b1", "Acme")]
    for customers in (
        [Customer("U", "Acme")],
        [Customer("U", "Acme"), Customer("SA", "Acme", list_tenant_id=A)],
    ):
        got = outcomes(match(customers, people))
        assert {action for action, *_ in got.values()} == {"review"}, customers
    # One organisation's contact links it; the other's then finds it taken: review, as ever.
    got = outcomes(match([Customer("U", "Acme")], [people[0], XeroCustomer(B, "b1", "ACME Ltd")]))
    assert got[(A, "a1")][:3] == ("link", "U", "exact")
    assert got[(B, "b1")][0] == "review"


def test_ambiguity_is_counted_within_an_organisation():
    customers = [
        Customer("S1", "Smith and Co", list_tenant_id=A),
        Customer("S2", "Smith and Co", list_tenant_id=A),
        Customer("S3", "Smith and Co", list_tenant_id=B),
    ]
    people = [XeroCustomer(A, "a1", "Smith & Co"), XeroCustomer(B, "b1", "Smith & Co")]
    got = outcomes(match(customers, people))
    assert got[(A, "a1")][0] == "review"
    assert got[(A, "a1")][3] == "ambiguous: two customers have the normalised name 'smith and co'"
    assert got[(B, "b1")] == ("link", "S3", "normalised", None)


def test_a_decision_across_organisations_is_reported_not_applied():
    customers = [Customer("K", "Kauri Point Joinery", list_tenant_id=A)]
    decision = Decision(B, "b1", "K", "accept", NOW)
    result = match(customers, [XeroCustomer(B, "b1", "Kauri Joinery")], [decision])
    assert result.outcomes[0].action == "new"
    assert result.unapplied == [(decision, "the list puts the customer in another organisation")]


def test_the_plan_keeps_each_rows_organisation():
    listed = [
        ListedCustomer("HA", "Harbour Lights Cafe", tenant_id=A),
        ListedCustomer("ANY", "Kiwi"),
    ]
    plan = build_plan([], listed, [XeroCustomer(B, "b1", "Harbour Lights Cafe")], now=NOW)
    rows = {row["customer_id"]: row for row in plan.customers}
    assert rows["HA"]["list_tenant_id"] == A and rows["HA"]["contact_id"] is None
    assert rows["ANY"]["list_tenant_id"] is None
    assert rows["xero-b1"]["list_tenant_id"] is None  # created from Xero: any organisation


# -- reading and resolving the column --------------------------------------------------------


def test_the_organisation_column_is_found_by_any_of_its_names(tmp_path: Path):
    for header in ("Short Code", "TENANT_ID", "xero tenant id", " organisation ", "Tenant"):
        path = tmp_path / "list.csv"
        path.write_text(f"id,name,{header},region\n1,Acme,!AbC12,North\n2,Kiwi,,\n")
        first, second = read_csv(path)
        assert (first.organisation, second.organisation) == ("!AbC12", None), header
        assert first.attributes == {"region": "North"}, header
        assert first.where == f"line 2, column {header.strip()}"
    path.write_text("id,name,region\n1,Acme,North\n")
    assert read_csv(path)[0].organisation is None  # no column: every organisation


def test_a_table_list_names_the_row_by_its_id(tmp_path: Path):
    engine = create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    with engine.begin() as connection:
        connection.execute(text('CREATE TABLE crm ("ID" TEXT, "Name" TEXT, "Xero Tenant" TEXT)'))
        connection.execute(
            text("INSERT INTO crm VALUES ('A-1', 'Acme', '!AbC12'), ('A-2', 'Kiwi', NULL)")
        )
    [first, second] = read_table(engine, "crm")
    engine.dispose()
    assert (first.organisation, second.organisation) == ("!AbC12", None)
    assert first.where == "the row with ID 'A-1', column Xero Tenant"


ORGS = [
    Organisation("3f1c2b9a-0000-4000-8000-00000000000a", "!AbC12", "Alpha Ltd"),
    Organisation("3f1c2b9a-0000-4000-8000-00000000000b", "!XyZ34", "Beta Ltd"),
]


def test_an_organisation_is_named_by_tenant_id_or_short_code():
    alpha, beta = ORGS[0].tenant_id, ORGS[1].tenant_id
    listed = [
        ListedCustomer("1", "One", organisation="!AbC12"),
        ListedCustomer("2", "Two", organisation=beta.upper()),
        ListedCustomer("3", "Three", organisation="!xyz34"),  # case aside: still only one
        ListedCustomer("4", "Four"),
    ]
    got = resolve(listed, ORGS, "CSV file list.csv")
    assert [item.tenant_id for item in got] == [alpha, beta, beta, None]


def test_a_value_that_names_no_organisation_stops_the_merge_naming_the_row():
    listed = [
        ListedCustomer("1", "One", organisation="!AbC12"),
        ListedCustomer("2", "Two", organisation="Alpha", where="line 3, column organisation"),
        ListedCustomer("3", "Three", organisation="!nope", where="line 4, column organisation"),
    ]
    with pytest.raises(ConfigError) as error:
        resolve(listed, ORGS, "CSV file list.csv")
    message = str(error.value)
    assert error.value.variable == "CUSTOMERS_SOURCE"
    assert message.startswith(
        "CUSTOMERS_SOURCE: CSV file list.csv, line 3, column organisation: 'Alpha' (customer 2) "
        "names no organisation in the warehouse (and 1 more rows)."
    )
    assert "Alpha Ltd (short code !AbC12, tenant id 3f1c2b9a-" in message
    with pytest.raises(ConfigError, match="no organisations yet"):
        resolve(listed, [], "CSV file list.csv")


# -- end to end ------------------------------------------------------------------------------


@pytest.fixture
def two_orgs(sandbox: Sandbox, xero_env, monkeypatch) -> Sandbox:
    """The pipeline pointed at the sandbox as a Xero app, both organisations connected."""
    xero_env(sandbox)
    for name in ("XERO_CUSTOMER_GROUP", "XERO_NEW_CUSTOMER_LIMIT", "XERO_TENANT_IDS"):
        monkeypatch.delenv(name, raising=False)
    return sandbox


def test_lists_per_organisation_end_to_end(
    two_orgs: Sandbox, warehouse_url: str, monkeypatch, tmp_path
):
    first, second = two_orgs.tenant(0), two_orgs.tenant(1)
    # The sample list, for every organisation (today's one list), and three rows that say which.
    rows = [{**row, "Organisation": ""} for row in sample_customers(two_orgs)]
    code_a = first.organisation["ShortCode"]
    rows += [
        {"customer_id": "H-A", "name": "Harbour Lights Cafe", "Organisation": code_a},
        {"customer_id": "H-B", "name": "Harbour Lights Cafe", "Organisation": second.tenant_id},
        {"customer_id": "K-A", "name": "Kauri Point Joinery", "Organisation": code_a},
    ]
    harbour_a = first.add_contact("Harbour Lights Cafe")
    first.set_group_member(
        next(g for g in first.groups.records if g["Name"] == "Datagate")["ContactGroupID"],
        harbour_a["ContactID"],
    )
    harbour_b = second.add_contact("Harbour Lights Cafe Ltd")  # selected: B has no Datagate
    kauri_b = second.add_contact("Kauri Point Joinery")  # an exact match, in the other one
    monkeypatch.setenv("CUSTOMERS_SOURCE", str(write_list(tmp_path / "list.csv", rows)))
    load_reference(warehouse_url)
    merge(warehouse_url, confirm=True)
    linked = {
        r[0]: r[1:]
        for r in query(
            warehouse_url,
            "SELECT customer_id, tenant_id, contact_id, match_method, list_tenant_id "
            "FROM customers WHERE customer_id IN ('H-A', 'H-B', 'K-A', :acme, :new)",
            acme=next(r["customer_id"] for r in rows if r["name"] == "Acme Ltd"),
            new=f"xero-{kauri_b['ContactID']}",
        )
    }
    assert linked.pop("H-A") == (
        first.tenant_id,
        harbour_a["ContactID"],
        "exact",
        first.tenant_id,
    )
    assert linked.pop("H-B") == (
        second.tenant_id,
        harbour_b["ContactID"],
        "normalised",
        second.tenant_id,
    )
    assert linked.pop("K-A") == (None, None, None, first.tenant_id)
    assert linked.pop(f"xero-{kauri_b['ContactID']}") == (
        second.tenant_id,
        kauri_b["ContactID"],
        "new",
        None,
    )
    # A row without an organisation merges as before: with every organisation.
    [acme] = linked.values()
    assert acme == (
        first.tenant_id,
        contact(two_orgs, "Acme Ltd")["ContactID"],
        "exact",
        None,
    )
    assert not query(
        warehouse_url,
        "SELECT contact_name FROM customer_match_review WHERE contact_id IN (:a, :b, :k)",
        a=harbour_a["ContactID"],
        b=harbour_b["ContactID"],
        k=kauri_b["ContactID"],
    )


def test_an_unknown_organisation_stops_the_merge_naming_the_row(
    two_orgs: Sandbox, warehouse_url: str, monkeypatch, tmp_path
):
    rows = [
        {"customer_id": "1", "name": "Acme Ltd", "short_code": ""},
        {"customer_id": "2", "name": "Kiwi", "short_code": "!NOPE1"},
    ]
    monkeypatch.setenv("CUSTOMERS_SOURCE", str(write_list(tmp_path / "list.csv", rows)))
    load_reference(warehouse_url)
    message = failure(merge(warehouse_url, raise_on_error=False), "customer_merge_preview")
    assert "CUSTOMERS_SOURCE" in message and "list.csv, line 3, column short_code" in message
    assert "'!NOPE1' (customer 2) names no organisation" in message
    assert two_orgs.tenant(0).organisation["ShortCode"] in message
    assert query(warehouse_url, "SELECT count(*) FROM customers") == [(0,)]
