"""The sandbox's consent screen says yes at once; this plays the browser's part of the flow."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from xero_pipeline.sandbox.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from xero_pipeline.sandbox.auth import GRANULAR_READ_SCOPES

REDIRECT_URI = "http://localhost:8910/callback"


def consent_code(authorize_url: str) -> str:
    """Open the authorize URL and take the code from the sandbox's redirect."""
    consent = requests.get(authorize_url, allow_redirects=False, timeout=30)
    if consent.status_code != 302:
        raise RuntimeError(f"the sandbox did not redirect: {consent.status_code} {consent.text}")
    return parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]


def sandbox_token(session: requests.Session, base: str) -> str:
    """An access token for the sandbox's standard app, over plain HTTP (tests and benchmarks that
    talk to the sandbox without the pipeline's client)."""
    query = (
        requests.Request(
            "GET",
            f"{base}/identity/connect/authorize",
            params={
                "response_type": "code",
                "client_id": SANDBOX_CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
                "scope": GRANULAR_READ_SCOPES,
                "state": "sandbox",
            },
        )
        .prepare()
        .url
    )
    token = session.post(
        f"{base}/connect/token",
        auth=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": consent_code(query),
            "redirect_uri": REDIRECT_URI,
        },
        timeout=10,
    )
    token.raise_for_status()
    return token.json()["access_token"]
