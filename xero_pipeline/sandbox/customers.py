"""The sandbox's sample customer list: the "existing customer list" a business would bring.

Generated from the sandbox's own organisations, deterministically (same seed, size and `as_of`:
the same list), so the merge has something real to chew on with no setup. It overlaps Xero in
every awkward way the merge must handle:

- the awkward customers of the first tenant, each paired on purpose (`AWKWARD_COUNTERPARTS`):
  identical names, case and spacing differences, legal suffixes, punctuation, accents, a typo
  (a fuzzy candidate, for review), two customers with one name, and none for "Ngā Tāonga Trust";
  "Acme Ltd" and "ACME Limited" are two contacts in Xero and one customer here;
- most other active customers of **both** tenants (the second has no Datagate group, so all its
  customers are selected), under the same name or a variant of it, so that a first run links
  most of them and stays well inside the new-customer safety rule;
- customers with no Xero counterpart at all, which stay unlinked.
Archived and erased contacts are left out: they are never created, so they show that rule.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import TYPE_CHECKING

from xero_pipeline.sandbox.generator import AWKWARD_CUSTOMER_NAMES

if TYPE_CHECKING:
    from xero_pipeline.sandbox import Sandbox

HEADER = ("customer_id", "name", "segment", "customer_since")
COVERAGE = 0.8  # share of the other active customers that the list knows

# Xero's awkward name -> the list's name(s) for it. Left out on purpose: "Ngā Tāonga Trust" (no
# counterpart: a new customer), "ACME Limited" and "Smith & Co" (second contacts for one name).
AWKWARD_COUNTERPARTS: dict[str, tuple[str, ...]] = {
    'Smith "Best" Bakery': ('Smith "Best" Bakery',),  # exact, quotes and all
    "Back\\slash Studio": ("Back\\slash Studio",),  # exact
    "Acme Ltd": ("Acme Ltd",),  # exact; "ACME Limited" then has no free customer: review
    "Trailing Space Traders ": ("Trailing Space Traders",),  # folded (whitespace)
    "  Leading Space Landscaping": ("LEADING SPACE LANDSCAPING",),  # folded (case, spacing)
    "O'Brien & Sons Ltd": ("O'Brien and Sons Limited",),  # normalised (&, suffix)
    "Café Zoë": ("Cafe Zoe",),  # normalised (accents)
    "Müller GmbH": ("Müller",),  # normalised (suffix)
    "Kiwi Widgets Pty Ltd": ("Kiwi Widgets",),  # normalised (two-word suffix)
    "Big Bob's Burgers, Inc.": ("Big Bobs Burgers Inc",),  # normalised (punctuation)
    "Déjà Vu Design LLC": ("Deja Vu Design L.L.C.",),  # normalised (accents, dotted suffix)
    "100% Pure Juice Co.": ("100% Pure Juice Company",),  # normalised (Co / Company)
    "Johnson and Johnson Plumbing": ("Jonson & Johnson Plumbing",),  # a typo: fuzzy, review
    "Smith and Co": ("Smith and Co", "Smith and Co"),  # two customers, one name: review
}
# Businesses the list knows that are in neither organisation.
_UNMATCHED = (
    "Anderson Dental Practice",
    "Hohaia Motors",
    "Kaur Family Vets",
    "Morgan & Reid Florists",
    "Ngata Surveying Partners",
    "Walker Electrical Wholesale",
)
_SEGMENTS = ("Retail", "Wholesale", "Hospitality", "Online")
_LEGAL = ("Ltd", "Limited", "Pty Ltd", "LLC", "Inc")


def sample_customers(sandbox: Sandbox) -> list[dict[str, str]]:
    """The sample list for `sandbox`, as rows of `HEADER`."""
    rng = random.Random(f"{sandbox.config.seed}:sample-customers")
    names: list[str] = []
    tenants = list(sandbox.tenants.values())
    awkward = set(AWKWARD_CUSTOMER_NAMES)
    if tenants:
        present = {c["Name"] for c in tenants[0].contacts.records}
        for xero_name, listed in AWKWARD_COUNTERPARTS.items():
            if xero_name in present:
                names.extend(listed)
    for tenant in tenants:
        for contact in tenant.contacts.records:
            if (
                contact.get("IsCustomer")
                and contact.get("ContactStatus") == "ACTIVE"
                and contact["Name"] not in awkward
                and rng.random() < COVERAGE
            ):
                names.append(_variant(contact["Name"], rng))
    names.extend(_UNMATCHED)
    return [
        {
            "customer_id": f"CUST-{number:05d}",
            "name": name,
            "segment": rng.choice(_SEGMENTS),
            "customer_since": str(rng.randint(2012, 2025)),
        }
        for number, name in enumerate(names, start=1)
    ]


def _variant(name: str, rng: random.Random) -> str:
    """The name as the business's own system might spell it."""
    roll = rng.random()
    if roll < 0.5:
        return name
    if roll < 0.65:
        return name.upper() if rng.random() < 0.5 else name.lower()
    if roll < 0.75:
        return name.replace(" ", "  ", 1) + " "
    if roll < 0.9:
        for suffix in sorted(_LEGAL, key=len, reverse=True):
            if name.endswith(f" {suffix}"):
                return f"{name.removesuffix(suffix)}{rng.choice(_LEGAL)}"
        return f"{name} Ltd"
    return name.replace(" ", ", ", 1)


def write_sample_csv(sandbox: Sandbox, path: Path) -> Path:
    """Write the sample list as CSV (UTF-8) and return its path."""
    rows = sample_customers(sandbox)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path
