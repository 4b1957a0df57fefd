"""The Xero mirrors: one row per Xero record, per organisation (`xero_*`, and `suppliers`, the
contacts that are suppliers). `raw` keeps Xero's JSON for fields the typed columns do not cover."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
)

from xero_pipeline.warehouse.schema.columns import bookkeeping, metadata, money, tenant

xero_organisation = Table(
    "xero_organisation",
    metadata,
    tenant(),
    Column("name", Text),
    Column("legal_name", Text),
    Column("short_code", String(20)),
    Column("base_currency", String(3)),
    Column("country_code", String(3)),
    Column("timezone", String(64)),
    Column("organisation_status", String(32)),
    Column("financial_year_end_day", Integer),
    Column("financial_year_end_month", Integer),
    Column("raw", JSON),
    *bookkeeping(),
)

xero_contacts = Table(
    "xero_contacts",
    metadata,
    tenant(),
    Column("contact_id", String(36), primary_key=True),
    Column("name", Text),
    Column("contact_number", Text),
    Column("account_number", Text),
    Column("contact_status", String(16)),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("email_address", Text),
    Column("is_customer", Boolean),
    Column("is_supplier", Boolean),
    Column("default_currency", String(3)),
    Column("tax_number", Text),
    Column("street_address_line1", Text),
    Column("street_city", Text),
    Column("street_region", Text),
    Column("street_postal_code", Text),
    Column("street_country", Text),
    Column("postal_address_line1", Text),
    Column("postal_city", Text),
    Column("postal_region", Text),
    Column("postal_postal_code", Text),
    Column("postal_country", Text),
    Column("phone", Text),
    Column("mobile", Text),
    Column("updated_date_utc", DateTime(timezone=True)),
    Column("xero_url", Text),
    Column("raw", JSON),
    *bookkeeping(),
)

xero_contact_groups = Table(
    "xero_contact_groups",
    metadata,
    tenant(),
    Column("contact_group_id", String(36), primary_key=True),
    Column("name", Text),
    Column("status", String(16)),
    *bookkeeping(),
)

xero_contact_group_members = Table(
    "xero_contact_group_members",
    metadata,
    tenant(),
    Column("contact_group_id", String(36), primary_key=True),
    Column("contact_id", String(36), primary_key=True),
    Column("group_name", Text),
    Column("contact_name", Text),
    *bookkeeping(),
)

xero_accounts = Table(
    "xero_accounts",
    metadata,
    tenant(),
    Column("account_id", String(36), primary_key=True),
    Column("code", String(16)),
    Column("name", Text),
    Column("type", String(32)),
    Column("class", String(16)),
    Column("status", String(16)),
    Column("tax_type", String(32)),
    Column("description", Text),
    Column("system_account", String(32)),
    Column("bank_account_type", String(16)),
    Column("currency_code", String(3)),
    Column("reporting_code", String(32)),
    Column("updated_date_utc", DateTime(timezone=True)),
    Column("raw", JSON),
    *bookkeeping(),
)

suppliers = Table(
    "suppliers",
    metadata,
    tenant(),
    Column("contact_id", String(36), primary_key=True),
    Column("name", Text),
    Column("contact_status", String(16)),
    Column("email_address", Text),
    Column("is_customer", Boolean),
    Column("default_currency", String(3)),
    Column("phone", Text),
    Column("street_city", Text),
    Column("street_country", Text),
    Column("xero_url", Text),
    *bookkeeping(),
)


def _document(name: str, id_column: str, number_column: str, extra: list[Column]) -> Table:
    """Invoices and credit notes share Xero's document shape."""
    table = Table(
        name,
        metadata,
        tenant(),
        Column(id_column, String(36), primary_key=True),
        Column(number_column, Text),
        Column("reference", Text),
        Column("type", String(16)),
        Column("status", String(16)),
        Column("contact_id", String(36)),
        Column("contact_name", Text),
        Column("date", Date),
        Column("due_date", Date),
        Column("line_amount_types", String(16)),
        money("sub_total"),
        money("total_tax"),
        money("total"),
        Column("currency_code", String(3)),
        Column("currency_rate", Numeric(20, 10)),
        Column("fully_paid_on_date", Date),
        Column("updated_date_utc", DateTime(timezone=True)),
        *extra,
        Column("xero_url", Text),
        Column("raw", JSON),
        *bookkeeping(),
    )
    _by_month(table, "date")
    return table


def _by_month(table: Table, date_column: str) -> None:
    """An index on the document date: a month of documents is what a history run replaces (its
    mirror delete) and what the sales fact reads. Without it both scan the whole table, and a
    backfill's month costs more the more history is already loaded."""
    Index(f"ix_{table.name}_{date_column}", table.c[date_column], table.c.tenant_id)


def _lines(name: str, parent_id: str, parent_date: str) -> Table:
    """One row per line; keyed by position because credit-note lines carry no LineItemID."""
    table = Table(
        name,
        metadata,
        tenant(),
        Column(parent_id, String(36), primary_key=True),
        Column("line_number", Integer, primary_key=True),
        Column("line_item_id", String(36)),
        Column(parent_date, Date),
        Column("description", Text),
        Column("quantity", Numeric(18, 4)),
        money("unit_amount"),
        Column("item_code", Text),
        Column("account_code", String(16)),
        Column("account_id", String(36)),
        Column("tax_type", String(32)),
        money("tax_amount"),
        money("line_amount"),
        Column("discount_rate", Numeric(9, 4)),
        Column("tracking", JSON),
        *bookkeeping(),
    )
    _by_month(table, parent_date)
    return table


xero_invoices = _document(
    "xero_invoices",
    "invoice_id",
    "invoice_number",
    [
        money("total_discount"),
        money("amount_due"),
        money("amount_paid"),
        money("amount_credited"),
    ],
)
xero_invoice_lines = _lines("xero_invoice_lines", "invoice_id", "invoice_date")
xero_credit_notes = _document(
    "xero_credit_notes", "credit_note_id", "credit_note_number", [money("remaining_credit")]
)
xero_credit_note_lines = _lines("xero_credit_note_lines", "credit_note_id", "credit_note_date")
