"""The matching ladder: what to do with each selected Xero customer, as plain data.

For every selected Xero contact not yet linked to a customer, in this order:

1. a person's decision from review, if there is one (accept a candidate, or make it new);
2. `exact`, then `folded`, then `normalised` name (see `names`): a contact links to a customer
   when exactly one contact and exactly one customer share the key at that level and the
   customer is free. Anything else with a shared key goes to review, unmerged: two customers
   with the name, two Xero contacts with the name, or a customer already linked to (or held in
   review for) another contact. Guessing is never how ambiguity is resolved;
3. `fuzzy`: customers whose normalised name scores at least `FUZZY_THRESHOLD` (see
   `similarity`) are written to review with their score — never linked automatically;
4. otherwise a new customer (`xero-<ContactID>`), unless the contact is archived (or erased on
   a GDPR request), which is never created.

A customer whose list row names an organisation (`list_tenant_id`) is for that organisation's
contacts only, at every step: it is never linked to, proposed for or counted against a contact
of another, so one name in two organisations' lists is two names, not an ambiguity. A customer
without one is for every organisation, as when the list has no organisation column.

Links are by (tenant_id, contact_id), so they survive renames on either side; a rejected pair is
never proposed again, at any level.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from xero_pipeline.defs.customers.names import exact_key, folded_key, normalised_key
from xero_pipeline.defs.customers.similarity import (
    FUZZY_CANDIDATES,
    FUZZY_THRESHOLD,
    candidate_scores,
    similarity,
)

LEVELS: tuple[tuple[str, Callable[[str | None], str]], ...] = (
    ("exact", exact_key),
    ("folded", folded_key),
    ("normalised", normalised_key),
)
ACCEPTED = "accepted"  # linked because a person accepted the pair in review
NEW = "new"  # a customer created from the Xero contact

# Outcome actions.
LINKED, LINK, CREATE, REVIEW, SKIP = "linked", "link", "new", "review", "skip"
NEVER_CREATED = frozenset({"ARCHIVED", "GDPRREQUEST"})


@dataclass(frozen=True)
class Customer:
    """A customer the merge may link: from the business's list, or created earlier from Xero."""

    customer_id: str
    name: str
    tenant_id: str | None = None
    contact_id: str | None = None
    match_method: str | None = None
    xero_name: str | None = None
    list_tenant_id: str | None = None  # the organisation its list row is for; None: any

    @property
    def link(self) -> tuple[str, str] | None:
        if self.tenant_id and self.contact_id:
            return (self.tenant_id, self.contact_id)
        return None


@dataclass(frozen=True)
class XeroCustomer:
    """A selected Xero contact, as published in `xero_contacts`."""

    tenant_id: str
    contact_id: str
    name: str
    status: str = "ACTIVE"

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant_id, self.contact_id)


@dataclass(frozen=True)
class Decision:
    """A person's answer to a review item (`customer_match_decisions`)."""

    tenant_id: str
    contact_id: str
    customer_id: str | None
    decision: str  # accept, reject, new
    decided_at: datetime


@dataclass(frozen=True)
class Candidate:
    customer_id: str
    name: str
    score: float


@dataclass(frozen=True)
class Outcome:
    """What the merge does with one selected Xero contact."""

    tenant_id: str
    contact_id: str
    contact_name: str
    contact_status: str
    action: str  # linked (already), link, new, review, skip
    normalised_name: str
    customer_id: str | None = None
    customer_name: str | None = None
    match_method: str | None = None
    reason: str | None = None
    candidates: tuple[Candidate, ...] = ()


@dataclass
class Matching:
    outcomes: list[Outcome]
    unapplied: list[tuple[Decision, str]] = field(default_factory=list)


def new_customer_id(contact_id: str) -> str:
    """A customer created from a Xero contact: stable, and says where it came from."""
    return f"xero-{contact_id}"


def match(
    customers: Sequence[Customer],
    contacts: Iterable[XeroCustomer],
    decisions: Iterable[Decision] = (),
    threshold: float = FUZZY_THRESHOLD,
) -> Matching:
    """Run the ladder. Deterministic: the same inputs give the same outcomes in the same order."""
    return _Ladder(customers, contacts, decisions, threshold).run()


def _count(n: int) -> str:
    return {2: "two", 3: "three", 4: "four"}.get(n, str(n))


class _Ladder:
    def __init__(
        self,
        customers: Sequence[Customer],
        contacts: Iterable[XeroCustomer],
        decisions: Iterable[Decision],
        threshold: float,
    ) -> None:
        self.customers = list(customers)
        self.contacts = sorted(
            {c.key: c for c in contacts}.values(), key=lambda c: (c.tenant_id, c.contact_id)
        )
        self.threshold = threshold
        self.position: dict[str, int] = {}
        self.linked_to: dict[tuple[str, str], int] = {}
        self.taken: dict[int, str] = {}  # customer position -> name of its Xero contact
        for pos, customer in enumerate(self.customers):
            self.position.setdefault(customer.customer_id, pos)
            if customer.link is not None:
                self.linked_to.setdefault(customer.link, pos)
                self.taken[pos] = customer.xero_name or customer.contact_id or ""
        self.held: set[int] = set()  # candidates of a review item this run
        self.rejected: set[tuple[str, str, str]] = set()
        self.chosen: dict[tuple[str, str], Decision] = {}
        for decision in sorted(decisions, key=lambda d: d.decided_at):
            pair = (decision.tenant_id, decision.contact_id, decision.customer_id or "")
            key = (decision.tenant_id, decision.contact_id)
            if decision.decision == "reject":
                self.rejected.add(pair)
                chosen = self.chosen.get(key)
                if chosen is not None and chosen.customer_id == decision.customer_id:
                    del self.chosen[key]
            elif decision.decision in ("accept", "new"):
                self.chosen[key] = decision
                self.rejected.discard(pair)
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.unapplied: list[tuple[Decision, str]] = []
        self._normalised: list[str] | None = None
        self.contact_key = {c.key: normalised_key(c.name) for c in self.contacts}

    # -- helpers -------------------------------------------------------------------------------

    def normalised(self, pos: int) -> str:
        if self._normalised is None:
            self._normalised = [normalised_key(c.name) for c in self.customers]
        return self._normalised[pos]

    def free(self, pos: int) -> bool:
        return pos not in self.taken and pos not in self.held

    def allowed(self, contact: XeroCustomer, pos: int) -> bool:
        """The customer may be linked to the contact: the list does not put it in another
        organisation, and no one rejected the pair."""
        customer = self.customers[pos]
        if customer.list_tenant_id not in (None, contact.tenant_id):
            return False
        return (contact.tenant_id, contact.contact_id, customer.customer_id) not in self.rejected

    def pending(self) -> list[XeroCustomer]:
        return [c for c in self.contacts if c.key not in self.outcomes]

    def decide(self, contact: XeroCustomer, action: str, **fields: object) -> None:
        self.outcomes[contact.key] = Outcome(
            tenant_id=contact.tenant_id,
            contact_id=contact.contact_id,
            contact_name=contact.name,
            contact_status=contact.status,
            action=action,
            normalised_name=self.contact_key[contact.key],
            **fields,  # type: ignore[arg-type]
        )

    def link(self, contact: XeroCustomer, pos: int, method: str) -> None:
        customer = self.customers[pos]
        self.taken[pos] = contact.name
        self.decide(
            contact,
            LINK,
            customer_id=customer.customer_id,
            customer_name=customer.name,
            match_method=method,
        )

    def review(self, contact: XeroCustomer, positions: list[int], reason: str) -> None:
        mine = self.contact_key[contact.key]
        candidates = sorted(
            (
                Candidate(
                    self.customers[p].customer_id,
                    self.customers[p].name,
                    similarity(mine, self.normalised(p)),
                )
                for p in positions
            ),
            key=lambda c: (-c.score, c.customer_id),
        )
        self.held.update(positions)
        self.decide(
            contact,
            REVIEW,
            reason=reason,
            candidates=tuple(candidates),
        )

    def create_or_skip(self, contact: XeroCustomer, why_not: str) -> None:
        if contact.status in NEVER_CREATED:
            self.decide(contact, SKIP, reason=why_not)
        else:
            self.decide(
                contact,
                CREATE,
                customer_id=new_customer_id(contact.contact_id),
                customer_name=contact.name,
                match_method=NEW,
            )

    # -- the steps -----------------------------------------------------------------------------

    def run(self) -> Matching:
        for contact in self.contacts:
            pos = self.linked_to.get(contact.key)
            if pos is not None:
                customer = self.customers[pos]
                self.decide(
                    contact,
                    LINKED,
                    customer_id=customer.customer_id,
                    customer_name=customer.name,
                    match_method=customer.match_method,
                )
        self.apply_decisions()
        for contact in self.pending():
            if contact.status == "GDPRREQUEST":
                self.decide(
                    contact, SKIP, reason="erased on a GDPR request in Xero: never imported"
                )
        for level, key in LEVELS:
            self.match_level(level, key)
        self.fuzzy()
        return Matching(
            outcomes=[self.outcomes[c.key] for c in self.contacts], unapplied=self.unapplied
        )

    def apply_decisions(self) -> None:
        for contact in self.pending():
            decision = self.chosen.get(contact.key)
            if decision is None:
                continue
            if decision.decision == "new":
                if contact.status in NEVER_CREATED:
                    self.unapplied.append((decision, f"the contact is {contact.status} in Xero"))
                    self.decide(
                        contact, SKIP, reason=f"{contact.status.lower()} in Xero: never created"
                    )
                else:
                    self.create_or_skip(contact, "")
                continue
            pos = self.position.get(decision.customer_id or "")
            if pos is None:
                self.unapplied.append((decision, "the customer is not in the list"))
            elif self.customers[pos].list_tenant_id not in (None, contact.tenant_id):
                self.unapplied.append(
                    (decision, "the list puts the customer in another organisation")
                )
            elif pos in self.taken:
                self.unapplied.append(
                    (decision, f"the customer is already linked to {self.taken[pos]!r}")
                )
            else:
                self.link(contact, pos, ACCEPTED)

    def match_level(self, level: str, key: Callable[[str | None], str]) -> None:
        index: dict[str, list[int]] = defaultdict(list)
        for pos, customer in enumerate(self.customers):
            k = self.normalised(pos) if level == "normalised" else key(customer.name)
            if k:
                index[k].append(pos)
        groups: dict[str, list[XeroCustomer]] = defaultdict(list)
        for contact in self.pending():
            k = self.contact_key[contact.key] if level == "normalised" else key(contact.name)
            if k and k in index:
                groups[k].append(contact)
        for k, group in groups.items():
            for rivals in self.rivals(index[k], group):
                options = {c.key: [p for p in index[k] if self.allowed(c, p)] for c in rivals}
                competing = [c for c in rivals if options[c.key]]
                if not competing:
                    continue  # every pair at this key was rejected: try the looser levels
                first = competing[0]
                only = options[first.key]
                if len(competing) == 1 and len(only) == 1 and self.free(only[0]):
                    self.link(first, only[0], level)
                    continue
                for contact in competing:
                    self.review(
                        contact,
                        options[contact.key],
                        self.ambiguity(level, k, competing, options[contact.key]),
                    )

    def rivals(self, positions: list[int], group: list[XeroCustomer]) -> list[list[XeroCustomer]]:
        """The contacts with one name that compete for its customers: all of them when one of
        those customers is for any organisation; otherwise each organisation's apart, since a
        customer the list puts in one organisation is never a candidate in another."""
        if any(self.customers[p].list_tenant_id is None for p in positions):
            return [group]
        by_tenant: dict[str, list[XeroCustomer]] = defaultdict(list)
        for contact in group:
            by_tenant[contact.tenant_id].append(contact)
        return list(by_tenant.values())

    def ambiguity(
        self, level: str, k: str, competing: list[XeroCustomer], positions: list[int]
    ) -> str:
        linked = [self.taken[p] for p in positions if p in self.taken]
        also = f"; already linked to {', '.join(map(repr, linked))}" if linked else ""
        parts = []
        if len(positions) > 1:
            parts.append(f"{_count(len(positions))} customers")
        if len(competing) > 1:
            parts.append(f"{_count(len(competing))} Xero contacts")
        if parts:
            return f"ambiguous: {' and '.join(parts)} have the {level} name {k!r}{also}"
        if linked:
            return f"ambiguous: two Xero contacts for one customer ({level} name {k!r}){also}"
        return (
            f"ambiguous: two Xero contacts for one customer ({level} name {k!r}); "
            "it is a candidate for another contact too"
        )

    def fuzzy(self) -> None:
        """Candidates by similarity (`similarity`), the best few of each contact, for review."""
        waiting = [c for c in self.pending() if self.contact_key[c.key]]
        scores = candidate_scores(
            [self.contact_key[c.key] for c in waiting],
            [c.tenant_id for c in waiting],
            [self.normalised(p) for p in range(len(self.customers))],
            [c.list_tenant_id for c in self.customers],
            [p for p in range(len(self.customers)) if p not in self.taken],
            self.threshold,
        )
        for i, contact in enumerate(waiting):
            found = [p for p in scores.get(i, {}) if self.allowed(contact, p)]
            if found:
                best = sorted(found, key=lambda p: (-scores[i][p], self.customers[p].customer_id))
                self.review(contact, best[:FUZZY_CANDIDATES], "fuzzy")
        for contact in self.pending():
            self.create_or_skip(contact, f"{contact.status.lower()} in Xero: never created")
