"""Settings from the environment, validated before any call to Xero.

The names are the project's (see the README). Neither client id nor secret set: the built-in
sandbox. One without the other, or a value of the wrong shape: a ConfigError naming the variable,
never a silent fallback to the sandbox.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from xero_pipeline.xero.errors import ConfigError
from xero_pipeline.xero.secret import Secret

DEFAULT_API_BASE = "https://api.xero.com"
DEFAULT_IDENTITY_BASE = "https://identity.xero.com"
LIVE_AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
# Xero's granular read scopes: apps created on or after 2 March 2026 may ask for no others
# (`accounting.invoices.read` instead of the broad `accounting.transactions.read`).
DEFAULT_SCOPES = (
    "offline_access",
    "accounting.contacts.read",
    "accounting.settings.read",
    "accounting.invoices.read",
)
# What the reads need, each as the scopes any one of which grants it (write scopes include read).
NEEDED_SCOPES = {
    "contacts and contact groups": ("accounting.contacts.read", "accounting.contacts"),
    "the organisation and accounts": ("accounting.settings.read", "accounting.settings"),
    "invoices and credit notes": (
        "accounting.invoices.read",
        "accounting.invoices",
        "accounting.transactions.read",
        "accounting.transactions",
    ),
}
_SCOPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


def project_data() -> Path:
    """The project's data folder (warehouse file, Dagster instance, tokens): XERO_PIPELINE_DATA,
    else `data/` in the working directory."""
    return Path(os.environ.get("XERO_PIPELINE_DATA") or Path.cwd() / "data")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_STORES = ("file", "warehouse")
MAKE_A_KEY = (
    "make one with: python -c "
    '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


def token_cipher(key: Secret | None, *, required: bool = False) -> Fernet | None:
    """The Fernet cipher of XERO_TOKEN_KEY. A missing key (when `required`) or a malformed one
    is a ConfigError naming the variable — never showing the value."""
    if key is None or not key.reveal().strip():
        if not required:
            return None
        raise ConfigError(
            "XERO_TOKEN_KEY",
            "is required with XERO_TOKEN_STORE=warehouse: the key that encrypts the refresh "
            f"tokens in the warehouse (keep it out of the warehouse); {MAKE_A_KEY}",
        )
    try:
        return Fernet(key.reveal().strip().encode())
    except (ValueError, TypeError, UnicodeError):
        raise ConfigError(
            "XERO_TOKEN_KEY",
            f"is not a Fernet key (32 bytes, url-safe base64: 44 characters); {MAKE_A_KEY}",
        ) from None


@dataclass(frozen=True)
class XeroSettings:
    client_id: str | None = None
    client_secret: Secret | None = field(default=None, repr=False)
    tenant_ids: tuple[str, ...] = ()
    api_base: str = DEFAULT_API_BASE
    identity_base: str = DEFAULT_IDENTITY_BASE
    token_path: Path = field(default_factory=lambda: project_data() / "xero_tokens.json")
    scopes: tuple[str, ...] = ()  # XERO_SCOPES; empty: not set (see `consent_scopes`)
    token_store: str = "file"  # XERO_TOKEN_STORE: file (XERO_TOKEN_PATH) or warehouse
    token_key: Secret | None = field(default=None, repr=False)  # XERO_TOKEN_KEY

    @property
    def sandbox(self) -> bool:
        """True when no Xero app is configured: the pipeline then starts the built-in sandbox."""
        return self.client_id is None

    @property
    def consent_scopes(self) -> str:
        """The scopes the consent step asks for: XERO_SCOPES, else Xero's granular read scopes."""
        return " ".join(self.scopes or DEFAULT_SCOPES)

    @property
    def authorize_url(self) -> str:
        if self.identity_base == DEFAULT_IDENTITY_BASE:
            return LIVE_AUTHORIZE_URL
        return f"{self.identity_base}/identity/connect/authorize"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> XeroSettings:
        env = os.environ if env is None else env
        client_id = (env.get("XERO_CLIENT_ID") or "").strip() or None
        secret = (env.get("XERO_CLIENT_SECRET") or "").strip() or None
        if client_id and not secret:
            raise ConfigError(
                "XERO_CLIENT_SECRET",
                "is not set, but XERO_CLIENT_ID is. Set both "
                "for a Xero app, or neither to use the built-in sandbox.",
            )
        if secret and not client_id:
            raise ConfigError(
                "XERO_CLIENT_ID",
                "is not set, but XERO_CLIENT_SECRET is. Set both "
                "for a Xero app, or neither to use the built-in sandbox.",
            )
        api_base = _base_url(env, "XERO_API_BASE", DEFAULT_API_BASE)
        identity_base = _base_url(env, "XERO_IDENTITY_BASE", DEFAULT_IDENTITY_BASE)
        if client_id is None:
            for name in ("XERO_API_BASE", "XERO_IDENTITY_BASE"):
                if env.get(name):
                    raise ConfigError(
                        name,
                        "is set but XERO_CLIENT_ID and XERO_CLIENT_SECRET "
                        "are not: a Xero (or an external sandbox) needs an app's "
                        "credentials. Unset it to use the built-in sandbox.",
                    )
        token_path = Path(env.get("XERO_TOKEN_PATH") or project_data() / "xero_tokens.json")
        token_store = token_store_kind(env)
        token_key = token_key_of(env)
        return cls(
            client_id=client_id,
            client_secret=Secret(secret) if secret else None,
            tenant_ids=_tenant_ids(env.get("XERO_TENANT_IDS", "")),
            api_base=api_base,
            identity_base=identity_base,
            token_path=token_path,
            scopes=_scopes(env.get("XERO_SCOPES", "")),
            token_store=token_store,
            token_key=token_key,
        )


def token_store_kind(env: Mapping[str, str]) -> str:
    """XERO_TOKEN_STORE: `file` (the default) or `warehouse`."""
    kind = (env.get("XERO_TOKEN_STORE") or "file").strip().lower()
    if kind not in TOKEN_STORES:
        raise ConfigError(
            "XERO_TOKEN_STORE",
            "must be file (XERO_TOKEN_PATH, the default) or warehouse (the xero_tokens table, "
            f"encrypted with XERO_TOKEN_KEY), not {kind[:40]!r}",
        )
    return kind


def token_key_of(env: Mapping[str, str]) -> Secret | None:
    """XERO_TOKEN_KEY, checked: required with the warehouse store, a Fernet key when set."""
    raw = (env.get("XERO_TOKEN_KEY") or "").strip()
    key = Secret(raw) if raw else None
    kind = (env.get("XERO_TOKEN_STORE") or "file").strip().lower()
    token_cipher(key, required=kind == "warehouse")
    return key


def _base_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(name, f"must be an http(s) URL such as {default}, not {raw!r}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        # TLS is never turned off for a real Xero; plain HTTP is for a sandbox on this machine.
        raise ConfigError(name, f"must use https unless it points at this machine, not {raw!r}")
    if parts.path not in ("", "/") or parts.query:
        raise ConfigError(name, f"must be a bare base URL without a path, not {raw!r}")
    return raw.rstrip("/")


def _tenant_ids(raw: str) -> tuple[str, ...]:
    tenant_ids = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            tenant_ids.append(str(uuid.UUID(item)))
        except ValueError:
            raise ConfigError(
                "XERO_TENANT_IDS",
                f"{item!r} is not a tenant id (a GUID); "
                "list the ids /connections shows, comma-separated",
            ) from None
    return tuple(tenant_ids)


def _scopes(raw: str) -> tuple[str, ...]:
    """XERO_SCOPES: space- or comma-separated; () when unset (the granular read scopes apply).
    Set it only for an app created before 2 March 2026 that still holds the broad scope."""
    scopes = tuple(dict.fromkeys(s for s in re.split(r"[\s,]+", raw.strip()) if s))
    if not scopes:
        return ()
    for scope in scopes:
        if not _SCOPE.match(scope):
            raise ConfigError(
                "XERO_SCOPES",
                f"{scope[:60]!r} is not a Xero scope; list scopes such as "
                f"{' '.join(DEFAULT_SCOPES)}, separated by spaces or commas",
            )
    for what, any_of in NEEDED_SCOPES.items():
        if not set(any_of) & set(scopes):
            raise ConfigError("XERO_SCOPES", f"has no scope to read {what}: add {any_of[0]}")
    return scopes
