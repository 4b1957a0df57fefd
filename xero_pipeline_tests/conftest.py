"""Shared fixtures: sandboxes on loopback, an HTTP helper that speaks to them like Xero's clients
do, and the PostgreSQL server (which must be there on CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import psycopg2
import pytest
import requests

from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.consent import sandbox_token
from xero_pipeline.sandbox.generator import OrgSpec
from xero_pipeline.sandbox.limits import LimitConfig

AS_OF = date(2026, 11, 22)  # a fixed "today" keeps the sandbox's data the same on every run
# Where the code location's monthly partitions start in every test (and every process a test
# starts): before all the test organisations' months, whatever today's date is. Dagster reads it
# once, when the definitions are imported; tests pick their months with partition ranges.
PARTITIONS_START = "2020-01"


def pytest_configure(config: pytest.Config) -> None:
    os.environ["XERO_SALES_START_DATE"] = PARTITIONS_START


# Parallel workers (`make test` runs pytest-xdist's `-n 4`). Each worker is handed two tests at
# a time and one more as each ends, so the order matters: the slow tests that take minutes start
# first, longest first (measured with `pytest --durations=40`), each on a worker of its own with
# a quick test queued behind it; the many short tests fill the workers around them. (The
# scheduler below hands out a file of ONE_WORKER, several tests in one unit, before the rest.)
LONGEST_FIRST = (
    "test_operator_day.py",
    "test_operator_organisations.py",
    "test_operator.py",
    "test_installed_package.py",
)
QUICK = "test_where.py"  # pure unit tests (the `where` grammar), milliseconds each
# Files whose tests share a module fixture (one daemon, one generated sandbox) run on one worker,
# or each worker would build the fixture again.
ONE_WORKER = ("test_operator.py", "test_sandbox_data.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the run for parallel workers: the longest tests, a quick test for each of them to
    queue behind it, the other slow tests, then the rest, in collection order within each."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slow") is None:
            return len(LONGEST_FIRST) + 1
        if item.path.name in LONGEST_FIRST:
            return LONGEST_FIRST.index(item.path.name)
        return len(LONGEST_FIRST)

    items.sort(key=rank)
    longest = [item for item in items if rank(item) < len(LONGEST_FIRST)]
    quick = [item for item in items if item.path.name == QUICK][: len(LONGEST_FIRST)]
    placed = {*longest, *quick}
    items[:] = [*longest, *quick, *(item for item in items if item not in placed)]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scheduler, with each file of ONE_WORKER as one unit of work (its own
    `--dist loadgroup` does not group under pytest 9, which no longer reads a test's id from the
    attribute it rewrites)."""
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.rsplit("/", 1)[-1] in ONE_WORKER else nodeid

    return SharedFixtureScheduling(config, log)


# Two organisations with 24 months of sales history (2024-12 to AS_OF's month), for history tests.
HISTORY_ORGS = tuple(
    OrgSpec(
        name=name,
        contacts=40,
        invoices=300,
        credit_notes=40,
        months=24,
        max_lines=4,
        customer_group=None,
    )
    for name in ("History One Ltd", "History Two Ltd")
)
PG_ADMIN_DSN = os.environ.get("XERO_TEST_PG_DSN", "host=127.0.0.1 port=5432 dbname=postgres")


class XeroHTTP:
    """Requests to a sandbox as an authorised app: a token from the standard flow, tenant header."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.base = sandbox.url
        self.session = requests.Session()
        self.token = sandbox_token(self.session, self.base)

    def tenant_id(self, tenant: int | str = 0) -> str:
        return self.sandbox.tenant(tenant).tenant_id

    def get(
        self,
        path: str,
        tenant: int | str = 0,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        return self.session.get(
            f"{self.base}/api.xro/2.0/{path}",
            params=params,
            timeout=30,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                "Xero-tenant-id": self.tenant_id(tenant),
                **(headers or {}),
            },
        )

    def records(self, path: str, key: str, tenant: int | str = 0, **params: Any) -> list[dict]:
        response = self.get(path, tenant, params)
        assert response.status_code == 200, response.text
        return response.json()[key]


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes (tiny, limits off, fixed date unless told otherwise); stop them after."""
    started: list[Sandbox] = []

    def start(**overrides: Any) -> Sandbox:
        settings: dict[str, Any] = {
            "size": "tiny",
            "as_of": AS_OF,
            "limits": LimitConfig(enabled=False),
        }
        settings.update(overrides)
        sandbox = Sandbox(SandboxConfig(**settings)).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def xero(sandbox: Sandbox) -> XeroHTTP:
    return XeroHTTP(sandbox)


@pytest.fixture
def history_sandbox(make_sandbox: Callable[..., Sandbox], xero_env: Callable) -> Sandbox:
    """The two history organisations, with the pipeline's environment aimed at them."""
    sandbox = make_sandbox(orgs=HISTORY_ORGS)
    xero_env(sandbox)
    return sandbox


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Any]:
    """An autocommit connection to the local PostgreSQL server's `postgres` database.

    Skips when the server is missing, except on CI (CI=true), where that is a failure.
    """
    try:
        admin = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required on CI and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    admin.autocommit = True
    yield admin
    admin.close()


def _new_database(admin: Any) -> tuple[str, str]:
    name = f"xero_pipeline_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    params = admin.get_dsn_parameters()
    user = params.get("user", "postgres")
    host, port = params.get("host", "127.0.0.1"), params.get("port", "5432")
    return name, f"postgresql+psycopg2://{user}@{host}:{port}/{name}"


def _drop_database(admin: Any, name: str) -> None:
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(pg_admin: Any) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name, url = _new_database(pg_admin)
    try:
        yield url
    finally:
        _drop_database(pg_admin, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """Each warehouse test runs on an SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def xero_env(monkeypatch, tmp_path) -> Callable[[Sandbox], None]:
    """Point the pipeline's environment at a test's own sandbox, as a connected live app."""
    from xero_pipeline.resources import sandbox_settings

    def point(sandbox: Sandbox) -> None:
        settings = sandbox_settings(sandbox.url, tmp_path)
        monkeypatch.setenv("XERO_CLIENT_ID", settings.client_id)
        monkeypatch.setenv("XERO_CLIENT_SECRET", settings.client_secret.reveal())
        monkeypatch.setenv("XERO_API_BASE", sandbox.url)
        monkeypatch.setenv("XERO_IDENTITY_BASE", sandbox.url)
        monkeypatch.setenv("XERO_TOKEN_PATH", str(settings.token_path))
        monkeypatch.delenv("XERO_TENANT_IDS", raising=False)
        monkeypatch.delenv("XERO_SCOPES", raising=False)  # the granular scopes a new app gets
        # Required with a Xero app; the history organisations' first month (tests may narrow it).
        monkeypatch.setenv("XERO_SALES_START_DATE", "2024-12")

    return point


@pytest.fixture
def connect_client(tmp_path):
    """A client for a sandbox as a live app: standard flow, consent given, token file in tmp."""
    from xero_pipeline.resources import sandbox_settings
    from xero_pipeline.xero.auth import TokenProvider
    from xero_pipeline.xero.client import RetryPolicy, XeroClient

    def build(sandbox: Sandbox, **kwargs: Any) -> XeroClient:
        settings = sandbox_settings(sandbox.url, tmp_path)
        kwargs.setdefault("retry", RetryPolicy(base_seconds=0.01, max_seconds=0.05))
        return XeroClient(settings, TokenProvider(settings), **kwargs)

    return build
