"""Where the refresh tokens live between runs: one per connection (one consent of the app).

Each time somebody consents (`xero-pipeline connect`: a platform's partner connecting their own
organisation) Xero issues a refresh token of its own, covering the organisations that consent
chose; the store keeps each under a *connection key*, a uuid the pipeline makes when it stores it.
Which organisations a connection covers is not stored: `/connections` says, every run.

Xero retires a refresh token when it is used, so the token returned by a refresh is the only one
that works. It is written — durably — before the new access token is used, and every refresh
happens under an exclusive lock on its connection with the stored token re-read inside the lock:
two processes refreshing at once take turns instead of retiring each other's token.

Two stores behind one interface (`TokenStore`), chosen by XERO_TOKEN_STORE:
- `file` (the default): a JSON file (XERO_TOKEN_PATH) readable only by its owner, replaced
  atomically and synced to disk, under an exclusive `flock`. The file of earlier versions (one
  entry per app) is read as that app's one connection and rewritten in the new layout on the next
  write.
- `warehouse`: the `xero_tokens` table of the warehouse (WAREHOUSE_URL), each token encrypted
  with Fernet under XERO_TOKEN_KEY, which is never stored beside it (see `warehouse/tokens.py`).

Inside `locked(client_id, key)`, `read` and `write` act on that connection; a key of None means
the app's first connection (the only one, for an app consented once).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from xero_pipeline.xero.secret import Secret

if TYPE_CHECKING:
    from xero_pipeline.xero.settings import XeroSettings


@dataclass(frozen=True)
class StoredToken:
    refresh_token: Secret
    stored_at: str
    key: str = ""  # the connection key


def new_connection_key() -> str:
    return str(uuid.uuid4())


def legacy_key(client_id: str) -> str:
    """The key the one refresh token of an earlier version's file is kept under."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"xero-pipeline:connection:{client_id}"))


class TokenStore(Protocol):
    """What the token provider, `connect` and `disconnect` need of a store."""

    def keys(self, client_id: str) -> list[str]:
        """The app's connection keys, oldest first."""
        ...

    def locked(
        self, client_id: str | None = None, key: str | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the connection's exclusive lock (across processes) for a read-refresh-write."""
        ...

    def read(self, client_id: str, key: str | None = None) -> StoredToken | None: ...

    def write(self, client_id: str, refresh_token: Secret, key: str | None = None) -> str:
        """Replace the connection's refresh token durably (inside `locked`); returns its key."""
        ...

    def add(self, client_id: str, refresh_token: Secret) -> str:
        """Store a new connection's refresh token; returns its new key."""
        ...

    def remove(self, client_id: str, key: str) -> bool:
        """Forget a connection; False when there was none."""
        ...


def open_token_store(settings: XeroSettings) -> TokenStore:
    """The store XERO_TOKEN_STORE chose (the settings carry it, checked)."""
    if settings.token_store == "warehouse":
        from xero_pipeline.warehouse.engine import warehouse_url
        from xero_pipeline.warehouse.tokens import WarehouseTokenStore

        return WarehouseTokenStore(warehouse_url(), settings.token_key)
    return FileTokenStore(settings.token_path)


class FileTokenStore:
    """The JSON file: `{client_id: {"connections": {key: {"refresh_token", "stored_at"}}}}`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    @contextlib.contextmanager
    def locked(self, client_id: str | None = None, key: str | None = None) -> Iterator[None]:
        """The whole file's lock: a refresh of one connection rewrites the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        for client_id, entry in list(data.items()):
            if isinstance(entry, dict) and "refresh_token" in entry:  # an earlier version's
                data[client_id] = {"connections": {legacy_key(client_id): entry}}
        return data

    def _connections(self, data: dict, client_id: str) -> dict:
        return data.get(client_id, {}).get("connections", {})

    def keys(self, client_id: str) -> list[str]:
        return list(self._connections(self._load(), client_id))

    def read(self, client_id: str, key: str | None = None) -> StoredToken | None:
        connections = self._connections(self._load(), client_id)
        if key is None:
            key = next(iter(connections), None)
        entry = connections.get(key) if key is not None else None
        if not entry:
            return None
        return StoredToken(Secret(entry["refresh_token"]), entry.get("stored_at", ""), key)

    def write(self, client_id: str, refresh_token: Secret, key: str | None = None) -> str:
        """Replace the connection's refresh token durably: a crash leaves the old file or the
        new. With no key: the app's first connection (a new one when it has none)."""
        data = self._load()
        connections = data.setdefault(client_id, {}).setdefault("connections", {})
        if key is None:
            key = next(iter(connections), None) or new_connection_key()
        connections[key] = {
            "refresh_token": refresh_token.reveal(),
            "stored_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._save(data)
        return key

    def add(self, client_id: str, refresh_token: Secret) -> str:
        key = new_connection_key()
        with self.locked(client_id, key):
            return self.write(client_id, refresh_token, key)

    def remove(self, client_id: str, key: str) -> bool:
        with self.locked(client_id, key):
            data = self._load()
            connections = self._connections(data, client_id)
            if key not in connections:
                return False
            del connections[key]
            self._save(data)
            return True

    def _save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(data, indent=1).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
