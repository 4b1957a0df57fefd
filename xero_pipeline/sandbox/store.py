"""The sandbox's state: each tenant's records, how a GET selects them, and how tests edit them.

Reference data lives as plain dicts. Invoices and credit notes live as generator stubs plus
`overrides` (full records for documents that were edited or added), expanded on read. A query's
matching positions are cached per data version, so paging through a large result set filters once.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from xero_pipeline.sandbox import where as where_lang
from xero_pipeline.sandbox import xerojson
from xero_pipeline.sandbox.generator import (
    DocStub,
    DocumentExpander,
    GeneratedOrg,
    document_totals,
    price_lines,
)

DOCUMENT_DATE_FIELDS = ("Date", "DueDate", "FullyPaidOnDate")


class SandboxError(ValueError):
    """A request the sandbox rejects: `status` and Xero's error shape are chosen by the server."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


@dataclass(frozen=True)
class Query:
    """The selection parameters of one GET, normalised (a hashable cache key)."""

    where: str | None = None
    order: str | None = None
    modified_since: datetime | None = None
    ids: tuple[str, ...] = ()
    contact_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    include_archived: bool = False
    search_term: str | None = None


class Collection:
    """A resource's records in creation order, with what a query needs to select them."""

    resource: str  # the name `where` type-checks against: "Contact", "Invoice", ...
    id_field: str

    def __len__(self) -> int:
        raise NotImplementedError

    def view(self, pos: int) -> Mapping[str, Any]:
        """The record as filters see it (may be lazy)."""
        raise NotImplementedError

    def updated(self, pos: int) -> datetime | None:
        return self.view(pos).get("UpdatedDateUTC")

    def record(self, pos: int, *, with_lines: bool) -> dict[str, Any]:
        raise NotImplementedError


class DictCollection(Collection):
    def __init__(self, resource: str, id_field: str, records: list[dict[str, Any]]) -> None:
        self.resource, self.id_field, self.records = resource, id_field, records
        self._by_id: dict[str, dict[str, Any]] = {}
        self._by_id_count = -1

    def __len__(self) -> int:
        return len(self.records)

    def view(self, pos: int) -> Mapping[str, Any]:
        return self.records[pos]

    def record(self, pos: int, *, with_lines: bool) -> dict[str, Any]:
        return self.records[pos]

    def find(self, record_id: str) -> dict[str, Any]:
        """The first record with this id (tests may inject duplicates on purpose)."""
        if self._by_id_count != len(self.records):  # records are only ever appended
            self._by_id = {}
            for record in self.records:
                self._by_id.setdefault(str(record.get(self.id_field, "")).lower(), record)
            self._by_id_count = len(self.records)
        record = self._by_id.get(record_id.lower())
        if record is None:
            raise SandboxError(404, "NotFound", f"no {self.resource} {record_id}")
        return record


class _LazyDocument(Mapping[str, Any]):
    """A document header served from its stub; anything else expands the full document."""

    __slots__ = ("_full", "_pos", "_store")

    def __init__(self, store: DocumentCollection, pos: int) -> None:
        self._store, self._pos, self._full = store, pos, None

    def _cheap(self, key: str) -> Any:
        stub = self._store.stubs[self._pos]
        store = self._store
        match key:
            case store.id_field:
                return stub.id
            case store.number_field:
                return stub.number
            case "Type":
                return stub.type
            case "Status":
                return stub.status
            case "Date":
                return stub.date
            case "DueDate":
                return stub.due_date
            case "UpdatedDateUTC":
                return stub.updated
            case "CurrencyCode":
                return stub.currency
            case "LineAmountTypes":
                return stub.amount_types
            case "Contact":
                return store.contact_ref(stub.contact_id)
        raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        try:
            return self._cheap(key)
        except KeyError:
            if self._full is None:
                self._full = self._store.record(self._pos, with_lines=True)
            return self._full[key]

    def __iter__(self) -> Iterator[str]:
        if self._full is None:
            self._full = self._store.record(self._pos, with_lines=True)
        return iter(self._full)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class DocumentCollection(Collection):
    """Invoices or credit notes: stubs expanded on read, overrides for edited documents."""

    def __init__(
        self,
        resource: str,
        stubs: list[DocStub],
        expander: DocumentExpander,
        contacts: DictCollection,
    ) -> None:
        self.resource = resource
        self.id_field = f"{resource}ID"
        self.number_field = f"{resource}Number"
        self.stubs, self.expander, self.contacts = stubs, expander, contacts
        self.overrides: dict[str, dict[str, Any]] = {}
        self.position = {stub.id: pos for pos, stub in enumerate(stubs)}

    def __len__(self) -> int:
        return len(self.stubs)

    def contact_ref(self, contact_id: str) -> dict[str, Any]:
        """Xero shows a document's contact by its current name."""
        try:
            name = self.contacts.find(contact_id).get("Name")
        except SandboxError:
            name = None
        return {"ContactID": contact_id, "Name": name}

    def view(self, pos: int) -> Mapping[str, Any]:
        override = self.overrides.get(self.stubs[pos].id)
        if override is not None:
            return {**override, "Contact": self.contact_ref(override["Contact"]["ContactID"])}
        return _LazyDocument(self, pos)

    def updated(self, pos: int) -> datetime | None:
        return self.stubs[pos].updated

    def record(self, pos: int, *, with_lines: bool) -> dict[str, Any]:
        stub = self.stubs[pos]
        override = self.overrides.get(stub.id)
        if override is not None:
            contact = self.contact_ref(override["Contact"]["ContactID"])
            full = with_updated_string({**override, "Contact": contact})
        else:
            full = self._expand(stub)
        if not with_lines:
            full = {k: v for k, v in full.items() if k != "LineItems"}
        return full

    def _expand(self, stub: DocStub) -> dict[str, Any]:
        lines = self.expander.lines(stub)
        totals = document_totals(lines, stub.amount_types)
        total = totals["Total"]
        record: dict[str, Any] = {
            "Type": stub.type,
            self.id_field: stub.id,
            self.number_field: stub.number,
            "Reference": stub.reference,
            "Contact": self.contact_ref(stub.contact_id),
            "Date": stub.date,
            "DueDate": stub.due_date,
            "Status": stub.status,
            "LineAmountTypes": stub.amount_types,
            "LineItems": lines,
            **totals,
            "UpdatedDateUTC": stub.updated,
            "UpdatedDateUTCString": xerojson.iso_utc(stub.updated),
            "CurrencyCode": stub.currency,
            "CurrencyRate": stub.rate,
            "HasAttachments": False,
            "SentToContact": stub.status in ("AUTHORISED", "PAID"),
        }
        record.update(settlement(self.resource, stub.status, total, stub.paid_on, stub.partly_paid))
        return record

    def edit(
        self, doc_id: str, change: Callable[[dict[str, Any]], None], *, touched: datetime | None
    ) -> dict[str, Any]:
        """Apply `change` to a full copy of the document and keep it as an override."""
        pos = self._pos(doc_id)
        full = copy.deepcopy(self.record(pos, with_lines=True))
        change(full)
        if touched is not None:
            full["UpdatedDateUTC"] = touched
        self._store_override(pos, full)
        return full

    def add(self, full: dict[str, Any]) -> None:
        stub = DocStub(
            id=full[self.id_field],
            number=full.get(self.number_field, ""),
            type=full["Type"],
            status=full["Status"],
            contact_id=full["Contact"]["ContactID"],
            date=full["Date"],
            due_date=full.get("DueDate") or full["Date"],
            updated=full.get("UpdatedDateUTC"),  # None: bad data put on purpose
            currency=full.get("CurrencyCode", ""),
            rate=full.get("CurrencyRate", Decimal(1)),
            amount_types=full.get("LineAmountTypes", "Exclusive"),
            reference="",
            line_seed=0,
            n_lines=len(full.get("LineItems", [])),
        )
        self.stubs.append(stub)
        self.position.setdefault(stub.id.lower(), len(self.stubs) - 1)
        self._store_override(len(self.stubs) - 1, full)

    def _store_override(self, pos: int, full: dict[str, Any]) -> None:
        stub = self.stubs[pos]
        self.overrides[stub.id] = full
        # Keep the stub's fast-path fields in step with the override.
        stub.status, stub.date, stub.updated = (
            full["Status"],
            full["Date"],
            full.get("UpdatedDateUTC"),
        )
        stub.number, stub.type = full.get(self.number_field, ""), full["Type"]
        stub.contact_id = full["Contact"]["ContactID"]
        stub.currency = full.get("CurrencyCode", stub.currency)
        stub.amount_types = full.get("LineAmountTypes", stub.amount_types)
        if isinstance(full.get("DueDate"), date):
            stub.due_date = full["DueDate"]

    def _pos(self, doc_id: str) -> int:
        try:
            return self.position[doc_id.lower()]
        except KeyError:
            raise SandboxError(404, "NotFound", f"no {self.resource} {doc_id}") from None


def with_updated_string(document: dict[str, Any]) -> dict[str, Any]:
    """Xero's 2026 schema adds `UpdatedDateUTCString` (ISO 8601, to the second, `Z`) beside
    `UpdatedDateUTC` on invoices and credit notes; derived here so an edit never leaves it stale.
    A document put without `UpdatedDateUTC` (bad data) keeps whatever string it was given."""
    updated = document.get("UpdatedDateUTC")
    if not isinstance(updated, datetime):
        return document
    out: dict[str, Any] = {}
    for key, value in document.items():
        if key != "UpdatedDateUTCString":
            out[key] = value
        if key == "UpdatedDateUTC":
            out["UpdatedDateUTCString"] = xerojson.iso_utc(updated)
    return out


def settlement(
    resource: str, status: str, total: Decimal, paid_on: date | None, partly_paid: bool = False
) -> dict[str, Any]:
    """Amounts paid and due (invoices) or remaining credit (credit notes) for a status."""
    paid = Decimal("0.00")
    if status == "PAID":
        paid = total
    elif partly_paid:
        paid = (total / 2).quantize(Decimal("0.01"))
    open_amount = Decimal("0.00") if status in ("VOIDED", "DELETED") else total - paid
    if resource == "CreditNote":
        return {"RemainingCredit": open_amount, "FullyPaidOnDate": paid_on}
    return {
        "AmountDue": open_amount,
        "AmountPaid": paid,
        "AmountCredited": Decimal("0.00"),
        "FullyPaidOnDate": paid_on,
        "IsDiscounted": False,
    }


class TenantData:
    """One organisation: its collections, queries over them, and the edit API tests use."""

    def __init__(self, org: GeneratedOrg, now: Callable[[], datetime]) -> None:
        self.org = org
        self.tenant_id = org.tenant_id
        self.name = org.spec.name
        self.now = now
        self.organisation = org.organisation
        self.contacts = DictCollection("Contact", "ContactID", org.contacts)
        self.accounts = DictCollection("Account", "AccountID", org.accounts)
        self.groups = DictCollection("ContactGroup", "ContactGroupID", org.groups)
        self.members = org.members
        expander = DocumentExpander(org)
        self.invoices = DocumentCollection("Invoice", org.invoices, expander, self.contacts)
        self.credit_notes = DocumentCollection(
            "CreditNote", org.credit_notes, expander, self.contacts
        )
        self.lock = threading.RLock()
        self.version = 0
        self._cache: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()

    # -- reading -------------------------------------------------------------------------------

    def collection(self, resource: str) -> Collection:
        return {
            "Contact": self.contacts,
            "Account": self.accounts,
            "ContactGroup": self.groups,
            "Invoice": self.invoices,
            "CreditNote": self.credit_notes,
        }[resource]

    def select(self, resource: str, query: Query) -> list[int]:
        """Positions of the records a query selects, in response order."""
        key = (resource, query, self.version)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        positions = self._select(self.collection(resource), query)
        self._cache[key] = positions
        while len(self._cache) > 16:
            self._cache.popitem(last=False)
        return positions

    def _select(self, items: Collection, query: Query) -> list[int]:
        predicate = where_lang.compile_where(query.where, items.resource) if query.where else None
        order = parse_order(query.order, items.resource) if query.order else None
        since = query.modified_since.replace(microsecond=0) if query.modified_since else None
        ids = {i.lower() for i in query.ids}
        contact_ids = {i.lower() for i in query.contact_ids}
        statuses = {s.upper() for s in query.statuses}
        numbers = set(query.numbers)
        term = query.search_term.lower() if query.search_term else None
        selected = []
        for pos in range(len(items)):
            if since is not None:
                updated = items.updated(pos)
                # Compared to the second, inclusive: a record stamped in the watermark's own second
                # comes back again (the client must be idempotent; see README, the sandbox).
                if updated is None or updated.replace(microsecond=0) < since:
                    continue
            view = items.view(pos)
            if ids and str(view.get(items.id_field, "")).lower() not in ids:
                continue
            if (
                items.resource == "Contact"
                and not query.include_archived
                and not ids
                and view.get("ContactStatus") == "ARCHIVED"
            ):
                continue
            if items.resource == "ContactGroup" and view.get("Status") != "ACTIVE":
                continue
            if items.resource == "Account" and view.get("Status") == "DELETED":
                continue
            if statuses and str(view.get("Status", "")).upper() not in statuses:
                continue
            if contact_ids and str(view["Contact"]["ContactID"]).lower() not in contact_ids:
                continue
            if numbers and view.get(f"{items.resource}Number") not in numbers:
                continue
            if term and not _matches_search(view, term):
                continue
            if predicate is not None and not predicate(view):
                continue
            selected.append(pos)
        if order:
            for field, descending in reversed(order):
                selected.sort(
                    key=lambda p, f=field: _sort_key(items.view(p), f), reverse=descending
                )
        return selected

    def group_members(self, group_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        group = self.groups.find(group_id)
        members = []
        for contact_id in self.members.get(group["ContactGroupID"], []):
            try:
                name = self.contacts.find(contact_id).get("Name")
            except SandboxError:
                name = None  # a member that is not (or no longer) a contact: bad data on purpose
            members.append({"ContactID": contact_id, "Name": name})
        return group, members

    def groups_by_contact(self) -> dict[str, list[dict[str, Any]]]:
        """Each contact's active groups, as a paged contacts read lists them on the contact
        (`ContactGroups`: id, name, status, no members); contacts in no group are absent."""
        found: dict[str, list[dict[str, Any]]] = {}
        for group in self.groups.records:
            if group.get("Status") != "ACTIVE":
                continue
            entry = {**group, "Contacts": []}
            for contact_id in self.members.get(group["ContactGroupID"], []):
                found.setdefault(str(contact_id).lower(), []).append(entry)
        return found

    # -- editing -------------------------------------------------------------------------------

    def _changed(self) -> datetime:
        self.version += 1
        self._cache.clear()
        return self.now()

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def add_contact(
        self,
        name: str,
        *,
        is_customer: bool = True,
        is_supplier: bool = False,
        status: str = "ACTIVE",
    ) -> dict[str, Any]:
        with self.lock:
            contact = {
                "ContactID": self.new_id(),
                "ContactStatus": status,
                "Name": name,
                "Addresses": [],
                "Phones": [],
                "ContactGroups": [],
                "IsSupplier": is_supplier,
                "IsCustomer": is_customer,
                "HasAttachments": False,
                "HasValidationErrors": False,
                "UpdatedDateUTC": self._changed(),
            }
            self.contacts.records.append(contact)
            return contact

    def update_contact(
        self, contact_id: str, *, touch: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """Rename, archive (`ContactStatus="ARCHIVED"`) or change any field of a contact."""
        with self.lock:
            contact = self.contacts.find(contact_id)
            contact.update(fields)
            stamp = self._changed()
            if touch:
                contact["UpdatedDateUTC"] = stamp
            return contact

    def set_group_member(self, group_id: str, contact_id: str, *, member: bool = True) -> None:
        with self.lock:
            group = self.groups.find(group_id)
            ids = self.members.setdefault(group["ContactGroupID"], [])
            if member and contact_id not in ids:
                ids.append(contact_id)
            elif not member and contact_id in ids:
                ids.remove(contact_id)
            self._changed()

    def add_group(self, name: str, status: str = "ACTIVE") -> dict[str, Any]:
        with self.lock:
            group = {"ContactGroupID": self.new_id(), "Name": name, "Status": status}
            self.groups.records.append(group)
            self.members[group["ContactGroupID"]] = []
            self._changed()
            return group

    def update_group(self, group_id: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            group = self.groups.find(group_id)
            group.update(fields)
            self._changed()
            return group

    def add_account(
        self,
        code: str,
        name: str,
        type_: str = "REVENUE",
        class_: str = "REVENUE",
        status: str = "ACTIVE",
    ) -> dict[str, Any]:
        with self.lock:
            account = {
                "AccountID": self.new_id(),
                "Code": code,
                "Name": name,
                "Type": type_,
                "Class": class_,
                "Status": status,
                "TaxType": "NONE",
                "EnablePaymentsToAccount": False,
                "ShowInExpenseClaims": False,
                "BankAccountType": "",
                "HasAttachments": False,
                "AddToWatchlist": False,
                "UpdatedDateUTC": self._changed(),
            }
            self.accounts.records.append(account)
            return account

    def update_account(
        self, account_id: str, *, touch: bool = True, **fields: Any
    ) -> dict[str, Any]:
        with self.lock:
            account = self.accounts.find(account_id)
            account.update(fields)
            stamp = self._changed()
            if touch:
                account["UpdatedDateUTC"] = stamp
            return account

    def documents(self, resource: str) -> DocumentCollection:
        if resource not in ("Invoice", "CreditNote"):
            raise SandboxError(400, "ValidationException", f"{resource} is not a document")
        return self.invoices if resource == "Invoice" else self.credit_notes

    def add_document(
        self,
        resource: str,
        *,
        contact_id: str,
        day: date,
        lines: list[dict[str, Any]],
        type_: str | None = None,
        status: str = "AUTHORISED",
        amount_types: str = "Exclusive",
        currency: str | None = None,
        rate: Decimal = Decimal(1),
        number: str | None = None,
    ) -> dict[str, Any]:
        """Raise a new invoice or credit note; lines need AccountCode, Quantity, UnitAmount."""
        with self.lock:
            docs = self.documents(resource)
            type_ = type_ or ("ACCREC" if resource == "Invoice" else "ACCRECCREDIT")
            sales = type_ in ("ACCREC", "ACCRECCREDIT")
            accounts = {a.get("Code"): a for a in self.accounts.records}
            priced = []
            for line in lines:
                item = {
                    "Description": line.get("Description", "Sandbox line"),
                    "Quantity": Decimal(str(line.get("Quantity", 1))),
                    "UnitAmount": Decimal(str(line["UnitAmount"])),
                    "AccountCode": line["AccountCode"],
                    "AccountID": accounts.get(line["AccountCode"], {}).get("AccountID"),
                    "Tracking": [],
                }
                if resource == "Invoice":
                    item = {"LineItemID": self.new_id(), **item}
                priced.append(item)
            price_lines(priced, amount_types, self.org.tax_rate, self.expander_tax_type(sales))
            totals = document_totals(priced, amount_types)
            stamp = self._changed()
            full: dict[str, Any] = {
                "Type": type_,
                docs.id_field: self.new_id(),
                docs.number_field: number or f"SBX-{len(docs) + 1:05d}",
                "Reference": "",
                "Contact": {"ContactID": contact_id},
                "Date": day,
                "DueDate": day + timedelta(days=20),
                "Status": status,
                "LineAmountTypes": amount_types,
                "LineItems": priced,
                **totals,
                "UpdatedDateUTC": stamp,
                "CurrencyCode": currency or self.organisation["BaseCurrency"],
                "CurrencyRate": rate,
                "HasAttachments": False,
                "SentToContact": False,
                **settlement(
                    resource, status, totals["Total"], stamp.date() if status == "PAID" else None
                ),
            }
            docs.add(full)
            if resource == "Invoice":
                self._takes_role(contact_id, type_)
            return docs.record(len(docs) - 1, with_lines=True)

    def _takes_role(self, contact_id: str, type_: str) -> None:
        """Xero sets IsCustomer "when an accounts receivable invoice is generated against this
        contact" (IsSupplier: payable), and does not move the contact's UpdatedDateUTC
        (XERO_API_NOTES). Xero says nothing of credit notes; the sandbox sets roles on invoices
        only."""
        role = {"ACCREC": "IsCustomer", "ACCPAY": "IsSupplier"}.get(type_)
        if role is None:
            return
        try:
            contact = self.contacts.find(contact_id)
        except SandboxError:
            return  # an invoice put against no contact (bad data on purpose)
        contact[role] = True

    def expander_tax_type(self, sales: bool) -> str:
        return self.invoices.expander.sales_tax if sales else self.invoices.expander.purchase_tax

    def set_document_status(self, resource: str, doc_id: str, status: str) -> dict[str, Any]:
        """Pay, void, delete or authorise a document; amounts follow the status as in Xero."""
        with self.lock:
            stamp = self._changed()

            def change(doc: dict[str, Any]) -> None:
                doc["Status"] = status
                doc.update(
                    settlement(
                        resource, status, doc["Total"], stamp.date() if status == "PAID" else None
                    )
                )

            return self.documents(resource).edit(doc_id, change, touched=stamp)

    def set_document_reference(self, resource: str, doc_id: str, reference: str) -> dict[str, Any]:
        """Change a document's reference: an edit Xero stamps (UpdatedDateUTC moves)."""
        with self.lock:
            stamp = self._changed()
            return self.documents(resource).edit(
                doc_id, lambda doc: doc.update(Reference=reference), touched=stamp
            )

    def set_document_date(self, resource: str, doc_id: str, day: date) -> dict[str, Any]:
        with self.lock:
            stamp = self._changed()
            return self.documents(resource).edit(
                doc_id,
                lambda doc: doc.update(Date=day, DueDate=day + timedelta(days=20)),
                touched=stamp,
            )

    def recode_line(
        self, resource: str, doc_id: str, line_index: int, account_code: str
    ) -> dict[str, Any]:
        """Move a line to another account code, as Xero does it: UpdatedDateUTC does not move."""
        with self.lock:
            self._changed()
            account = next((a for a in self.accounts.records if a.get("Code") == account_code), {})

            def change(doc: dict[str, Any]) -> None:
                line = doc["LineItems"][line_index]
                line["AccountCode"] = account_code
                line["AccountID"] = account.get("AccountID")

            return self.documents(resource).edit(doc_id, change, touched=None)

    def put_raw(self, resource: str, record: dict[str, Any]) -> None:
        """Insert a record as given, bypassing every rule: how tests make Xero send bad data."""
        with self.lock:
            self._changed()
            if resource in ("Invoice", "CreditNote"):
                self.documents(resource).add(record)
            else:
                self.collection(resource).records.append(record)  # type: ignore[attr-defined]

    def add_raw_member(self, group_id: str, contact_id: str) -> None:
        """A group member that need not be a contact at all."""
        with self.lock:
            group = self.groups.find(group_id)
            self.members.setdefault(group["ContactGroupID"], []).append(contact_id)
            self._changed()


def _matches_search(view: Mapping[str, Any], term: str) -> bool:
    fields = ("Name", "FirstName", "LastName", "ContactNumber", "CompanyNumber", "EmailAddress")
    return any(term in str(view.get(f) or "").lower() for f in fields)


def parse_order(text: str, resource: str) -> list[tuple[str, bool]]:
    """`Name ASC, UpdatedDateUTC DESC` -> [("Name", False), ("UpdatedDateUTC", True)]."""
    fields = where_lang.FIELD_TYPES[resource]
    order = []
    for part in text.split(","):
        words = part.split()
        if (
            not words
            or len(words) > 2
            or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC"))
        ):
            raise SandboxError(400, "QueryParseException", f"Invalid order clause '{part.strip()}'")
        if words[0] not in fields:
            raise SandboxError(
                400,
                "QueryParseException",
                f"No property or field '{words[0]}' exists in type '{resource}'",
            )
        order.append((words[0], len(words) == 2 and words[1].upper() == "DESC"))
    return order


def _sort_key(view: Mapping[str, Any], dotted: str) -> tuple[int, Any]:
    value: Any = view
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
    elif isinstance(value, date):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return (0,) if value is None else (1, value)
