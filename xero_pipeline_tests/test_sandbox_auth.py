"""The identity service: grants, expiry, refresh-token rotation with its grace period, scopes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from xero_pipeline.sandbox.app import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_CUSTOM_CLIENT_ID,
    SANDBOX_CUSTOM_CLIENT_SECRET,
    SANDBOX_LEGACY_CLIENT_ID,
    SANDBOX_LEGACY_CLIENT_SECRET,
)
from xero_pipeline.sandbox.auth import AuthConfig

REDIRECT = "http://127.0.0.1:9999/callback"


BROAD = "offline_access accounting.contacts.read accounting.transactions.read"
GRANULAR = "offline_access accounting.contacts.read accounting.invoices.read"


def authorize(base: str, scope: str, client_id: str = SANDBOX_CLIENT_ID) -> dict[str, list[str]]:
    """The consent step: the query the sandbox redirects back to REDIRECT with."""
    response = requests.get(
        f"{base}/identity/connect/authorize",
        allow_redirects=False,
        timeout=5,
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": scope,
            "state": "s1",
        },
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["s1"]
    return query


def consent(
    base: str,
    scope: str = "offline_access accounting.contacts.read",
    client_id: str = SANDBOX_CLIENT_ID,
) -> str:
    return authorize(base, scope, client_id)["code"][0]


def token(base: str, form: dict[str, str], client=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)):
    return requests.post(f"{base}/connect/token", data=form, auth=client, timeout=5)


def exchange(
    base: str,
    scope: str = "offline_access accounting.contacts.read",
    client=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET),
) -> dict:
    response = token(
        base,
        {
            "grant_type": "authorization_code",
            "code": consent(base, scope, client[0]),
            "redirect_uri": REDIRECT,
        },
        client,
    )
    assert response.status_code == 200, response.text
    return response.json()


def contacts(base: str, access: str, tenant: str) -> requests.Response:
    return requests.get(
        f"{base}/api.xro/2.0/Contacts",
        timeout=5,
        headers={"Authorization": f"Bearer {access}", "Xero-tenant-id": tenant},
    )


def test_authorization_code_then_connections(sandbox) -> None:
    body = exchange(sandbox.url)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    assert body["access_token"] and body["refresh_token"]
    connections = requests.get(
        f"{sandbox.url}/connections",
        timeout=5,
        headers={"Authorization": f"Bearer {body['access_token']}"},
    ).json()
    assert {c["tenantId"] for c in connections} == set(sandbox.tenants)
    assert all(c["tenantType"] == "ORGANISATION" and c["tenantName"] for c in connections)


def test_code_is_single_use_and_bound_to_redirect(sandbox) -> None:
    code = consent(sandbox.url)
    wrong = token(
        sandbox.url,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://elsewhere/cb"},
    )
    assert wrong.status_code == 400 and wrong.json() == {"error": "invalid_grant"}
    code = consent(sandbox.url)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    assert token(sandbox.url, form).status_code == 200
    assert token(sandbox.url, form).json() == {"error": "invalid_grant"}


def test_no_refresh_token_without_offline_access(sandbox) -> None:
    assert "refresh_token" not in exchange(sandbox.url, scope="accounting.contacts.read")


def test_client_credentials_is_for_custom_connections_only(sandbox) -> None:
    custom = token(
        sandbox.url,
        {"grant_type": "client_credentials"},
        client=(SANDBOX_CUSTOM_CLIENT_ID, SANDBOX_CUSTOM_CLIENT_SECRET),
    )
    assert custom.status_code == 200 and "refresh_token" not in custom.json()
    connections = requests.get(
        f"{sandbox.url}/connections",
        timeout=5,
        headers={"Authorization": f"Bearer {custom.json()['access_token']}"},
    ).json()
    assert [c["tenantId"] for c in connections] == [sandbox.tenant(0).tenant_id]
    standard = token(sandbox.url, {"grant_type": "client_credentials"})
    assert standard.status_code == 400 and standard.json()["error"] == "unauthorized_client"
    wrong_secret = token(
        sandbox.url, {"grant_type": "client_credentials"}, client=(SANDBOX_CUSTOM_CLIENT_ID, "nope")
    )
    assert wrong_secret.json() == {"error": "invalid_client"}


def test_access_token_expires_with_xero_body(make_sandbox) -> None:
    sandbox = make_sandbox(auth=AuthConfig(access_token_seconds=60))
    tenant = sandbox.tenant(0).tenant_id
    access = exchange(sandbox.url)["access_token"]
    assert contacts(sandbox.url, access, tenant).status_code == 200
    sandbox.clock.advance(61)
    expired = contacts(sandbox.url, access, tenant)
    assert expired.status_code == 401
    body = expired.json()
    assert body["Title"] == "Unauthorized" and body["Detail"].startswith("TokenExpired")


def test_refresh_rotates_with_grace_period(make_sandbox) -> None:
    sandbox = make_sandbox(auth=AuthConfig(refresh_grace_seconds=300))
    first = exchange(sandbox.url)["refresh_token"]
    refreshed = token(sandbox.url, {"grant_type": "refresh_token", "refresh_token": first}).json()
    second = refreshed["refresh_token"]
    assert second != first and refreshed["access_token"]
    # A retry of the same refresh inside the grace period gets the same successor...
    retry = token(sandbox.url, {"grant_type": "refresh_token", "refresh_token": first}).json()
    assert retry["refresh_token"] == second
    # ...after it, the old token is dead and the new one works.
    sandbox.clock.advance(301)
    dead = token(sandbox.url, {"grant_type": "refresh_token", "refresh_token": first})
    assert dead.status_code == 400 and dead.json() == {"error": "invalid_grant"}
    third = token(sandbox.url, {"grant_type": "refresh_token", "refresh_token": second})
    assert third.status_code == 200 and third.json()["refresh_token"] not in (first, second)
    unknown = token(sandbox.url, {"grant_type": "refresh_token", "refresh_token": "made-up"})
    assert unknown.json() == {"error": "invalid_grant"}


def test_unused_refresh_token_expires_after_60_days(sandbox) -> None:
    refresh = exchange(sandbox.url)["refresh_token"]
    sandbox.clock.advance(61 * 86400)
    late = token(sandbox.url, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert late.json() == {"error": "invalid_grant"}


def test_tenant_and_scope_errors(sandbox) -> None:
    access = exchange(sandbox.url)["access_token"]  # contacts scope only
    tenant = sandbox.tenant(0).tenant_id
    forbidden = contacts(sandbox.url, access, "11111111-1111-4111-8111-111111111111")
    assert (
        forbidden.status_code == 403 and forbidden.json()["Detail"] == "AuthenticationUnsuccessful"
    )
    no_scope = requests.get(
        f"{sandbox.url}/api.xro/2.0/Invoices",
        timeout=5,
        headers={"Authorization": f"Bearer {access}", "Xero-tenant-id": tenant},
    )
    assert no_scope.status_code == 401 and no_scope.json()["Detail"] == "AuthorizationUnsuccessful"
    anonymous = requests.get(
        f"{sandbox.url}/api.xro/2.0/Contacts", timeout=5, headers={"Xero-tenant-id": tenant}
    )
    assert anonymous.status_code == 401


def invoices(base: str, access: str, tenant: str) -> requests.Response:
    return requests.get(
        f"{base}/api.xro/2.0/Invoices",
        timeout=5,
        headers={"Authorization": f"Bearer {access}", "Xero-tenant-id": tenant},
    )


def test_a_new_app_is_refused_the_broad_scope_at_consent(sandbox) -> None:
    refused = authorize(sandbox.url, BROAD)
    assert refused == {"error": ["invalid_scope"], "state": ["s1"]}  # no code
    access = exchange(sandbox.url, GRANULAR)["access_token"]
    assert invoices(sandbox.url, access, sandbox.tenant(0).tenant_id).status_code == 200


def test_an_old_app_may_ask_for_the_broad_scope_or_the_granular_one(sandbox) -> None:
    legacy = (SANDBOX_LEGACY_CLIENT_ID, SANDBOX_LEGACY_CLIENT_SECRET)
    tenant = sandbox.tenant(1).tenant_id
    for scope in (BROAD, GRANULAR):
        body = exchange(sandbox.url, scope, legacy)
        assert body["refresh_token"]
        assert invoices(sandbox.url, body["access_token"], tenant).status_code == 200


def test_a_new_custom_connection_is_refused_the_broad_scope(sandbox) -> None:
    custom = (SANDBOX_CUSTOM_CLIENT_ID, SANDBOX_CUSTOM_CLIENT_SECRET)
    for scope in ("accounting.transactions.read", "accounting.transactions accounting.contacts"):
        refused = token(sandbox.url, {"grant_type": "client_credentials", "scope": scope}, custom)
        assert refused.status_code == 400 and refused.json() == {"error": "invalid_scope"}
    granted = token(sandbox.url, {"grant_type": "client_credentials"}, custom).json()
    assert "accounting.transactions" not in granted["scope"]
    assert "accounting.invoices.read" in granted["scope"].split()
    narrowed = token(
        sandbox.url,
        {"grant_type": "client_credentials", "scope": "accounting.invoices.read"},
        custom,
    )
    assert narrowed.status_code == 200
    tenant = sandbox.tenant(0).tenant_id
    assert invoices(sandbox.url, narrowed.json()["access_token"], tenant).status_code == 200
