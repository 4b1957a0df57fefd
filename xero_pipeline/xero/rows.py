"""Xero records as warehouse rows: typed columns analysts query, plus the raw record.

Parsing is tolerant on purpose: a value of the wrong shape becomes NULL here and is stopped by
the table's quality gate (which shows the row), rather than crashing the run with a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xero_pipeline.xero.links import contact_url, credit_note_url, invoice_url
from xero_pipeline.xero.parse import (
    XeroParseError,
    parse_date,
    parse_timestamp,
    to_decimal,
    updated_stamp,
)


def _safe(parse: Callable[[Any], Any], value: Any) -> Any:
    try:
        return parse(value)
    except XeroParseError:
        return None


def _text(value: Any) -> str | None:
    """Text as Xero sent it; a number written as one (a code, say) as its digits; anything else
    (an object, a list, a boolean) is not text and becomes NULL for the gate to judge."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def organisation_row(tenant_id: str, org: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "name": _text(org.get("Name")),
        "legal_name": _text(org.get("LegalName")),
        "short_code": _text(org.get("ShortCode")),
        "base_currency": _text(org.get("BaseCurrency")),
        "country_code": _text(org.get("CountryCode")),
        "timezone": _text(org.get("Timezone")),
        "organisation_status": _text(org.get("OrganisationStatus")),
        "financial_year_end_day": _int(org.get("FinancialYearEndDay")),
        "financial_year_end_month": _int(org.get("FinancialYearEndMonth")),
        "raw": org,
    }


def _address(contact: dict[str, Any], kind: str) -> dict[str, Any]:
    addresses = contact.get("Addresses")
    if isinstance(addresses, list):
        for address in addresses:
            if isinstance(address, dict) and address.get("AddressType") == kind:
                return address
    return {}


def _phone(contact: dict[str, Any], kind: str) -> str | None:
    phones = contact.get("Phones")
    if isinstance(phones, list):
        for phone in phones:
            if (
                isinstance(phone, dict)
                and phone.get("PhoneType") == kind
                and phone.get("PhoneNumber")
            ):
                parts = (
                    phone.get("PhoneCountryCode"),
                    phone.get("PhoneAreaCode"),
                    phone.get("PhoneNumber"),
                )
                return " ".join(str(p) for p in parts if p)
    return None


def contact_row(tenant_id: str, contact: dict[str, Any], short_code: str | None) -> dict[str, Any]:
    street, postal = _address(contact, "STREET"), _address(contact, "POBOX")
    contact_id = _text(contact.get("ContactID"))
    return {
        "tenant_id": tenant_id,
        "contact_id": contact_id,
        "name": _text(contact.get("Name")),
        "contact_number": _text(contact.get("ContactNumber")),
        "account_number": _text(contact.get("AccountNumber")),
        "contact_status": _text(contact.get("ContactStatus")),
        "first_name": _text(contact.get("FirstName")),
        "last_name": _text(contact.get("LastName")),
        "email_address": _text(contact.get("EmailAddress")),
        "is_customer": _bool(contact.get("IsCustomer")),
        "is_supplier": _bool(contact.get("IsSupplier")),
        "default_currency": _text(contact.get("DefaultCurrency")),
        "tax_number": _text(contact.get("TaxNumber")),
        "street_address_line1": _text(street.get("AddressLine1")),
        "street_city": _text(street.get("City")),
        "street_region": _text(street.get("Region")),
        "street_postal_code": _text(street.get("PostalCode")),
        "street_country": _text(street.get("Country")),
        "postal_address_line1": _text(postal.get("AddressLine1")),
        "postal_city": _text(postal.get("City")),
        "postal_region": _text(postal.get("Region")),
        "postal_postal_code": _text(postal.get("PostalCode")),
        "postal_country": _text(postal.get("Country")),
        "phone": _phone(contact, "DEFAULT"),
        "mobile": _phone(contact, "MOBILE"),
        "updated_date_utc": _safe(parse_timestamp, contact.get("UpdatedDateUTC")),
        "xero_url": contact_url(short_code, contact_id) if contact_id else None,
        "raw": contact,
    }


def group_row(tenant_id: str, group: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "contact_group_id": _text(group.get("ContactGroupID")),
        "name": _text(group.get("Name")),
        "status": _text(group.get("Status")),
    }


def member_row(tenant_id: str, group: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "contact_group_id": _text(group.get("ContactGroupID")),
        "contact_id": _text(member.get("ContactID")),
        "group_name": _text(group.get("Name")),
        "contact_name": _text(member.get("Name")),
    }


def account_row(tenant_id: str, account: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "account_id": _text(account.get("AccountID")),
        "code": _text(account.get("Code")),
        "name": _text(account.get("Name")),
        "type": _text(account.get("Type")),
        "class": _text(account.get("Class")),
        "status": _text(account.get("Status")),
        "tax_type": _text(account.get("TaxType")),
        "description": _text(account.get("Description")),
        "system_account": _text(account.get("SystemAccount")),
        "bank_account_type": _text(account.get("BankAccountType")),
        "currency_code": _text(account.get("CurrencyCode")),
        "reporting_code": _text(account.get("ReportingCode")),
        "updated_date_utc": _safe(parse_timestamp, account.get("UpdatedDateUTC")),
        "raw": account,
    }


@dataclass(frozen=True)
class DocumentKind:
    """What differs between invoices and credit notes, for reading and storing them."""

    path: str  # the API resource, also the envelope key
    id_field: str  # Xero's field
    number_field: str
    id_column: str  # the warehouse's column
    number_column: str
    date_column: str  # the lines table's copy of the document date
    resource: str  # sync_state's name for the incremental watermark


INVOICES = DocumentKind(
    "Invoices",
    "InvoiceID",
    "InvoiceNumber",
    "invoice_id",
    "invoice_number",
    "invoice_date",
    "invoices",
)
CREDIT_NOTES = DocumentKind(
    "CreditNotes",
    "CreditNoteID",
    "CreditNoteNumber",
    "credit_note_id",
    "credit_note_number",
    "credit_note_date",
    "credit_notes",
)


def _money(value: Any) -> Decimal | None:
    return _safe(to_decimal, value)


def document_rows(
    kind: DocumentKind, tenant_id: str, doc: dict[str, Any], short_code: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A document's header row and its line rows (numbered from 1, in Xero's order)."""
    doc_id = _text(doc.get(kind.id_field))
    contact = doc.get("Contact") if isinstance(doc.get("Contact"), dict) else {}
    day = _safe(lambda v: parse_date(v, doc.get("DateString")), doc.get("Date"))
    if kind is INVOICES:
        link = invoice_url(short_code, doc_id, bill=doc.get("Type") == "ACCPAY") if doc_id else None
        extra = {
            "total_discount": _money(doc.get("TotalDiscount")),
            "amount_due": _money(doc.get("AmountDue")),
            "amount_paid": _money(doc.get("AmountPaid")),
            "amount_credited": _money(doc.get("AmountCredited")),
        }
    else:
        link = credit_note_url(short_code, doc_id) if doc_id else None
        extra = {"remaining_credit": _money(doc.get("RemainingCredit"))}
    header = {
        "tenant_id": tenant_id,
        kind.id_column: doc_id,
        kind.number_column: _text(doc.get(kind.number_field)),
        "reference": _text(doc.get("Reference")),
        "type": _text(doc.get("Type")),
        "status": _text(doc.get("Status")),
        "contact_id": _text(contact.get("ContactID")),
        "contact_name": _text(contact.get("Name")),
        "date": day,
        "due_date": _safe(lambda v: parse_date(v, doc.get("DueDateString")), doc.get("DueDate")),
        "line_amount_types": _text(doc.get("LineAmountTypes")),
        "sub_total": _money(doc.get("SubTotal")),
        "total_tax": _money(doc.get("TotalTax")),
        "total": _money(doc.get("Total")),
        "currency_code": _text(doc.get("CurrencyCode")),
        "currency_rate": _money(doc.get("CurrencyRate")),
        "fully_paid_on_date": _safe(parse_date, doc.get("FullyPaidOnDate")),
        "updated_date_utc": _safe(parse_timestamp, updated_stamp(doc)),
        **extra,
        "xero_url": link,
        "raw": {k: v for k, v in doc.items() if k != "LineItems"},
    }
    items = doc.get("LineItems") if isinstance(doc.get("LineItems"), list) else []
    lines = [
        {
            "tenant_id": tenant_id,
            kind.id_column: doc_id,
            "line_number": number,
            "line_item_id": _text(line.get("LineItemID")),
            kind.date_column: day,
            "description": _text(line.get("Description")),
            "quantity": _money(line.get("Quantity")),
            "unit_amount": _money(line.get("UnitAmount")),
            "item_code": _text(line.get("ItemCode")),
            "account_code": _text(line.get("AccountCode")),
            "account_id": _text(line.get("AccountID")),
            "tax_type": _text(line.get("TaxType")),
            "tax_amount": _money(line.get("TaxAmount")),
            "line_amount": _money(line.get("LineAmount")),
            "discount_rate": _money(line.get("DiscountRate")),
            "tracking": line.get("Tracking") if isinstance(line.get("Tracking"), list) else [],
        }
        for number, line in enumerate((i for i in items if isinstance(i, dict)), start=1)
    ]
    return header, lines
