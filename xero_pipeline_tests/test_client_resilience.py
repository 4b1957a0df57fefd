"""The client under Xero's limits, faults and token rotation, over HTTP to the sandbox."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import requests

from xero_pipeline.sandbox.auth import AuthConfig
from xero_pipeline.sandbox.faults import FaultConfig, ScriptedFault
from xero_pipeline.sandbox.generator import OrgSpec
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline.xero.auth import TokenProvider
from xero_pipeline.xero.client import XeroClient
from xero_pipeline.xero.errors import DayLimitReached, XeroAuthError, XeroUnavailableError
from xero_pipeline.xero.governor import Limits


def contact_ids(client, tenant: str) -> list[str]:
    return [
        c["ContactID"]
        for c in client.records(tenant, "Contacts", "Contacts", params={"includeArchived": "true"})
    ]


def big_org(contacts: int = 12_000) -> tuple[OrgSpec]:
    return (OrgSpec(name="Large Contacts Ltd", contacts=contacts, invoices=0, credit_notes=0),)


def test_paces_under_the_minute_limit_with_no_429(make_sandbox, connect_client):
    minute, per_minute = 1.0, 4
    sandbox = make_sandbox(
        orgs=big_org(), limits=LimitConfig(per_minute=per_minute, minute_seconds=minute)
    )
    client = connect_client(sandbox, limits=Limits(per_minute=per_minute, minute_seconds=minute))
    tenant = client.tenants()[0].tenant_id
    ids = contact_ids(client, tenant)
    calls = client.stats.total(tenant)
    assert len(ids) == len(set(ids)) == 12_000 and calls == 12
    assert sandbox.limiter.rejections == {}  # not a single 429
    # How close the pacing comes to the limit's own bound is a benchmark, not a test:
    # bench/RESULTS.md, "wall time … at Xero's real minute limit".


def test_forced_429s_still_return_everything_once(make_sandbox, connect_client):
    sandbox = make_sandbox(orgs=big_org(5000))
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    sandbox.faults.script(ScriptedFault(kind="429", count=3, path_contains="Contacts"))
    ids = contact_ids(client, tenant)
    assert len(ids) == len(set(ids)) == 5000
    assert sandbox.faults.injected["429"] == 3


def test_someone_else_spending_the_budget_is_respected(make_sandbox, connect_client):
    """X-MinLimit-Remaining tells the client of calls it did not make."""
    sandbox = make_sandbox(orgs=big_org(3000), limits=LimitConfig(per_minute=5, minute_seconds=1.5))
    client = connect_client(sandbox, limits=Limits(per_minute=5, minute_seconds=1.5))
    tenant = client.tenants()[0].tenant_id
    client.get(tenant, "Accounts")  # learns the header
    other = XeroClient(client.settings, client.tokens)  # another process, in effect
    for _ in range(3):
        other.get(tenant, "Organisation")
    ids = contact_ids(client, tenant)
    assert len(ids) == 3000
    assert sandbox.limiter.rejections.get("minute", 0) <= 1


def test_never_more_than_five_in_flight(make_sandbox, connect_client):
    sandbox = make_sandbox(limits=LimitConfig(concurrent=5), faults=FaultConfig(slow_seconds=0.3))
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    sandbox.faults.script(ScriptedFault(kind="slow", count=8, path_contains="Accounts"))
    threads = [threading.Thread(target=client.get, args=(tenant, "Accounts")) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sandbox.limiter.rejections == {}
    assert client.stats.calls[(tenant, "Accounts")] == 8


def test_day_limit_stops_at_once_with_a_resume_time(make_sandbox, connect_client):
    sandbox = make_sandbox(limits=LimitConfig(per_day=2))
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    client.get(tenant, "Accounts")
    client.get(tenant, "Accounts")
    started = time.monotonic()
    with pytest.raises(DayLimitReached) as raised:
        client.get(tenant, "Accounts")
    assert time.monotonic() - started < 5
    assert "resets at" in str(raised.value) and tenant in str(raised.value)


@pytest.mark.parametrize("kind", ["500", "503", "drop", "slow"])
def test_each_fault_is_survived_with_the_same_records(make_sandbox, connect_client, kind):
    sandbox = make_sandbox(faults=FaultConfig(slow_seconds=0.3))
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    expected = contact_ids(client, tenant)
    invoices = [i["InvoiceID"] for i in client.records(tenant, "Invoices", "Invoices")]
    if kind == "slow":
        client.retry = type(client.retry)(timeout_seconds=0.1, base_seconds=0.01)
    sandbox.faults.script(ScriptedFault(kind=kind, count=2))
    assert contact_ids(client, tenant) == expected
    assert [i["InvoiceID"] for i in client.records(tenant, "Invoices", "Invoices")] == invoices
    assert sandbox.faults.injected[kind] == 2


def test_token_expiry_mid_read_and_rotation(make_sandbox, connect_client):
    sandbox = make_sandbox(orgs=big_org(3000), auth=AuthConfig(refresh_grace_seconds=60))
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    first = client.tokens.store.read(client.settings.client_id).refresh_token
    ids = []
    for page_number, page in enumerate(
        client.pages(tenant, "Contacts", "Contacts", params={"includeArchived": "true"})
    ):
        ids += [c["ContactID"] for c in page]
        if page_number == 0:
            sandbox.identity.retire_access_tokens()  # Xero: TokenExpired on the next call
    assert len(ids) == len(set(ids)) == 3000
    second = client.tokens.store.read(client.settings.client_id).refresh_token
    assert second != first
    sandbox.clock.advance(61)  # the old refresh token is now retired; the stored one works
    sandbox.identity.retire_access_tokens()
    assert len(contact_ids(client, tenant)) == 3000


def test_two_concurrent_refreshers_do_not_lock_each_other_out(sandbox, connect_client):
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    providers = [TokenProvider(client.settings) for _ in range(4)]
    errors: list[Exception] = []

    def refresh(provider: TokenProvider) -> None:
        try:
            XeroClient(client.settings, provider).get(tenant, "Organisation")
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=refresh, args=(p,)) for p in providers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sandbox.clock.advance(3 * 3600)  # past every grace period: only the stored token can work
    fresh = XeroClient(client.settings, TokenProvider(client.settings))
    assert fresh.get(tenant, "Organisation")["Organisations"]


def test_crash_between_refresh_and_store_loses_nothing(sandbox, connect_client, monkeypatch):
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    store = client.tokens.store
    crashing = TokenProvider(client.settings)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed after Xero rotated the token, before it was stored")

    monkeypatch.setattr(crashing.store, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        XeroClient(client.settings, crashing).get(tenant, "Organisation")
    monkeypatch.undo()
    # The old token is still the stored one; inside the grace period Xero hands back the same
    # successor, which is now stored and works after the grace period too.
    rerun = XeroClient(client.settings, TokenProvider(client.settings))
    assert rerun.get(tenant, "Organisation")["Organisations"]
    sandbox.clock.advance(3 * 3600)
    again = XeroClient(client.settings, TokenProvider(client.settings, store=store))
    assert again.get(tenant, "Organisation")["Organisations"]


def test_invalid_grant_says_reconnect(sandbox, connect_client):
    client = connect_client(sandbox)
    from xero_pipeline.xero.secret import Secret

    with client.tokens.store.locked():
        client.tokens.store.write(client.settings.client_id, Secret("revoked-or-made-up"))
    with pytest.raises(XeroAuthError, match="xero-pipeline connect"):
        XeroClient(client.settings, TokenProvider(client.settings)).tenants()


@pytest.mark.parametrize("kind", ["503", "500", "drop", "429"])
def test_connections_are_retried_like_every_other_call(sandbox, connect_client, kind):
    client = connect_client(sandbox)
    count = 1 if kind == "429" else 3  # a 429 is waited out: Retry-After is a second
    sandbox.faults.script(ScriptedFault(kind=kind, count=count, path_contains="connections"))
    assert [t.tenant_id for t in client.tenants()] == list(sandbox.tenants)
    assert sandbox.faults.injected[kind] == count
    if kind != "429":
        assert client.stats.retries[("-", "connections")] == count


def test_connections_failing_for_good_say_so_without_reconnect(sandbox, connect_client):
    client = connect_client(sandbox)
    sandbox.faults.script(ScriptedFault(kind="503", count=10, path_contains="connections"))
    with pytest.raises(XeroUnavailableError) as raised:
        client.tenants()
    message = str(raised.value)
    assert "/connections" in message and "503" in message and "6 attempts" in message
    assert "xero-pipeline connect" not in message and "Reconnect" not in message
    assert sandbox.faults.injected["503"] == 6


def test_connections_refresh_an_expired_token_once(make_sandbox, connect_client):
    sandbox = make_sandbox()
    client = connect_client(sandbox)
    client.tenants()
    sandbox.identity.retire_access_tokens()  # Xero: 401 to the next call
    assert len(client.tenants()) == 2
    # A 401 that a fresh token does not cure (here: tokens that are born expired) is the
    # app's access itself: reconnect.
    dead = make_sandbox(auth=AuthConfig(access_token_seconds=0))
    with pytest.raises(XeroAuthError) as raised:
        connect_client(dead).tenants()
    assert "even after a refresh" in str(raised.value)
    assert "Reconnect with `xero-pipeline connect`" in str(raised.value)


def test_token_file_is_owner_only(sandbox, connect_client):
    client = connect_client(sandbox)
    client.tenants()
    assert client.settings.token_path.stat().st_mode & 0o777 == 0o600


def test_no_secret_or_token_in_logs_errors_or_reprs(make_sandbox, connect_client, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox = make_sandbox(auth=AuthConfig(access_token_seconds=600))
    client = connect_client(sandbox)
    tenant = client.tenants()[0].tenant_id
    sandbox.faults.script(ScriptedFault(kind="503", count=2))
    client.get(tenant, "Accounts")
    sandbox.identity.retire_access_tokens()
    client.get(tenant, "Accounts")
    failures = []
    for attempt in (
        lambda: client.get(tenant, "Invoices", {"where": "nope =="}),
        lambda: client.get("00000000-0000-4000-8000-000000000000", "Accounts"),
    ):
        try:
            attempt()
        except Exception as exc:
            failures.append(f"{exc!s} {exc!r}")
    assert len(failures) == 2
    secrets = [
        client.settings.client_secret.reveal(),
        client.tokens.store.read(client.settings.client_id).refresh_token.reveal(),
        client.tokens.access_token().reveal(),
    ]
    exposed = "\n".join(
        [
            caplog.text,
            *failures,
            repr(client),
            repr(client.tokens),
            repr(client.settings),
            str(client.settings),
        ]
    )
    for secret in secrets:
        assert secret and secret not in exposed


def test_tls_is_required_for_anything_but_this_machine():
    from xero_pipeline.xero.errors import ConfigError
    from xero_pipeline.xero.settings import XeroSettings

    env = {"XERO_CLIENT_ID": "id", "XERO_CLIENT_SECRET": "s", "XERO_API_BASE": "http://example.com"}
    with pytest.raises(ConfigError, match="XERO_API_BASE"):
        XeroSettings.from_env(env)
    assert requests.utils.urlparse(XeroSettings.from_env({}).api_base).scheme == "https"
