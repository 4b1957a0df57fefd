"""Access tokens for the client, by either of Xero's flows.

- Custom connections: `client_credentials`, one organisation, no refresh token.
- The standard flow: consent once (`xero-pipeline connect` runs `authorization_code`), then
  `refresh_token` for ever after, rotating the stored refresh token on each refresh.

One `TokenProvider` serves one connection (one consent: its own refresh token, under its
connection key in the token store). Which flow applies is decided by the store: stored refresh
tokens for this app mean the standard flow, one provider each (`connection_providers`); none means
a custom connection, the app's one connection.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import requests

from xero_pipeline.xero.errors import XeroAuthError
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import XeroSettings
from xero_pipeline.xero.tokens import TokenStore, open_token_store

log = logging.getLogger(__name__)

OFFLINE = "offline_access"  # refresh tokens: meaningless to a custom connection
REFRESH_MARGIN_SECONDS = 120  # refresh this long before Xero says the token expires
TOKEN_TIMEOUT_SECONDS = 30
RECONNECT = "Reconnect with `xero-pipeline connect`."
SCOPE_ADVICE = (
    "Apps created on or after 2 March 2026 may ask only for Xero's granular scopes "
    "(accounting.invoices.read, not accounting.transactions.read): leave XERO_SCOPES unset, "
    "or list scopes the app holds."
)


def refused_scopes(scopes: str) -> str:
    """What to say when Xero answers `invalid_scope`."""
    return f"Xero refused the scopes asked for (invalid_scope: {scopes}). {SCOPE_ADVICE}"


@dataclass
class AccessToken:
    value: Secret
    expires_at: float  # time.monotonic() deadline

    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at - REFRESH_MARGIN_SECONDS


CUSTOM_CONNECTION = "custom-connection"  # the key a custom connection is reported under


class TokenProvider:
    """Hands out a valid access token for one connection, refreshing before expiry and when Xero
    says it expired. `key` names the connection in the store; None: the app's first stored
    connection, or — none being stored — the app's custom connection (client_credentials)."""

    def __init__(
        self,
        settings: XeroSettings,
        session: requests.Session | None = None,
        store: TokenStore | None = None,
        key: str | None = None,
    ) -> None:
        if settings.client_id is None or settings.client_secret is None:
            raise XeroAuthError("no Xero app configured (XERO_CLIENT_ID / XERO_CLIENT_SECRET)")
        self.settings = settings
        self.session = session or requests.Session()
        self.store = store or open_token_store(settings)
        self.key = key
        self.custom = False  # learned at the first token: no refresh token stored
        self._token: AccessToken | None = None
        self._lock = threading.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        return (
            f"TokenProvider(client_id={self.settings.client_id!r}, "
            f"connection={self.connection_key!r}, store={self.store!r})"
        )

    @property
    def connection_key(self) -> str:
        """The connection's key in the store ('custom-connection' for a custom connection;
        '' until the first token when the key was left to the store)."""
        return CUSTOM_CONNECTION if self.custom else (self.key or "")

    def access_token(self) -> Secret:
        with self._lock:
            if self._token is None or not self._token.fresh():
                self._token = self._new_token()
            return self._token.value

    def expired(self, used: Secret) -> None:
        """Xero said `TokenExpired` for `used`: the next call gets a new one."""
        with self._lock:
            if self._token is not None and self._token.value == used:
                self._token = None

    def _new_token(self) -> AccessToken:
        client_id = self.settings.client_id
        assert client_id is not None
        with self.store.locked(client_id, self.key):
            stored = self.store.read(client_id, self.key)
            if stored is None and self.key is not None:
                raise XeroAuthError(
                    f"Connection {self.key} is no longer in the token store (disconnected?). "
                    + RECONNECT
                )
            if stored is None:
                self.custom = True
                form = {"grant_type": "client_credentials"}
                if self.settings.scopes:  # else: every scope the connection was granted
                    form["scope"] = " ".join(s for s in self.settings.scopes if s != OFFLINE)
                body = self._post(form)
            else:
                # Re-read inside the lock: another process may have rotated it a moment ago.
                body = self._post(
                    {"grant_type": "refresh_token", "refresh_token": stored.refresh_token.reveal()}
                )
                rotated = body.get("refresh_token")
                if not rotated:
                    raise XeroAuthError(
                        "Xero's refresh answer carried no refresh token. " + RECONNECT
                    )
                self.key = self.store.write(client_id, Secret(rotated), stored.key or None)
            self.refreshes += 1
        log.info(
            "Got a Xero access token for app %s, connection %s (valid %ss).",
            client_id,
            self.connection_key,
            body.get("expires_in"),
        )
        return AccessToken(
            Secret(body["access_token"]), time.monotonic() + float(body.get("expires_in", 1800))
        )

    def _post(self, form: dict[str, str]) -> dict:
        secret = self.settings.client_secret
        assert secret is not None and self.settings.client_id is not None
        try:
            response = self.session.post(
                f"{self.settings.identity_base}/connect/token",
                data=form,
                auth=(self.settings.client_id, secret.reveal()),
                timeout=TOKEN_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise XeroAuthError(
                f"could not reach Xero's token endpoint: {type(exc).__name__}"
            ) from None
        if response.status_code == 200:
            return response.json()
        error = _oauth_error(response)
        if error == "invalid_grant":
            raise XeroAuthError(
                f"Xero no longer accepts the stored refresh token of connection "
                f"{self.key or '(the first)'} (invalid_grant: it was retired, revoked or unused "
                "for 60 days). " + RECONNECT
            )
        if error == "invalid_scope":
            raise XeroAuthError(refused_scopes(form.get("scope", "")))
        if error == "unauthorized_client" and form["grant_type"] == "client_credentials":
            raise XeroAuthError(
                "This Xero app is not a custom connection and no refresh token "
                "is stored for it. " + RECONNECT
            )
        raise XeroAuthError(
            f"Xero's token endpoint answered {response.status_code} ({error}). "
            "Check XERO_CLIENT_ID and XERO_CLIENT_SECRET."
        )


def _oauth_error(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", "unknown error"))
    except ValueError:
        return "unknown error"


def connection_providers(
    settings: XeroSettings, store: TokenStore | None = None, session: requests.Session | None = None
) -> list[TokenProvider]:
    """One provider per stored connection of the app, oldest first; none stored: the app's
    custom connection (client_credentials) as its one connection."""
    if settings.client_id is None:
        raise XeroAuthError("no Xero app configured (XERO_CLIENT_ID / XERO_CLIENT_SECRET)")
    store = store or open_token_store(settings)
    keys = store.keys(settings.client_id)
    if not keys:
        return [TokenProvider(settings, session, store)]
    return [TokenProvider(settings, session, store, key) for key in keys]
