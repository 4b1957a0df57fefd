"""The customer merge, end to end: real reference-data and merge assets materialized against a
sandbox over HTTP, into SQLite and PostgreSQL, with the sandbox's sample customer list."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import create_engine, text

from xero_pipeline.cli import main
from xero_pipeline.defs.customers import assets as merge_assets
from xero_pipeline.defs.customers.assets import APPLY
from xero_pipeline.defs.customers.commands import merge_skipped
from xero_pipeline.defs.reference import assets as reference
from xero_pipeline.resources import SandboxXeroResource, WarehouseResource, XeroResource
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.customers import HEADER, sample_customers, write_sample_csv
from xero_pipeline.sandbox.generator import AWKWARD_CUSTOMER_NAMES, AWKWARD_SUPPLIER_NAMES
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import XeroSettings

reference_assets = dg.load_assets_from_modules([reference])
customer_assets = dg.load_assets_from_modules([merge_assets])

MERGE_TABLES = ("customers", "customer_match_review")


# -- helpers ---------------------------------------------------------------------------------


def xero_resource(sandbox_size: str | None = None) -> XeroResource:
    """Xero as the test's environment points at it, or the built-in sandbox of that size."""
    return XeroResource() if sandbox_size is None else SandboxXeroResource(size=sandbox_size)


def load_reference(url: str, sandbox_size: str | None = None) -> None:
    result = dg.materialize(
        reference_assets,
        resources={"xero": xero_resource(sandbox_size), "warehouse": WarehouseResource(url=url)},
    )
    assert result.success


def merge(
    url: str, *, confirm: bool = False, raise_on_error: bool = True, sandbox_size: str | None = None
) -> dg.ExecuteInProcessResult:
    run_config = {"ops": {APPLY: {"config": {"confirm": True}}}} if confirm else None
    return dg.materialize(
        customer_assets,
        raise_on_error=raise_on_error,
        run_config=run_config,
        resources={"xero": xero_resource(sandbox_size), "warehouse": WarehouseResource(url=url)},
    )


def query(url: str, sql: str, **params: Any) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    return {
        event.asset_key.to_user_string(): {
            k: v.value for k, v in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }


def checksum(url: str) -> dict[str, str]:
    sums = {}
    for table in MERGE_TABLES:
        rows = sorted(repr(r) for r in query(url, f"SELECT row_hash, loaded_at FROM {table}"))
        sums[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return sums


def failure(result: dg.ExecuteInProcessResult, step: str = APPLY) -> str:
    events = [e for e in result.get_step_failure_events() if e.step_key == step]
    assert events, f"{step} did not fail"
    error = events[0].event_specific_data.error
    return error.message + (error.cause.message if error.cause else "")


def datagate(sandbox: Sandbox) -> str:
    tenant = sandbox.tenant(0)
    return next(g for g in tenant.groups.records if g["Name"] == "Datagate")["ContactGroupID"]


def contact(sandbox: Sandbox, name: str, tenant: int = 0) -> dict[str, Any]:
    return next(c for c in sandbox.tenant(tenant).contacts.records if c["Name"] == name)


def write_list(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def pointed(sandbox: Sandbox, xero_env, monkeypatch, tmp_path) -> Sandbox:
    """The pipeline pointed at the sandbox as a Xero app; the awkward customers, the archived
    one and the GDPR-erased one all in the Datagate group; the sample list as CUSTOMERS_SOURCE."""
    xero_env(sandbox)
    tenant = sandbox.tenant(0)
    n_awkward = len(AWKWARD_CUSTOMER_NAMES) + len(AWKWARD_SUPPLIER_NAMES)
    chosen = [contact(sandbox, name)["ContactID"] for name in AWKWARD_CUSTOMER_NAMES]
    chosen += [tenant.contacts.records[n_awkward]["ContactID"]]  # archived customer
    chosen += [tenant.contacts.records[n_awkward + 1]["ContactID"]]  # erased (GDPR request)
    for contact_id in chosen:
        tenant.set_group_member(datagate(sandbox), contact_id)
    monkeypatch.setenv(
        "CUSTOMERS_SOURCE", str(write_sample_csv(sandbox, tmp_path / "customers.csv"))
    )
    for name in ("XERO_CUSTOMER_GROUP", "XERO_NEW_CUSTOMER_LIMIT", "XERO_TENANT_IDS"):
        monkeypatch.delenv(name, raising=False)
    return sandbox


# -- each kind of pair lands where it should -----------------------------------------------

# Xero contact (first tenant) -> what the merge does with it, and with which customer.
CASES = [
    ('Smith "Best" Bakery', "link", "exact", 'Smith "Best" Bakery'),
    ("Back\\slash Studio", "link", "exact", "Back\\slash Studio"),
    ("Acme Ltd", "link", "exact", "Acme Ltd"),
    ("Trailing Space Traders ", "link", "folded", "Trailing Space Traders"),
    ("  Leading Space Landscaping", "link", "folded", "LEADING SPACE LANDSCAPING"),
    ("O'Brien & Sons Ltd", "link", "normalised", "O'Brien and Sons Limited"),
    ("Café Zoë", "link", "normalised", "Cafe Zoe"),
    ("Müller GmbH", "link", "normalised", "Müller"),
    ("Kiwi Widgets Pty Ltd", "link", "normalised", "Kiwi Widgets"),
    ("Big Bob's Burgers, Inc.", "link", "normalised", "Big Bobs Burgers Inc"),
    ("Déjà Vu Design LLC", "link", "normalised", "Deja Vu Design L.L.C."),
    ("100% Pure Juice Co.", "link", "normalised", "100% Pure Juice Company"),
    ("Johnson and Johnson Plumbing", "review", "fuzzy", "Jonson & Johnson Plumbing"),
    # A second Xero contact for a customer already linked by exact name: never a duplicate.
    ("ACME Limited", "review", "ambiguous: two Xero contacts for one customer", "Acme Ltd"),
    # Two customers called "Smith and Co": neither is guessed, at any level.
    ("Smith and Co", "review", "ambiguous: two customers have the exact name", "Smith and Co"),
    ("Smith & Co", "review", "ambiguous: two customers have the normalised", "Smith and Co"),
    ("Ngā Tāonga Trust", "new", "new", "Ngā Tāonga Trust"),  # no counterpart in the list
]


def test_each_kind_of_pair_lands_where_it_should(pointed: Sandbox, warehouse_url: str):
    load_reference(warehouse_url)
    result = merge(warehouse_url)
    wrong = []
    for name, action, how, customer_name in CASES:
        contact_id = contact(pointed, name)["ContactID"]
        plan = query(
            warehouse_url,
            "SELECT action, match_method, reason FROM customer_merge_plan WHERE contact_id = :c",
            c=contact_id,
        )
        linked = query(
            warehouse_url,
            "SELECT name, match_method, source, customer_id FROM customers WHERE contact_id = :c",
            c=contact_id,
        )
        review = query(
            warehouse_url,
            "SELECT customer_name, reason, score FROM customer_match_review WHERE contact_id = :c",
            c=contact_id,
        )
        if action == "link":
            ok = linked == [(customer_name, how, "existing", linked[0][3])] and not review
        elif action == "new":
            ok = linked == [(name, "new", "xero", f"xero-{contact_id}")] and not review
        else:
            ok = (
                not linked
                and review
                and all(r[0] == customer_name and r[1].startswith(how) for r in review)
            )
        if not (ok and plan and plan[0][0] == action):
            wrong.append((name, action, how, plan, linked, review))
    assert not wrong, wrong
    # The two "Smith and Co" customers are both candidates of both Smith contacts.
    assert query(
        warehouse_url,
        "SELECT count(DISTINCT customer_id), count(DISTINCT contact_id) FROM customer_match_review "
        "WHERE customer_name = 'Smith and Co'",
    ) == [(2, 2)]
    fuzzy = query(warehouse_url, "SELECT score FROM customer_match_review WHERE reason = 'fuzzy'")
    assert len(fuzzy) == 1 and 88 <= float(fuzzy[0][0]) < 100
    # Archived and erased contacts are selected but never created.
    tenant = pointed.tenant(0)
    n_awkward = len(AWKWARD_CUSTOMER_NAMES) + len(AWKWARD_SUPPLIER_NAMES)
    for record in tenant.contacts.records[n_awkward : n_awkward + 2]:
        assert query(
            warehouse_url,
            "SELECT action FROM customer_merge_plan WHERE contact_id = :c",
            c=record["ContactID"],
        ) == [("skip",)]
        assert not query(
            warehouse_url, "SELECT 1 FROM customers WHERE contact_id = :c", c=record["ContactID"]
        )
    # Customers with no Xero counterpart stay, unlinked; every list customer is there.
    listed = {row["customer_id"]: row for row in sample_customers(pointed)}
    rows = {
        r[0]: r
        for r in query(warehouse_url, "SELECT customer_id, name, contact_id, source FROM customers")
    }
    assert set(listed) <= set(rows)
    assert rows_for(rows, "Hohaia Motors") == [(None, "existing")]
    assert {r[1] for r in rows.values() if r[3] == "existing"} == {
        row["name"] for row in listed.values()
    }
    # The second tenant has no Datagate group: all its customers were selected.
    second = pointed.tenant(1)
    assert query(
        warehouse_url,
        "SELECT count(*) FROM customer_merge_plan WHERE tenant_id = :t",
        t=second.tenant_id,
    ) == [(sum(1 for c in second.contacts.records if c["IsCustomer"]),)]
    shown = metadata(result)
    preview = shown["customer_merge_preview"]
    assert preview["links by method"] == {
        m: n
        for m, n in query(
            warehouse_url,
            "SELECT match_method, count(*) FROM customers WHERE contact_id IS NOT NULL "
            "AND source = 'existing' GROUP BY match_method",
        )
    }
    assert shown["customers"]["new customers"] == preview["new customers"] > 0
    assert "Jonson & Johnson Plumbing" in shown["customer_match_review"]["review list"]


def rows_for(rows: dict[str, tuple], name: str) -> list[tuple]:
    return [(r[2], r[3]) for r in rows.values() if r[1] == name]


# -- running again, renames, new members -----------------------------------------------------


def test_second_run_changes_nothing(pointed: Sandbox, warehouse_url: str):
    load_reference(warehouse_url)
    merge(warehouse_url)
    before = checksum(warehouse_url)
    again = metadata(merge(warehouse_url))
    for asset in ("customers", "customer_match_review"):
        shown = again[asset]
        assert (shown["inserted"], shown["updated"], shown["deleted"]) == (0, 0, 0), asset
    assert again["customer_merge_preview"]["new customers"] == 0
    assert again["customer_merge_preview"]["links by method"] == {}
    assert checksum(warehouse_url) == before
    # The plan now says the links exist; what was in review is still in review.
    actions = {
        a for (a,) in query(warehouse_url, "SELECT DISTINCT action FROM customer_merge_plan")
    }
    assert actions == {"linked", "review", "skip"}


def test_links_hold_through_renames_on_either_side(
    pointed: Sandbox, warehouse_url: str, monkeypatch, tmp_path
):
    load_reference(warehouse_url)
    merge(warehouse_url)
    linked = dict(query(warehouse_url, "SELECT contact_id, customer_id FROM customers"))
    acme = contact(pointed, "Acme Ltd")["ContactID"]
    zoe = contact(pointed, "Café Zoë")["ContactID"]
    rows = sample_customers(pointed)
    pointed.clock.advance(5)
    pointed.tenant(0).update_contact(acme, Name="Acme Holdings (2026) Ltd")
    for row in rows:  # the business renames a customer in its own list
        if row["name"] == "Cafe Zoe":
            row["name"] = "Zoë's Café & Bar"
    monkeypatch.setenv("CUSTOMERS_SOURCE", str(write_list(tmp_path / "renamed.csv", rows)))
    load_reference(warehouse_url)
    changes = metadata(merge(warehouse_url))["customers"]
    assert (changes["inserted"], changes["updated"], changes["new customers"]) == (0, 2, 0)
    assert dict(query(warehouse_url, "SELECT contact_id, customer_id FROM customers")) == linked
    assert query(
        warehouse_url,
        "SELECT name, xero_name, match_method FROM customers WHERE contact_id IN (:a, :z) "
        "ORDER BY name",
        a=acme,
        z=zoe,
    ) == [
        ("Acme Ltd", "Acme Holdings (2026) Ltd", "exact"),
        ("Zoë's Café & Bar", "Café Zoë", "normalised"),
    ]


def test_a_new_group_member_links_or_creates_exactly_that_customer(
    pointed: Sandbox, warehouse_url: str, monkeypatch, tmp_path
):
    rows = sample_customers(pointed)
    rows.append({"customer_id": "LATE-1", "name": "Fresh Kiwi Roasters Ltd"})
    monkeypatch.setenv("CUSTOMERS_SOURCE", str(write_list(tmp_path / "list.csv", rows)))
    load_reference(warehouse_url)
    merge(warehouse_url)
    assert query(
        warehouse_url, "SELECT contact_id FROM customers WHERE customer_id = 'LATE-1'"
    ) == [(None,)]
    before = dict(query(warehouse_url, "SELECT customer_id, row_hash FROM customers"))
    tenant = pointed.tenant(0)
    pointed.clock.advance(5)
    known = tenant.add_contact("FRESH KIWI ROASTERS LIMITED")
    unknown = tenant.add_contact("Brand New Bicycles")
    for added in (known, unknown):
        tenant.set_group_member(datagate(pointed), added["ContactID"])
    load_reference(warehouse_url)
    shown = metadata(merge(warehouse_url))["customers"]
    assert (shown["inserted"], shown["updated"]) == (1, 1)
    assert shown["links by method"] == {"normalised": 1} and shown["new customers"] == 1
    after = dict(query(warehouse_url, "SELECT customer_id, row_hash FROM customers"))
    assert set(after) - set(before) == {f"xero-{unknown['ContactID']}"}
    assert {k for k in before if before[k] != after[k]} == {"LATE-1"}
    assert query(
        warehouse_url, "SELECT contact_id FROM customers WHERE customer_id = 'LATE-1'"
    ) == [(known["ContactID"],)]


# -- the safety rule -------------------------------------------------------------------------


def test_a_missing_group_selects_every_customer_and_the_apply_waits_for_confirm(
    pointed: Sandbox, warehouse_url: str, monkeypatch, tmp_path
):
    first, second = pointed.tenant(0), pointed.tenant(1)
    # The business's list: the awkward customers, which are all it keeps in the Datagate group.
    rows = [{"customer_id": f"M-{i}", "name": n} for i, n in enumerate(AWKWARD_CUSTOMER_NAMES)]
    keep = {contact(pointed, name)["ContactID"] for name in AWKWARD_CUSTOMER_NAMES}
    for contact_id in list(first.members[datagate(pointed)]):
        if contact_id not in keep:
            first.set_group_member(datagate(pointed), contact_id, member=False)
    monkeypatch.setenv("CUSTOMERS_SOURCE", str(write_list(tmp_path / "members.csv", rows)))
    monkeypatch.setenv("XERO_TENANT_IDS", first.tenant_id)  # one organisation connected
    load_reference(warehouse_url)
    assert metadata(merge(warehouse_url))["customers"]["new customers"] == 0
    before = checksum(warehouse_url)
    count_before = query(warehouse_url, "SELECT count(*) FROM customers")[0][0]
    # The group is renamed in Xero and the second organisation (no group either) is connected.
    first.update_group(datagate(pointed), Name="Datagate (old)")
    monkeypatch.delenv("XERO_TENANT_IDS")
    load_reference(warehouse_url)
    stopped = merge(warehouse_url, raise_on_error=False)
    assert not stopped.success
    message = failure(stopped)
    assert "safety rule" in message and "XERO_NEW_CUSTOMER_LIMIT" in message
    assert "confirm: true" in message and "xero-pipeline merge --confirm" in message
    assert first.name in message and second.name in message  # the tenants without the group
    assert checksum(warehouse_url) == before  # customers and review untouched
    # The preview shows why: every customer of both organisations was selected.
    customers_in_xero = sum(
        1 for t in (first, second) for c in t.contacts.records if c["IsCustomer"]
    )
    plan = dict(
        query(warehouse_url, "SELECT action, count(*) FROM customer_merge_plan GROUP BY action")
    )
    assert sum(plan.values()) == customers_in_xero
    assert plan["new"] / customers_in_xero > 0.5
    confirmed = merge(warehouse_url, confirm=True)
    assert confirmed.success
    shown = metadata(confirmed)["customers"]
    assert shown["confirmed"] is True and shown["inserted"] == plan["new"]
    assert query(warehouse_url, "SELECT count(*) FROM customers") == [(count_before + plan["new"],)]


# -- review decisions ------------------------------------------------------------------------


def test_review_decisions_apply_on_the_next_run_and_are_never_asked_again(
    pointed: Sandbox, warehouse_url: str, monkeypatch, tmp_path, capsys
):
    rows = sample_customers(pointed)
    rows.append({"customer_id": "FLOR-1", "name": "Harbourside Florist"})
    monkeypatch.setenv("CUSTOMERS_SOURCE", str(write_list(tmp_path / "list.csv", rows)))
    florists = pointed.tenant(0).add_contact("Harbourside Florists")
    pointed.tenant(0).set_group_member(datagate(pointed), florists["ContactID"])
    load_reference(warehouse_url)
    merge(warehouse_url)
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)

    def item(contact_name: str) -> list[tuple]:
        return query(
            warehouse_url,
            "SELECT review_id, customer_id, reason FROM customer_match_review "
            "WHERE contact_name = :n",
            n=contact_name,
        )

    [(johnson, jonson_customer, reason)] = item("Johnson and Johnson Plumbing")
    [(florist, _, florist_reason)] = item("Harbourside Florists")
    assert reason == florist_reason == "fuzzy"
    capsys.readouterr()
    assert main(["review"]) == 0
    listing = capsys.readouterr().out
    assert johnson in listing and florist in listing and "Jonson & Johnson Plumbing" in listing
    assert main(["review", "--accept", johnson, "--note", "same plumber, typo in our list"]) == 0
    assert main(["review", "--reject", florist]) == 0
    [(acme, _, _)] = item("ACME Limited")
    assert main(["review", "--accept", acme]) == 1  # its candidate is linked to "Acme Ltd"
    assert "already linked" in capsys.readouterr().err
    assert main(["review"]) == 0
    assert re.search(rf"{johnson}.*accept", capsys.readouterr().out)
    assert not query(  # recorded, not applied yet
        warehouse_url,
        "SELECT 1 FROM customers WHERE contact_id = :c",
        c=contact(pointed, "Johnson and Johnson Plumbing")["ContactID"],
    )
    shown = metadata(merge(warehouse_url))["customers"]
    assert shown["links by method"] == {"accepted": 1} and shown["new customers"] == 1
    assert query(
        warehouse_url,
        "SELECT customer_id, match_method FROM customers WHERE contact_id = :c",
        c=contact(pointed, "Johnson and Johnson Plumbing")["ContactID"],
    ) == [(jonson_customer, "accepted")]
    # The rejected pair is gone for good; with no other candidate the contact is a new customer.
    assert query(
        warehouse_url,
        "SELECT customer_id, source FROM customers WHERE contact_id = :c",
        c=florists["ContactID"],
    ) == [(f"xero-{florists['ContactID']}", "xero")]
    assert query(
        warehouse_url, "SELECT contact_id FROM customers WHERE customer_id = 'FLOR-1'"
    ) == [(None,)]
    assert not item("Johnson and Johnson Plumbing") and not item("Harbourside Florists")
    again = metadata(merge(warehouse_url))
    for asset in MERGE_TABLES:
        assert (again[asset]["inserted"], again[asset]["updated"]) == (0, 0), asset
    assert not item("Johnson and Johnson Plumbing") and not item("Harbourside Florists")
    assert main(["review", "--accept", johnson]) == 1  # no longer an open item


# -- the gate --------------------------------------------------------------------------------


def test_the_gate_stops_a_bad_merge_and_publishes_nothing(
    pointed: Sandbox, warehouse_url: str, monkeypatch, tmp_path
):
    load_reference(warehouse_url)
    merge(warehouse_url)
    before = checksum(warehouse_url)
    rows = sample_customers(pointed)
    rows.append({**rows[5], "name": "Someone Else Entirely"})  # a second customer, same id
    monkeypatch.setenv("CUSTOMERS_SOURCE", str(write_list(tmp_path / "duplicate.csv", rows)))
    result = merge(warehouse_url, raise_on_error=False)
    assert "quality gate stopped the customer merge" in failure(result)
    evaluations = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    for check in ("customer_id_unique", "count_is_before_plus_new"):
        assert not evaluations[check].passed, check
    assert evaluations["customer_id_unique"].metadata["unexpected count"].value == 2
    assert evaluations["no_customer_lost"].passed
    assert checksum(warehouse_url) == before


def test_the_list_can_be_a_warehouse_table(pointed: Sandbox, warehouse_url: str, monkeypatch):
    engine = create_engine(warehouse_url)
    with engine.begin() as connection:
        connection.execute(text('CREATE TABLE crm_accounts ("ID" TEXT, "Name" TEXT, region TEXT)'))
        connection.execute(
            text(
                "INSERT INTO crm_accounts VALUES "
                "('A-1', 'Cafe Zoe', 'North'), ('A-2', 'Nobody', NULL)"
            )
        )
    engine.dispose()
    monkeypatch.setenv("CUSTOMERS_SOURCE", "table:crm_accounts")
    load_reference(warehouse_url)
    merge(warehouse_url, confirm=True)  # a two-customer list: most of Xero is new
    rows = query(
        warehouse_url,
        "SELECT customer_id, contact_id, match_method FROM customers WHERE source = 'existing' "
        "ORDER BY customer_id",
    )
    assert rows == [
        ("A-1", contact(pointed, "Café Zoë")["ContactID"], "normalised"),
        ("A-2", None, None),
    ]
    [(attributes,)] = query(
        warehouse_url, "SELECT attributes FROM customers WHERE customer_id = 'A-1'"
    )
    assert "North" in str(attributes)


# -- configuration ---------------------------------------------------------------------------


def test_a_xero_app_without_customers_source_is_an_error_naming_it(
    pointed: Sandbox, warehouse_url: str, monkeypatch
):
    load_reference(warehouse_url)
    monkeypatch.delenv("CUSTOMERS_SOURCE")
    result = merge(warehouse_url, raise_on_error=False)
    message = failure(result, "customer_merge_preview")
    assert "CUSTOMERS_SOURCE" in message and "table:" in message
    assert query(warehouse_url, "SELECT count(*) FROM customers") == [(0,)]


def test_a_list_without_a_name_column_is_an_error_naming_the_variable(
    pointed: Sandbox, warehouse_url: str, monkeypatch, tmp_path
):
    path = write_list(tmp_path / "bad.csv", [{"id": "1", "company": "Acme Ltd"}])
    monkeypatch.setenv("CUSTOMERS_SOURCE", str(path))
    result = merge(warehouse_url, raise_on_error=False)
    message = failure(result, "customer_merge_preview")
    assert "CUSTOMERS_SOURCE" in message and "name, customer_name" in message


def test_run_leaves_the_merge_out_only_with_a_xero_app_and_no_list(monkeypatch):
    monkeypatch.delenv("CUSTOMERS_SOURCE", raising=False)
    live = XeroSettings(client_id="app", client_secret=Secret("not-shown"))
    assert merge_skipped(XeroSettings()) is None  # the sandbox brings its sample list
    assert "CUSTOMERS_SOURCE is not set" in (merge_skipped(live) or "")
    monkeypatch.setenv("CUSTOMERS_SOURCE", "customers.csv")
    assert merge_skipped(live) is None


# -- with no Xero app: the sandbox and its sample list (what `make run` does) ----------------


def test_without_a_xero_app_the_merge_uses_the_sandbox_sample_list(tmp_path, monkeypatch, capsys):
    for name in (
        "XERO_CLIENT_ID",
        "XERO_CLIENT_SECRET",
        "XERO_API_BASE",
        "XERO_IDENTITY_BASE",
        "XERO_TENANT_IDS",
        "CUSTOMERS_SOURCE",
        "XERO_CUSTOMER_GROUP",
        "XERO_NEW_CUSTOMER_LIMIT",
        "WAREHOUSE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    load_reference(url, sandbox_size="tiny")
    assert main(["merge", "--size", "tiny"]) == 0
    out = capsys.readouterr().out
    sample = tmp_path / "sandbox_customers.csv"
    with sample.open(encoding="utf-8") as handle:
        assert tuple(next(csv.reader(handle))) == HEADER
    assert f"sample list ({sample})" in out
    counts = dict(
        query(
            url,
            "SELECT match_method, count(*) FROM customers WHERE contact_id IS NOT NULL "
            "GROUP BY match_method",
        )
    )
    assert set(counts) == {"exact", "folded", "normalised", "new"}
    for method in ("exact", "folded", "normalised"):
        assert re.search(rf"^  linked by {method}\s+{counts[method]}$", out, re.MULTILINE), method
    assert re.search(rf"^  new customers\s+{counts['new']}$", out, re.MULTILINE)
    reviewed = query(url, "SELECT count(DISTINCT contact_id) FROM customer_match_review")[0][0]
    assert reviewed > 0 and re.search(rf"^  review items\s+{reviewed}\b", out, re.MULTILINE)
    selected = query(url, "SELECT count(*) FROM customer_merge_plan")[0][0]
    assert counts["new"] / selected <= 0.5  # the sample list keeps a first run inside the rule


def test_the_apply_refuses_a_plan_that_is_not_the_previewed_one(
    pointed: Sandbox, warehouse_url: str
):
    load_reference(warehouse_url)
    resources = {"xero": XeroResource(), "warehouse": WarehouseResource(url=warehouse_url)}
    dg.materialize(customer_assets, selection=["customer_merge_preview"], resources=resources)
    tenant = pointed.tenant(0)  # Xero changes between the preview and the apply
    pointed.clock.advance(5)
    tenant.set_group_member(datagate(pointed), tenant.add_contact("Late Arrival Ltd")["ContactID"])
    load_reference(warehouse_url)
    result = dg.materialize(
        customer_assets,
        selection=["customers", "customer_match_review"],
        resources=resources,
        raise_on_error=False,
    )
    assert "changed since the preview" in failure(result)
    assert query(warehouse_url, "SELECT count(*) FROM customers") == [(0,)]
