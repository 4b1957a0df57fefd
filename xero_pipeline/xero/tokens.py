"""Where the refresh token lives between runs: a JSON file readable only by its owner.

Xero retires a refresh token when it is used, so the token returned by a refresh is the only one
that works. It is written here — atomically, synced to disk — before the new access token is used,
and every refresh happens under an exclusive file lock, with the stored token re-read inside the
lock: two processes refreshing at once take turns instead of retiring each other's token.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from xero_pipeline.xero.secret import Secret


@dataclass(frozen=True)
class StoredToken:
    refresh_token: Secret
    stored_at: str


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's exclusive lock (across processes) for a read-refresh-write."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def read(self, client_id: str) -> StoredToken | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        entry = data.get(client_id)
        if not entry:
            return None
        return StoredToken(Secret(entry["refresh_token"]), entry.get("stored_at", ""))

    def write(self, client_id: str, refresh_token: Secret) -> None:
        """Replace the client's refresh token durably: a crash leaves the old file or the new."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            data = {}
        data[client_id] = {
            "refresh_token": refresh_token.reveal(),
            "stored_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
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
