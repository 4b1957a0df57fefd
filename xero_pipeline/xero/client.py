"""The Xero Accounting API client: one request done right, and reads built from it.

`get` sends one GET with the tenant header and a fresh token, under the tenant's governor, and
retries what is worth retrying (429, 5xx, timeouts, dropped connections) with exponential backoff
and jitter; `tenants` asks /connections the same way (it has no tenant, so no governor), and says
"reconnect" only when Xero refuses the app's credentials, not when it is merely unavailable.
`pages` reads a paged resource at 1000 a page, one page in memory at a time; `changed_since`
reads what changed after a committed watermark.

Many connections (a platform whose partners each consented): `tenants` asks /connections once
per connection and merges what they cover; each tenant's calls then go with the access token of
the connection that covers it. One connection failing (its refresh token revoked:
`invalid_grant`; its /connections unavailable) does not hide the others' tenants: the failure is
logged and kept in `connection_problems`, and only when every connection fails does `tenants`
raise. `disconnect` removes one organisation's connection (`DELETE /connections/{id}`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from xero_pipeline.xero.auth import TokenProvider, connection_providers
from xero_pipeline.xero.errors import (
    DayLimitReached,
    UnknownTenantError,
    XeroAuthError,
    XeroError,
    XeroRequestError,
    XeroUnavailableError,
)
from xero_pipeline.xero.filters import date_window, dated_after
from xero_pipeline.xero.governor import Governors, Limits
from xero_pipeline.xero.parse import decode, parse_date, parse_timestamp, updated_stamp
from xero_pipeline.xero.settings import XeroSettings

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
IDS_PER_REQUEST = 50  # Xero's practical ceiling on ids in one query string (URL length)
# Incremental reads start this long before the committed watermark: a record stamped just before
# it but not yet visible when it was read (Xero's writes are not instantly visible to reads) is
# read the next time. Re-reading the rest changes nothing: publishes are idempotent.
READ_OVERLAP = timedelta(minutes=5)
# Resources whose UnitAmount Xero rounds to two decimal places unless asked for four (`unitdp=4`):
# every read of them asks, so prices entered to four places arrive as entered.
UNIT_DECIMALS = {"unitdp": 4}
UNIT_DECIMALS_RESOURCES = frozenset(
    {
        "Invoices",
        "CreditNotes",
        "BankTransactions",
        "Items",
        "Overpayments",
        "Prepayments",
        "Receipts",
    }
)
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # failures (5xx, timeouts, drops) tolerated per request
    rate_limited_attempts: int = 20  # 429s tolerated per request
    base_seconds: float = 0.5
    max_seconds: float = 30.0
    timeout_seconds: float = 120.0

    def backoff(self, failure: int) -> float:
        """Full jitter: a random wait up to the exponential bound."""
        return random.uniform(0, min(self.max_seconds, self.base_seconds * 2 ** (failure - 1)))


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    tenant_type: str = "ORGANISATION"
    connection_id: str | None = None  # Xero's id of the connection (/connections' `id`)


@dataclass(frozen=True)
class ConnectionProblem:
    """Why one connection's organisations could not be listed (the others' still are)."""

    connection_key: str
    error: XeroError  # XeroAuthError (e.g. invalid_grant: reconnect), XeroUnavailableError, …

    @property
    def message(self) -> str:
        return str(self.error)

    @property
    def needs_reconnect(self) -> bool:
        return isinstance(self.error, XeroAuthError)


@dataclass(frozen=True)
class Disconnected:
    """What `XeroClient.disconnect` did."""

    tenant: Tenant
    connection_key: str
    connection_id: str
    token_removed: bool  # the connection covered nothing more: its refresh token was dropped


@dataclass
class CallStats:
    """Calls spent, per tenant and endpoint, and what Xero says is left today."""

    calls: Counter = field(default_factory=Counter)
    retries: Counter = field(default_factory=Counter)

    def total(self, tenant_id: str | None = None) -> int:
        return sum(n for (t, _), n in self.calls.items() if tenant_id in (None, t))


def _safe_timestamp(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def _last_page(body: dict[str, Any], page: int, count: int, page_size: int) -> bool:
    """Whether a paged answer is the last: Xero's page count when it sends one, else a short
    page."""
    pagination = body.get("pagination")
    if isinstance(pagination, dict) and "pageCount" in pagination:
        return page >= int(pagination["pageCount"])
    return count < page_size


def _sweep_position(record: dict[str, Any]) -> tuple[date, datetime] | None:
    """A document's place in a sweep's (Date, UpdatedDateUTC) order, to the second; None when
    either is missing or unreadable (hostile data: the sweep then pages on by number)."""
    try:
        day = parse_date(record.get("Date"), record.get("DateString"))
        updated = parse_timestamp(updated_stamp(record))
    except ValueError:
        return None
    if day is None or updated is None:
        return None
    return day, updated.astimezone(UTC).replace(microsecond=0)


def endpoint_of(path: str) -> str:
    return path.split("/", 1)[0]


def xero_clock(response: requests.Response) -> datetime | None:
    """Xero's clock when it answered: the HTTP `Date` header (to the second), in UTC."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        stamp = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _worth_a_refresh(response: requests.Response, tenant_id: str | None) -> bool:
    """A 401 a new access token may cure: Xero's TokenExpired, or any 401 from /connections
    (which answers nothing more specific). A missing scope is not cured by refreshing."""
    return tenant_id is None or "TokenExpired" in response.text


class XeroClient:
    def __init__(
        self,
        settings: XeroSettings,
        tokens: TokenProvider | Sequence[TokenProvider] | None = None,
        *,
        session: requests.Session | None = None,
        limits: Limits | None = None,
        governors: Governors | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.settings = settings
        if tokens is None:  # every connection in the token store (or the custom connection)
            tokens = connection_providers(settings)
        self.connections: list[TokenProvider] = (
            [tokens] if isinstance(tokens, TokenProvider) else list(tokens)
        )
        if not self.connections:
            raise XeroAuthError("no Xero connection. Connect with `xero-pipeline connect`.")
        # What the last `tenants` learned: each tenant's connection, and each connection's problem.
        self.connection_problems: dict[str, ConnectionProblem] = {}
        self.connection_tenants: dict[str, list[Tenant]] = {}
        self._routes: dict[str, TokenProvider] = {}
        self._connection_ids: dict[str, str] = {}  # tenant id -> Xero's connection id
        self._routes_lock = threading.Lock()
        self._learned = False
        self.session = session or requests.Session()
        self.governors = governors or Governors(limits)
        self.retry = retry or RetryPolicy()
        self.stats = CallStats()
        self.page_size = page_size  # records a page on paged reads (Xero: at most 1000)
        self.server_time: dict[str, datetime] = {}  # per tenant: Xero's clock at the last answer

    def __repr__(self) -> str:
        return f"XeroClient(api_base={self.settings.api_base!r})"

    @property
    def tokens(self) -> TokenProvider:
        """The first connection's token provider (the only one, for an app consented once)."""
        return self.connections[0]

    # -- tenants -------------------------------------------------------------------------------

    def tenants(self) -> list[Tenant]:
        """The connected organisations of every connection, narrowed to XERO_TENANT_IDS when it
        is set. A connection that fails is skipped (see `connection_problems`) unless all do."""
        connected: dict[str, Tenant] = {}
        routes: dict[str, TokenProvider] = {}
        connection_ids: dict[str, str] = {}
        problems: dict[str, ConnectionProblem] = {}
        by_connection: dict[str, list[Tenant]] = {}
        first_error: XeroError | None = None
        for number, provider in enumerate(self.connections, start=1):
            try:
                listed = self._connections_of(provider)
            except XeroError as exc:
                key = provider.connection_key or f"#{number}"
                problems[key] = ConnectionProblem(key, exc)
                first_error = first_error or exc
                log.warning("Xero connection %s: its organisations are skipped: %s", key, exc)
                continue
            key = provider.connection_key or f"#{number}"
            by_connection[key] = []
            for item in listed:
                tenant = Tenant(
                    item["tenantId"],
                    item.get("tenantName") or "",
                    item.get("tenantType") or "",
                    str(item.get("id") or "") or None,
                )
                by_connection[key].append(tenant)
                tenant_key = tenant.tenant_id.lower()
                if tenant_key not in connected:  # two consents of one organisation: the first
                    connected[tenant_key] = tenant
                    routes[tenant_key] = provider
                    connection_ids[tenant_key] = str(item.get("id") or "")
        with self._routes_lock:
            self._learned = True
            self._routes, self._connection_ids = routes, connection_ids
            self.connection_problems, self.connection_tenants = problems, by_connection
        if first_error is not None and len(problems) == len(self.connections):
            raise first_error
        wanted = self.settings.tenant_ids
        if not wanted:
            return list(connected.values())
        missing = [t for t in wanted if t.lower() not in connected]
        if missing and not problems:
            raise XeroAuthError(
                f"XERO_TENANT_IDS lists {', '.join(missing)}, which this app is "
                "not connected to. Connect it with `xero-pipeline connect`."
            )
        if missing:
            log.warning(
                "XERO_TENANT_IDS lists %s, which no working connection covers; skipped.",
                ", ".join(missing),
            )
        return [connected[t.lower()] for t in wanted if t.lower() in connected]

    def _connections_of(self, provider: TokenProvider) -> list[dict[str, Any]]:
        response = self._call(
            f"{self.settings.api_base}/connections",
            "/connections",
            {"Accept": "application/json"},
            tenant_id=None,
            tokens=provider,
        )
        listed = decode(response.content)
        return [c for c in listed if isinstance(c, dict) and c.get("tenantId")]

    def connection_of(self, tenant_id: str) -> str | None:
        """The key of the connection whose token reads the tenant (after `tenants`)."""
        provider = self._routes.get(tenant_id.lower())
        return provider.connection_key if provider is not None else None

    def _provider(self, tenant_id: str) -> TokenProvider:
        """The token provider of the connection covering the tenant: with one connection, it;
        with many, learned from /connections (once, unless a new tenant turns up)."""
        if len(self.connections) == 1:
            return self.connections[0]
        provider = self._routes.get(tenant_id.lower())
        if provider is None and not self._learned:
            with contextlib.suppress(XeroError):  # every connection failed: the call says why
                self.tenants()
            provider = self._routes.get(tenant_id.lower())
        return provider or self.connections[0]  # an unknown tenant: Xero's 403 says so

    # -- disconnecting -------------------------------------------------------------------------

    def disconnect(self, tenant: str) -> Disconnected:
        """Remove an organisation's connection (tenant id or organisation name) with Xero's
        `DELETE /connections/{id}`; drop the connection's refresh token from the store when it
        covers nothing any more. Raises UnknownTenantError when no connection covers it."""
        tenants = self.tenants_unfiltered()
        wanted = tenant.strip().lower()
        matches = [t for t in tenants if wanted in (t.tenant_id.lower(), t.name.lower())]
        if len(matches) != 1:
            known = "; ".join(f"{t.tenant_id} ({t.name})" for t in tenants) or "none"
            what = "is not" if not matches else "names more than one organisation"
            raise UnknownTenantError(
                f"{tenant!r} {what} connected to this app (give a tenant id, or an "
                f"organisation name exactly). Connected: {known}."
            )
        found = matches[0]
        provider = self._routes[found.tenant_id.lower()]
        connection_id = self._connection_ids.get(found.tenant_id.lower(), "")
        try:
            self._call(
                f"{self.settings.api_base}/connections/{connection_id}",
                "/connections",
                {"Accept": "application/json"},
                tenant_id=None,
                tokens=provider,
                method="DELETE",
            )
        except XeroRequestError as exc:
            if exc.status != 404:  # 404: gone already (revoked in Xero meanwhile)
                raise
        log.info(
            "Disconnected %s (%s) from connection %s.",
            found.name,
            found.tenant_id,
            provider.connection_key,
        )
        removed = False
        if not self._connections_of(provider) and provider.key is not None:
            client_id = self.settings.client_id or ""
            removed = provider.store.remove(client_id, provider.key)
            self.connections = [p for p in self.connections if p is not provider]
        with self._routes_lock:
            self._routes.pop(found.tenant_id.lower(), None)
            self._connection_ids.pop(found.tenant_id.lower(), None)
        return Disconnected(found, provider.connection_key, connection_id, removed)

    def tenants_unfiltered(self) -> list[Tenant]:
        """Every connected organisation, whatever XERO_TENANT_IDS says."""
        if not self.settings.tenant_ids:
            return self.tenants()
        narrow = self.settings
        try:
            self.settings = replace(narrow, tenant_ids=())
            return self.tenants()
        finally:
            self.settings = narrow

    # -- one request ---------------------------------------------------------------------------

    def get(
        self,
        tenant_id: str,
        path: str,
        params: dict[str, Any] | None = None,
        modified_since: datetime | None = None,
    ) -> dict[str, Any]:
        """GET /api.xro/2.0/{path} for a tenant; Xero's JSON with exact decimals (unit prices to
        four places). Notes Xero's clock for the tenant (`server_time`)."""
        url = f"{self.settings.api_base}/api.xro/2.0/{path}"
        if endpoint_of(path) in UNIT_DECIMALS_RESOURCES:
            params = {**UNIT_DECIMALS, **(params or {})}
        headers = {"Xero-tenant-id": tenant_id, "Accept": "application/json"}
        if modified_since is not None:
            headers["If-Modified-Since"] = modified_since.astimezone(UTC).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
        response = self._call(
            url, path, headers, tenant_id=tenant_id, params=params, tokens=self._provider(tenant_id)
        )
        body = decode(response.content)
        stamp = xero_clock(response) or _safe_timestamp(body.get("DateTimeUTC"))
        if stamp is not None:
            self.server_time[tenant_id] = stamp
        return body

    def _call(
        self,
        url: str,
        path: str,
        headers: dict[str, str],
        *,
        tenant_id: str | None,
        params: dict[str, Any] | None = None,
        tokens: TokenProvider | None = None,
        method: str = "GET",
    ) -> requests.Response:
        """One GET done right: a fresh token (of `tokens`, the connection's provider), the
        tenant's governor (none for /connections, `tenant_id` None: it is outside the per-tenant
        limits), retries for 5xx, timeouts and dropped connections, 429s waited out, one token
        refresh on a 401. The 200 (or, for a DELETE, 204) response."""
        tokens = tokens or self.connections[0]
        governor = self.governors[tenant_id] if tenant_id is not None else None
        key = (tenant_id or "-", endpoint_of(path.lstrip("/")))
        failures = limited = 0
        refreshed = False
        while True:
            token = tokens.access_token()
            response, problem = None, None
            with governor.call() if governor is not None else nullcontext():
                try:
                    response = self.session.request(
                        method,
                        url,
                        params=params,
                        timeout=self.retry.timeout_seconds,
                        headers={**headers, "Authorization": f"Bearer {token.reveal()}"},
                    )
                except TRANSPORT_ERRORS as exc:
                    problem = type(exc).__name__
            self.stats.calls[key] += 1
            if response is not None:
                if governor is not None:
                    governor.observe(response.headers)
                if response.status_code == 200 or (
                    method == "DELETE" and response.status_code == 204
                ):
                    return response
                if (
                    response.status_code == 401
                    and not refreshed
                    and _worth_a_refresh(response, tenant_id)
                ):
                    tokens.expired(token)
                    refreshed = True
                    continue
                if response.status_code == 429:
                    limited += 1
                    time.sleep(self._rate_limited(tenant_id, path, response, limited))
                    continue
                if response.status_code not in RETRYABLE_STATUSES:
                    raise self._refusal(tenant_id, path, response)
                problem = f"{response.status_code} {response.text[:80]!r}"
            failures += 1
            self.stats.retries[key] += 1
            where = f" (tenant {tenant_id})" if tenant_id else ""
            if failures >= self.retry.attempts:
                raise XeroUnavailableError(
                    f"Xero kept failing for {method} {path}{where}: {problem}, "
                    f"{failures} attempts. Try again later; nothing was published."
                )
            wait = self.retry.backoff(failures)
            log.warning(
                "Xero: %s for %s%s; retry %d of %d in %.1f s",
                problem,
                path,
                where,
                failures,
                self.retry.attempts - 1,
                wait,
            )
            time.sleep(wait)

    def _rate_limited(
        self, tenant_id: str | None, path: str, response: requests.Response, count: int
    ) -> float:
        problem = response.headers.get("X-Rate-Limit-Problem", "").lower()
        try:
            retry_after = float(response.headers.get("Retry-After", "60"))
        except ValueError:
            retry_after = 60.0
        if problem == "day" and tenant_id is not None:
            raise DayLimitReached(tenant_id, datetime.now(UTC) + timedelta(seconds=retry_after))
        where = f" (tenant {tenant_id})" if tenant_id else ""
        if count >= self.retry.rate_limited_attempts:
            raise XeroUnavailableError(
                f"Xero rate-limited GET {path}{where} "
                f"{count} times in a row ({problem or 'unknown limit'})."
            )
        log.warning(
            "Xero: rate limited (%s) on %s%s; waiting %.0f s as asked",
            problem or "unknown limit",
            path,
            where,
            retry_after,
        )
        return retry_after

    @staticmethod
    def _refusal(tenant_id: str | None, path: str, response: requests.Response) -> Exception:
        status = response.status_code
        try:
            body = decode(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict):
            message = str(body.get("Message") or body.get("Detail") or body.get("Title") or body)
            if body.get("Elements"):
                details = [
                    e.get("Message")
                    for el in body["Elements"]
                    for e in el.get("ValidationErrors", [])
                ]
                message += f" ({'; '.join(d for d in details if d)})"
        else:
            message = response.text[:300] or response.reason
        if status == 401:
            what = (
                "the app lacks a scope this read needs"
                if "AuthorizationUnsuccessful" in message
                else "Xero refused the token"
                + (" even after a refresh" if tenant_id is None else "")
            )
            return XeroAuthError(
                f"{what} ({message}) for GET {path}. Reconnect with `xero-pipeline connect`."
            )
        if status == 403 and tenant_id is not None:
            message += (
                f" — tenant {tenant_id} is not connected to this app, or its access was "
                "revoked; reconnect with `xero-pipeline connect`"
            )
        return XeroRequestError(status, path, message)

    # -- reads ---------------------------------------------------------------------------------

    def pages(
        self,
        tenant_id: str,
        path: str,
        key: str,
        params: dict[str, Any] | None = None,
        modified_since: datetime | None = None,
        page_size: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Each page of a paged read, in order. Stops at Xero's page count (or a short page), so
        n records cost ceil(n / page_size) calls — one when there are none."""
        page_size = page_size or self.page_size
        page = 1
        while True:
            query = {**(params or {}), "page": page, "pageSize": page_size}
            body = self.get(tenant_id, path, query, modified_since)
            records = body.get(key) or []
            yield records
            if _last_page(body, page, len(records), page_size):
                return
            page += 1

    def records(
        self, tenant_id: str, path: str, key: str, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        for page in self.pages(tenant_id, path, key, **kwargs):
            yield from page

    def by_ids(
        self,
        tenant_id: str,
        path: str,
        key: str,
        ids: Sequence[str],
        params: dict[str, Any] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of the records with these ids (`IDs`), IDS_PER_REQUEST ids a request; paged,
        so documents come with their lines and contacts with their groups. No ids: no call."""
        for start in range(0, len(ids), IDS_PER_REQUEST):
            wanted = ",".join(ids[start : start + IDS_PER_REQUEST])
            yield from self.pages(tenant_id, path, key, params={**(params or {}), "IDs": wanted})

    def changes(
        self,
        tenant_id: str,
        path: str,
        key: str,
        since: datetime | None,
        params: dict[str, Any] | None = None,
        page_size: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of the records modified at or after `since` (all of them when None), oldest
        change first, read by keyset rather than by offset: each request asks for the changes
        from the newest stamp read so far (If-Modified-Since, to the second, inclusive) in
        `UpdatedDateUTC` order. A record edited while the read goes on moves to the end of that
        order and is read again there; none can slip between two pages, as one can when offset
        pages shift under the reader. Records in a boundary second come back twice: consumers
        keep the last copy of each. Only when a whole page shares one second (a bulk import)
        does it move on by page number instead."""
        page_size = page_size or self.page_size
        cursor, page = since, 1
        while True:
            query = {
                **(params or {}),
                "order": "UpdatedDateUTC ASC",
                "page": page,
                "pageSize": page_size,
            }
            body = self.get(tenant_id, path, query, cursor)
            records = body.get(key) or []
            yield records
            if _last_page(body, page, len(records), page_size) or not records:
                return
            newest = _safe_timestamp(records[-1].get("UpdatedDateUTC"))
            if newest is None or (
                cursor is not None
                and newest.replace(microsecond=0) <= cursor.replace(microsecond=0)
            ):
                page += 1  # the cursor cannot move: page on within the same second
            else:
                cursor, page = newest.replace(microsecond=0), 1

    def sweep(
        self,
        tenant_id: str,
        path: str,
        key: str,
        start: date,
        end: date,
        page_size: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of the documents dated in [start, end), oldest date first, so a caller can take
        a month as soon as the read has passed it. One read for the whole range: n documents
        cost about ceil(n / page_size) calls however thinly they spread over the months.

        Read by keyset, like `changes`, in (Date, UpdatedDateUTC) order: each request asks for
        what follows the last record read (a later date, or the same date changed at or after
        its second). A record edited meanwhile moves later within its date and is read again;
        none can slip between two pages. Records of the boundary second come back twice
        (consumers keep the last copy); only when a whole page shares one date and second does
        it page on by number instead."""
        page_size = page_size or self.page_size
        cursor: tuple[date, datetime] | None = None
        page = 1
        while True:
            where = date_window(start, end)
            if cursor is not None:
                where = f"{where} AND {dated_after(*cursor)}"
            query = {
                "where": where,
                "order": "Date ASC, UpdatedDateUTC ASC",
                "page": page,
                "pageSize": page_size,
            }
            body = self.get(tenant_id, path, query)
            records = body.get(key) or []
            yield records
            if _last_page(body, page, len(records), page_size) or not records:
                return
            last = _sweep_position(records[-1])
            if last is None or (cursor is not None and last <= cursor):
                page += 1  # the cursor cannot move: page on within the same date and second
            else:
                cursor, page = last, 1

    def changed_since(
        self,
        tenant_id: str,
        path: str,
        key: str,
        watermark: datetime | None,
        params: dict[str, Any] | None = None,
        paged: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Records changed after `watermark` (all of them when it is None), each once (its
        latest copy). Xero compares If-Modified-Since to the second, so records stamped in the
        watermark's own second come back again; those at or before the watermark are dropped."""
        if paged:
            pages = self.changes(tenant_id, path, key, watermark, params=params)
            found: Iterator[dict[str, Any]] = iter(latest_copies(pages, key))
        else:
            found = iter(self.get(tenant_id, path, params, watermark).get(key) or [])
        for record in found:
            updated = parse_timestamp(updated_stamp(record))
            if watermark is None or updated is None or updated > watermark:
                yield record


def latest_copies(pages: Iterable[list[dict[str, Any]]], key: str) -> list[dict[str, Any]]:
    """Each record of a keyset read (`XeroClient.changes`) once: the copy from the latest page it
    came on (the read repeats its boundary, and a record edited meanwhile comes again later).
    Two copies on one page are Xero's own doing: both are kept, for the gate to judge."""
    latest: dict[Any, tuple[int, list[dict[str, Any]]]] = {}
    for number, page in enumerate(pages):
        for record in page:
            identity = _identity(record, key)
            seen = latest.get(identity)
            if seen is not None and seen[0] == number:
                seen[1].append(record)
            else:
                latest[identity] = (number, [record])
    return [record for _, kept in latest.values() for record in kept]


def _identity(record: dict[str, Any], key: str) -> Any:
    """A record's id (ContactID for Contacts, InvoiceID for Invoices, …), or the record itself
    when it has none (hostile data: the gate will judge it)."""
    singular = key.removesuffix("s")
    return record.get(f"{singular}ID") or id(record)
