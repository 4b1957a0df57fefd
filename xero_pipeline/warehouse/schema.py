"""Every warehouse table, defined once (SQLAlchemy Core) for SQLite and PostgreSQL.

Conventions: every key starts with `tenant_id`; money is exact (`Numeric`); timestamps carry
their zone; `row_hash` fingerprints a row's content so a publish rewrites only what changed;
`raw` keeps Xero's JSON for fields the typed columns do not cover.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

metadata = MetaData()


def _tenant() -> Column:
    return Column("tenant_id", String(36), primary_key=True)


def _bookkeeping() -> list[Column]:
    return [
        Column("row_hash", String(32), nullable=False),
        Column("loaded_at", DateTime(timezone=True), nullable=False),
    ]


xero_organisation = Table(
    "xero_organisation",
    metadata,
    _tenant(),
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
    *_bookkeeping(),
)

xero_contacts = Table(
    "xero_contacts",
    metadata,
    _tenant(),
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
    *_bookkeeping(),
)

xero_contact_groups = Table(
    "xero_contact_groups",
    metadata,
    _tenant(),
    Column("contact_group_id", String(36), primary_key=True),
    Column("name", Text),
    Column("status", String(16)),
    *_bookkeeping(),
)

xero_contact_group_members = Table(
    "xero_contact_group_members",
    metadata,
    _tenant(),
    Column("contact_group_id", String(36), primary_key=True),
    Column("contact_id", String(36), primary_key=True),
    Column("group_name", Text),
    Column("contact_name", Text),
    *_bookkeeping(),
)

xero_accounts = Table(
    "xero_accounts",
    metadata,
    _tenant(),
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
    *_bookkeeping(),
)

suppliers = Table(
    "suppliers",
    metadata,
    _tenant(),
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
    *_bookkeeping(),
)


def _money(name: str) -> Column:
    return Column(name, Numeric(18, 4))


def _document(name: str, id_column: str, number_column: str, extra: list[Column]) -> Table:
    """Invoices and credit notes share Xero's document shape."""
    return Table(
        name,
        metadata,
        _tenant(),
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
        _money("sub_total"),
        _money("total_tax"),
        _money("total"),
        Column("currency_code", String(3)),
        Column("currency_rate", Numeric(20, 10)),
        Column("fully_paid_on_date", Date),
        Column("updated_date_utc", DateTime(timezone=True)),
        *extra,
        Column("xero_url", Text),
        Column("raw", JSON),
        *_bookkeeping(),
    )


def _lines(name: str, parent_id: str, parent_date: str) -> Table:
    """One row per line; keyed by position because credit-note lines carry no LineItemID."""
    return Table(
        name,
        metadata,
        _tenant(),
        Column(parent_id, String(36), primary_key=True),
        Column("line_number", Integer, primary_key=True),
        Column("line_item_id", String(36)),
        Column(parent_date, Date),
        Column("description", Text),
        Column("quantity", Numeric(18, 4)),
        _money("unit_amount"),
        Column("item_code", Text),
        Column("account_code", String(16)),
        Column("account_id", String(36)),
        Column("tax_type", String(32)),
        _money("tax_amount"),
        _money("line_amount"),
        Column("discount_rate", Numeric(9, 4)),
        Column("tracking", JSON),
        *_bookkeeping(),
    )


xero_invoices = _document(
    "xero_invoices",
    "invoice_id",
    "invoice_number",
    [
        _money("total_discount"),
        _money("amount_due"),
        _money("amount_paid"),
        _money("amount_credited"),
    ],
)
xero_invoice_lines = _lines("xero_invoice_lines", "invoice_id", "invoice_date")
xero_credit_notes = _document(
    "xero_credit_notes", "credit_note_id", "credit_note_number", [_money("remaining_credit")]
)
xero_credit_note_lines = _lines("xero_credit_note_lines", "credit_note_id", "credit_note_date")

sync_state = Table(
    "sync_state",
    metadata,
    _tenant(),
    Column("resource", String(64), primary_key=True),
    Column("watermark", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def key_columns(table: Table) -> list[str]:
    return [column.name for column in table.primary_key.columns]
