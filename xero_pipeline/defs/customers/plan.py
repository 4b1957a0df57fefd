"""The merge plan: the ladder's outcomes turned into the rows the merge would write.

`build_plan` combines the customers table as it is, the business's list as it is now, and the
ladder's outcome for every selected Xero customer into: the whole `customers` table after the
merge, the review list, and the counts the preview shows and the safety rule judges. Pure: the
same inputs give the same rows, so the apply can check that it follows the preview exactly.

What the merge does to `customers`: rows of the list are added when first seen and take the
list's current name, columns and organisation; rows are never deleted (a customer gone from the
list stays); links are added, never moved; a linked row's `xero_name` follows the contact's name
in Xero.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from xero_pipeline.defs.customers.matching import (
    CREATE,
    FUZZY_THRESHOLD,
    LINK,
    LINKED,
    REVIEW,
    SKIP,
    Customer,
    Decision,
    Matching,
    Outcome,
    XeroCustomer,
    match,
)
from xero_pipeline.defs.customers.source import ListedCustomer

CUSTOMER_COLUMNS = (
    "customer_id",
    "name",
    "source",
    "tenant_id",
    "contact_id",
    "xero_name",
    "match_method",
    "linked_at",
    "attributes",
    "list_tenant_id",
)
EXISTING, XERO = "existing", "xero"


@dataclass
class MergePlan:
    outcomes: list[Outcome]
    customers: list[dict[str, Any]]  # the whole customers table after the merge
    review: list[dict[str, Any]]  # customer_match_review after the merge
    before: int  # rows in customers before
    listed: int  # rows in the business's list
    added_from_list: int  # list customers not in the table before
    unapplied: list[tuple[Decision, str]] = field(default_factory=list)

    @property
    def selected(self) -> int:
        return len(self.outcomes)

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def created(self) -> int:
        return self.count(CREATE)

    @property
    def links_by_method(self) -> dict[str, int]:
        """Links this run would make, by how they were found."""
        return dict(Counter(o.match_method for o in self.outcomes if o.action == LINK))

    @property
    def new_share(self) -> float:
        """New customers this run ÷ Xero customers selected this run (0 when none selected)."""
        return self.created / self.selected if self.selected else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "Xero customers selected": self.selected,
            "already linked": self.count(LINKED),
            "links by method": self.links_by_method,
            "new customers": self.created,
            "review items": self.count(REVIEW),
            "review rows (contact × candidate)": len(self.review),
            "skipped (archived or erased)": self.count(SKIP),
            "customers in the list": self.listed,
            "added from the list": self.added_from_list,
            "customers before": self.before,
            "customers after": len(self.customers),
        }


def review_id(tenant_id: str, contact_id: str, customer_id: str) -> str:
    """A short id a person can type, the same on every run for the same pair."""
    text = f"{tenant_id}:{contact_id}:{customer_id}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]


def build_plan(
    current: Sequence[Mapping[str, Any]],
    listed: Sequence[ListedCustomer],
    contacts: Sequence[XeroCustomer],
    *,
    decisions: Sequence[Decision] = (),
    contact_names: Mapping[tuple[str, str], str] | None = None,
    first_seen: Mapping[tuple[str, str, str], datetime] | None = None,
    now: datetime,
    threshold: float = FUZZY_THRESHOLD,
) -> MergePlan:
    """`current`: the customers table's rows; `listed`: the business's list (duplicates kept,
    for the gate to see); `contacts`: the selected Xero customers; `contact_names`: the current
    name of every Xero contact, so links of contacts no longer selected still show the name;
    `first_seen`: when each review pair was first written."""
    by_id = {row["customer_id"]: row for row in current}
    rows: list[dict[str, Any]] = []
    for item in listed:
        row = {name: by_id.get(item.customer_id, {}).get(name) for name in CUSTOMER_COLUMNS}
        row.update(
            customer_id=item.customer_id,
            name=item.name,
            source=row["source"] or EXISTING,
            attributes=item.attributes,
            list_tenant_id=item.tenant_id,
        )
        rows.append(row)
    listed_ids = {item.customer_id for item in listed}
    rows += [
        {name: row.get(name) for name in CUSTOMER_COLUMNS}
        for customer_id, row in sorted(by_id.items())
        if customer_id not in listed_ids
    ]
    names = contact_names or {}
    for row in rows:  # a linked contact renamed in Xero: the row shows its current name
        row["xero_name"] = names.get((row["tenant_id"], row["contact_id"]), row["xero_name"])
    matching = match(
        [
            Customer(
                r["customer_id"],
                r["name"] or "",
                r["tenant_id"],
                r["contact_id"],
                r["match_method"],
                r["xero_name"],
                r["list_tenant_id"],
            )
            for r in rows
        ],
        contacts,
        decisions,
        threshold,
    )
    customers = _apply(rows, matching, now)
    return MergePlan(
        outcomes=matching.outcomes,
        customers=customers,
        review=_review_rows(matching, first_seen or {}, now),
        before=len(by_id),
        listed=len(listed),
        added_from_list=len(listed_ids - set(by_id)),
        unapplied=matching.unapplied,
    )


def _apply(rows: list[dict[str, Any]], matching: Matching, now: datetime) -> list[dict[str, Any]]:
    position: dict[str, int] = {}
    for pos, row in enumerate(rows):
        position.setdefault(row["customer_id"], pos)
    for outcome in matching.outcomes:
        if outcome.action in (LINK, LINKED):
            row = rows[position[outcome.customer_id or ""]]
            row["xero_name"] = outcome.contact_name
            if outcome.action == LINK:
                row.update(
                    tenant_id=outcome.tenant_id,
                    contact_id=outcome.contact_id,
                    match_method=outcome.match_method,
                    linked_at=now,
                )
        elif outcome.action == CREATE:
            rows.append(
                {
                    "customer_id": outcome.customer_id,
                    "name": outcome.contact_name,
                    "source": XERO,
                    "tenant_id": outcome.tenant_id,
                    "contact_id": outcome.contact_id,
                    "xero_name": outcome.contact_name,
                    "match_method": outcome.match_method,
                    "linked_at": now,
                    "attributes": None,
                    "list_tenant_id": None,
                }
            )
    return rows


def _review_rows(
    matching: Matching, first_seen: Mapping[tuple[str, str, str], datetime], now: datetime
) -> list[dict[str, Any]]:
    rows = []
    for outcome in matching.outcomes:
        if outcome.action != REVIEW:
            continue
        for candidate in outcome.candidates:
            key = (outcome.tenant_id, outcome.contact_id, candidate.customer_id)
            rows.append(
                {
                    "tenant_id": outcome.tenant_id,
                    "contact_id": outcome.contact_id,
                    "customer_id": candidate.customer_id,
                    "review_id": review_id(*key),
                    "contact_name": outcome.contact_name,
                    "customer_name": candidate.name,
                    "normalised_name": outcome.normalised_name,
                    "reason": outcome.reason,
                    "score": Decimal(f"{candidate.score:.1f}"),
                    "first_seen": first_seen.get(key, now),
                }
            )
    return rows


def plan_rows(plan: MergePlan) -> list[dict[str, Any]]:
    """customer_merge_plan: one row per selected Xero customer."""
    return [
        {
            "tenant_id": o.tenant_id,
            "contact_id": o.contact_id,
            "contact_name": o.contact_name,
            "contact_status": o.contact_status,
            "action": o.action,
            "customer_id": o.customer_id,
            "customer_name": o.customer_name,
            "match_method": o.match_method,
            "normalised_name": o.normalised_name,
            "candidate_ids": ", ".join(c.customer_id for c in o.candidates) or None,
            "reason": o.reason,
            "score": Decimal(f"{o.candidates[0].score:.1f}") if o.candidates else None,
        }
        for o in plan.outcomes
    ]


PLAN_IDENTITY = (
    "tenant_id",
    "contact_id",
    "action",
    "customer_id",
    "match_method",
    "candidate_ids",
)


def plan_identity(rows: Sequence[Mapping[str, Any]]) -> set[tuple[Any, ...]]:
    """What must not change between the preview and the apply: who is linked to whom, how."""
    return {tuple(row[name] for name in PLAN_IDENTITY) for row in rows}


def gate_columns(plan: MergePlan, listed: Sequence[ListedCustomer], current_ids: set[str]) -> None:
    """Facts the suites check that need more than one row (columns stripped before publishing).

    customers: `customers_lost` (customers in the table before or in the list that the merge
    would not write) and `count_gap` (rows after − (rows before + added from the list + created
    from Xero)), both 0 on every row when all is well. Counted here from the inputs, not from the
    plan's own bookkeeping, so a plan that drops or doubles a row cannot pass.
    customer_match_review: whether the candidate is a customer, whether the contact is linked.
    """
    staged_ids = [row["customer_id"] for row in plan.customers]
    known = current_ids | {item.customer_id for item in listed}
    lost = len(known - set(staged_ids))
    added = len({item.customer_id for item in listed} - current_ids)
    gap = len(staged_ids) - (len(current_ids) + added + plan.created)
    for row in plan.customers:
        row["customers_lost"] = lost
        row["count_gap"] = gap
    linked = {(row["tenant_id"], row["contact_id"]) for row in plan.customers if row["contact_id"]}
    ids = set(staged_ids)
    for row in plan.review:
        row["contact_is_linked"] = (row["tenant_id"], row["contact_id"]) in linked
        row["candidate_is_a_customer"] = row["customer_id"] in ids


GATE_ONLY = ("customers_lost", "count_gap", "contact_is_linked", "candidate_is_a_customer")
