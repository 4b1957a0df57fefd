"""Every warehouse table, defined once (SQLAlchemy Core) for SQLite and PostgreSQL: the Xero
mirrors (`mirrors.py`), the marts (`marts.py`) and the bookkeeping (`bookkeeping.py`), all in one
`metadata` with shared column conventions (`columns.py`)."""

from xero_pipeline.warehouse.schema.bookkeeping import (
    history_months,
    invoices_raised,
    notifications_sent,
    sync_state,
    xero_connections,
    xero_tokens,
)
from xero_pipeline.warehouse.schema.columns import key_columns, metadata
from xero_pipeline.warehouse.schema.marts import (
    customer_match_decisions,
    customer_match_review,
    customer_merge_plan,
    customers,
    dim_account_codes,
    fct_sales_lines,
    invoiced_contacts,
    sales_by_account_code_monthly,
)
from xero_pipeline.warehouse.schema.mirrors import (
    suppliers,
    xero_accounts,
    xero_contact_group_members,
    xero_contact_groups,
    xero_contacts,
    xero_credit_note_lines,
    xero_credit_notes,
    xero_invoice_lines,
    xero_invoices,
    xero_organisation,
)

__all__ = [
    "customer_match_decisions",
    "customer_match_review",
    "customer_merge_plan",
    "customers",
    "dim_account_codes",
    "fct_sales_lines",
    "history_months",
    "invoiced_contacts",
    "invoices_raised",
    "key_columns",
    "metadata",
    "notifications_sent",
    "sales_by_account_code_monthly",
    "suppliers",
    "sync_state",
    "xero_accounts",
    "xero_connections",
    "xero_contact_group_members",
    "xero_contact_groups",
    "xero_contacts",
    "xero_credit_note_lines",
    "xero_credit_notes",
    "xero_invoice_lines",
    "xero_invoices",
    "xero_organisation",
    "xero_tokens",
]
