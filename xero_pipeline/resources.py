"""Dagster resources. `XeroResource` is Xero for the assets: configured from the environment
(`XERO_*`, see the README), or — with no Xero app configured — the built-in sandbox."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy import Engine

from xero_pipeline.configuration import check_environment
from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from xero_pipeline.sandbox.consent import REDIRECT_URI, consent_code
from xero_pipeline.warehouse.engine import connect, warehouse_url
from xero_pipeline.xero.auth import TokenProvider
from xero_pipeline.xero.client import Tenant, XeroClient
from xero_pipeline.xero.connect import authorize_url, exchange_code
from xero_pipeline.xero.governor import Limits
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import XeroSettings


def sandbox_settings(
    base_url: str, token_dir: Path, tenant_ids: tuple[str, ...] = ()
) -> XeroSettings:
    """Settings for the sandbox's standard app, connected (consent given) and ready to refresh."""
    settings = XeroSettings(
        client_id=SANDBOX_CLIENT_ID,
        client_secret=Secret(SANDBOX_CLIENT_SECRET),
        tenant_ids=tenant_ids,
        api_base=base_url,
        identity_base=base_url,
        token_path=token_dir / "sandbox_tokens.json",
    )
    code = consent_code(authorize_url(settings, REDIRECT_URI, "sandbox"))
    exchange_code(settings, code, REDIRECT_URI)
    return settings


class XeroResource(dg.ConfigurableResource):
    """Xero, from XERO_CLIENT_ID / XERO_CLIENT_SECRET / XERO_TENANT_IDS / XERO_API_BASE /
    XERO_IDENTITY_BASE. Secrets stay in the environment, never in Dagster config or the UI."""

    sandbox_size: str = "small"
    sandbox_seed: int = 42
    minute_limit: int = 60
    minute_seconds: float = 60.0

    _client: XeroClient | None = PrivateAttr(default=None)
    _tenants: list[Tenant] | None = PrivateAttr(default=None)
    _sandbox: Sandbox | None = PrivateAttr(default=None)
    _token_dir: tempfile.TemporaryDirectory | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        check_environment()  # every wrong variable named, before the first call to Xero
        settings = XeroSettings.from_env()
        if settings.sandbox:
            self._sandbox = Sandbox(SandboxConfig(size=self.sandbox_size, seed=self.sandbox_seed))
            self._sandbox.start()
            self._token_dir = tempfile.TemporaryDirectory(prefix="xero-sandbox-tokens-")
            settings = replace(
                sandbox_settings(self._sandbox.url, Path(self._token_dir.name)),
                tenant_ids=settings.tenant_ids,
            )
            context.log.info(
                "No Xero app configured (XERO_CLIENT_ID and XERO_CLIENT_SECRET unset): using the "
                f"built-in Xero sandbox at {self._sandbox.url}. The data is the sandbox's "
                "generated organisations, not a real Xero organisation."
            )
        limits = Limits(per_minute=self.minute_limit, minute_seconds=self.minute_seconds)
        self._client = XeroClient(settings, TokenProvider(settings), limits=limits)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._sandbox is not None:
            self._sandbox.stop()
        if self._token_dir is not None:
            self._token_dir.cleanup()

    @property
    def is_sandbox(self) -> bool:
        return self._sandbox is not None

    @property
    def sandbox(self) -> Sandbox | None:
        """The built-in sandbox this run started (None with a Xero app): its organisations are
        what the customer merge's sample list is generated from."""
        return self._sandbox

    def tenants(self) -> list[Tenant]:
        """The tenants to sync, asked of /connections once per run."""
        if self._tenants is None:
            self._tenants = self.client.tenants()
        return self._tenants

    @property
    def client(self) -> XeroClient:
        if self._client is None:
            raise RuntimeError("XeroResource is used outside a Dagster run (no setup happened)")
        return self._client


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: WAREHOUSE_URL, or an SQLite file under the project's data folder. `url`
    overrides it (tests); put credentials in WAREHOUSE_URL, not here, so the UI never shows them."""

    url: str | None = None

    _engine: Engine | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = connect(self.url or warehouse_url())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = connect(self.url or warehouse_url())
        return self._engine
