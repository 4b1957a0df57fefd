"""Many connections: each consent its own refresh token (file store or the encrypted warehouse
table), tenants routed to the connection covering them, one connection's failure reported without
hiding the others, `disconnect` — over HTTP to the sandbox, SQL to PostgreSQL."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from xero_pipeline.cli import main
from xero_pipeline.configuration import ConfigurationError, check_environment
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.app import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_CUSTOM_CLIENT_ID,
    SANDBOX_CUSTOM_CLIENT_SECRET,
)
from xero_pipeline.sandbox.auth import AuthConfig
from xero_pipeline.sandbox.consent import REDIRECT_URI, consent_code
from xero_pipeline.xero.auth import TokenProvider
from xero_pipeline.xero.client import RetryPolicy, XeroClient
from xero_pipeline.xero.connect import authorize_url, exchange_code
from xero_pipeline.xero.errors import ConfigError, UnknownTenantError
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import XeroSettings
from xero_pipeline.xero.tokens import legacy_key, open_token_store

FAST = RetryPolicy(base_seconds=0.01, max_seconds=0.05)


def app_settings(sandbox: Sandbox, tmp_path: Path, **overrides) -> XeroSettings:
    values = dict(
        client_id=SANDBOX_CLIENT_ID,
        client_secret=Secret(SANDBOX_CLIENT_SECRET),
        api_base=sandbox.url,
        identity_base=sandbox.url,
        token_path=tmp_path / "tokens.json",
    )
    values.update(overrides)
    return XeroSettings(**values)


def partner_connects(settings: XeroSettings, user: str, *tenant_ids: str) -> str:
    """What `xero-pipeline connect` does when a partner consents: returns the connection key."""
    url = authorize_url(settings, REDIRECT_URI, "state")
    url += "&" + urlencode({"user": user, "tenants": ",".join(tenant_ids)})
    return exchange_code(settings, consent_code(url), REDIRECT_URI)


@pytest.fixture
def warehouse_store(monkeypatch, postgres_url):
    """XERO_TOKEN_STORE=warehouse on a fresh PostgreSQL database, with a fresh key."""
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("WAREHOUSE_URL", postgres_url)
    monkeypatch.setenv("XERO_TOKEN_STORE", "warehouse")
    monkeypatch.setenv("XERO_TOKEN_KEY", key)
    return {"url": postgres_url, "key": key}


def warehouse_settings(sandbox: Sandbox, tmp_path: Path, key: str) -> XeroSettings:
    return app_settings(sandbox, tmp_path, token_store="warehouse", token_key=Secret(key))


@pytest.mark.parametrize("store", ["file", pytest.param("warehouse", marks=pytest.mark.postgres)])
def test_two_partners_both_readable_tokens_rotate_apart(make_sandbox, tmp_path, request, store):
    sandbox = make_sandbox(hidden=1)
    first, second = sandbox.tenants
    if store == "warehouse":
        settings = warehouse_settings(
            sandbox, tmp_path, request.getfixturevalue("warehouse_store")["key"]
        )
    else:
        settings = app_settings(sandbox, tmp_path)
    a = partner_connects(settings, "partner-a", first)
    b = partner_connects(settings, "partner-b", second)  # adds; does not replace a
    tokens = open_token_store(settings)
    assert tokens.keys(SANDBOX_CLIENT_ID) == [a, b]
    client = XeroClient(settings, retry=FAST)
    assert [t.tenant_id for t in client.tenants()] == [first, second]
    assert client.connection_of(first) == a and client.connection_of(second) == b
    assert client.connection_problems == {}
    for tenant in (first, second):
        assert client.get(tenant, "Organisation")["Organisations"]
    before = {k: tokens.read(SANDBOX_CLIENT_ID, k).refresh_token for k in (a, b)}
    sandbox.identity.retire_access_tokens()
    client.get(first, "Organisation")  # only partner A's connection refreshes
    assert tokens.read(SANDBOX_CLIENT_ID, a).refresh_token != before[a]
    assert tokens.read(SANDBOX_CLIENT_ID, b).refresh_token == before[b]
    sandbox.clock.advance(3 * 3600)  # past every grace period: only stored tokens work
    fresh = XeroClient(settings, retry=FAST)
    assert {t.tenant_id for t in fresh.tenants()} == {first, second}


def test_an_earlier_versions_token_file_is_read_and_migrated(sandbox, tmp_path):
    settings = app_settings(sandbox, tmp_path)
    key = partner_connects(settings, "someone", *sandbox.tenants)
    refresh = open_token_store(settings).read(SANDBOX_CLIENT_ID, key).refresh_token.reveal()
    # The layout before connections: one entry per app.
    settings.token_path.write_text(
        json.dumps({SANDBOX_CLIENT_ID: {"refresh_token": refresh, "stored_at": "2026-01-01"}})
    )
    client = XeroClient(settings, retry=FAST)
    assert [t.tenant_id for t in client.tenants()] == list(sandbox.tenants)
    stored = json.loads(settings.token_path.read_text())
    assert list(stored[SANDBOX_CLIENT_ID]["connections"]) == [legacy_key(SANDBOX_CLIENT_ID)]
    assert stored[SANDBOX_CLIENT_ID]["connections"][legacy_key(SANDBOX_CLIENT_ID)][
        "refresh_token"
    ] not in ("", refresh)  # rotated, in the new layout


def test_a_custom_connection_is_the_apps_one_connection(sandbox, tmp_path):
    settings = app_settings(
        sandbox,
        tmp_path,
        client_id=SANDBOX_CUSTOM_CLIENT_ID,
        client_secret=Secret(SANDBOX_CUSTOM_CLIENT_SECRET),
    )
    client = XeroClient(settings, retry=FAST)
    assert [t.tenant_id for t in client.tenants()] == [sandbox.tenant(0).tenant_id]
    assert client.connection_of(sandbox.tenant(0).tenant_id) == "custom-connection"
    assert not settings.token_path.exists()


def test_one_connections_invalid_grant_leaves_the_others_tenants(make_sandbox, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox = make_sandbox(hidden=1)
    first, second = sandbox.tenants
    settings = app_settings(sandbox, tmp_path)
    a = partner_connects(settings, "partner-a", first)
    b = partner_connects(settings, "partner-b", second)
    tokens = open_token_store(settings)
    with tokens.locked(SANDBOX_CLIENT_ID, a):
        tokens.write(SANDBOX_CLIENT_ID, Secret("revoked-or-made-up"), a)
    client = XeroClient(settings, retry=FAST)
    assert [t.tenant_id for t in client.tenants()] == [second]
    assert client.get(second, "Organisation")["Organisations"]
    assert list(client.connection_problems) == [a]
    problem = client.connection_problems[a]
    assert problem.needs_reconnect and "invalid_grant" in problem.message
    assert "xero-pipeline connect" in problem.message and a in problem.message
    assert f"Xero connection {a}" in caplog.text
    # Every connection failing is an error, as with one connection.
    with tokens.locked(SANDBOX_CLIENT_ID, b):
        tokens.write(SANDBOX_CLIENT_ID, Secret("also-made-up"), b)
    with pytest.raises(Exception, match="invalid_grant"):
        XeroClient(settings, retry=FAST).tenants()
    exposed = caplog.text + repr(client) + repr(client.tokens) + repr(problem)
    assert SANDBOX_CLIENT_SECRET not in exposed
    assert tokens.read(SANDBOX_CLIENT_ID, b).refresh_token.reveal() not in exposed


def test_disconnect_removes_the_organisation_and_spares_the_other_partner(make_sandbox, tmp_path):
    sandbox = make_sandbox(tenants=3, hidden=3)
    one, two, three = sandbox.tenants
    settings = app_settings(sandbox, tmp_path)
    a = partner_connects(settings, "partner-a", one, two)
    b = partner_connects(settings, "partner-b", three)
    tokens = open_token_store(settings)
    client = XeroClient(settings, retry=FAST)
    done = client.disconnect(sandbox.tenant(one).name)  # by name
    assert done.tenant.tenant_id == one and done.connection_key == a
    assert not done.token_removed  # partner A still has `two`
    assert sandbox.connected("partner-a") == [two]  # DELETE /connections/{id} reached Xero
    assert tokens.keys(SANDBOX_CLIENT_ID) == [a, b]
    done = client.disconnect(two.upper())  # by id
    assert done.token_removed and tokens.keys(SANDBOX_CLIENT_ID) == [b]
    assert sandbox.connected("partner-a") == []
    fresh = XeroClient(settings, retry=FAST)
    assert [t.tenant_id for t in fresh.tenants()] == [three]
    assert fresh.get(three, "Organisation")["Organisations"]
    assert sandbox.connected("partner-b") == [three]
    with pytest.raises(UnknownTenantError, match="not connected") as raised:
        fresh.disconnect("No Such Organisation Ltd")
    assert three in str(raised.value)  # it says what is connected


def test_disconnect_command(make_sandbox, tmp_path, monkeypatch, capsys):
    sandbox = make_sandbox()
    first, second = sandbox.tenants
    settings = app_settings(sandbox, tmp_path)
    partner_connects(settings, "partner-a", first)
    partner_connects(settings, "partner-b", second)
    for name, value in {
        "XERO_CLIENT_ID": SANDBOX_CLIENT_ID,
        "XERO_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "XERO_API_BASE": sandbox.url,
        "XERO_IDENTITY_BASE": sandbox.url,
        "XERO_TOKEN_PATH": str(settings.token_path),
        "XERO_SALES_START_DATE": "2025-01",
        "XERO_PIPELINE_DATA": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["disconnect", "nobody-we-know"]) == 1
    assert "is not connected to this app" in capsys.readouterr().err
    assert main(["disconnect", first]) == 0
    out = capsys.readouterr().out
    assert sandbox.tenant(first).name in out and "refresh token is gone" in out
    assert sandbox.connected("partner-a") == [] and sandbox.connected("partner-b") == [second]


@pytest.mark.postgres
def test_concurrent_refreshers_of_one_connection_take_turns(
    make_sandbox, tmp_path, warehouse_store
):
    # No grace period: a refresh token used twice is dead the second time, so a refresher that
    # did not wait for the other's new token would fail.
    sandbox = make_sandbox(auth=AuthConfig(refresh_grace_seconds=0))
    settings = warehouse_settings(sandbox, tmp_path, warehouse_store["key"])
    key = partner_connects(settings, "partner-a", *sandbox.tenants)
    tenant = sandbox.tenant(0).tenant_id
    errors: list[Exception] = []
    start = threading.Barrier(4)

    def refresh() -> None:
        try:
            # Each as its own process would: its own store and provider.
            provider = TokenProvider(settings, store=open_token_store(settings), key=key)
            start.wait()
            XeroClient(settings, provider, retry=FAST).get(tenant, "Organisation")
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sandbox.identity.refreshes == 4  # one after the other, each with the latest token
    fresh = XeroClient(settings, retry=FAST)
    assert fresh.get(tenant, "Organisation")["Organisations"]


@pytest.mark.postgres
def test_stored_refresh_tokens_are_not_plaintext(sandbox, tmp_path, warehouse_store):
    settings = warehouse_settings(sandbox, tmp_path, warehouse_store["key"])
    key = partner_connects(settings, "partner-a", *sandbox.tenants)
    XeroClient(settings, retry=FAST).tenants()  # a refresh: the rotated token is stored
    refresh = open_token_store(settings).read(SANDBOX_CLIENT_ID, key).refresh_token.reveal()
    engine = create_engine(warehouse_store["url"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT * FROM xero_tokens")).mappings().all()
    finally:
        engine.dispose()
    assert len(rows) == 1 and rows[0]["connection_key"] == key
    dumped = repr([dict(row) for row in rows])
    assert refresh not in dumped and warehouse_store["key"] not in dumped
    assert Fernet(warehouse_store["key"]).decrypt(rows[0]["refresh_token"].encode()).decode() == (
        refresh
    )


@pytest.mark.postgres
def test_a_wrong_token_key_is_one_clear_error(sandbox, tmp_path, warehouse_store):
    settings = warehouse_settings(sandbox, tmp_path, warehouse_store["key"])
    key = partner_connects(settings, "partner-a", *sandbox.tenants)
    stored = open_token_store(settings).read(SANDBOX_CLIENT_ID, key).refresh_token.reveal()
    wrong = Fernet.generate_key().decode()
    with pytest.raises(ConfigError) as raised:
        XeroClient(warehouse_settings(sandbox, tmp_path, wrong), retry=FAST).tenants()
    message = f"{raised.value!s} {raised.value!r}"
    assert raised.value.variable == "XERO_TOKEN_KEY" and "XERO_TOKEN_KEY" in message
    assert wrong not in message and warehouse_store["key"] not in message and stored not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"XERO_TOKEN_STORE": "warehouse"}, "is required with XERO_TOKEN_STORE=warehouse"),
        ({"XERO_TOKEN_STORE": "warehouse", "XERO_TOKEN_KEY": "not-a-key"}, "not a Fernet key"),
        ({"XERO_TOKEN_KEY": "c2hvcnQ="}, "not a Fernet key"),  # named even with the file store
        ({"XERO_TOKEN_STORE": "vault"}, "must be file"),
    ],
)
def test_token_store_settings_are_checked_up_front(monkeypatch, values, says):
    for name in ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "XERO_TOKEN_STORE", "XERO_TOKEN_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        check_environment()
    wrong = [p for p in raised.value.problems if p.variable.startswith("XERO_TOKEN")]
    assert len(wrong) == 1 and says in str(wrong[0])
    assert str(raised.value).count(wrong[0].variable + ":") == 1  # one line, not two
    for value in values.values():
        if value not in ("warehouse", "vault"):
            assert value not in str(raised.value)
