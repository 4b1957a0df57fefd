"""A run killed anywhere (SIGKILL, no clean-up) leaves every published table as it was before
the run or as it is after it — never a mix — and the next run finishes the job.

Each case loads a warehouse, changes "Xero", then launches the real command in a process of its
own (warm_python.py) that kills itself at a named point (see crash_harness.py), for reference
data (`xero-pipeline run`), a backfill month (`xero-pipeline backfill`) and the incremental sync
(`xero-pipeline sync`). The published state is fingerprinted in units that one transaction
writes (a table; a month of one resource; a tenant's changes to one resource with its watermark)
and compared before the run, after the crash, and after the rerun.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from xero_pipeline.sandbox import Sandbox
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES
from xero_pipeline_tests import warm_python
from xero_pipeline_tests.test_history import (
    assert_equal_to_sandbox,
    load_reference,
    query,
    run,
    sandbox_documents,
    warehouse_documents,
)
from xero_pipeline_tests.test_reference_assets import sandbox_contacts

pytestmark = pytest.mark.slow

START = "2025-12"  # the tiny sandbox's twelve months end at AS_OF's month
LAST_MONTH = "2026-11"  # AS_OF's
POINTS = ("extract", "staged", "publishing", "watermark", "commit")
# Every point on PostgreSQL, the production warehouse; on SQLite the points inside an open write
# transaction, where its own recovery (the WAL) is what keeps readers safe.
CASES = [
    *(
        pytest.param("postgresql", p, marks=pytest.mark.postgres, id=f"postgresql-{p}")
        for p in POINTS
    ),
    *(pytest.param("sqlite", p, id=f"sqlite-{p}") for p in ("publishing", "commit")),
]
REFERENCE = (
    "xero_organisation",
    "xero_contacts",
    "xero_contact_groups",
    "xero_contact_group_members",
    "xero_accounts",
    "suppliers",
)
DOCUMENTS = {  # resource: (headers, lines, id column, lines' date column)
    "invoices": ("xero_invoices", "xero_invoice_lines", "invoice_id", "invoice_date"),
    "credit_notes": (
        "xero_credit_notes",
        "xero_credit_note_lines",
        "credit_note_id",
        "credit_note_date",
    ),
}


def fingerprint(rows: set[tuple]) -> str:
    return hashlib.sha256("\n".join(sorted(map(repr, rows))).encode()).hexdigest()


def published_state(url: str) -> dict[str, str]:
    """Fingerprints of what readers see, by unit: each reference table; each watermark; each
    resource's documents and lines per tenant and month (headers and lines publish together)."""
    state = {
        table: fingerprint(query(url, f"SELECT tenant_id, row_hash FROM {table}"))
        for table in REFERENCE
    }
    for tenant, resource, watermark in query(
        url, "SELECT tenant_id, resource, watermark FROM sync_state"
    ):
        state[f"watermark {resource} {tenant}"] = str(watermark)
    for resource, (headers, lines, id_column, line_date) in DOCUMENTS.items():
        units: dict[str, set[tuple]] = defaultdict(set)
        for tenant, doc_id, day, row_hash in query(
            url, f"SELECT tenant_id, {id_column}, date, row_hash FROM {headers}"
        ):
            units[f"{resource} {tenant} {str(day)[:7]}"].add(("header", doc_id, row_hash))
        for tenant, doc_id, number, day, row_hash in query(
            url,
            f"SELECT tenant_id, {id_column}, line_number, {line_date}, row_hash FROM {lines}",
        ):
            units[f"{resource} {tenant} {str(day)[:7]}"].add(("line", doc_id, number, row_hash))
        state.update({unit: fingerprint(rows) for unit, rows in units.items()})
    return state


def crash(point: str, table: str, *command: str) -> subprocess.CompletedProcess:
    return warm_python.run("xero_pipeline_tests.crash_harness", point, table, "--", *command)


def rerun(*command: str) -> None:
    done = warm_python.run("xero_pipeline.cli", *command)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def assert_old_or_new(
    before: dict[str, str], crashed: dict[str, str], after: dict[str, str], target: str
) -> None:
    """Every unit is as before or as after; the units of the interrupted transaction (`target`
    prefix) are as before; and the run had something to change there, so that says something."""
    for unit in before.keys() | crashed.keys() | after.keys():
        assert crashed.get(unit) in (before.get(unit), after.get(unit)), unit
    changed = [u for u in after if u.startswith(target) and before.get(u) != after[u]]
    assert changed, f"the run had nothing to publish in {target}: the case proves nothing"
    for unit in changed:
        assert crashed.get(unit) == before.get(unit), f"{unit} was half-published"


@pytest.fixture
def warehouse_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def pointed(make_sandbox, xero_env, warehouse_url, tmp_path, monkeypatch) -> Sandbox:
    """A tiny two-tenant sandbox, and the pipeline's environment aimed at it and the warehouse."""
    sandbox = make_sandbox()
    xero_env(sandbox)
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("XERO_SALES_START_DATE", START)
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    return sandbox


def assert_killed(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == -signal.SIGKILL, (
        f"the run was not killed at its crash point (exit {done.returncode}):\n"
        + done.stdout[-1500:]
        + done.stderr[-3000:]
    )


def assert_watermark_held(
    before: dict[str, str], crashed: dict[str, str], after: dict[str, str], resource: str
) -> None:
    """The watermark moves with the rows it covers, or not at all."""
    units = [u for u in after if u.startswith(f"watermark {resource} ")]
    assert units
    for unit in units:
        assert crashed.get(unit) == before.get(unit) != after[unit], unit


@pytest.mark.parametrize("warehouse_url, point", CASES, indirect=["warehouse_url"])
def test_reference_data_run_killed(point, pointed, warehouse_url):
    sandbox = pointed
    load_reference(warehouse_url)
    first, second = sandbox.tenant(0), sandbox.tenant(1)
    sandbox.clock.advance(5)
    for tenant in (first, second):
        contact = tenant.contacts.records[5]
        tenant.update_contact(contact["ContactID"], Name=f"{contact['Name']} (renamed)")
    first.update_contact(first.contacts.records[6]["ContactID"], ContactStatus="ARCHIVED")
    before = published_state(warehouse_url)

    # The crash is in reference data, before any history: the run reads one month of it, not
    # all twelve, so the rerun's history (which this case does not look at) stays short.
    assert_killed(crash(point, "xero_contacts", "run", "--history-from", LAST_MONTH))
    crashed = published_state(warehouse_url)
    rerun("run", "--history-from", LAST_MONTH)
    after = published_state(warehouse_url)

    assert_old_or_new(before, crashed, after, "xero_contacts")
    assert_watermark_held(before, crashed, after, "contacts")
    contacts = query(
        warehouse_url,
        "SELECT tenant_id, contact_id, name, contact_status, is_customer, is_supplier "
        "FROM xero_contacts",
    )
    assert {(t, i, n, s, bool(c), bool(p)) for t, i, n, s, c, p in contacts} == (
        sandbox_contacts(sandbox)
    )


@pytest.mark.parametrize("warehouse_url, point", CASES, indirect=["warehouse_url"])
def test_first_backfill_killed(point, pointed, warehouse_url):
    """Killed in its first month of invoices: the months already committed stay, the rest is
    redone by launching the same backfill again."""
    sandbox = pointed
    load_reference(warehouse_url)
    before = published_state(warehouse_url)

    months = ("backfill", "--from", "2026-06", "--to", "2026-08")
    assert_killed(crash(point, "xero_invoices", *months))
    crashed = published_state(warehouse_url)
    rerun(*months)
    after = published_state(warehouse_url)

    assert_old_or_new(before, crashed, after, "invoices")
    assert_watermark_held(before, crashed, after, "invoices")
    for kind, resource in ((INVOICES, "Invoice"), (CREDIT_NOTES, "CreditNote")):
        headers, lines = sandbox_documents(sandbox, resource)
        summer = {h for h in headers if "2026-06" <= h[3][:7] <= "2026-08"}
        ids = {h[1] for h in summer}
        assert warehouse_documents(warehouse_url, kind) == (
            summer,
            {line for line in lines if line[1] in ids},
        )


@pytest.mark.parametrize("warehouse_url, point", CASES, indirect=["warehouse_url"])
def test_incremental_sync_killed(point, pointed, warehouse_url):
    sandbox = pointed
    load_reference(warehouse_url)
    assert run(warehouse_url, "2025-12-01", "2026-11-01").success
    sandbox.clock.advance(5)
    for tenant in (sandbox.tenant(0), sandbox.tenant(1)):
        customer = next(c["ContactID"] for c in tenant.contacts.records if c["IsCustomer"])
        tenant.add_document(
            "Invoice",
            contact_id=customer,
            day=date(2026, 11, 3),
            lines=[{"AccountCode": "200", "UnitAmount": "75.50", "Quantity": 1}],
        )
        paid = next(s.id for s in tenant.invoices.stubs if s.status == "PAID")
        tenant.set_document_status("Invoice", paid, "VOIDED")
    before = published_state(warehouse_url)

    assert_killed(crash(point, "xero_invoices", "sync"))
    crashed = published_state(warehouse_url)
    rerun("sync")
    after = published_state(warehouse_url)

    assert_old_or_new(before, crashed, after, "invoices")
    assert_watermark_held(before, crashed, after, "invoices")
    assert_equal_to_sandbox(sandbox, warehouse_url)
