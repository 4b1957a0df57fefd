"""The marts: the customer merge's tables (what it would do, what it could not decide, what people
said) and the sales tables, built in SQL from the mirrors (see `defs/sales/`)."""

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
    func,
)

from xero_pipeline.warehouse.schema.columns import (
    base_money,
    bookkeeping,
    metadata,
    money,
    tenant,
)

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
    # The organisation the list's row is for (its tenant id); null: any organisation.
    Column("list_tenant_id", String(36)),
    *bookkeeping(),
)

customer_merge_plan = Table(
    # What the merge would do with each selected Xero customer, published by the preview; the
    # apply refuses to run when its own plan differs from this one.
    "customer_merge_plan",
    metadata,
    tenant(),
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
    *bookkeeping(),
)

customer_match_review = Table(
    # One row per Xero contact and candidate customer the merge would not link by itself.
    "customer_match_review",
    metadata,
    tenant(),
    Column("contact_id", String(36), primary_key=True),
    Column("customer_id", Text, primary_key=True),  # the candidate
    Column("review_id", String(12), nullable=False),  # short, stable: `xero-pipeline review`
    Column("contact_name", Text),
    Column("customer_name", Text),
    Column("normalised_name", Text),  # the contact's name after normalisation
    Column("reason", Text, nullable=False),  # 'fuzzy' or 'ambiguous: …'
    Column("score", Numeric(5, 1)),  # similarity of the normalised names, 0-100
    Column("first_seen", DateTime(timezone=True), nullable=False),
    *bookkeeping(),
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
    money("unit_amount"),
    money("net_amount"),
    money("tax_amount"),
    money("gross_amount"),
    Column("currency_code", String(3)),
    Column("currency_rate", Numeric(20, 10)),
    base_money("net_amount_base"),
    Column("status", String(16)),
    Column("xero_url", Text),
    Column("is_connected", Boolean),
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
    tenant(),
    Column("month", Date, primary_key=True),
    Column("account_code", String(16), primary_key=True),  # '' for lines without a code
    Column("account_name", Text),
    base_money("net_amount_base"),
    Column("invoice_count", Integer, nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("customer_count", Integer, nullable=False),
    Column("is_connected", Boolean),
)

dim_account_codes = Table(
    "dim_account_codes",
    metadata,
    tenant(),
    Column("code", String(16), primary_key=True),
    Column("name", Text),
    Column("type", String(32)),
    Column("class", String(16)),
    Column("status", String(16)),
    Column("is_revenue", Boolean, nullable=False),
    Column("is_connected", Boolean),
    *bookkeeping(),
)

invoiced_contacts = Table(
    "invoiced_contacts",
    metadata,
    tenant(),
    Column("contact_id", String(36), primary_key=True),
    Column("contact_name", Text),
    Column("customer_id", Text),
    Column("first_invoice_date", Date),
    Column("last_invoice_date", Date),
    Column("invoice_count", Integer, nullable=False),
    base_money("lifetime_net_sales_base"),
    Column("base_currency", String(3)),
    Column("xero_url", Text),
    Column("is_connected", Boolean),
)
