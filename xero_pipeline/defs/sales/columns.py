"""What every column of the sales tables means, written once: the asset descriptions and the
`dagster/column_schema` metadata the Dagster UI shows are both made from it, and a test holds
docs/tables.md to the same column lists (so the three never drift apart)."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Table

CONNECTED = (
    "false once the organisation is disconnected from the app (xero_connections): its rows "
    "stay, frozen as last loaded"
)
COLUMNS: dict[str, dict[str, str]] = {
    "fct_sales_lines": {
        "tenant_id": "the Xero organisation (tenant) the document belongs to",
        "document_type": "ACCREC (sales invoice) or ACCRECCREDIT (sales credit note)",
        "invoice_id": "Xero's InvoiceID; null on credit-note lines",
        "credit_note_id": "Xero's CreditNoteID; null on invoice lines",
        "document_number": "the invoice or credit-note number (InvoiceNumber / CreditNoteNumber)",
        "line_number": "the line's position in its document, from 1 in Xero's order",
        "line_item_id": "Xero's LineItemID; null on credit-note lines (Xero sends none)",
        "date": "the document date (the organisation's local date)",
        "month": "the first day of the document date's month (the partition)",
        "contact_id": "the Xero contact the document is addressed to",
        "contact_name": "that contact's name as the document showed it when loaded",
        "customer_id": "the merged customer list's id for the contact (null until it is linked)",
        "account_code": "the line's account code (a revenue code, normally)",
        "account_name": "that account's name in the chart of accounts",
        "description": "the line's description",
        "quantity": "quantity; negative on credit notes",
        "unit_amount": "unit price as Xero shows it (document currency, as entered)",
        "net_amount": "tax-exclusive amount in document currency: LineAmount for Exclusive and "
        "NoTax documents, LineAmount - TaxAmount for Inclusive ones; negative on credit notes",
        "tax_amount": "the line's tax in document currency; negative on credit notes",
        "gross_amount": "net_amount + tax_amount",
        "currency_code": "the document currency",
        "currency_rate": "Xero's CurrencyRate: document amount = base amount x rate",
        "net_amount_base": "net_amount in the organisation's base currency (net_amount / "
        "currency_rate; a document in the base currency without a rate counts 1)",
        "status": "the document's status: AUTHORISED or PAID (no other status is included)",
        "xero_url": "a link that opens the document in Xero",
        "is_connected": CONNECTED,
    },
    "sales_by_account_code_monthly": {
        "tenant_id": "the Xero organisation",
        "month": "the first day of the month",
        "account_code": "the account code ('' for lines without one)",
        "account_name": "the account's name",
        "net_amount_base": "net sales less credit notes, in the organisation's base currency",
        "invoice_count": "distinct documents (invoices and credit notes) with a line on the code",
        "line_count": "fact lines on the code",
        "customer_count": "distinct contacts with a line on the code",
        "is_connected": CONNECTED,
    },
    "dim_account_codes": {
        "tenant_id": "the Xero organisation",
        "code": "the account code (accounts without a code, such as some bank accounts, are "
        "left out)",
        "name": "the account's name",
        "type": "Xero's account type (REVENUE, OTHERINCOME, EXPENSE, BANK, …)",
        "class": "Xero's account class: ASSET, EQUITY, EXPENSE, LIABILITY or REVENUE",
        "status": "ACTIVE or ARCHIVED",
        "is_revenue": "true when the class is REVENUE: the codes sales are booked to",
        "is_connected": CONNECTED,
        "row_hash": "fingerprint of the row's content (a publish rewrites only changed rows)",
        "loaded_at": "when the row was last written",
    },
    "invoiced_contacts": {
        "tenant_id": "the Xero organisation",
        "contact_id": "the Xero contact",
        "contact_name": "the contact's current name",
        "customer_id": "the merged customer list's id for the contact (null until it is linked)",
        "first_invoice_date": "date of the contact's first approved sales invoice",
        "last_invoice_date": "date of the contact's latest approved sales invoice",
        "invoice_count": "approved sales invoices (credit notes not counted)",
        "lifetime_net_sales_base": "net sales less credit notes, all time, in base currency",
        "base_currency": "the organisation's base currency, the unit of the amount above",
        "xero_url": "a link that opens the contact in Xero",
        "is_connected": CONNECTED,
    },
}


def column_schema(table: Table) -> dg.TableSchema:
    """The table's columns, typed as the warehouse declares them, with their meaning."""
    meanings = COLUMNS[table.name]
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=str(column.type).lower(),
                description=meanings[column.name],
            )
            for column in table.columns
        ]
    )


def described(summary: str, table: Table) -> str:
    """An asset description: what the table is, then every column and what it means."""
    meanings = COLUMNS[table.name]
    lines = [summary, "", "Columns:"]
    lines += [f"- `{column.name}`: {meanings[column.name]}" for column in table.columns]
    return "\n".join(lines)
