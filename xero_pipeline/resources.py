"""The resources every asset uses, and the one place where Xero or its stand-in is chosen.

- `XeroResource`: the Xero Accounting API, configured from the environment (`XERO_*`, see the
  README). Secrets stay in the environment, never in Dagster config or the UI.
- `SandboxXeroResource`: the same client, aimed at the built-in sandbox it starts for the run (no
  Xero account needed). It also offers the sandbox's sample customer list to the merge.
- `WarehouseResource`: the warehouse (`WAREHOUSE_URL`, or an SQLite file under the data folder).

`pipeline_resources()` picks: with no Xero app configured (`XERO_CLIENT_ID` and
`XERO_CLIENT_SECRET` unset), the sandbox; otherwise Xero. This module and the command line are
the only production code that imports the sandbox.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy import Engine

from xero_pipeline.configuration import check_environment
from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from xero_pipeline.sandbox.consent import REDIRECT_URI, consent_code
from xero_pipeline.sandbox.customers import write_sample_csv
from xero_pipeline.warehouse.engine import connect, warehouse_url
from xero_pipeline.xero.client import PAGE_SIZE, Tenant, XeroClient
from xero_pipeline.xero.connect import authorize_url, exchange_code
from xero_pipeline.xero.governor import Governors, Limits
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import XeroSettings
from xero_pipeline.xero.tokens import open_token_store

SANDBOX_MARKER = "Xero sandbox (generated data, not a real organisation)"


def sandbox_settings(
    base_url: str, token_dir: Path, tenant_ids: tuple[str, ...] = ()
) -> XeroSettings:
    """Settings for a sandbox's standard app, connected (consent given once, by the sandbox's
    default user, for its default organisations) and ready to refresh. The token file in
    `token_dir` holds that one connection afterwards."""
    settings = XeroSettings(
        client_id=SANDBOX_CLIENT_ID,
        client_secret=Secret(SANDBOX_CLIENT_SECRET),
        tenant_ids=tenant_ids,
        api_base=base_url,
        identity_base=base_url,
        token_path=token_dir / "sandbox_tokens.json",
    )
    # One sandbox, one consent: tokens left in the folder by an earlier sandbox open nothing here.
    store = open_token_store(settings)
    for key in store.keys(SANDBOX_CLIENT_ID):
        store.remove(SANDBOX_CLIENT_ID, key)
    code = consent_code(authorize_url(settings, REDIRECT_URI, "sandbox"))
    exchange_code(settings, code, REDIRECT_URI)
    return settings


MINUTE_LEDGER = "xero_minute_windows.json"  # beside the token file: `Governors.save`


class XeroResource(dg.ConfigurableResource):
    """Xero, from XERO_CLIENT_ID / XERO_CLIENT_SECRET / XERO_TENANT_IDS / XERO_API_BASE /
    XERO_IDENTITY_BASE."""

    minute_limit: int = 60
    minute_seconds: float = 60.0
    page_size: int = PAGE_SIZE  # records a page (Xero allows 1 to 1000; fewer: more calls)

    _client: XeroClient | None = PrivateAttr(default=None)
    _tenants: list[Tenant] | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        check_environment()  # every wrong variable named, before the first call to Xero
        self._start(XeroSettings.from_env(), context)

    def _start(self, settings: XeroSettings, context: dg.InitResourceContext) -> None:
        limits = Limits(per_minute=self.minute_limit, minute_seconds=self.minute_seconds)
        # Each tenant's minute, handed from run to run (a run is a process of its own).
        governors = Governors(limits, ledger=settings.token_path.with_name(MINUTE_LEDGER))
        # Every connection in the token store (each consent's organisations), or the custom one.
        self._client = XeroClient(
            settings, limits=limits, governors=governors, page_size=self.page_size
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.governors.save()  # for the next run of these tenants

    @property
    def source_note(self) -> str | None:
        """What the UI should say about where the data came from (None: a real Xero)."""
        return None

    def sample_customer_list(self, path: Path) -> Path | None:
        """A customer list to merge with when CUSTOMERS_SOURCE is unset: none for a real Xero."""
        return None

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


class SandboxXeroResource(XeroResource):
    """The built-in Xero sandbox, started for the run: `size` and `seed` pick its organisations.
    The client talks to it over HTTP exactly as it talks to Xero."""

    size: str = "small"
    seed: int = 42
    as_of: str | None = None  # the organisations' "today", YYYY-MM-DD (default: today)

    _sandbox: Sandbox | None = PrivateAttr(default=None)
    _token_dir: tempfile.TemporaryDirectory | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        check_environment()
        as_of = date.fromisoformat(self.as_of) if self.as_of else None
        self._sandbox = Sandbox(SandboxConfig(size=self.size, seed=self.seed, as_of=as_of)).start()
        self._token_dir = tempfile.TemporaryDirectory(prefix="xero-sandbox-tokens-")
        settings = replace(
            sandbox_settings(self._sandbox.url, Path(self._token_dir.name)),
            tenant_ids=XeroSettings.from_env().tenant_ids,
        )
        self._start(settings, context)
        context.log.info(
            "No Xero app configured (XERO_CLIENT_ID and XERO_CLIENT_SECRET unset): using the "
            f"built-in Xero sandbox at {self._sandbox.url}. The data is the sandbox's generated "
            "organisations, not a real Xero organisation."
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        super().teardown_after_execution(context)
        if self._sandbox is not None:
            self._sandbox.stop()
        if self._token_dir is not None:
            self._token_dir.cleanup()

    @property
    def source_note(self) -> str | None:
        return SANDBOX_MARKER

    def sample_customer_list(self, path: Path) -> Path | None:
        """The sandbox's sample list, generated from the organisations this run reads."""
        if self._sandbox is None:
            raise RuntimeError("SandboxXeroResource is used outside a Dagster run")
        return write_sample_csv(self._sandbox, path)


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


def pipeline_resources(
    size: str = "small", seed: int = 42, as_of: date | None = None
) -> dict[str, dg.ConfigurableResource]:
    """The resources a run uses: Xero when an app is configured, else the built-in sandbox
    (`size`, `seed` and `as_of` pick its organisations)."""
    xero = (
        SandboxXeroResource(size=size, seed=seed, as_of=as_of.isoformat() if as_of else None)
        if XeroSettings.from_env().sandbox
        else XeroResource()
    )
    return {"xero": xero, "warehouse": WarehouseResource()}
