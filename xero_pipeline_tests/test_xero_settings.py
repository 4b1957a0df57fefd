"""Configuration: each variable wrong or missing gives one clear error naming it, before any call;
no configuration at all means the built-in sandbox, with a log line that says so."""

from __future__ import annotations

import threading
from pathlib import Path

import dagster as dg
import pytest
import requests

from xero_pipeline.resources import XeroResource, pipeline_resources
from xero_pipeline.sandbox.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from xero_pipeline.xero.auth import TokenProvider
from xero_pipeline.xero.client import XeroClient
from xero_pipeline.xero.connect import connect
from xero_pipeline.xero.errors import ConfigError, XeroAuthError
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import XeroSettings
from xero_pipeline_tests.test_scopes import play_consent

TENANT = "0c2f6f2c-1d1e-4c43-9c1a-0e8d2f4a5b6c"


@pytest.mark.parametrize(
    "env,variable",
    [
        ({"XERO_CLIENT_ID": "abc"}, "XERO_CLIENT_SECRET"),
        ({"XERO_CLIENT_SECRET": "abc"}, "XERO_CLIENT_ID"),
        ({"XERO_TENANT_IDS": "not-a-guid"}, "XERO_TENANT_IDS"),
        ({"XERO_TENANT_IDS": f"{TENANT}, 42"}, "XERO_TENANT_IDS"),
        (
            {"XERO_CLIENT_ID": "a", "XERO_CLIENT_SECRET": "b", "XERO_API_BASE": "ftp://x"},
            "XERO_API_BASE",
        ),
        (
            {
                "XERO_CLIENT_ID": "a",
                "XERO_CLIENT_SECRET": "b",
                "XERO_IDENTITY_BASE": "http://evil.example",
            },
            "XERO_IDENTITY_BASE",
        ),
        (
            {
                "XERO_CLIENT_ID": "a",
                "XERO_CLIENT_SECRET": "b",
                "XERO_API_BASE": "https://x/api.xro/2.0",
            },
            "XERO_API_BASE",
        ),
        ({"XERO_API_BASE": "http://127.0.0.1:8765"}, "XERO_API_BASE"),
        ({"XERO_SCOPES": "offline_access accounting.contacts.read"}, "XERO_SCOPES"),
    ],
)
def test_bad_configuration_names_the_variable(env, variable):
    with pytest.raises(ConfigError) as raised:
        XeroSettings.from_env(env)
    assert raised.value.variable == variable
    assert str(raised.value).startswith(variable)
    assert "abc" not in str(raised.value) or variable == "XERO_TENANT_IDS"


def test_good_configuration():
    settings = XeroSettings.from_env(
        {
            "XERO_CLIENT_ID": "app",
            "XERO_CLIENT_SECRET": "shh",
            "XERO_TENANT_IDS": TENANT.upper(),
            "XERO_API_BASE": "http://127.0.0.1:9000/",
            "XERO_IDENTITY_BASE": "http://localhost:9000",
        }
    )
    assert not settings.sandbox and settings.tenant_ids == (TENANT,)
    assert settings.api_base == "http://127.0.0.1:9000"
    assert settings.client_secret == Secret("shh") and "shh" not in repr(settings)
    assert settings.authorize_url == "http://localhost:9000/identity/connect/authorize"
    assert XeroSettings.from_env({}).sandbox
    assert XeroSettings.from_env({}).authorize_url.startswith("https://login.xero.com/")


def test_resource_without_an_app_uses_the_sandbox_and_says_so(monkeypatch):
    for name in (
        "XERO_CLIENT_ID",
        "XERO_CLIENT_SECRET",
        "XERO_API_BASE",
        "XERO_IDENTITY_BASE",
        "XERO_TENANT_IDS",
    ):
        monkeypatch.delenv(name, raising=False)

    @dg.asset
    def tenants_seen(xero: XeroResource) -> int:
        tenants = xero.client.tenants()
        assert xero.source_note and "sandbox" in xero.source_note
        for tenant in tenants:
            contacts = list(xero.client.records(tenant.tenant_id, "Contacts", "Contacts"))
            assert contacts
        return len(tenants)

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [tenants_seen], instance=instance, resources=pipeline_resources(size="tiny")
    )
    assert result.success and result.output_for_node("tenants_seen") == 2
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(
        "built-in Xero sandbox" in m and "not a real Xero organisation" in m for m in messages
    )


def test_resource_with_half_an_app_fails_before_calling_xero(monkeypatch):
    monkeypatch.setenv("XERO_CLIENT_ID", "someone")
    monkeypatch.delenv("XERO_CLIENT_SECRET", raising=False)

    @dg.asset
    def never(xero: XeroResource) -> None:
        raise AssertionError("must not run")

    with pytest.raises(dg.DagsterResourceFunctionError) as raised:
        dg.materialize([never], resources={"xero": XeroResource()})
    cause = raised.value.__cause__
    assert isinstance(cause, ConfigError) and cause.variable == "XERO_CLIENT_SECRET"


@pytest.fixture
def settings(sandbox, tmp_path: Path) -> XeroSettings:
    """The sandbox's standard app, not yet connected (no refresh token stored)."""
    return XeroSettings(
        client_id=SANDBOX_CLIENT_ID,
        client_secret=Secret(SANDBOX_CLIENT_SECRET),
        api_base=sandbox.url,
        identity_base=sandbox.url,
        token_path=tmp_path / "tokens.json",
    )


def test_connect_flow_stores_a_working_refresh_token(settings: XeroSettings):
    printed = play_consent(settings)
    assert "Connected" in printed[-1]
    client = XeroClient(settings, TokenProvider(settings))
    assert len(client.tenants()) == 2


def test_connect_rejects_a_forged_redirect(settings: XeroSettings):

    def forger(message: str) -> None:
        if "Open this URL" in message:
            callback = message.split("redirect to ")[1].split(" ")[0]
            threading.Thread(
                target=requests.get, args=(f"{callback}?code=x&state=wrong",), kwargs={"timeout": 5}
            ).start()

    with pytest.raises(XeroAuthError, match="state"):
        connect(settings, port=0, open_browser=False, announce=forger, timeout_seconds=20)
    assert not settings.token_path.exists()
