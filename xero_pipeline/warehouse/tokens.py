"""The token store in the warehouse (XERO_TOKEN_STORE=warehouse): table `xero_tokens`.

Each refresh token is encrypted at rest with Fernet (AES-128-CBC and HMAC-SHA256) under
XERO_TOKEN_KEY, which lives in the environment (or a secret manager), never beside the data: a
copy of the warehouse alone opens nothing. A missing, malformed or wrong key is one ConfigError
naming XERO_TOKEN_KEY, never the key or a token.

A refresh holds its connection's row lock for the whole read-refresh-write — PostgreSQL:
`SELECT … FOR UPDATE` inside the refresh's transaction; SQLite: `BEGIN IMMEDIATE` (the database's
one write slot) — and commits the rotated token before the access token is used: processes
refreshing the same connection take turns (the second reads the first's new token), and
processes refreshing different connections do not wait for each other on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.engine import make_url

from xero_pipeline.warehouse.engine import connect
from xero_pipeline.warehouse.schema import xero_tokens
from xero_pipeline.warehouse.transactions import WRITER
from xero_pipeline.xero.errors import ConfigError
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import token_cipher
from xero_pipeline.xero.tokens import StoredToken, new_connection_key

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _engine(url: str) -> Engine:
    """One engine per warehouse for every store in the process (the schema checked once)."""
    with _engines_lock:
        if url not in _engines:
            _engines[url] = connect(url)
        return _engines[url]


class WarehouseTokenStore:
    def __init__(self, url: str, key: Secret | None) -> None:
        self._cipher: Fernet = token_cipher(key, required=True)  # type: ignore[assignment]
        self._url = url
        self._local = threading.local()

    def __repr__(self) -> str:
        shown = make_url(self._url).render_as_string(hide_password=True)
        return f"WarehouseTokenStore({shown!r}, table='xero_tokens')"

    @property
    def engine(self) -> Engine:
        return _engine(self._url)

    # -- the lock --------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, client_id: str | None = None, key: str | None = None) -> Iterator[None]:
        """The connection's row lock, held until the block ends; `read` and `write` inside it
        run in its transaction, which commits when the block ends (rolls back on an error)."""
        if getattr(self._local, "connection", None) is not None:
            yield  # already inside (the same thread): one transaction
            return
        with self.engine.connect() as connection:
            connection.execution_options(**{WRITER: True})  # SQLite: BEGIN IMMEDIATE
            with connection.begin():
                if client_id is not None:
                    query = select(xero_tokens.c.connection_key).where(
                        xero_tokens.c.client_id == client_id
                    )
                    if key is not None:
                        query = query.where(xero_tokens.c.connection_key == key)
                    else:
                        query = query.order_by(
                            xero_tokens.c.created_at, xero_tokens.c.connection_key
                        ).limit(1)
                    connection.execute(query.with_for_update()).all()
                self._local.connection = connection
                try:
                    yield
                finally:
                    self._local.connection = None

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        current = getattr(self._local, "connection", None)
        if current is not None:
            yield current
            return
        with self.engine.begin() as connection:
            yield connection

    # -- the rows --------------------------------------------------------------------------

    def keys(self, client_id: str) -> list[str]:
        with self._connection() as connection:
            return list(
                connection.execute(
                    select(xero_tokens.c.connection_key)
                    .where(xero_tokens.c.client_id == client_id)
                    .order_by(xero_tokens.c.created_at, xero_tokens.c.connection_key)
                ).scalars()
            )

    def read(self, client_id: str, key: str | None = None) -> StoredToken | None:
        query = select(
            xero_tokens.c.connection_key, xero_tokens.c.refresh_token, xero_tokens.c.stored_at
        ).where(xero_tokens.c.client_id == client_id)
        if key is not None:
            query = query.where(xero_tokens.c.connection_key == key)
        query = query.order_by(xero_tokens.c.created_at, xero_tokens.c.connection_key).limit(1)
        with self._connection() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        stored_at = row.stored_at.isoformat(timespec="seconds") if row.stored_at else ""
        return StoredToken(self._decrypt(row.refresh_token), stored_at, row.connection_key)

    def write(self, client_id: str, refresh_token: Secret, key: str | None = None) -> str:
        now = datetime.now(UTC)
        ciphertext = self._cipher.encrypt(refresh_token.reveal().encode()).decode()
        with self._connection() as connection:
            if key is None:
                key = next(iter(self.keys(client_id)), None)
            if key is not None:
                done = connection.execute(
                    update(xero_tokens)
                    .where(
                        xero_tokens.c.client_id == client_id,
                        xero_tokens.c.connection_key == key,
                    )
                    .values(refresh_token=ciphertext, stored_at=now)
                )
                if done.rowcount:
                    return key
            key = key or new_connection_key()
            connection.execute(
                insert(xero_tokens).values(
                    client_id=client_id,
                    connection_key=key,
                    refresh_token=ciphertext,
                    created_at=now,
                    stored_at=now,
                )
            )
        return key

    def add(self, client_id: str, refresh_token: Secret) -> str:
        return self.write(client_id, refresh_token, new_connection_key())

    def remove(self, client_id: str, key: str) -> bool:
        with self._connection() as connection:
            gone = connection.execute(
                delete(xero_tokens).where(
                    xero_tokens.c.client_id == client_id, xero_tokens.c.connection_key == key
                )
            )
        return bool(gone.rowcount)

    def _decrypt(self, ciphertext: str) -> Secret:
        try:
            return Secret(self._cipher.decrypt(ciphertext.encode()).decode())
        except InvalidToken:
            raise ConfigError(
                "XERO_TOKEN_KEY",
                "does not open the refresh tokens stored in the warehouse table xero_tokens: "
                "it is not the key they were stored with. Set the key used when connecting, "
                "or connect again (`xero-pipeline connect`) after deleting the table's rows.",
            ) from None
