"""The sandbox's HTTP face: Xero's paths, headers, envelope and error bodies.

Identity: `POST /connect/token`, `GET /identity/connect/authorize` (the sandbox's own extra
query parameters `user` and `tenants` say who consents and to which organisations),
`GET /connections` (optionally `?authEventId=`), `DELETE /connections/{id}`.
Accounting: `GET /api.xro/2.0/{Organisation,Contacts,ContactGroups,Accounts,Invoices,CreditNotes}`
(and `/{id}` on each). Control, for tests and tools: `/__sandbox/...` (see `admin.py`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import time
import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from xero_pipeline.sandbox import xerojson
from xero_pipeline.sandbox.auth import RESOURCE_SCOPES, OAuthError
from xero_pipeline.sandbox.store import Query, SandboxError, TenantData
from xero_pipeline.sandbox.where import WhereParseError

if TYPE_CHECKING:
    from xero_pipeline.sandbox.app import Sandbox

API_PREFIX = "/api.xro/2.0/"
NOT_FOUND_TEXT = "The resource you're looking for cannot be found"
RESOURCES = {  # path segment (lower case) -> (resource, envelope key, paged)
    "organisation": ("Organisation", "Organisations", False),
    "contacts": ("Contact", "Contacts", True),
    "contactgroups": ("ContactGroup", "ContactGroups", False),
    "accounts": ("Account", "Accounts", False),
    "invoices": ("Invoice", "Invoices", True),
    "creditnotes": ("CreditNote", "CreditNotes", True),
}
JSON_TYPE = "application/json; charset=utf-8"
CENT = Decimal("0.01")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
# Fields summaryOnly=true leaves out (Xero: "excluding computation-heavy fields").
SUMMARY_EXCLUDED = frozenset(
    {
        "LineItems",
        "Addresses",
        "Phones",
        "ContactGroups",
        "ContactPersons",
        "Payments",
        "CreditNotes",
        "Balances",
    }
)


class Response:
    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, xerojson.dumps(payload), JSON_TYPE, headers)


def text_response(status: int, text: str) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8")


def problem(status: int, title: str, detail: str) -> Response:
    """Xero's 401/403 body (an RFC 7807-style problem document)."""
    return json_response(
        status,
        {
            "Type": None,
            "Title": title,
            "Status": status,
            "Detail": detail,
            "Instance": str(uuid.uuid4()),
            "Extensions": {},
        },
    )


def api_exception(kind: str, message: str) -> Response:
    number = {"QueryParseException": 16, "ValidationException": 10}.get(kind, 17)
    payload: dict[str, Any] = {"ErrorNumber": number, "Type": kind, "Message": message}
    if kind == "ValidationException":
        payload["Elements"] = []
    return json_response(400, payload)


def parse_http_date(value: str) -> datetime:
    """If-Modified-Since in RFC 1123 (`Mon, 01 Jan 2024 00:00:00 GMT`) or ISO 8601."""
    value = value.strip()
    try:
        parsed = (
            parsedate_to_datetime(value)
            if "," in value or value.endswith("GMT")
            else datetime.fromisoformat(value)
        )
    except (TypeError, ValueError):
        raise SandboxError(
            400, "ValidationException", f"If-Modified-Since is not a date: {value!r}"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _split(params: dict[str, str], name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in params.get(name, "").split(",") if v.strip())


def _positive_int(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SandboxError(400, "ValidationException", f"{name} must be a whole number") from None
    if value < 1:
        raise SandboxError(400, "ValidationException", f"{name} must be 1 or more")
    return value


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, SandboxHandler)


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections, as with Xero
    # Headers and body go out as separate writes; with Nagle on, the body waits for the
    # client's delayed ACK of the headers (about 40 ms an answer on Linux loopback).
    disable_nagle_algorithm = True
    server_version = "XeroSandbox/1.0"
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet by default; the sandbox counts calls instead of logging them."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """Every response's `Date` header tells the sandbox clock, as Xero's tells Xero's: a
        client that checks "is this in the future" must ask Xero's clock, not its own."""
        if timestamp is None:
            timestamp = self.server.sandbox.clock.now().timestamp()
        return formatdate(timestamp, usegmt=True)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        params = {k.lower(): v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        sandbox = self.server.sandbox
        fault: str | None = None
        try:
            response, fault = sandbox.handle(method, url.path, params, self.headers, body)
        except Exception as exc:  # a bug in the sandbox must still answer, like Xero's 500
            response = text_response(500, f"Sandbox error: {type(exc).__name__}: {exc}")
        self._send(response, fault)

    def _send(self, response: Response, fault: str | None) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if fault == "drop":
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(response.body)


class Router:
    """Turns one request into one response; no sockets here, so it is easy to read and test."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def route(
        self, method: str, path: str, params: dict[str, str], headers: Any, body: bytes
    ) -> tuple[Response, str | None]:
        lower = path.lower().rstrip("/")
        if lower == "/connect/token" and method == "POST":
            return self.token(headers, body), None
        if lower == "/identity/connect/authorize" and method == "GET":
            return self.authorize(params), None
        if lower == "/connections" and method == "GET":
            return self.connections(params, headers)
        if lower.startswith("/connections/") and method == "DELETE":
            return self.delete_connection(lower.removeprefix("/connections/"), headers)
        if lower.startswith("/__sandbox/"):
            return self.sandbox.admin.handle(method, lower, params, body), None
        if lower.startswith(API_PREFIX.lower()) and method == "GET":
            return self.accounting(path[len(API_PREFIX) :].strip("/"), params, headers)
        return text_response(404, NOT_FOUND_TEXT), None

    # -- identity ------------------------------------------------------------------------------

    def token(self, headers: Any, body: bytes) -> Response:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return json_response(400, {"error": "invalid_client"})
        try:
            return json_response(200, self.sandbox.identity.token(client_id, client_secret, form))
        except OAuthError as exc:
            return json_response(exc.status, {"error": exc.code})

    def authorize(self, params: dict[str, str]) -> Response:
        redirect = params.get("redirect_uri", "")
        if params.get("response_type") != "code":
            return json_response(400, {"error": "unsupported_response_type"})
        try:
            tenants = params.get("tenants")
            code = self.sandbox.identity.authorize(
                params.get("client_id", ""),
                redirect,
                params.get("scope", ""),
                user=params.get("user") or None,
                tenants=None if tenants is None else _split(params, "tenants"),
            )
        except OAuthError as exc:
            if not exc.redirect:  # no trustworthy client or redirect URI to send it back to
                return json_response(400, {"error": exc.code})
            return self._redirect(redirect, {"error": exc.code}, params)
        return self._redirect(redirect, {"code": code, "scope": params.get("scope", "")}, params)

    @staticmethod
    def _redirect(redirect: str, query: dict[str, str], params: dict[str, str]) -> Response:
        """Back to the client's redirect URI with the answer and its `state` (RFC 6749 4.1.2)."""
        if "state" in params:
            query = {**query, "state": params["state"]}
        separator = "&" if "?" in redirect else "?"
        return Response(302, b"", headers={"Location": f"{redirect}{separator}{urlencode(query)}"})

    def connections(self, params: dict[str, str], headers: Any) -> tuple[Response, str | None]:
        """The token's user's connections of the app, as they are now (`?authEventId=` keeps
        one consent's). Scripted faults naming `connections` land here too."""
        try:
            grant = self.sandbox.identity.check(headers.get("Authorization"))
        except OAuthError as exc:
            return problem(401, "Unauthorized", exc.code), None
        fault = self.sandbox.faults.next_fault("connections", None, scripted_only=True)
        if fault == "slow":
            time.sleep(self.sandbox.faults.config.slow_seconds)
        if fault in ("500", "503", "429"):
            return self._fault_response(fault, {}), None
        event = params.get("autheventid", "").lower()
        connected = [
            self.sandbox.connection(c)
            for c in self.sandbox.identity.connections(grant.client_id, grant.user)
            if event in ("", c.auth_event_id)
        ]
        return json_response(200, connected), fault

    def delete_connection(self, connection_id: str, headers: Any) -> tuple[Response, str | None]:
        """`DELETE /connections/{id}`: 204 and the organisation leaves the token's user's
        connections (every token of that user sees it gone at once); 404 (a problem document)
        when that user has no such connection, as Xero answers. Scripted faults naming
        `connections` land here too."""
        try:
            grant = self.sandbox.identity.check(headers.get("Authorization"))
        except OAuthError as exc:
            return problem(401, "Unauthorized", exc.code), None
        fault = self.sandbox.faults.next_fault(
            f"connections/{connection_id}", None, scripted_only=True
        )
        if fault == "slow":
            time.sleep(self.sandbox.faults.config.slow_seconds)
        if fault in ("500", "503", "429"):
            return self._fault_response(fault, {}), None
        if not self.sandbox.identity.delete_connection(grant, connection_id):
            return problem(404, "Not Found", f"No connection {connection_id}"), None
        return Response(204), None

    # -- accounting ----------------------------------------------------------------------------

    def accounting(
        self, rest: str, params: dict[str, str], headers: Any
    ) -> tuple[Response, str | None]:
        segment, _, record_id = rest.partition("/")
        target = RESOURCES.get(segment.lower())
        if target is None or "/" in record_id:
            return text_response(404, NOT_FOUND_TEXT), None
        resource, envelope_key, _ = target
        identity = self.sandbox.identity
        try:
            grant = identity.check(headers.get("Authorization"))
        except OAuthError as exc:
            return problem(401, "Unauthorized", exc.code), None
        tenant_id = (headers.get("Xero-tenant-id") or headers.get("xero-tenant-id") or "").lower()
        tenant = self.sandbox.tenants.get(tenant_id)
        if tenant is None or not identity.covers(grant, tenant_id):
            return problem(403, "Forbidden", "AuthenticationUnsuccessful"), None
        if not grant.scopes & set(RESOURCE_SCOPES[resource]):
            return problem(401, "Unauthorized", "AuthorizationUnsuccessful"), None
        if tenant_id in self.sandbox.offline:  # not counted against the limits (unverified)
            return self._fault_response("503", {}), None
        verdict = self.sandbox.limiter.acquire(tenant_id)
        if not verdict.allowed:
            return Response(429, b"", "text/plain", verdict.headers), None
        try:
            self.sandbox.count_call(tenant_id, resource)
            fault = self.sandbox.faults.next_fault(rest, tenant_id)
            if fault == "slow":  # slow while in flight, so it holds a concurrency slot
                time.sleep(self.sandbox.faults.config.slow_seconds)
            if fault in ("500", "503", "429"):
                return self._fault_response(fault, verdict.headers), None
            try:
                payload = self.read(tenant, resource, envelope_key, record_id, params, headers)
            except SandboxError as exc:
                if exc.status == 404:
                    return text_response(404, NOT_FOUND_TEXT), fault
                return api_exception(exc.kind, exc.message), fault
            except WhereParseError as exc:
                return api_exception("QueryParseException", str(exc)), fault
            return Response(200, payload, JSON_TYPE, verdict.headers), fault
        finally:
            self.sandbox.limiter.release(tenant_id)

    @staticmethod
    def _fault_response(kind: str, headers: dict[str, str]) -> Response:
        if kind == "503":
            response = text_response(503, "The Organisation is offline")
        elif kind == "429":
            response = Response(
                429, b"", "text/plain", {"Retry-After": "1", "X-Rate-Limit-Problem": "minute"}
            )
        else:
            response = text_response(
                500,
                "An error occurred in Xero. Check the API Status page "
                "http://status.developer.xero.com for current service status.",
            )
        response.headers = {**headers, **response.headers}
        return response

    def read(
        self,
        tenant: TenantData,
        resource: str,
        envelope_key: str,
        record_id: str,
        params: dict[str, str],
        headers: Any,
    ) -> bytes:
        """The response body of one accounting GET."""
        envelope: dict[str, Any] = {
            "Id": self.sandbox.response_id(),
            "Status": "OK",
            "ProviderName": "Xero Sandbox",
            "DateTimeUTC": xerojson.envelope_date(self.sandbox.clock.now()),
        }
        with tenant.lock:
            if resource == "Organisation":
                envelope[envelope_key] = [xerojson.to_xero(tenant.organisation)]
                return xerojson.dumps(envelope)
            if resource == "ContactGroup" and record_id:
                group, members = tenant.group_members(record_id)
                envelope[envelope_key] = [xerojson.to_xero({**group, "Contacts": members})]
                return xerojson.dumps(envelope)
            items = tenant.collection(resource)
            places = 4 if params.get("unitdp", "").strip() == "4" else 2
            if record_id:
                query = Query(ids=(record_id,), include_archived=True)
                positions = tenant.select(resource, query)
                if not positions:
                    raise SandboxError(404, "NotFound", record_id)
                record = unit_amounts(items.record(positions[0], with_lines=True), places)
                if resource == "Contact":
                    record = _with_groups(record, tenant.groups_by_contact())
                envelope[envelope_key] = [xerojson.to_xero(record)]
                return xerojson.dumps(envelope)
            since = headers.get("If-Modified-Since")
            query = Query(
                where=params.get("where") or None,
                order=params.get("order") or None,
                modified_since=parse_http_date(since) if since else None,
                ids=_split(params, "ids"),
                contact_ids=_split(params, "contactids"),
                statuses=_split(params, "statuses"),
                numbers=_split(params, "invoicenumbers"),
                include_archived=params.get("includearchived", "").lower() == "true",
                search_term=params.get("searchterm") or None,
            )
            positions = tenant.select(resource, query)
            summary = params.get("summaryonly", "").lower() == "true"
            paged = "page" in params and RESOURCES[resource_segment(resource)][2]
            start, stop = 0, len(positions)
            if paged:
                page = _positive_int(params, "page", 1)
                size = min(_positive_int(params, "pagesize", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
                start, stop = (page - 1) * size, page * size
                envelope["pagination"] = {
                    "page": page,
                    "pageSize": size,
                    "pageCount": -(-len(positions) // size),
                    "itemCount": len(positions),
                }
        # Line items only on paged reads, as Xero does.
        with_lines = bool(paged) and not summary
        key = (tenant.tenant_id, resource, query, tenant.version, with_lines, summary, places)
        pages = self.sandbox.pages
        records = pages.get(
            (*key, start, stop),
            lambda: self._render(
                tenant, resource, positions[start:stop], with_lines, summary, places
            ),
        )
        if paged and stop < len(positions):
            if self.sandbox.churn.between_pages(tenant, resource, positions[:stop]):
                return self._body(envelope, envelope_key, records)  # the next page is another
            after = positions[stop : 2 * stop - start]
            pages.prefetch(
                (*key, stop, 2 * stop - start),
                lambda: self._render(tenant, resource, after, with_lines, summary, places),
            )
        return self._body(envelope, envelope_key, records)

    @staticmethod
    def _body(envelope: dict[str, Any], envelope_key: str, records: bytes) -> bytes:
        head = xerojson.dumps(envelope)[:-1]  # the envelope, still open for the records
        return head + b',"' + envelope_key.encode() + b'":' + records + b"}"

    @staticmethod
    def _render(
        tenant: TenantData,
        resource: str,
        positions: list[int],
        with_lines: bool,
        summary: bool,
        places: int,
    ) -> bytes:
        items = tenant.collection(resource)
        records = []
        with tenant.lock:
            # A contact's groups come only on paged reads, like a document's lines.
            groups = tenant.groups_by_contact() if resource == "Contact" and with_lines else None
            for pos in positions:
                record = unit_amounts(items.record(pos, with_lines=with_lines), places)
                if resource == "ContactGroup":
                    record = {**record, "Contacts": []}
                if groups is not None:
                    record = _with_groups(record, groups)
                if summary:
                    record = {k: v for k, v in record.items() if k not in SUMMARY_EXCLUDED}
                records.append(xerojson.to_xero(record))
        return xerojson.dumps(records)


def _with_groups(
    contact: dict[str, Any], groups: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """The contact with its groups listed (`ContactGroups`), as Xero lists them on a paged read."""
    own = groups.get(str(contact.get("ContactID", "")).lower(), [])
    return {**contact, "ContactGroups": own}


def unit_amounts(record: dict[str, Any], places: int) -> dict[str, Any]:
    """Xero serves a line's UnitAmount rounded to two decimal places unless the read asks
    `unitdp=4` (the sandbox rounds half up; Xero does not document how it rounds)."""
    lines = record.get("LineItems")
    if places >= 4 or not isinstance(lines, list):
        return record
    return {**record, "LineItems": [_rounded_unit(line) for line in lines]}


def _rounded_unit(line: Any) -> Any:
    unit = line.get("UnitAmount") if isinstance(line, dict) else None
    if not isinstance(unit, Decimal) or not unit.is_finite() or unit.as_tuple().exponent >= -2:
        return line  # already two places or fewer, or bad data served as it was put
    try:
        return {**line, "UnitAmount": unit.quantize(CENT, rounding=ROUND_HALF_UP)}
    except InvalidOperation:  # too many digits to round: bad data, served as it was put
        return line


def resource_segment(resource: str) -> str:
    return next(seg for seg, (name, _, _) in RESOURCES.items() if name == resource)


def decode_json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    value = json.loads(body)
    if not isinstance(value, dict):
        raise SandboxError(400, "ValidationException", "expected a JSON object")
    return value
