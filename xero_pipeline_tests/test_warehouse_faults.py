"""The warehouse failing under a run, and two runs of the same month at once.

- A PostgreSQL backend killed mid-publish (`pg_terminate_backend`): the server rolls the
  transaction back and the publish is redone on a fresh connection; the run succeeds.
- A warehouse that keeps dropping: the run fails with one clear error and publishes nothing.
- Two backfills of the same month launched together (a schedule and a person): the second one's
  publish queues behind the first one's and both succeed, with no duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import Engine, event

from xero_pipeline.warehouse import publish as publishing
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES
from xero_pipeline_tests import warm_python
from xero_pipeline_tests.test_history import (
    failure_text,
    load_reference,
    query,
    run,
    sandbox_documents,
    warehouse_documents,
)

JUNE = ("2026-06-01", "2026-06-01")


def june(sandbox: Any, kind: Any, resource: str) -> tuple[set[tuple], set[tuple]]:
    headers, lines = sandbox_documents(sandbox, resource)
    month = {h for h in headers if h[3].startswith("2026-06")}
    ids = {h[1] for h in month}
    return month, {line for line in lines if line[1] in ids}


def assert_june_equals_the_sandbox(sandbox: Any, url: str) -> None:
    for kind, resource in ((INVOICES, "Invoice"), (CREDIT_NOTES, "CreditNote")):
        assert warehouse_documents(url, kind) == june(sandbox, kind, resource), resource


@pytest.fixture
def killer(pg_admin) -> Iterator[dict[str, Any]]:
    """Terminates the PostgreSQL backend that has just written xero_invoices, `times` times,
    and waits until it is gone, so the publish's next statement meets a dead connection."""
    state = {"times": 0, "killed": 0}

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith('INSERT INTO "xero_invoices"'):
            return
        if state["killed"] >= state["times"]:
            return
        pid = conn.connection.driver_connection.get_backend_pid()
        with pg_admin.cursor() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            for _ in range(100):
                admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
                if admin.fetchone()[0] == 0:
                    break
                time.sleep(0.05)
        state["killed"] += 1

    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield state
    finally:
        event.remove(Engine, "after_cursor_execute", after)


@pytest.mark.postgres
def test_a_backend_killed_mid_publish_is_redone(
    history_sandbox, postgres_url, killer, monkeypatch, caplog
):
    monkeypatch.setattr(publishing, "RECONNECT_WAIT_SECONDS", 0.05)
    load_reference(postgres_url)
    killer["times"] = 1
    assert run(postgres_url, *JUNE).success
    assert killer["killed"] == 1
    assert "warehouse connection lost while publishing xero_invoices" in caplog.text
    assert_june_equals_the_sandbox(history_sandbox, postgres_url)


@pytest.mark.postgres
def test_a_warehouse_that_keeps_dropping_fails_the_run_clearly(
    history_sandbox, postgres_url, killer, monkeypatch
):
    monkeypatch.setattr(publishing, "RECONNECT_WAIT_SECONDS", 0.05)
    load_reference(postgres_url)
    killer["times"] = publishing.RECONNECT_ATTEMPTS
    result = run(postgres_url, *JUNE, raise_on_error=False)
    assert not result.success
    assert killer["killed"] == publishing.RECONNECT_ATTEMPTS
    message = " ".join(failure_text(e) for e in result.get_step_failure_events())
    assert "lost the warehouse connection 4 times while publishing xero_invoices" in message
    assert "Nothing was published" in message
    assert query(postgres_url, "SELECT count(*) FROM xero_invoices") == {(0,)}
    assert query(postgres_url, "SELECT count(*) FROM xero_invoice_lines") == {(0,)}


def backfill_june(*harness: str) -> warm_python.WarmProcess:
    command = (
        ("xero_pipeline_tests.crash_harness", *harness, "--") if harness else ("xero_pipeline.cli",)
    )
    return warm_python.start(
        *command, "backfill", "--from", "2026-06", "--to", "2026-06", merge_stderr=True
    )


def test_two_runs_of_the_same_month_at_once_queue_and_both_succeed(
    history_sandbox, warehouse_url, tmp_path, monkeypatch
):
    """The first run holds its invoices publish open; the second starts then, and must wait its
    turn (the first lets go once it sees the second waiting) and succeed — not interleave, not
    fail on a duplicate key, not find the database locked."""
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("XERO_SALES_START_DATE", "2024-12")
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path / "data"))
    home = tmp_path / "data" / "dagster_home"
    home.mkdir(parents=True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get():  # Dagster's own storage, created before two runs race for it
        pass
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    load_reference(warehouse_url)

    ready = tmp_path / "holding"
    monkeypatch.setenv("XERO_HOLD_READY", str(ready))
    first = backfill_june("publishing", "xero_invoices", "--hold")
    deadline = time.monotonic() + 120
    while not ready.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ready.exists(), first.communicate()[0][-3000:]
    second = backfill_june()
    outputs = [process.communicate(timeout=300)[0] for process in (first, second)]

    assert [first.returncode, second.returncode] == [0, 0], "\n\n".join(
        output[-3000:] for output in outputs
    )
    assert_june_equals_the_sandbox(history_sandbox, warehouse_url)
