"""Xero's identity service as the sandbox plays it: apps, consent, tokens and their rotation.

Rotation follows Xero: every refresh returns a new refresh token; the old one keeps working for a
grace period (returning the same successor, so a client that lost the response can retry), then
answers `invalid_grant`. Expiry is measured on the sandbox clock, so tests can move time instead
of waiting half an hour.

Connections follow Xero's model: every (app, user) pair has its own live set of connected
organisations, `{tenant_id: Connection}`. A consent adds the organisations the user chose to that
set (an organisation already in it keeps its connection id and takes the new `authEventId`, as
Xero's `updatedDateUtc` "most recently connected" implies); it never removes one. Access and refresh
grants point at the (app, user) set, not at a copy of it, so `GET /connections` and the 403 check
always see the set as it is now: a disconnection (`DELETE /connections/{id}`, or the organisation's
admin revoking the app, `disconnect_tenant`) takes effect at once for tokens already issued, and a
refresh token whose user has no connection left still refreshes (to a token that lists nothing).
The custom connection (client_credentials) is one more "user" of its app, connected on first use.

Scopes follow Xero's 2026 rule: an app created on or after 2 March 2026 (`granular_only`) may ask
only for granular scopes; asking for the broad `accounting.transactions(.read)` is refused with
OAuth's `invalid_scope` (redirected back at the consent step, 400 at the token endpoint). Older
apps keep the broad scope and may ask for the granular ones too.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Scopes that open each resource (either one of a pair will do).
RESOURCE_SCOPES = {
    "Contact": ("accounting.contacts", "accounting.contacts.read"),
    "ContactGroup": ("accounting.contacts", "accounting.contacts.read"),
    "Account": ("accounting.settings", "accounting.settings.read"),
    "Organisation": ("accounting.settings", "accounting.settings.read"),
    "Invoice": (
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.invoices",
        "accounting.invoices.read",
    ),
    "CreditNote": (
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.invoices",
        "accounting.invoices.read",
    ),
}
# The broad scopes apps created on or after 2 March 2026 may no longer ask for.
BROAD_SCOPES = frozenset({"accounting.transactions", "accounting.transactions.read"})
GRANULAR_READ_SCOPES = (
    "offline_access accounting.contacts.read accounting.settings.read accounting.invoices.read"
)
ALL_READ_SCOPES = f"{GRANULAR_READ_SCOPES} accounting.transactions.read"  # an older app's
DEFAULT_USER = "sandbox-user"  # who consents when the authorize URL names no `user`
CUSTOM_USER = "custom-connection"  # the connection set of an app's client_credentials grants


class OAuthError(Exception):
    """An identity error: the server answers 400 (or 401) with `{"error": code}`. At the consent
    step, an error that OAuth2 sends back to the client (`redirect`) goes to the redirect URI."""

    def __init__(self, code: str, status: int = 400, *, redirect: bool = False) -> None:
        super().__init__(code)
        self.code, self.status, self.redirect = code, status, redirect


@dataclass(frozen=True)
class ClientApp:
    client_id: str
    client_secret: str
    tenant_ids: tuple[str, ...]  # what a consent that names no `tenants` connects
    custom_connection: bool = False  # client_credentials only; otherwise the standard flow
    scopes: str = GRANULAR_READ_SCOPES  # what a custom connection was granted
    granular_only: bool = True  # created on or after 2 March 2026: no broad scopes

    def check_scopes(self, scopes: frozenset[str]) -> None:
        """Refuse the broad scopes to an app created on or after 2 March 2026, as Xero does."""
        if self.granular_only and scopes & BROAD_SCOPES:
            raise OAuthError("invalid_scope", redirect=True)


@dataclass(frozen=True)
class AuthConfig:
    access_token_seconds: int = 1800
    refresh_grace_seconds: int = 1800
    refresh_token_days: int = 60
    code_seconds: int = 300


@dataclass
class Connection:
    """One organisation connected to an app by one user (Xero's `/connections` item)."""

    id: str
    tenant_id: str
    auth_event_id: str
    created: datetime
    updated: datetime


@dataclass
class AccessGrant:
    client_id: str
    user: str  # the grant covers the (client_id, user) connection set as it is now
    scopes: frozenset[str]
    expires_at: datetime
    auth_event_id: str


@dataclass
class RefreshGrant:
    client_id: str
    user: str
    scopes: frozenset[str]
    last_used: datetime
    auth_event_id: str
    successor: str | None = None
    retire_at: datetime | None = None


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    expires_at: datetime
    user: str
    tenant_ids: tuple[str, ...]


@dataclass
class IdentityService:
    now: Callable[[], datetime]
    config: AuthConfig = field(default_factory=AuthConfig)

    def __post_init__(self) -> None:
        self.clients: dict[str, ClientApp] = {}
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._codes: dict[str, _Code] = {}
        # (client_id, user) -> {tenant_id: Connection}, in the order they were connected
        self._connections: dict[tuple[str, str], dict[str, Connection]] = {}
        self._connection_count = 0
        self.organisations: set[str] = set()  # known tenant ids (empty: any id is accepted)
        self.seed = 0  # for the connection ids, so the same steps give the same ids
        self._lock = threading.RLock()
        self.refreshes = 0

    def register(self, app: ClientApp) -> None:
        self.clients[app.client_id] = app

    def _client(self, client_id: str, client_secret: str) -> ClientApp:
        app = self.clients.get(client_id)
        if app is None or not secrets.compare_digest(app.client_secret, client_secret):
            raise OAuthError("invalid_client")
        return app

    # -- the consent step ----------------------------------------------------------------------

    def authorize(
        self,
        client_id: str,
        redirect_uri: str,
        scope: str,
        user: str | None = None,
        tenants: tuple[str, ...] | None = None,
    ) -> str:
        """Consent is given at once in the sandbox: by `user` (default DEFAULT_USER), for the
        organisations `tenants` names (default: the app's `tenant_ids`). The organisations join
        the user's connection set when the code is exchanged, as Xero's do on "Allow access".
        Naming an organisation the sandbox does not have is refused with `invalid_request`."""
        app = self.clients.get(client_id)
        if app is None or app.custom_connection:
            raise OAuthError("unauthorized_client")
        if not redirect_uri:
            raise OAuthError("invalid_request")
        scopes = frozenset(scope.split())
        app.check_scopes(scopes)
        chosen = app.tenant_ids if tenants is None else tuple(t.lower() for t in tenants)
        if tenants is not None and (
            not chosen or (self.organisations and not set(chosen) <= self.organisations)
        ):
            raise OAuthError("invalid_request", redirect=True)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                client_id,
                redirect_uri,
                scopes,
                self.now() + timedelta(seconds=self.config.code_seconds),
                user or DEFAULT_USER,
                chosen,
            )
        return code

    # -- connections ---------------------------------------------------------------------------

    def connect(
        self, client_id: str, user: str, tenant_ids: tuple[str, ...], auth_event_id: str
    ) -> None:
        """Add organisations to (client_id, user)'s set, as one consent (one `authEventId`)."""
        now = self.now()
        with self._lock:
            connected = self._connections.setdefault((client_id, user), {})
            for tenant_id in tenant_ids:
                known = connected.get(tenant_id)
                if known is not None:  # consented again: same connection, this consent's event
                    known.auth_event_id, known.updated = auth_event_id, now
                    continue
                self._connection_count += 1
                name = f"connection:{self.seed}:{client_id}:{user}:{tenant_id}:"
                connection_id = str(
                    uuid.uuid5(uuid.NAMESPACE_URL, f"{name}{self._connection_count}")
                )
                connected[tenant_id] = Connection(connection_id, tenant_id, auth_event_id, now, now)

    def connections(self, client_id: str, user: str) -> list[Connection]:
        """(client_id, user)'s connections now, in the order they were made."""
        with self._lock:
            return list(self._connections.get((client_id, user), {}).values())

    def covers(self, grant: AccessGrant, tenant_id: str) -> bool:
        with self._lock:
            return tenant_id in self._connections.get((grant.client_id, grant.user), {})

    def delete_connection(self, grant: AccessGrant, connection_id: str) -> bool:
        """`DELETE /connections/{id}` with this grant: False when its user has no such one."""
        with self._lock:
            connected = self._connections.get((grant.client_id, grant.user), {})
            for tenant_id, connection in connected.items():
                if connection.id == connection_id.lower():
                    del connected[tenant_id]
                    return True
        return False

    def disconnect_tenant(self, tenant_id: str) -> int:
        """The organisation's admin revokes access in Xero: it leaves every app's every user's
        set. Returns how many connections went."""
        gone = 0
        with self._lock:
            for connected in self._connections.values():
                gone += connected.pop(tenant_id, None) is not None
        return gone

    def connection_sets(self) -> dict[str, dict[str, list[str]]]:
        """{client_id: {user: [tenant_id, …]}} now (tests and the control API)."""
        with self._lock:
            sets: dict[str, dict[str, list[str]]] = {}
            for (client_id, user), connected in self._connections.items():
                sets.setdefault(client_id, {})[user] = list(connected)
            return sets

    # -- the token endpoint --------------------------------------------------------------------

    def token(self, client_id: str, client_secret: str, form: dict[str, str]) -> dict[str, object]:
        app = self._client(client_id, client_secret)
        grant_type = form.get("grant_type", "")
        with self._lock:
            if grant_type == "client_credentials":
                if not app.custom_connection:
                    raise OAuthError("unauthorized_client")
                scopes = frozenset(form.get("scope", app.scopes).split())
                app.check_scopes(scopes)
                auth_event_id = str(uuid.uuid4())
                if (app.client_id, CUSTOM_USER) not in self._connections:  # connected once
                    self.connect(app.client_id, CUSTOM_USER, app.tenant_ids, auth_event_id)
                return self._issue(
                    app.client_id,
                    CUSTOM_USER,
                    scopes - {"offline_access"},
                    auth_event_id,
                    refresh=None,
                )
            if grant_type == "authorization_code":
                code = self._codes.pop(form.get("code", ""), None)
                if (
                    code is None
                    or code.client_id != app.client_id
                    or code.expires_at < self.now()
                    or code.redirect_uri != form.get("redirect_uri")
                ):
                    raise OAuthError("invalid_grant")
                refresh = secrets.token_urlsafe(32) if "offline_access" in code.scopes else None
                auth_event_id = str(uuid.uuid4())
                self.connect(app.client_id, code.user, code.tenant_ids, auth_event_id)
                return self._issue(
                    app.client_id, code.user, code.scopes, auth_event_id, refresh=refresh
                )
            if grant_type == "refresh_token":
                return self._refresh_grant(app, form.get("refresh_token", ""))
        raise OAuthError("unsupported_grant_type")

    def _refresh_grant(self, app: ClientApp, token: str) -> dict[str, object]:
        grant = self._refresh.get(token)
        now = self.now()
        if grant is None or grant.client_id != app.client_id:
            raise OAuthError("invalid_grant")
        if grant.retire_at is not None and now >= grant.retire_at:
            raise OAuthError("invalid_grant")
        if grant.successor is None and now - grant.last_used > timedelta(
            days=self.config.refresh_token_days
        ):
            raise OAuthError("invalid_grant")
        self.refreshes += 1
        if grant.successor is None:
            grant.successor = secrets.token_urlsafe(32)
            grant.retire_at = now + timedelta(seconds=self.config.refresh_grace_seconds)
        # Inside the grace period a retry of the same refresh gets the same successor.
        return self._issue(
            app.client_id,
            grant.user,
            grant.scopes,
            grant.auth_event_id,
            refresh=grant.successor,
        )

    def _issue(
        self,
        client_id: str,
        user: str,
        scopes: frozenset[str],
        auth_event_id: str,
        refresh: str | None,
    ) -> dict[str, object]:
        access = secrets.token_urlsafe(32)
        now = self.now()
        self._access[access] = AccessGrant(
            client_id,
            user,
            scopes,
            now + timedelta(seconds=self.config.access_token_seconds),
            auth_event_id,
        )
        body: dict[str, object] = {
            "access_token": access,
            "expires_in": self.config.access_token_seconds,
            "token_type": "Bearer",
            "scope": " ".join(sorted(scopes)),
        }
        if refresh is not None:
            self._refresh.setdefault(
                refresh, RefreshGrant(client_id, user, scopes, now, auth_event_id)
            )
            body["refresh_token"] = refresh
        return body

    # -- checking a bearer token ---------------------------------------------------------------

    def check(self, authorization: str | None) -> AccessGrant:
        """The grant behind `Authorization: Bearer …`; raises OAuthError(detail, 401)."""
        if not authorization or not authorization.startswith("Bearer "):
            raise OAuthError("AuthenticationUnsuccessful", 401)
        grant = self._access.get(authorization[len("Bearer ") :].strip())
        if grant is None:
            raise OAuthError("AuthenticationUnsuccessful", 401)
        if grant.expires_at <= self.now():
            stamp = grant.expires_at.strftime("%m/%d/%Y %H:%M:%S")
            raise OAuthError(f"TokenExpired: token expired at {stamp}", 401)
        return grant

    def retire_access_tokens(self) -> None:
        """Expire every access token now (tests: force a TokenExpired mid-read)."""
        with self._lock:
            for grant in self._access.values():
                grant.expires_at = min(grant.expires_at, self.now())
