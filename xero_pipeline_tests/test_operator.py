"""What an operator relies on, through the real daemon and launched runs (`operator_support.py`):
the sync schedule brings new invoices in with nobody launching anything; the notification sensor
launches sends that announce each newly raised invoice once; runs writing documents, launched
together, take turns and all succeed.

One daemon for the module (starting it and loading history is most of the time), on a sandbox
whose organisations end on AS_OF (Xero's clock is the sandbox's: the notifications' lookback
counts from it) and a PostgreSQL instance and warehouse. The tests run in order and share what
they raised."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import TickStatus
from sqlalchemy import create_engine, text

from xero_pipeline.instance import EVERY_ORGANISATION, ORGANISATION_TAG
from xero_pipeline.months import month_start
from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline_tests.conftest import AS_OF
from xero_pipeline_tests.operator_support import ONBOARDING, Operator, operator_daemon
from xero_pipeline_tests.sales_support import org_specs, query

# On parallel workers the module's tests run on one worker, sharing one daemon (`world`; see
# ONE_WORKER in conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]

SYNC = "sales_sync_every_15_minutes"
SENSOR = "new_sales_invoice_notifications"
SEND = "send_sales_invoice_notifications"
WRITING_STEPS = {
    "xero_invoices_history",
    "xero_credit_notes_history",
    "sync_invoices_and_credit_notes",
}
DOCUMENT_JOBS = {"sales_history", "sales_sync"}  # tagged xero/organisation=all by the queue


@dataclass
class World:
    """The daemon, its sandbox, and the sales invoices raised since history was loaded (each
    must be announced once)."""

    operator: Operator
    sandbox: Sandbox
    log_file: Path
    months: tuple[str, str]
    announced: list[dict[str, Any]] = field(default_factory=list)

    def raise_invoice(self, tenant: int, amount: str, **extra: Any) -> dict[str, Any]:
        """A new invoice in "Xero", dated the day before AS_OF; a sales invoice that is
        AUTHORISED is one to announce."""
        data = self.sandbox.tenant(tenant)
        customer = next(c["ContactID"] for c in data.contacts.records if c["IsCustomer"])
        self.sandbox.clock.advance(5)  # stamped after everything the warehouse has
        invoice = data.add_document(
            "Invoice",
            contact_id=customer,
            day=AS_OF - timedelta(days=1),
            lines=[{"AccountCode": "200", "UnitAmount": amount, "Quantity": 2}],
            **extra,
        )
        if extra.get("type_", "ACCREC") == "ACCREC" and extra.get("status", "AUTHORISED") in (
            "AUTHORISED",
            "PAID",
        ):
            self.announced.append(invoice)
        return invoice

    def in_warehouse(self, invoice_ids: list[str]) -> set[str]:
        rows = query(
            self.operator.warehouse_url,
            "SELECT invoice_id FROM xero_invoices WHERE invoice_id IN :ids",
            {"ids": tuple(invoice_ids)},
        )
        return {row[0] for row in rows}

    def log_lines(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]


def history_months(sandbox: Sandbox) -> tuple[str, str]:
    months = sorted(
        stub.date.replace(day=1).isoformat()
        for tenant in sandbox.tenants.values()
        for stub in tenant.invoices.stubs
    )
    return months[0], months[-1]


def nothing_to_announce_since(op: Operator, moment: float) -> bool:
    """A tick of the notification sensor after `moment` found nothing to send."""
    return any(
        tick.status == TickStatus.SKIPPED and "Nothing new" in (tick.skip_reason or "")
        for tick in op.ticks(SENSOR, after=moment)
    )


@pytest.fixture(scope="module")
def world(pg_admin: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The daemon running with a one-minute sync and a notification file, reference data and
    the sandbox's months loaded by launched runs — which announce nothing."""
    workdir = tmp_path_factory.mktemp("operator")
    sandbox = Sandbox(
        SandboxConfig(orgs=org_specs(months=3), as_of=AS_OF, limits=LimitConfig(enabled=False))
    ).start()
    log_file = workdir / "notifications.jsonl"
    first, last = history_months(sandbox)
    env = {
        "XERO_SYNC_SCHEDULE": "* * * * *",
        "XERO_NOTIFY_LOG_FILE": str(log_file),
        "XERO_SALES_START_DATE": first[:7],  # history starts at the organisations' first month
    }
    assert first == month_start(AS_OF, 2).isoformat()
    try:
        with operator_daemon(workdir, pg_admin, sandbox, env, stopped=(ONBOARDING,)) as op:
            op.wait_for_runs(op.launch("reference_data"))
            history = (
                "sales_history",
                {
                    "dagster/asset_partition_range_start": first,
                    "dagster/asset_partition_range_end": last,
                },
            )
            op.wait_for_runs(op.launch(history))
            loaded_at = time.time()
            op.wait_for(
                lambda: nothing_to_announce_since(op, loaded_at),
                240,
                "a tick of the notification sensor after history was loaded",
            )
            assert not op.runs(SEND) and not log_file.exists()  # history floods nobody
            yield World(op, sandbox, log_file, (first, last))
    finally:
        sandbox.stop()


def test_the_sync_schedule_brings_a_new_invoice_in_with_nobody_launching_anything(world):
    op = world.operator
    since = time.time()
    invoice = world.raise_invoice(0, "120.50")

    op.wait_for(
        lambda: world.in_warehouse([invoice["InvoiceID"]]),
        180,
        f"invoice {invoice['InvoiceNumber']} in xero_invoices",
    )
    op.wait_for(
        lambda: [
            run
            for run in op.runs("sales_sync")
            if run.created >= since and run.status == dg.DagsterRunStatus.SUCCESS
        ],
        120,
        "a successful sync run since the invoice was raised",
    )
    runs = [run for run in op.runs() if run.created >= since]
    asked_by = {
        str(run): run.tags.get("dagster/schedule_name", run.tags.get("dagster/sensor_name"))
        for run in runs
    }
    assert all(asked_by.values()), f"a run no schedule or sensor asked for: {asked_by}"
    syncs = [run for run in runs if run.job == "sales_sync"]
    assert all(run.tags["dagster/schedule_name"] == SYNC for run in syncs)


def test_the_notification_sensor_announces_each_new_sales_invoice_once(world):
    op = world.operator
    first = world.raise_invoice(0, "250.00")
    second = world.raise_invoice(1, "99.99")
    draft = world.raise_invoice(0, "10.00", status="DRAFT")
    bill = world.raise_invoice(0, "55.00", type_="ACCPAY")
    expected = {invoice["InvoiceID"] for invoice in world.announced}
    assert {first["InvoiceID"], second["InvoiceID"]} <= expected

    op.wait_for(
        lambda: expected <= {line["invoice_id"] for line in world.log_lines()},
        300,
        f"{len(expected)} announcements in {world.log_file.name}",
    )
    announced_at = time.time()
    # A later tick of the sensor, once every send has ended, finds nothing left to announce.
    op.wait_for(
        lambda: (
            all(run.finished for run in op.runs(SEND))
            and nothing_to_announce_since(op, announced_at)
        ),
        180,
        f"a tick of {SENSOR} with nothing new after the announcements",
    )

    lines = [line["invoice_id"] for line in world.log_lines()]
    assert sorted(lines) == sorted(expected)  # exactly one line each, nothing else
    assert draft["InvoiceID"] not in lines and bill["InvoiceID"] not in lines
    sends = op.runs(SEND)
    assert len(sends) >= 1
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in sends), op.report()
    assert all(run.tags.get("dagster/sensor_name") == SENSOR for run in sends)
    asked = {run_id for tick in op.ticks(SENSOR) for run_id in tick.run_ids}
    assert {run.run_id for run in sends} <= asked
    for a, b in combinations(sends, 2):  # one send at a time (the run queue's tag limit)
        assert a.end <= b.start or b.end <= a.start, (str(a), str(b))


@contextlib.contextmanager
def sync_state_locked(url: str) -> Iterator[None]:
    """Hold `sync_state` locked (ACCESS EXCLUSIVE, in an open transaction) until the block ends."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("LOCK TABLE sync_state IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def test_runs_writing_documents_launched_together_take_turns_and_all_succeed(world):
    op = world.operator
    first, last = world.months
    history = (
        "sales_history",
        {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )
    # Launched while the warehouse's sync_state is locked (every run writing documents reads it
    # first): none of them can finish before all three are in the queue, however long their
    # `dagster job launch` processes take beside how fast a run is.
    with sync_state_locked(op.warehouse_url):
        launched = op.launch(history, "sales_sync", "sales_sync")
    ours = op.wait_for_runs(launched, timeout=480)

    # Every document-writing step of every run on the instance (ours and the schedule's) ran
    # alone: no two runs' steps overlap.
    writers = [
        window
        for run in op.runs()
        if run.job in DOCUMENT_JOBS
        for window in op.steps(run.run_id)
        if window.step in WRITING_STEPS
    ]
    assert {window.run_id for window in writers} >= {run.run_id for run in ours}
    clashes = [
        (a, b) for a, b in combinations(writers, 2) if a.run_id != b.run_id and a.overlaps(b)
    ]
    assert not clashes, clashes
    # Each was tagged `all` by the run queue, whose limit holds a run from launch to end: whole
    # runs do not overlap either.
    assert all(run.tags.get(ORGANISATION_TAG) == EVERY_ORGANISATION for run in ours)
    pool_runs = sorted(
        (run for run in op.runs() if run.job in DOCUMENT_JOBS and run.start is not None),
        key=lambda run: run.start or 0,
    )
    for earlier, later in pairwise(pool_runs):
        assert earlier.end is not None and earlier.end <= (later.start or 0), (
            str(earlier),
            str(later),
        )
    # And ours waited for each other in the queue rather than arriving one after another: the
    # last of them to start was queued before the first of them ended.
    ours = sorted(ours, key=lambda run: run.start or 0)
    assert op.enqueued_at(ours[-1].run_id) < (ours[0].end or 0)
