"""Xero's granular scopes (apps created on or after 2 March 2026), through the real connect flow
and token requests against the sandbox's new and old apps."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.app import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_CUSTOM_CLIENT_ID,
    SANDBOX_CUSTOM_CLIENT_SECRET,
    SANDBOX_LEGACY_CLIENT_ID,
    SANDBOX_LEGACY_CLIENT_SECRET,
)
from xero_pipeline.xero.auth import TokenProvider
from xero_pipeline.xero.client import XeroClient
from xero_pipeline.xero.connect import connect
from xero_pipeline.xero.errors import ConfigError, XeroAuthError
from xero_pipeline.xero.settings import XeroSettings

GRANULAR = (
    "offline_access accounting.contacts.read accounting.settings.read accounting.invoices.read"
)
BROAD = (
    "offline_access accounting.contacts.read accounting.settings.read accounting.transactions.read"
)


def app_settings(
    sandbox: Sandbox, tmp_path: Path, client: tuple[str, str], scopes: str = ""
) -> XeroSettings:
    """An app's settings as XeroSettings.from_env reads them, aimed at the sandbox."""
    return XeroSettings.from_env(
        {
            "XERO_CLIENT_ID": client[0],
            "XERO_CLIENT_SECRET": client[1],
            "XERO_API_BASE": sandbox.url,
            "XERO_IDENTITY_BASE": sandbox.url,
            "XERO_TOKEN_PATH": str(tmp_path / "tokens.json"),
            "XERO_SCOPES": scopes,
        }
    )


def play_consent(settings: XeroSettings) -> list[str]:
    """`xero-pipeline connect`, with the person's part played: open the printed URL and follow
    the sandbox's redirect (with a code, or with an error) back to the waiting callback."""
    printed: list[str] = []

    def browser(message: str) -> None:
        printed.append(message)
        if "Open this URL" in message:
            url = message.split("\n")[1].strip()
            location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
            threading.Thread(target=requests.get, args=(location,), kwargs={"timeout": 5}).start()

    connect(settings, port=0, open_browser=False, announce=browser, timeout_seconds=20)
    return printed


def reads_everything(settings: XeroSettings) -> None:
    client = XeroClient(settings, TokenProvider(settings))
    tenants = client.tenants()
    assert tenants
    tenant = tenants[0].tenant_id
    for path in ("Organisation", "Contacts", "Invoices", "CreditNotes"):
        assert client.get(tenant, path)[path if path != "Organisation" else "Organisations"]


def test_by_default_the_pipeline_asks_for_the_granular_scopes():
    assert XeroSettings().consent_scopes == GRANULAR
    assert "transactions" not in XeroSettings.from_env({}).consent_scopes


def test_xero_scopes_takes_spaces_or_commas():
    settings = XeroSettings.from_env(
        {
            "XERO_SCOPES": " offline_access, accounting.contacts.read,accounting.settings.read  "
            "accounting.transactions.read "
        }
    )
    assert settings.consent_scopes == BROAD


@pytest.mark.parametrize(
    "value, says",
    [
        ("offline_access accounting.contacts.read", "has no scope to read the organisation"),
        (
            "accounting.contacts.read accounting.settings.read",
            "has no scope to read invoices and credit notes: add accounting.invoices.read",
        ),
        ("accounting.contacts.read;accounting.settings.read", "is not a Xero scope"),
        ("Accounting.Invoices.Read accounting.contacts.read", "is not a Xero scope"),
    ],
)
def test_a_bad_xero_scopes_names_the_variable(value: str, says: str):
    with pytest.raises(ConfigError) as raised:
        XeroSettings.from_env({"XERO_SCOPES": value})
    assert raised.value.variable == "XERO_SCOPES"
    assert str(raised.value).startswith("XERO_SCOPES: ") and says in str(raised.value)


def test_a_new_app_connects_with_the_default_scopes(sandbox, tmp_path):
    settings = app_settings(sandbox, tmp_path, (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET))
    printed = play_consent(settings)
    assert "accounting.invoices.read" in printed[0] and "transactions" not in printed[0]
    assert "Connected" in printed[-1]
    reads_everything(settings)


def test_a_new_app_refuses_the_broad_scope_with_a_clear_error(sandbox, tmp_path):
    settings = app_settings(sandbox, tmp_path, (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET), BROAD)
    with pytest.raises(XeroAuthError) as raised:
        play_consent(settings)
    message = str(raised.value)
    assert "invalid_scope" in message and "accounting.transactions.read" in message
    assert "2 March 2026" in message and "XERO_SCOPES" in message
    assert not settings.token_path.exists()


def test_an_old_app_connects_with_the_broad_scope_or_the_granular_ones(sandbox, tmp_path):
    legacy = (SANDBOX_LEGACY_CLIENT_ID, SANDBOX_LEGACY_CLIENT_SECRET)
    broad = app_settings(sandbox, tmp_path / "broad", legacy, BROAD)
    assert "Connected" in play_consent(broad)[-1]
    reads_everything(broad)
    granular = app_settings(sandbox, tmp_path / "granular", legacy)
    assert "Connected" in play_consent(granular)[-1]
    reads_everything(granular)


def test_a_new_custom_connection_refuses_the_broad_scope(sandbox, tmp_path):
    custom = (SANDBOX_CUSTOM_CLIENT_ID, SANDBOX_CUSTOM_CLIENT_SECRET)
    reads_everything(app_settings(sandbox, tmp_path / "granted", custom))  # what it was granted
    reads_everything(app_settings(sandbox, tmp_path / "granular", custom, GRANULAR))
    broad = app_settings(sandbox, tmp_path / "broad", custom, BROAD)
    with pytest.raises(XeroAuthError) as raised:
        TokenProvider(broad).access_token()
    message = str(raised.value)
    assert "invalid_scope" in message and "XERO_SCOPES" in message
    assert "offline_access" not in message  # a custom connection is not asked for it
