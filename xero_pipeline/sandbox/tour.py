"""A walk over every endpoint of a (sandbox) Xero, printed as a table per tenant.

It speaks plain HTTP on purpose: it shows, with nothing but `requests`, the calls the pipeline
makes — consent, token, connections, then each resource read once at the largest page size.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from xero_pipeline.sandbox.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from xero_pipeline.sandbox.auth import ALL_READ_SCOPES

REDIRECT_URI = "http://127.0.0.1/callback"
ENDPOINTS = (  # path, envelope key, query
    ("Organisation", "Organisations", {}),
    ("Contacts", "Contacts", {"page": 1, "pageSize": 1000, "includeArchived": "true"}),
    ("ContactGroups", "ContactGroups", {}),
    ("Accounts", "Accounts", {}),
    ("Invoices", "Invoices", {"page": 1, "pageSize": 1000}),
    ("CreditNotes", "CreditNotes", {"page": 1, "pageSize": 1000}),
)


def sandbox_token(session: requests.Session, base: str) -> str:
    """The standard OAuth2 flow against the sandbox, whose consent screen says yes at once."""
    consent = session.get(
        f"{base}/identity/connect/authorize",
        allow_redirects=False,
        timeout=10,
        params={
            "response_type": "code",
            "client_id": SANDBOX_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": ALL_READ_SCOPES,
            "state": "tour",
        },
    )
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    token = session.post(
        f"{base}/connect/token",
        auth=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        timeout=10,
    )
    token.raise_for_status()
    return token.json()["access_token"]


def tour(base: str) -> str:
    lines = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sandbox_token(session, base)}"
        session.headers["Accept"] = "application/json"
        connections = session.get(f"{base}/connections", timeout=10).json()
        for connection in connections:
            tenant = connection["tenantId"]
            lines.append(f"\n{connection['tenantName']}  (tenant {tenant})")
            lines.append(f"  {'endpoint':<14} {'records':>8} {'total':>8}  first record")
            for path, key, query in ENDPOINTS:
                response = session.get(
                    f"{base}/api.xro/2.0/{path}",
                    params=query,
                    timeout=60,
                    headers={"Xero-tenant-id": tenant},
                )
                response.raise_for_status()
                body = response.json()
                records = body[key]
                total = body.get("pagination", {}).get("itemCount", len(records))
                first = records[0] if records else {}
                label = next(
                    (
                        str(first[f])
                        for f in ("Name", "InvoiceNumber", "CreditNoteNumber")
                        if first.get(f)
                    ),
                    "",
                )
                lines.append(f"  {path:<14} {len(records):>8} {total:>8}  {label[:40]}")
            lines.append(f"  calls left today: {response.headers.get('X-DayLimit-Remaining')}")
    return "\n".join(lines)
