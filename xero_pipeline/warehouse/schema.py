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
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    func,
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
    table = Table(
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
    _by_month(table, parent_date)
    return table


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

customers = Table(
    # The business's own customer list merged with Xero's customers. Unlike the Xero mirrors it
    # is not per organisation: one customer links to at most one Xero contact, in any tenant.
    "customers",
    metadata,
    Column("customer_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("source", String(16), nullable=False),  # 'existing' or 'xero' (created by the merge)
    Column("tenant_id", String(36)),  # the linked Xero contact, when there is one
    Column("contact_id", String(36)),
    Column("xero_name", Text),
    Column("match_method", String(16)),
    Column("linked_at", DateTime(timezone=True)),
    Column("attributes", JSON),  # the list's other columns, kept as they came
    *_bookkeeping(),
)

# -- the customer merge (issue 7): what it would do, what it could not decide, what people said --

customer_merge_plan = Table(
    # What the merge would do with each selected Xero customer, published by the preview; the
    # apply refuses to run when its own plan differs from this one.
    "customer_merge_plan",
    metadata,
    _tenant(),
    Column("contact_id", String(36), primary_key=True),
    Column("contact_name", Text),
    Column("contact_status", String(16)),
    Column("action", String(8), nullable=False),  # linked, link, new, review, skip
    Column("customer_id", Text),  # the customer it is (or would be) linked to
    Column("customer_name", Text),
    Column("match_method", String(16)),  # exact, folded, normalised, accepted, new
    Column("normalised_name", Text),
    Column("candidate_ids", Text),  # review: the candidate customers, comma-separated
    Column("reason", Text),  # review and skip: why
    Column("score", Numeric(5, 1)),  # review: the best candidate's similarity (0-100)
    *_bookkeeping(),
)

customer_match_review = Table(
    # One row per Xero contact and candidate customer the merge would not link by itself.
    "customer_match_review",
    metadata,
    _tenant(),
    Column("contact_id", String(36), primary_key=True),
    Column("customer_id", Text, primary_key=True),  # the candidate
    Column("review_id", String(12), nullable=False),  # short, stable: `xero-pipeline review`
    Column("contact_name", Text),
    Column("customer_name", Text),
    Column("normalised_name", Text),  # the contact's name after normalisation
    Column("reason", Text, nullable=False),  # 'fuzzy' or 'ambiguous: …'
    Column("score", Numeric(5, 1)),  # similarity of the normalised names, 0-100
    Column("first_seen", DateTime(timezone=True), nullable=False),
    *_bookkeeping(),
)

customer_match_decisions = Table(
    # What a person decided about a review item (`xero-pipeline review --accept/--reject/--new`).
    # Written by people, never by the merge; applied on the next merge run and never asked again.
    "customer_match_decisions",
    metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(36), nullable=False),
    Column("contact_id", String(36), nullable=False),
    Column("customer_id", Text),  # NULL for 'new'
    Column("decision", String(8), nullable=False),  # accept, reject, new
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", Text),
    Column("note", Text),
)

# -- sales by account code (issue 6): built in SQL from the tables above, see assets/sales.py --


def _base_money(name: str) -> Column:
    """Amounts converted to the base currency: six places, because dividing by a currency rate
    is inexact and sums over thousands of lines must still be right to the cent."""
    return Column(name, Numeric(20, 6))


fct_sales_lines = Table(
    # One row per line of an approved sales invoice or credit note (credit notes negative). No
    # bookkeeping columns: it is rebuilt a month at a time, in SQL, from the mirrors.
    "fct_sales_lines",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("document_type", String(16), nullable=False),  # ACCREC or ACCRECCREDIT
    Column("invoice_id", String(36)),
    Column("credit_note_id", String(36)),
    Column("document_number", Text),
    Column("line_number", Integer, nullable=False),
    Column("line_item_id", String(36)),
    Column("date", Date),
    Column("month", Date, nullable=False),
    Column("contact_id", String(36)),
    Column("contact_name", Text),
    Column("customer_id", Text),
    Column("account_code", String(16)),
    Column("account_name", Text),
    Column("description", Text),
    Column("quantity", Numeric(18, 4)),
    _money("unit_amount"),
    _money("net_amount"),
    _money("tax_amount"),
    _money("gross_amount"),
    Column("currency_code", String(3)),
    Column("currency_rate", Numeric(20, 10)),
    _base_money("net_amount_base"),
    Column("status", String(16)),
    Column("xero_url", Text),
)
# The key: a line of a document. invoice_id and credit_note_id are each null on the other kind's
# rows, so the key is an expression index rather than a primary key.
Index(
    "uq_fct_sales_lines_line",
    fct_sales_lines.c.tenant_id,
    fct_sales_lines.c.document_type,
    func.coalesce(fct_sales_lines.c.invoice_id, fct_sales_lines.c.credit_note_id),
    fct_sales_lines.c.line_number,
    unique=True,
)
Index("ix_fct_sales_lines_month", fct_sales_lines.c.month, fct_sales_lines.c.tenant_id)
Index("ix_fct_sales_lines_contact", fct_sales_lines.c.tenant_id, fct_sales_lines.c.contact_id)

sales_by_account_code_monthly = Table(
    "sales_by_account_code_monthly",
    metadata,
    _tenant(),
    Column("month", Date, primary_key=True),
    Column("account_code", String(16), primary_key=True),  # '' for lines without a code
    Column("account_name", Text),
    _base_money("net_amount_base"),
    Column("invoice_count", Integer, nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("customer_count", Integer, nullable=False),
)

dim_account_codes = Table(
    "dim_account_codes",
    metadata,
    _tenant(),
    Column("code", String(16), primary_key=True),
    Column("name", Text),
    Column("type", String(32)),
    Column("class", String(16)),
    Column("status", String(16)),
    Column("is_revenue", Boolean, nullable=False),
    *_bookkeeping(),
)

invoiced_contacts = Table(
    "invoiced_contacts",
    metadata,
    _tenant(),
    Column("contact_id", String(36), primary_key=True),
    Column("contact_name", Text),
    Column("customer_id", Text),
    Column("first_invoice_date", Date),
    Column("last_invoice_date", Date),
    Column("invoice_count", Integer, nullable=False),
    _base_money("lifetime_net_sales_base"),
    Column("base_currency", String(3)),
    Column("xero_url", Text),
)

notifications_sent = Table(
    # Which sales invoices each notification sink has dealt with, so none is announced twice,
    # even after a restart: 'sent', 'baseline' (there before notifications began) or
    # 'skipped_old' (first seen dated outside the lookback window, e.g. by a later backfill).
    "notifications_sent",
    metadata,
    _tenant(),
    Column("invoice_id", String(36), primary_key=True),
    Column("sink", String(32), primary_key=True),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(16), nullable=False),
)

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
