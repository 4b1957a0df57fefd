"""What the merge reads from the warehouse, and the one thing people write to it: decisions.

The Xero side comes from the published mirrors (`xero_contacts`, `xero_contact_groups`,
`xero_contact_group_members`), so the merge costs no API calls and sees exactly what passed the
reference-data gates.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from xero_pipeline.defs.customers.matching import NEVER_CREATED, Decision, XeroCustomer
from xero_pipeline.defs.customers.names import folded_key
from xero_pipeline.defs.customers.plan import CUSTOMER_COLUMNS, PLAN_IDENTITY
from xero_pipeline.warehouse.schema import (
    customer_match_decisions,
    customer_match_review,
    customer_merge_plan,
    customers,
    xero_contact_group_members,
    xero_contact_groups,
    xero_contacts,
    xero_organisation,
)
from xero_pipeline.warehouse.transactions import writing
from xero_pipeline.warehouse.values import as_utc


@dataclass
class Selection:
    """One tenant's selected Xero customers and how they were chosen."""

    tenant_id: str
    tenant_name: str
    group_found: bool
    contacts: list[XeroCustomer] = field(default_factory=list)

    def describe(self, group: str) -> str:
        if self.group_found:
            return f"members of contact group {group!r}: {len(self.contacts)}"
        return f"no active {group!r} group, so every customer: {len(self.contacts)}"


def merge_tenants(engine: Engine, only: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(tenant_id, name) of every organisation in the warehouse, narrowed to XERO_TENANT_IDS."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(xero_organisation.c.tenant_id, xero_organisation.c.name).order_by(
                xero_organisation.c.name, xero_organisation.c.tenant_id
            )
        ).all()
    return [(t, n or t) for t, n in rows if not only or t in only]


def select_xero_customers(
    engine: Engine, tenants: Sequence[tuple[str, str]], group: str
) -> tuple[list[Selection], dict[tuple[str, str], str]]:
    """Per tenant: the members of the active group named `group` (case and spacing aside), or,
    with no such group, every contact that is a customer. Also every contact's current name."""
    tenant_ids = [t for t, _ in tenants]
    wanted = folded_key(group)
    with engine.connect() as connection:
        groups = connection.execute(
            select(
                xero_contact_groups.c.tenant_id,
                xero_contact_groups.c.contact_group_id,
                xero_contact_groups.c.name,
                xero_contact_groups.c.status,
            ).where(xero_contact_groups.c.tenant_id.in_(tenant_ids))
        ).all()
        chosen = [
            (t, g)
            for t, g, name, status in groups
            if status == "ACTIVE" and folded_key(name) == wanted
        ]
        members: set[tuple[str, str]] = set()
        if chosen:
            members = {
                (t, c)
                for t, c in connection.execute(
                    select(
                        xero_contact_group_members.c.tenant_id,
                        xero_contact_group_members.c.contact_id,
                    ).where(
                        xero_contact_group_members.c.contact_group_id.in_([g for _, g in chosen])
                    )
                )
            }
        contacts = connection.execute(
            select(
                xero_contacts.c.tenant_id,
                xero_contacts.c.contact_id,
                xero_contacts.c.name,
                xero_contacts.c.contact_status,
                xero_contacts.c.is_customer,
            ).where(xero_contacts.c.tenant_id.in_(tenant_ids))
        ).all()
    with_group = {t for t, _ in chosen}
    selections = {t: Selection(t, name, t in with_group) for t, name in tenants}
    names = {}
    for tenant_id, contact_id, name, status, is_customer in contacts:
        names[(tenant_id, contact_id)] = name or ""
        selection = selections[tenant_id]
        if (tenant_id, contact_id) in members if selection.group_found else bool(is_customer):
            selection.contacts.append(
                XeroCustomer(tenant_id, contact_id, name or "", status or "ACTIVE")
            )
    return list(selections.values()), names


def current_customers(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(*[customers.c[name] for name in CUSTOMER_COLUMNS]).order_by(
                customers.c.customer_id
            )
        ).mappings()
        out = [dict(row) for row in rows]
    for row in out:
        if row["linked_at"] is not None:
            row["linked_at"] = as_utc(row["linked_at"])
    return out


def decisions(engine: Engine) -> list[Decision]:
    table = customer_match_decisions
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                table.c.tenant_id,
                table.c.contact_id,
                table.c.customer_id,
                table.c.decision,
                table.c.decided_at,
            ).order_by(table.c.decided_at, table.c.decision_id)
        ).all()
    return [Decision(t, c, cust, d, as_utc(at)) for t, c, cust, d, at in rows]


def review_first_seen(engine: Engine) -> dict[tuple[str, str, str], datetime]:
    table = customer_match_review
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.tenant_id, table.c.contact_id, table.c.customer_id, table.c.first_seen)
        ).all()
    return {(t, c, cust): as_utc(seen) for t, c, cust, seen in rows}


def published_plan(engine: Engine, tenant_ids: Sequence[str]) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(
                select(*[customer_merge_plan.c[name] for name in PLAN_IDENTITY]).where(
                    customer_merge_plan.c.tenant_id.in_(list(tenant_ids))
                )
            ).mappings()
        ]


# -- review and decisions (the `xero-pipeline review` command) ---------------------------------


@dataclass(frozen=True)
class ReviewItem:
    review_id: str
    tenant_id: str
    tenant_name: str
    contact_id: str
    contact_name: str
    contact_status: str | None
    customer_id: str
    customer_name: str
    reason: str
    score: float | None
    first_seen: datetime
    pending: str | None  # a decision already recorded, applied on the next merge run
    candidate_linked_to: str | None  # the candidate's linked contact, if it has one


def review_items(engine: Engine) -> list[ReviewItem]:
    """Open review items, most similar first, with any decision waiting for the next run."""
    review, org = customer_match_review, xero_organisation
    with engine.connect() as connection:
        names = dict(connection.execute(select(org.c.tenant_id, org.c.name)).all())
        statuses = dict(
            ((t, c), s)
            for t, c, s in connection.execute(
                select(
                    xero_contacts.c.tenant_id,
                    xero_contacts.c.contact_id,
                    xero_contacts.c.contact_status,
                ).where(
                    select(review.c.contact_id)
                    .where(
                        review.c.tenant_id == xero_contacts.c.tenant_id,
                        review.c.contact_id == xero_contacts.c.contact_id,
                    )
                    .exists()
                )
            )
        )
        links = {
            cid: f"{xero_name} ({t})"
            for cid, xero_name, t in connection.execute(
                select(customers.c.customer_id, customers.c.xero_name, customers.c.tenant_id).where(
                    customers.c.contact_id.is_not(None)
                )
            )
        }
        rows = connection.execute(
            select(review).order_by(
                review.c.score.desc(), review.c.contact_name, review.c.customer_id
            )
        ).mappings()
        items = [dict(row) for row in rows]
    pending = _pending(engine, items)
    return [
        ReviewItem(
            review_id=row["review_id"],
            tenant_id=row["tenant_id"],
            tenant_name=names.get(row["tenant_id"], row["tenant_id"]),
            contact_id=row["contact_id"],
            contact_name=row["contact_name"] or "",
            contact_status=statuses.get((row["tenant_id"], row["contact_id"])),
            customer_id=row["customer_id"],
            customer_name=row["customer_name"] or "",
            reason=row["reason"],
            score=float(row["score"]) if row["score"] is not None else None,
            first_seen=as_utc(row["first_seen"]),
            pending=pending.get(row["review_id"]),
            candidate_linked_to=links.get(row["customer_id"]),
        )
        for row in items
    ]


def _pending(engine: Engine, items: list[dict[str, Any]]) -> dict[str, str]:
    """Decisions recorded since each item was written (so not yet applied), by review id."""
    latest: dict[tuple[str, str], tuple[str, str | None]] = {}
    rejected: set[tuple[str, str, str | None]] = set()
    for decision in decisions(engine):
        if decision.decision == "reject":
            rejected.add((decision.tenant_id, decision.contact_id, decision.customer_id))
        else:
            latest[(decision.tenant_id, decision.contact_id)] = (
                decision.decision,
                decision.customer_id,
            )
    out = {}
    for row in items:
        contact = (row["tenant_id"], row["contact_id"])
        if (*contact, row["customer_id"]) in rejected:
            out[row["review_id"]] = "reject"
        elif contact in latest:
            kind, customer_id = latest[contact]
            if kind == "new":
                out[row["review_id"]] = "new"
            elif customer_id == row["customer_id"]:
                out[row["review_id"]] = "accept"
    return out


class DecisionError(ValueError):
    """A decision that cannot be recorded; the message says why and what to do instead."""


def record_decision(
    engine: Engine, review_id: str, decision: str, note: str | None = None
) -> ReviewItem:
    """Record a person's decision on an open review item; the next merge run applies it."""
    if decision not in ("accept", "reject", "new"):
        raise DecisionError(f"unknown decision {decision!r}")
    items = {item.review_id: item for item in review_items(engine)}
    item = items.get(review_id.strip().lower())
    if item is None:
        raise DecisionError(f"no open review item {review_id!r}; `xero-pipeline review` lists them")
    if decision == "accept" and item.candidate_linked_to:
        raise DecisionError(
            f"{item.customer_name!r} ({item.customer_id}) is already linked to "
            f"{item.candidate_linked_to}; a customer links to one Xero contact. Use --new to "
            "make this contact a customer of its own, or --reject."
        )
    if decision == "new" and (item.contact_status or "") in NEVER_CREATED:
        raise DecisionError(
            f"{item.contact_name!r} is {item.contact_status} in Xero and is never created as a "
            "new customer; --accept links it to the candidate, --reject drops the candidate."
        )
    with writing(engine, [customer_match_decisions.name]) as connection:
        connection.execute(
            insert(customer_match_decisions).values(
                tenant_id=item.tenant_id,
                contact_id=item.contact_id,
                customer_id=None if decision == "new" else item.customer_id,
                decision=decision,
                decided_at=datetime.now(UTC),
                decided_by=_who(),
                note=note,
            )
        )
    return item


def _who() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
