"""Fuzzy candidates: typos anywhere in a word, in the first word or a later one, and swapped
words reach the threshold and share a block; names that are other businesses stay below it."""

from __future__ import annotations

import pytest

from xero_pipeline.defs.customers.matching import Customer, XeroCustomer, match
from xero_pipeline.defs.customers.names import normalised_key
from xero_pipeline.defs.customers.similarity import (
    FUZZY_THRESHOLD,
    candidate_scores,
    similarity,
)

T = "tenant-a"


def contacts(*names: str) -> list[XeroCustomer]:
    return [XeroCustomer(T, f"c{i}", name) for i, name in enumerate(names, start=1)]


# (the customer's name, the Xero contact's): one letter wrong, missing, added, or the words in
# another order. Each must reach the threshold and share a block, so it becomes a candidate.
TYPOS = [
    ("Blue Vine Bakery Ltd", "Xlue Vine Bakery"),  # first word, start
    ("Blue Vine Bakery Ltd", "Blxe Vine Bakery"),  # first word, middle
    ("Blue Vine Bakery Ltd", "Blux Vine Bakery"),  # first word, end
    ("Blue Vine Bakery Ltd", "Blue Vine Xakery"),  # a later word, start (56 sorted alone)
    ("Blue Vine Bakery Ltd", "Blue Vine Baxery"),  # a later word, middle
    ("Blue Vine Bakery Ltd", "Blue Vine Bakerx"),  # a later word, end
    ("Blue Vine Bakery Ltd", "Blue Vine Bakry"),  # a letter missing
    ("Blue Vine Bakery Ltd", "Blue Vinne Bakery"),  # a letter added
    ("Blue Vine Bakery Ltd", "Vine Blue Bakery"),  # two words swapped (69 as written alone)
    ("Blue Vine Bakery Ltd", "Bakery, Blue Vine"),  # the trade put first
    ("Wellington", "Xellington"),  # a one-word name, start: found through its end
    ("Wellington", "Wellingtn"),  # a one-word name, end: found through its start
    ("K C Motors", "KC Motors"),  # letters joined: found through the first four letters
]


@pytest.mark.parametrize("customer,contact", TYPOS)
def test_typos_anywhere_and_swapped_words_become_candidates(customer: str, contact: str):
    assert similarity(normalised_key(customer), normalised_key(contact)) >= FUZZY_THRESHOLD
    [outcome] = match(
        [Customer("A", customer), Customer("Z", "Zebra Crossing")], contacts(contact)
    ).outcomes
    assert (outcome.action, outcome.reason) == ("review", "fuzzy")
    assert [c.customer_id for c in outcome.candidates] == ["A"]


def test_the_typo_scores_are_the_ones_the_docs_quote():
    assert similarity("blue vine bakery", "blue vine xakery") == 93.8
    assert similarity("blue vine bakery", "vine blue bakery") == 100.0
    assert similarity("acme", "acmee") == 88.9


# Names that share words but are other businesses: below the threshold, so a new customer.
APART = [
    ("Blue Fern Plumbing", "Blue Fern Bakery"),
    ("Blue Fern Plumbing Trust", "Blue Fern Plumbing"),
    ("Smith", "Smith & Sons"),  # a name inside a longer one is not the same name
    ("Kiwi Widgets", "Kiwi Gadgets"),
    ("Harbour View Cafe", "Harbour View Catering"),
    ("Coastal Kiwi Design", "Coastal Design"),
    ("Summit Builders", "Summit Builders Group"),
    ("Kauri Joinery", "Totara Joinery"),
    ("Blue Vine Bakery", "Vine Blue Xakery"),  # swapped and a typo: two changes
]


@pytest.mark.parametrize("customer,contact", APART)
def test_clearly_different_names_stay_below_the_threshold(customer: str, contact: str):
    assert similarity(normalised_key(customer), normalised_key(contact)) < FUZZY_THRESHOLD
    [outcome] = match([Customer("A", customer)], contacts(contact)).outcomes
    assert outcome.action == "new"


def test_the_bulk_scores_are_the_pairwise_scores_within_blocks_and_organisations():
    customers = [normalised_key(a) for a, _ in TYPOS] + [normalised_key(a) for a, _ in APART]
    names = [normalised_key(b) for _, b in TYPOS + APART]
    scopes: list[str | None] = [None] * len(customers)
    scopes[0] = "tenant-b"  # the first customer is for another organisation: never scored
    got = candidate_scores(names, [T] * len(names), customers, scopes, range(len(customers)))
    expected = {
        (i, p): similarity(name, customer)
        for i, name in enumerate(names)
        for p, customer in enumerate(customers)
        if p != 0 and similarity(name, customer) >= FUZZY_THRESHOLD
    }
    assert {(i, p): round(score, 1) for i in got for p, score in got[i].items()} == expected
    assert (1, 1) in expected and not any(p == 0 for _, p in expected)
