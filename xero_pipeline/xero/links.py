"""Deep links that open a record in Xero (XERO_API_NOTES.md). `ShortCode` is the organisation's."""

from __future__ import annotations

from urllib.parse import quote

LOGIN = (
    "https://go.xero.com/organisationlogin/default.aspx?shortcode={short_code}&redirecturl={path}"
)


def _link(short_code: str | None, path: str) -> str | None:
    if not short_code:
        return None
    return LOGIN.format(short_code=quote(short_code, safe="!"), path=path)


def contact_url(short_code: str | None, contact_id: str) -> str | None:
    return _link(short_code, f"/Contacts/View/{contact_id}")


def invoice_url(short_code: str | None, invoice_id: str, *, bill: bool = False) -> str | None:
    page = "AccountsPayable/Edit.aspx" if bill else "AccountsReceivable/View.aspx"
    return _link(short_code, f"/{page}?InvoiceID={invoice_id}")


def credit_note_url(short_code: str | None, credit_note_id: str) -> str | None:
    return _link(short_code, f"/AccountsPayable/ViewCreditNote.aspx?creditNoteID={credit_note_id}")
