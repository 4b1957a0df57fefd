"""The sandbox as a platform's Xero: many organisations, consent per user, live connection sets,
`DELETE /connections/{id}`, organisations revoked, added and taken offline — all over HTTP."""

from __future__ import annotations

import argparse
from urllib.parse import parse_qs, urlsplit

import requests

from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from xero_pipeline.sandbox.faults import ScriptedFault
from xero_pipeline.sandbox.generator import OrgSpec
from xero_pipeline_tests.conftest import AS_OF

REDIRECT = "http://127.0.0.1:9999/callback"
SCOPE = "offline_access accounting.contacts.read accounting.settings.read"
APP = (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)


def authorize(base: str, user: str | None = None, tenants: str | None = None) -> dict:
    params = {
        "response_type": "code",
        "client_id": SANDBOX_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "s",
    }
    if user is not None:
        params["user"] = user
    if tenants is not None:
        params["tenants"] = tenants
    response = requests.get(
        f"{base}/identity/connect/authorize", params=params, allow_redirects=False, timeout=5
    )
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)


def consent(base: str, user: str | None = None, tenants: str | None = None) -> dict:
    """A consent and its code exchanged: the token response."""
    code = authorize(base, user, tenants)["code"][0]
    response = requests.post(
        f"{base}/connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=APP,
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(base: str, refresh_token: str) -> dict:
    response = requests.post(
        f"{base}/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=APP,
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(access: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access}"}


def connections(base: str, access: str, **params: str) -> list[dict]:
    response = requests.get(f"{base}/connections", headers=bearer(access), params=params, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def tenant_ids(base: str, access: str) -> list[str]:
    return [c["tenantId"] for c in connections(base, access)]


def organisation(base: str, access: str, tenant_id: str) -> requests.Response:
    return requests.get(
        f"{base}/api.xro/2.0/Organisation",
        headers={**bearer(access), "Xero-tenant-id": tenant_id},
        timeout=5,
    )


def delete(base: str, access: str, connection_id: str) -> requests.Response:
    return requests.delete(f"{base}/connections/{connection_id}", headers=bearer(access), timeout=5)


def test_generated_organisations_are_distinct_and_follow_the_seed(make_sandbox) -> None:
    first = make_sandbox(tenants=5)
    again = make_sandbox(tenants=5)
    other = make_sandbox(tenants=5, seed=7)
    names = [t.name for t in first.tenants.values()]
    assert len(first.tenants) == 5 and len(set(names)) == 5
    assert list(again.tenants) == list(first.tenants)
    assert [t.name for t in again.tenants.values()] == names
    assert not set(other.tenants) & set(first.tenants)
    assert {t.organisation["BaseCurrency"] for t in first.tenants.values()} == {"NZD", "AUD"}
    # The default stays the two standard organisations.
    assert [t.name for t in make_sandbox().tenants.values()] == [
        "Harbour & Co Coffee Roasters",
        "Southern Cross Software Pty Ltd",
    ]
    access = consent(first.url)["access_token"]
    assert tenant_ids(first.url, access) == list(first.tenants)


def test_hidden_organisations_are_connected_to_nobody_until_chosen(make_sandbox) -> None:
    sandbox = make_sandbox(tenants=3, hidden=1)
    shown, late = list(sandbox.tenants)[:2], list(sandbox.tenants)[2]
    access = consent(sandbox.url)["access_token"]
    assert tenant_ids(sandbox.url, access) == shown
    assert organisation(sandbox.url, access, late).status_code == 403
    # A partner connects it later: their own consent, their own token.
    partner = consent(sandbox.url, user="partner-b", tenants=late)
    assert tenant_ids(sandbox.url, partner["access_token"]) == [late]
    assert organisation(sandbox.url, partner["access_token"], late).status_code == 200
    assert organisation(sandbox.url, partner["access_token"], shown[0]).status_code == 403
    assert tenant_ids(sandbox.url, access) == shown  # the first user's set is unchanged
    # Or the test connects it directly, then the partner consents (again).
    sandbox.connect(shown[0], user="partner-b")
    assert tenant_ids(sandbox.url, partner["access_token"]) == [late, shown[0]]


def test_a_new_consent_by_the_same_user_adds_to_the_set(make_sandbox) -> None:
    sandbox = make_sandbox(tenants=3)
    a, b, c = sandbox.tenants
    first = consent(sandbox.url, user="ann", tenants=a)
    ids = {x["tenantId"]: x for x in connections(sandbox.url, first["access_token"])}
    assert list(ids) == [a]
    second = consent(sandbox.url, user="ann", tenants=f"{b},{a}")
    assert second["refresh_token"] != first["refresh_token"]
    # Every token of the user sees the set as it is now, the older one too.
    for token in (first["access_token"], second["access_token"]):
        assert tenant_ids(sandbox.url, token) == [a, b]
    listed = {x["tenantId"]: x for x in connections(sandbox.url, second["access_token"])}
    assert listed[a]["id"] == ids[a]["id"]  # consented again: the same connection...
    assert listed[a]["authEventId"] == listed[b]["authEventId"]  # ...of this consent's event
    assert listed[a]["authEventId"] != ids[a]["authEventId"]
    only = connections(sandbox.url, first["access_token"], authEventId=listed[b]["authEventId"])
    assert [x["tenantId"] for x in only] == [a, b]
    assert organisation(sandbox.url, first["access_token"], c).status_code == 403
    refused = authorize(sandbox.url, user="ann", tenants="11111111-1111-4111-8111-111111111111")
    assert refused["error"] == ["invalid_request"] and "code" not in refused


def test_delete_connection_is_immediate_and_per_user(make_sandbox) -> None:
    sandbox = make_sandbox()
    first, second = sandbox.tenants
    ann = consent(sandbox.url, user="ann")
    bob = consent(sandbox.url, user="bob")
    listed = {x["tenantId"]: x["id"] for x in connections(sandbox.url, ann["access_token"])}
    bobs = {x["tenantId"]: x["id"] for x in connections(sandbox.url, bob["access_token"])}
    assert set(listed.values()).isdisjoint(bobs.values())  # each user's own connections
    # Another user's connection id is unknown to this token: 404, nothing removed.
    assert delete(sandbox.url, ann["access_token"], bobs[first]).status_code == 404
    gone = delete(sandbox.url, ann["access_token"], listed[first])
    assert gone.status_code == 204 and gone.content == b""
    assert delete(sandbox.url, ann["access_token"], listed[first]).status_code == 404
    # The token in hand, and a token refreshed from before, both lose it at once.
    assert tenant_ids(sandbox.url, ann["access_token"]) == [second]
    assert organisation(sandbox.url, ann["access_token"], first).status_code == 403
    renewed = refresh(sandbox.url, ann["refresh_token"])
    assert tenant_ids(sandbox.url, renewed["access_token"]) == [second]
    # Bob is untouched.
    assert tenant_ids(sandbox.url, bob["access_token"]) == [first, second]
    assert organisation(sandbox.url, bob["access_token"], first).status_code == 200
    assert (
        requests.delete(f"{sandbox.url}/connections/{listed[second]}", timeout=5).status_code == 401
    )
    # With nothing left the refresh token still works; it just lists nothing.
    assert delete(sandbox.url, ann["access_token"], listed[second]).status_code == 204
    assert (
        tenant_ids(sandbox.url, refresh(sandbox.url, renewed["refresh_token"])["access_token"])
        == []
    )


def test_connection_faults_hit_delete_too(make_sandbox) -> None:
    sandbox = make_sandbox()
    access = consent(sandbox.url)["access_token"]
    connection_id = connections(sandbox.url, access)[0]["id"]
    sandbox.faults.script(ScriptedFault(kind="503", count=1, path_contains="connections"))
    assert delete(sandbox.url, access, connection_id).status_code == 503
    assert delete(sandbox.url, access, connection_id).status_code == 204


def test_control_over_http(make_sandbox) -> None:
    sandbox = make_sandbox(tenants=2)
    control = f"{sandbox.url}/__sandbox"
    first, second = sandbox.tenants
    ann = consent(sandbox.url, user="ann")["access_token"]
    bob = consent(sandbox.url, user="bob", tenants=first)["access_token"]
    # The organisation's admin revokes the app: gone for everybody.
    revoked = requests.post(f"{control}/disconnect", json={"tenant": first}, timeout=5)
    assert revoked.json() == {"disconnected": 2}
    assert tenant_ids(sandbox.url, ann) == [second] and tenant_ids(sandbox.url, bob) == []
    assert organisation(sandbox.url, bob, first).status_code == 403
    # A new organisation, connected to nobody, then to bob.
    added = requests.post(f"{control}/organisations", json={"name": "Late Partner Ltd"}, timeout=5)
    new = added.json()["tenant_id"]
    assert sandbox.tenant(new).name == "Late Partner Ltd"
    assert new not in tenant_ids(sandbox.url, ann) and new not in tenant_ids(sandbox.url, bob)
    requests.post(f"{control}/connect", json={"tenant": new, "user": "bob"}, timeout=5)
    assert tenant_ids(sandbox.url, bob) == [new]
    assert organisation(sandbox.url, bob, new).json()["Organisations"][0]["Name"] == (
        "Late Partner Ltd"
    )
    state = requests.get(f"{control}/connections", timeout=5).json()
    assert state[SANDBOX_CLIENT_ID] == {"ann": [second], "bob": [new]}
    # Offline until brought online; other organisations keep working.
    requests.post(f"{control}/offline", json={"tenant": second}, timeout=5).raise_for_status()
    for _ in range(3):
        offline = organisation(sandbox.url, ann, second)
        assert offline.status_code == 503 and offline.text == "The Organisation is offline"
    assert organisation(sandbox.url, bob, new).status_code == 200
    requests.post(f"{control}/offline", json={"tenant": second, "offline": False}, timeout=5)
    assert organisation(sandbox.url, ann, second).status_code == 200
    bad = requests.post(f"{control}/connect", json={"tenant": "no-such-org"}, timeout=5)
    assert bad.status_code == 400


def test_python_control(make_sandbox) -> None:
    sandbox = make_sandbox()
    before = list(sandbox.tenants)
    new = sandbox.add_organisation()
    other = sandbox.add_organisation(OrgSpec(name="Given Name Ltd", contacts=5, invoices=10))
    assert list(sandbox.tenants) == [*before, new, other]
    assert sandbox.tenant(new).name not in {sandbox.tenant(t).name for t in before}
    access = consent(sandbox.url)["access_token"]
    assert tenant_ids(sandbox.url, access) == before  # a default consent leaves them out
    partner = consent(sandbox.url, user="partner", tenants=new)["access_token"]
    assert sandbox.connected("partner") == [new]
    assert organisation(sandbox.url, partner, new).status_code == 200
    sandbox.take_offline(new)
    assert organisation(sandbox.url, partner, new).status_code == 503
    sandbox.bring_online(new)
    sandbox.disconnect(new)
    assert organisation(sandbox.url, partner, new).status_code == 403
    assert sandbox.connected("partner") == []
    sandbox.connect(other, user="partner")
    assert tenant_ids(sandbox.url, partner) == [other]


def test_cli_sandbox_tenants_option() -> None:
    from xero_pipeline.cli import _sandbox_config

    args = argparse.Namespace(
        seed=1, size="tiny", as_of=AS_OF, no_limits=True, minute_seconds=60.0, tenants=4
    )
    config = _sandbox_config(args)
    assert config.tenants == 4
    assert len(Sandbox(config).tenants) == 4
