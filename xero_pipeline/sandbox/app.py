"""`Sandbox`: generate the organisations, serve them on loopback, and control them from tests."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from xero_pipeline.sandbox import xerojson
from xero_pipeline.sandbox.admin import Admin
from xero_pipeline.sandbox.auth import (
    ALL_READ_SCOPES,
    DEFAULT_USER,
    AuthConfig,
    ClientApp,
    Connection,
    IdentityService,
)
from xero_pipeline.sandbox.churn import Churn, ChurnConfig
from xero_pipeline.sandbox.clock import SandboxClock
from xero_pipeline.sandbox.faults import FaultConfig, FaultInjector
from xero_pipeline.sandbox.generator import OrgGenerator, OrgSpec, default_orgs, generated_org
from xero_pipeline.sandbox.limits import LimitConfig, RateLimiter
from xero_pipeline.sandbox.pages import PageCache
from xero_pipeline.sandbox.server import Response, Router, SandboxHTTPServer
from xero_pipeline.sandbox.store import TenantData

# The sandbox's own apps. These are not secrets: they open nothing but this local sandbox.
SANDBOX_CLIENT_ID = "sandbox-app"
SANDBOX_CLIENT_SECRET = "sandbox-secret"
SANDBOX_CUSTOM_CLIENT_ID = "sandbox-custom-connection"
SANDBOX_CUSTOM_CLIENT_SECRET = "sandbox-custom-secret"
# An app created before 2 March 2026: it may still ask for the broad accounting.transactions scope.
SANDBOX_LEGACY_CLIENT_ID = "sandbox-legacy-app"
SANDBOX_LEGACY_CLIENT_SECRET = "sandbox-legacy-secret"


@dataclass(frozen=True)
class SandboxConfig:
    seed: int = 42
    size: str = "small"
    orgs: tuple[OrgSpec, ...] | None = None  # overrides `size` and `tenants`
    tenants: int | None = None  # that many generated organisations of `size` (default: two)
    hidden: int = 0  # the last `hidden` organisations are connected to nobody at first
    as_of: date | None = None  # "today" for the organisations; default: the real UTC date
    frozen_clock: bool = False
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    limits: LimitConfig = field(default_factory=LimitConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    churn: ChurnConfig = field(default_factory=ChurnConfig)  # records change between pages


class Sandbox:
    """A fake Xero: `with Sandbox(SandboxConfig(size="tiny")) as xero: requests.get(xero.url…)`."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config = config or SandboxConfig()
        as_of = config.as_of or datetime.now(UTC).date()
        self.clock = SandboxClock(
            datetime.combine(as_of, time(0), tzinfo=UTC), frozen=config.frozen_clock
        )
        self._as_of = as_of
        if config.orgs:
            specs = config.orgs
        elif config.tenants is not None:
            specs = tuple(
                generated_org(config.size, config.seed, i, ()) for i in range(config.tenants)
            )
        else:
            specs = default_orgs(config.size)
        self.tenants: dict[str, TenantData] = {}
        for index, spec in enumerate(specs):
            org = OrgGenerator(spec, config.seed, index, as_of).generate()
            self.tenants[org.tenant_id] = TenantData(org, self.clock.now)
        self.offline: set[str] = set()  # organisations answering 503 until brought online
        self.limiter = RateLimiter(config.limits)
        self.faults = FaultInjector(config.faults)
        self.churn = Churn(config.churn)
        self.identity = IdentityService(self.clock.now, config.auth)
        self.identity.organisations.update(self.tenants)
        self.identity.seed = config.seed
        tenant_ids = tuple(self.tenants)
        shown = tenant_ids[: len(tenant_ids) - max(config.hidden, 0)]
        # The standard app and the custom connection are new apps (granular scopes only).
        self.identity.register(ClientApp(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, shown))
        self.identity.register(
            ClientApp(
                SANDBOX_LEGACY_CLIENT_ID,
                SANDBOX_LEGACY_CLIENT_SECRET,
                shown,
                scopes=ALL_READ_SCOPES,
                granular_only=False,
            )
        )
        self.identity.register(
            ClientApp(
                SANDBOX_CUSTOM_CLIENT_ID,
                SANDBOX_CUSTOM_CLIENT_SECRET,
                tenant_ids[:1],
                custom_connection=True,
            )
        )
        self.pages = PageCache()
        self.admin = Admin(self)
        self._router = Router(self)
        self._lock = threading.Lock()
        self._responses = 0
        self.calls: dict[tuple[str, str], int] = {}
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Sandbox:
        self._server = SandboxHTTPServer((self.config.host, self.config.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="xero-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.pages.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL: use it as both XERO_API_BASE and XERO_IDENTITY_BASE."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- serving -------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, params: dict[str, str], headers: Any, body: bytes
    ) -> tuple[Response, str | None]:
        return self._router.route(method, path, params, headers, body)

    def response_id(self) -> str:
        """Envelope ids are numbered, so the same requests give the same bytes."""
        with self._lock:
            self._responses += 1
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.config.seed}:{self._responses}"))

    def count_call(self, tenant_id: str, resource: str) -> None:
        with self._lock:
            key = (tenant_id, resource)
            self.calls[key] = self.calls.get(key, 0) + 1

    def connection(self, connection: Connection) -> dict[str, Any]:
        """One item of `GET /connections`."""
        return {
            "id": connection.id,
            "authEventId": connection.auth_event_id,
            "tenantId": connection.tenant_id,
            "tenantType": "ORGANISATION",
            "tenantName": self.tenants[connection.tenant_id].name,
            "createdDateUtc": xerojson.connection_timestamp(connection.created),
            "updatedDateUtc": xerojson.connection_timestamp(connection.updated),
        }

    # -- control -------------------------------------------------------------------------------

    def tenant(self, key: int | str = 0) -> TenantData:
        """A tenant by position, id or name."""
        if isinstance(key, int):
            return list(self.tenants.values())[key]
        for tenant in list(self.tenants.values()):
            if key.lower() in (tenant.tenant_id, tenant.name.lower()):
                return tenant
        raise KeyError(f"no sandbox tenant {key!r}")

    # -- connections and organisations (a platform's partners, their consents) ------------------

    def connect(
        self, tenant: int | str, user: str | None = None, client_id: str = SANDBOX_CLIENT_ID
    ) -> str:
        """Add an organisation to `user`'s connections of the app (default: the standard app's
        default user), as a consent choosing one more organisation would; tokens that user already
        holds see it at once. Returns the tenant id."""
        tenant_id = self.tenant(tenant).tenant_id
        self.identity.connect(client_id, user or DEFAULT_USER, (tenant_id,), str(uuid.uuid4()))
        return tenant_id

    def disconnect(self, tenant: int | str) -> int:
        """The organisation's admin revokes the app in Xero: the organisation leaves every user's
        connections of every app; its calls answer 403 and `/connections` no longer lists it.
        Returns how many connections went."""
        return self.identity.disconnect_tenant(self.tenant(tenant).tenant_id)

    def connected(self, user: str | None = None, client_id: str = SANDBOX_CLIENT_ID) -> list[str]:
        """The tenant ids `user` has connected to the app now."""
        return [c.tenant_id for c in self.identity.connections(client_id, user or DEFAULT_USER)]

    def add_organisation(self, spec: OrgSpec | None = None) -> str:
        """Generate one more organisation now (default: one of the sandbox's `size`, with a new
        name), connected to nobody: a consent naming it (`tenants=`) or `connect` connects it.
        Returns its tenant id."""
        with self._lock:
            index = len(self.tenants)
            names = tuple(t.name for t in self.tenants.values())
            spec = spec or generated_org(self.config.size, self.config.seed, index, names)
            org = OrgGenerator(spec, self.config.seed, index, self._as_of).generate()
            if org.tenant_id in self.tenants:
                raise ValueError(f"the sandbox already has tenant {org.tenant_id}")
            self.tenants[org.tenant_id] = TenantData(org, self.clock.now)
            self.identity.organisations.add(org.tenant_id)
        return org.tenant_id

    def take_offline(self, tenant: int | str) -> str:
        """Every accounting call for the organisation answers 503 `The Organisation is offline`
        (Xero: minutes to an hour) until `bring_online`. Returns the tenant id."""
        tenant_id = self.tenant(tenant).tenant_id
        with self._lock:
            self.offline.add(tenant_id)
        return tenant_id

    def bring_online(self, tenant: int | str) -> str:
        tenant_id = self.tenant(tenant).tenant_id
        with self._lock:
            self.offline.discard(tenant_id)
        return tenant_id

    def total_calls(self, tenant_id: str | None = None) -> int:
        with self._lock:
            return sum(n for (t, _), n in self.calls.items() if tenant_id in (None, t))

    def state(self) -> dict[str, Any]:
        return {
            "now": self.clock.now().isoformat(),
            "tenants": [
                {
                    "tenant_id": t.tenant_id,
                    "name": t.name,
                    "contacts": len(t.contacts),
                    "accounts": len(t.accounts),
                    "contact_groups": len(t.groups),
                    "active_contact_groups": sum(
                        1 for g in t.groups.records if g.get("Status") == "ACTIVE"
                    ),
                    "invoices": len(t.invoices),
                    "credit_notes": len(t.credit_notes),
                    "calls": self.total_calls(t.tenant_id),
                }
                for t in list(self.tenants.values())
            ],
            "connections": self.identity.connection_sets(),
            "offline": sorted(self.offline),
            "faults_injected": self.faults.injected,
            "rate_limit_rejections": self.limiter.rejections,
        }
