"""Xero's identity service as the sandbox plays it: apps, consent, tokens and their rotation.

Rotation follows Xero: every refresh returns a new refresh token; the old one keeps working for a
grace period (returning the same successor, so a client that lost the response can retry), then
answers `invalid_grant`. Expiry is measured on the sandbox clock, so tests can move time instead
of waiting half an hour.

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
    tenant_ids: tuple[str, ...]
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
class AccessGrant:
    client_id: str
    tenant_ids: tuple[str, ...]
    scopes: frozenset[str]
    expires_at: datetime
    auth_event_id: str


@dataclass
class RefreshGrant:
    client_id: str
    tenant_ids: tuple[str, ...]
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
        self._lock = threading.Lock()
        self.refreshes = 0

    def register(self, app: ClientApp) -> None:
        self.clients[app.client_id] = app

    def _client(self, client_id: str, client_secret: str) -> ClientApp:
        app = self.clients.get(client_id)
        if app is None or not secrets.compare_digest(app.client_secret, client_secret):
            raise OAuthError("invalid_client")
        return app

    # -- the consent step ----------------------------------------------------------------------

    def authorize(self, client_id: str, redirect_uri: str, scope: str) -> str:
        """Consent is given at once in the sandbox, for every tenant the app may see."""
        app = self.clients.get(client_id)
        if app is None or app.custom_connection:
            raise OAuthError("unauthorized_client")
        if not redirect_uri:
            raise OAuthError("invalid_request")
        scopes = frozenset(scope.split())
        app.check_scopes(scopes)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                client_id,
                redirect_uri,
                scopes,
                self.now() + timedelta(seconds=self.config.code_seconds),
                app.tenant_ids,
            )
        return code

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
                return self._issue(
                    app.client_id,
                    app.tenant_ids,
                    scopes - {"offline_access"},
                    str(uuid.uuid4()),
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
                return self._issue(
                    app.client_id, code.tenant_ids, code.scopes, str(uuid.uuid4()), refresh=refresh
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
            grant.tenant_ids,
            grant.scopes,
            grant.auth_event_id,
            refresh=grant.successor,
        )

    def _issue(
        self,
        client_id: str,
        tenant_ids: tuple[str, ...],
        scopes: frozenset[str],
        auth_event_id: str,
        refresh: str | None,
    ) -> dict[str, object]:
        access = secrets.token_urlsafe(32)
        now = self.now()
        self._access[access] = AccessGrant(
            client_id,
            tenant_ids,
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
                refresh, RefreshGrant(client_id, tenant_ids, scopes, now, auth_event_id)
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
