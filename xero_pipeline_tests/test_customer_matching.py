"""The merge's pure parts: name keys, the matching ladder, the plan's rows and counts, reading
the list and the settings, and the sandbox's sample list."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from xero_pipeline.defs.customers.matching import (
    FUZZY_THRESHOLD,
    Customer,
    Decision,
    XeroCustomer,
    match,
    similarity,
)
from xero_pipeline.defs.customers.names import (
    block_tokens,
    exact_key,
    folded_key,
    normalised_key,
)
from xero_pipeline.defs.customers.plan import build_plan, gate_columns, review_id
from xero_pipeline.defs.customers.settings import MergeSettings
from xero_pipeline.defs.customers.source import ListedCustomer, read_csv
from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.customers import AWKWARD_COUNTERPARTS, sample_customers
from xero_pipeline.xero.errors import ConfigError
from xero_pipeline_tests.conftest import AS_OF

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)
T = "tenant-a"


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a,b",
    [
        ("Smith & Co", "Smith and Co"),
        ("Smith & Co Ltd", "Smith and Co"),
        ("Acme Ltd", "ACME Limited"),
        ("Kiwi Widgets Pty Ltd", "Kiwi Widgets"),
        ("Déjà Vu Design LLC", "Deja Vu Design L.L.C."),
        ("O'Brien & Sons Ltd", "O’Brien and Sons Limited"),
        ("100% Pure Juice Co.", "100% Pure Juice Company"),
        ("Big Bob's Burgers, Inc.", "Big Bobs Burgers Inc"),
        ("Müller GmbH", "MÜLLER"),
        ("Straße Bau GmbH", "Strasse Bau"),
        ("  Café   Zoë ", "cafe zoe"),
    ],
)
def test_normalisation_makes_these_the_same_name(a: str, b: str):
    assert normalised_key(a) == normalised_key(b) != ""


@pytest.mark.parametrize(
    "a,b",
    [
        ("Smith & Co", "Smith"),  # "& Co" is part of a partnership's name, not a suffix
        ("Smith and Sons", "Smith"),
        ("Blue Fern Plumbing", "Blue Fern Bakery"),
        ("Limited Editions Ltd", "Editions"),
    ],
)
def test_normalisation_keeps_these_apart(a: str, b: str):
    assert normalised_key(a) != normalised_key(b)


def test_a_name_is_never_stripped_to_nothing():
    assert normalised_key("Limited") == "limited"
    assert normalised_key("Company Ltd") == "company"
    assert normalised_key("!!!") == ""


def test_the_looser_keys_only_fold_what_they_say():
    assert exact_key("Acme Ltd ") != exact_key("Acme Ltd")
    assert folded_key("  ACME   Ltd ") == folded_key("acme ltd") == "acme ltd"
    assert folded_key("Café") != folded_key("Cafe")  # accents are the normalised level's
    assert folded_key("Acme Ltd") != folded_key("Acme Limited")


def test_blocks_skip_stopwords_and_keep_two_words():
    assert block_tokens("the jonson and johnson plumbing") == ("jonson", "johnson", "^thej")
    assert block_tokens("kiwi") == ("kiwi", "^kiwi")
    assert block_tokens("wellington") == ("wellington", "^well", "$gton")  # one word: its end
    assert block_tokens("") == ()


# -- the ladder ------------------------------------------------------------------------------


def contacts(*names: str, status: str = "ACTIVE") -> list[XeroCustomer]:
    return [XeroCustomer(T, f"c{i}", name, status) for i, name in enumerate(names, start=1)]


def outcome_of(result, contact_id: str):
    return next(o for o in result.outcomes if o.contact_id == contact_id)


def test_each_rung_links_only_when_one_contact_meets_one_free_customer():
    customers = [
        Customer("A", "Acme Ltd"),
        Customer("B", "acme ltd"),  # a different customer at the exact level
        Customer("C", "Kiwi Widgets"),
        Customer("D", "Trailing Traders"),
    ]
    result = match(customers, contacts("Acme Ltd", "Kiwi Widgets Pty Ltd", "trailing  traders "))
    got = {(o.contact_id, o.action, o.customer_id, o.match_method) for o in result.outcomes}
    assert got == {
        ("c1", "link", "A", "exact"),
        ("c2", "link", "C", "normalised"),
        ("c3", "link", "D", "folded"),
    }


def test_ambiguity_goes_to_review_and_is_never_guessed():
    customers = [
        Customer("S1", "Smith and Co"),
        Customer("S2", "Smith and Co"),
        Customer("A", "Acme"),
    ]
    result = match(customers, contacts("Smith & Co", "Acme Ltd", "ACME Limited", "Acme"))
    smith = outcome_of(result, "c1")
    assert smith.action == "review" and {c.customer_id for c in smith.candidates} == {"S1", "S2"}
    assert smith.reason.startswith("ambiguous: two customers have the normalised name")
    # "Acme" links exactly; the two other Acme contacts then find the customer taken: review.
    assert outcome_of(result, "c4").action == "link"
    for contact_id in ("c2", "c3"):
        held = outcome_of(result, contact_id)
        assert held.action == "review"
        assert held.reason == (
            "ambiguous: two Xero contacts have the normalised name 'acme'; already linked to 'Acme'"
        )


def test_a_customer_held_in_review_is_not_linked_at_a_looser_level():
    result = match([Customer("A", "Acme Ltd")], contacts("Acme Ltd", "Acme Ltd", "ACME LIMITED"))
    assert [o.action for o in result.outcomes] == ["review", "review", "review"]
    assert outcome_of(result, "c1").reason.startswith("ambiguous: two Xero contacts have")
    assert "candidate for another contact" in outcome_of(result, "c3").reason


def test_fuzzy_candidates_are_never_linked_automatically():
    result = match(
        [Customer("J", "Jonson & Johnson Plumbing"), Customer("K", "Kauri Joinery")],
        contacts("Johnson and Johnson Plumbing", "Totally Different Bakery"),
    )
    fuzzy = outcome_of(result, "c1")
    assert fuzzy.action == "review" and fuzzy.reason == "fuzzy"
    assert [(c.customer_id, c.score) for c in fuzzy.candidates] == [("J", 98.2)]
    assert outcome_of(result, "c2").action == "new"
    assert outcome_of(result, "c2").customer_id == "xero-c2"


def test_the_fuzzy_threshold_is_where_the_docs_say():
    assert similarity("acme", "acmee") >= FUZZY_THRESHOLD
    assert similarity("blue fern plumbing trust", "blue fern plumbing") < FUZZY_THRESHOLD
    result = match([Customer("A", "Acme")], contacts("Acmee"))
    assert result.outcomes[0].action == "review"


def test_archived_and_erased_contacts_are_never_created():
    customers = [Customer("A", "Old Friend Ltd"), Customer("B", "Erased Person")]
    result = match(
        customers,
        [
            XeroCustomer(T, "c1", "Old Friend Limited", "ARCHIVED"),  # may still be linked
            XeroCustomer(T, "c2", "Nobody We Know", "ARCHIVED"),
            XeroCustomer(T, "c3", "Erased Person", "GDPRREQUEST"),
        ],
    )
    assert [o.action for o in result.outcomes] == ["link", "skip", "skip"]


def test_links_are_by_contact_and_survive_renames_on_either_side():
    linked = Customer("A", "Renamed In Our List", T, "c1", "exact", "Old Name")
    result = match([linked, Customer("B", "Renamed In Xero")], contacts("Renamed In Xero"))
    assert outcome_of(result, "c1").action == "linked"
    assert outcome_of(result, "c1").customer_id == "A"


def at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def test_decisions_accept_reject_and_new():
    customers = [Customer("J", "Jonson Plumbing"), Customer("H", "Harbour Florist")]
    people = contacts("Johnson Plumbing", "Harbour Florists", "Someone Ambiguous")
    decisions = [
        Decision(T, "c1", "J", "accept", at(1)),
        Decision(T, "c2", "H", "reject", at(1)),
        Decision(T, "c3", None, "new", at(1)),
    ]
    result = match(customers, people, decisions)
    assert (outcome_of(result, "c1").action, outcome_of(result, "c1").match_method) == (
        "link",
        "accepted",
    )
    assert outcome_of(result, "c2").action == "new"  # the only candidate was rejected
    assert outcome_of(result, "c3").action == "new"
    # A later decision wins; a rejected pair is not proposed at any level, fuzzy or exact.
    result = match(
        [Customer("A", "Acme")],
        contacts("Acme"),
        [Decision(T, "c1", "A", "accept", at(1)), Decision(T, "c1", "A", "reject", at(2))],
    )
    assert result.outcomes[0].action == "new"


def test_a_decision_that_cannot_apply_is_reported_not_forced():
    customers = [Customer("A", "Acme", T, "c9", "exact", "Acme")]
    result = match(
        customers,
        contacts("ACME Limited"),
        [Decision(T, "c1", "A", "accept", at(1))],
    )
    assert result.outcomes[0].action == "review"
    assert [why for _, why in result.unapplied] == ["the customer is already linked to 'Acme'"]
    archived = match(
        [], [XeroCustomer(T, "c1", "Gone", "ARCHIVED")], [Decision(T, "c1", None, "new", at(1))]
    )
    assert archived.outcomes[0].action == "skip" and archived.unapplied


def test_the_ladder_does_not_depend_on_input_order():
    rng = random.Random(7)
    names = ["Acme Ltd", "ACME Limited", "Smith & Co", "Smith and Co", "Kiwi", "Jonson Plumbing"]
    customers = [
        Customer(f"K{i}", n)
        for i, n in enumerate(["Acme Ltd", "Smith and Co", "Kiwi Ltd", "Johnson Plumbing"])
    ]
    people = contacts(*names)
    first = match(customers, people)
    for _ in range(5):
        rng.shuffle(people)
        assert match(customers, people).outcomes == first.outcomes


def test_a_typo_in_the_first_word_is_still_found_through_the_second():
    result = match([Customer("J", "Johnson Johnson Plumbing")], contacts("Jonson Johnson Plumbing"))
    assert result.outcomes[0].action == "review"


# -- the plan --------------------------------------------------------------------------------


def current_row(customer_id: str, name: str, **link: object) -> dict:
    return {
        "customer_id": customer_id,
        "name": name,
        "source": "existing",
        "tenant_id": link.get("tenant_id"),
        "contact_id": link.get("contact_id"),
        "xero_name": link.get("xero_name"),
        "match_method": link.get("match_method"),
        "linked_at": link.get("linked_at"),
        "attributes": None,
    }


def test_the_plan_never_deletes_or_renames_and_counts_the_share():
    current = [
        current_row("OLD", "Gone From The List"),
        current_row(
            "A",
            "Acme",
            tenant_id=T,
            contact_id="c9",
            xero_name="Acme",
            match_method="exact",
            linked_at=NOW,
        ),
    ]
    listed = [
        ListedCustomer("A", "Acme Renamed", {"segment": "Retail"}),
        ListedCustomer("N", "Kiwi"),
    ]
    plan = build_plan(
        current,
        listed,
        [*contacts("Kiwi Ltd", "Brand New", "Another New"), XeroCustomer(T, "c9", "Acme (NZ)")],
        contact_names={(T, "c9"): "Acme (NZ)"},
        now=at(5),
    )
    rows = {r["customer_id"]: r for r in plan.customers}
    assert set(rows) == {"OLD", "A", "N", "xero-c2", "xero-c3"}
    assert rows["A"]["name"] == "Acme Renamed" and rows["A"]["xero_name"] == "Acme (NZ)"
    assert rows["A"]["linked_at"] == NOW and rows["A"]["attributes"] == {"segment": "Retail"}
    assert rows["OLD"]["name"] == "Gone From The List"
    assert (rows["N"]["contact_id"], rows["N"]["match_method"]) == ("c1", "normalised")
    assert plan.created == 2 and plan.selected == 4 and plan.new_share == 0.5
    assert (plan.before, plan.added_from_list) == (2, 1)


def test_the_gate_columns_see_a_lost_or_doubled_customer():
    listed = [ListedCustomer("A", "Acme"), ListedCustomer("B", "Kiwi")]
    plan = build_plan([current_row("OLD", "Old")], listed, contacts("Acme"), now=NOW)
    gate_columns(plan, listed, {"OLD"})
    assert {(r["customers_lost"], r["count_gap"]) for r in plan.customers} == {(0, 0)}
    plan.customers.pop()  # a plan that would lose a customer
    gate_columns(plan, listed, {"OLD"})
    assert {(r["customers_lost"], r["count_gap"]) for r in plan.customers} == {(1, -1)}
    doubled = [*listed, ListedCustomer("A", "Acme Again")]
    plan = build_plan([], doubled, [], now=NOW)
    gate_columns(plan, doubled, set())
    assert {r["count_gap"] for r in plan.customers} == {1}


def test_review_ids_are_short_and_stable():
    assert review_id(T, "c1", "A") == review_id(T, "c1", "A") != review_id(T, "c1", "B")
    assert len(review_id(T, "c1", "A")) == 8


# -- the list and the settings ---------------------------------------------------------------


def test_a_csv_list_with_a_bom_other_header_names_and_extra_columns(tmp_path):
    path = tmp_path / "crm.csv"
    path.write_text(
        "\ufeffID , Customer_Name,Region\n 7 ,Acme Ltd ,North\n\n8,Kiwi,\n", encoding="utf-8"
    )
    assert read_csv(path) == [
        ListedCustomer("7", "Acme Ltd ", {"Region": "North"}),
        ListedCustomer("8", "Kiwi", {"Region": ""}),
    ]


@pytest.mark.parametrize(
    "content,says",
    [
        ("code,name\n1,Acme\n", "customer_id, id"),
        ("id,company\n1,Acme\n", "name, customer_name"),
        ("", "empty"),
    ],
)
def test_a_list_that_cannot_be_read_is_an_error_naming_customers_source(tmp_path, content, says):
    path = tmp_path / "list.csv"
    path.write_text(content)
    with pytest.raises(ConfigError) as error:
        read_csv(path)
    assert error.value.variable == "CUSTOMERS_SOURCE" and says in str(error.value)
    with pytest.raises(ConfigError, match="CUSTOMERS_SOURCE"):
        read_csv(tmp_path / "missing.csv")


def test_settings_from_the_environment():
    assert MergeSettings.from_env({}) == MergeSettings(None, "Datagate", 0.5)
    got = MergeSettings.from_env(
        {
            "CUSTOMERS_SOURCE": " table:crm ",
            "XERO_CUSTOMER_GROUP": " ",
            "XERO_NEW_CUSTOMER_LIMIT": "20%",
        }
    )
    assert got == MergeSettings("table:crm", "Datagate", 0.2)
    for env, variable in (
        ({"XERO_NEW_CUSTOMER_LIMIT": "1.5"}, "XERO_NEW_CUSTOMER_LIMIT"),
        ({"XERO_NEW_CUSTOMER_LIMIT": "half"}, "XERO_NEW_CUSTOMER_LIMIT"),
        ({"CUSTOMERS_SOURCE": "table:customers"}, "CUSTOMERS_SOURCE"),
        ({"CUSTOMERS_SOURCE": "table:"}, "CUSTOMERS_SOURCE"),
    ):
        with pytest.raises(ConfigError) as error:
            MergeSettings.from_env(env)
        assert error.value.variable == variable


# -- the sandbox's sample list ---------------------------------------------------------------


def test_the_sample_list_is_deterministic_and_covers_the_awkward_cases():
    def sample(seed: int = 42, as_of: date = AS_OF) -> list[dict[str, str]]:
        return sample_customers(Sandbox(SandboxConfig(size="tiny", seed=seed, as_of=as_of)))

    first = sample()
    assert first == sample()
    assert first != sample(seed=7)
    names = [row["name"] for row in first]
    for listed in AWKWARD_COUNTERPARTS.values():
        for name in listed:
            assert name in names
    assert names.count("Smith and Co") == 2
    sandbox = Sandbox(SandboxConfig(size="tiny", as_of=AS_OF))
    never = {
        c["Name"]
        for t in sandbox.tenants.values()
        for c in t.contacts.records
        if c["ContactStatus"] != "ACTIVE"
    }
    assert never and not never & set(names)
    assert len({row["customer_id"] for row in first}) == len(first)
