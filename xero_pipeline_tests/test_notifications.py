"""Notifications on newly raised sales invoices: a real webhook receiver (http.server on
loopback, in a thread) and a log file, the real sensor evaluated against a real Dagster instance
and warehouse (SQLite and PostgreSQL), invoices raised in the sandbox and brought in by the real
incremental sync."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from xero_pipeline.defs.notifications.jobs import send_sales_invoice_notifications
from xero_pipeline.defs.notifications.sensor import new_sales_invoice_notifications
from xero_pipeline.defs.notifications.sinks import (
    LogFileSink,
    WebhookSink,
    lookback_days,
    sinks_from_env,
)
from xero_pipeline.resources import WarehouseResource
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.xero.errors import ConfigError
from xero_pipeline_tests.sales_support import Pipeline, org_specs, query

TODAY = datetime.now(UTC).date()  # the sensor's lookback counts from the real date


class Receiver:
    """A webhook endpoint on loopback that refuses the first `failures` POSTs with a 503, then
    accepts: what it accepted is what a recipient got."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.attempts = 0
        self.accepted: list[dict[str, Any]] = []
        self.keys: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    receiver.attempts += 1
                    refuse = receiver.attempts <= receiver.failures
                    if not refuse:
                        receiver.accepted.append(json.loads(body))
                        receiver.keys.append(self.headers["Idempotency-Key"])
                self.send_response(503 if refuse else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/sales?token=s3cret-token"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.stop()


@pytest.fixture
def recent_sandbox(make_sandbox, xero_env) -> Sandbox:
    """Organisations whose 'today' is today, so new invoices fall inside the lookback."""
    sandbox = make_sandbox(orgs=org_specs(months=3), as_of=TODAY)
    xero_env(sandbox)
    return sandbox


def first_month() -> str:
    return (TODAY.replace(day=1) - timedelta(days=62)).replace(day=1).isoformat()


def load_history(url: str, instance: dg.DagsterInstance | None = None) -> Pipeline:
    pipeline = Pipeline(url, datetime.fromisoformat(first_month()).date(), instance=instance)
    pipeline.job("reference_data")
    pipeline.job("history_only", first_month(), TODAY.replace(day=1).isoformat())
    return pipeline


def tick(url: str, instance: dg.DagsterInstance) -> str:
    """One evaluation of the real sensor and, when it asks for one, the send run it launches, as
    the daemon would; what the sensor or the run said."""
    resources = {"warehouse": WarehouseResource(url=url)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        decision = new_sales_invoice_notifications(context)
    if isinstance(decision, dg.SkipReason):
        return decision.skip_message
    assert isinstance(decision, dg.RunRequest)
    run = send_sales_invoice_notifications.execute_in_process(
        instance=instance, resources=resources, tags=decision.tags, raise_on_error=False
    )
    said = [
        entry.user_message
        for entry in instance.all_logs(run.run_id)
        if entry.user_message.startswith("sales invoice notifications: ")
    ]
    assert len(said) == 1
    return said[0]


def raise_invoice(sandbox: Sandbox, tenant: int, days_ago: int, amount: str, **extra: Any):
    data = sandbox.tenant(tenant)
    customer = next(c["ContactID"] for c in data.contacts.records if c["IsCustomer"])
    sandbox.clock.advance(5)
    return data.add_document(
        "Invoice",
        contact_id=customer,
        day=TODAY - timedelta(days=days_ago),
        lines=[{"AccountCode": "200", "UnitAmount": amount, "Quantity": 2}],
        **extra,
    )


def outcomes(url: str) -> dict[tuple[str, str], str]:
    return {
        (invoice, sink): outcome
        for invoice, sink, outcome in query(
            url, "SELECT invoice_id, sink, outcome FROM notifications_sent"
        )
    }


def test_each_new_sales_invoice_is_announced_once_across_ticks_and_a_restart(
    recent_sandbox, warehouse_url, receiver, tmp_path, monkeypatch
):
    log_file = tmp_path / "notifications.jsonl"
    monkeypatch.setenv("XERO_NOTIFY_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("XERO_NOTIFY_LOG_FILE", str(log_file))
    pipeline = load_history(warehouse_url)
    existing = {
        s.id
        for t in recent_sandbox.tenants.values()
        for s in t.invoices.stubs
        if s.type == "ACCREC" and s.status in ("AUTHORISED", "PAID")
    }
    instance = dg.DagsterInstance.ephemeral()

    said = tick(warehouse_url, instance)  # the first tick: a baseline, nothing sent
    assert f"baseline of {len(existing)} existing invoices" in said
    assert receiver.accepted == [] and not log_file.exists()
    assert set(outcomes(warehouse_url).values()) == {"baseline"}

    first = raise_invoice(recent_sandbox, 0, 1, "120.50")
    second = raise_invoice(recent_sandbox, 1, 0, "99.99", currency="USD", rate=Decimal("0.65"))
    draft = raise_invoice(recent_sandbox, 0, 2, "10.00", status="DRAFT")
    bill = raise_invoice(recent_sandbox, 0, 1, "55.00", type_="ACCPAY")
    assert pipeline.job("sales_sync").success
    tick(warehouse_url, instance)
    tick(warehouse_url, instance)  # a second tick finds nothing new
    assert sorted(m["invoice_id"] for m in receiver.accepted) == sorted(
        [first["InvoiceID"], second["InvoiceID"]]
    )

    # "Restart": a new Dagster instance and sensor context, the same warehouse.
    restarted = dg.DagsterInstance.ephemeral()
    tick(warehouse_url, restarted)
    assert len(receiver.accepted) == 2
    third = raise_invoice(recent_sandbox, 1, 3, "42.00")
    recent_sandbox.clock.advance(5)
    recent_sandbox.tenant(0).set_document_status("Invoice", draft["InvoiceID"], "AUTHORISED")
    assert pipeline.job("sales_sync").success
    tick(warehouse_url, restarted)
    tick(warehouse_url, dg.DagsterInstance.ephemeral())

    announced = [first, second, third, draft]
    assert sorted(receiver.keys) == sorted(
        f"{recent_sandbox.tenant(i).tenant_id}:{doc['InvoiceID']}"
        for i, doc in ((0, first), (1, second), (1, third), (0, draft))
    )
    assert len(receiver.accepted) == len(announced)  # exactly one message each
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert sorted(m["invoice_id"] for m in lines) == sorted(d["InvoiceID"] for d in announced)
    assert bill["InvoiceID"] not in {m["invoice_id"] for m in receiver.accepted}

    message = next(m for m in receiver.accepted if m["invoice_id"] == second["InvoiceID"])
    tenant = recent_sandbox.tenant(1)
    assert message == {
        "event": "sales_invoice_raised",
        "idempotency_key": f"{tenant.tenant_id}:{second['InvoiceID']}",
        "tenant_id": tenant.tenant_id,
        "organisation": tenant.name,
        "invoice_id": second["InvoiceID"],
        "number": second["InvoiceNumber"],
        "customer": tenant.contacts.find(second["Contact"]["ContactID"])["Name"],
        "contact_id": second["Contact"]["ContactID"],
        "total": str(second["Total"]),
        "currency": "USD",
        "date": second["Date"].isoformat(),
        "status": "AUTHORISED",
        "xero_url": "https://go.xero.com/organisationlogin/default.aspx?shortcode="
        f"{tenant.organisation['ShortCode']}&redirecturl=/AccountsReceivable/View.aspx"
        f"?InvoiceID={second['InvoiceID']}",
    }
    sent = {k for k, v in outcomes(warehouse_url).items() if v == "sent"}
    assert sent == {(d["InvoiceID"], s) for d in announced for s in ("webhook", "log_file")}


def test_a_failing_webhook_is_retried_on_a_later_tick_and_blocks_nothing(
    recent_sandbox, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    receiver = Receiver(failures=4)  # three attempts a tick: the first tick fails outright
    log_file = tmp_path / "notifications.jsonl"
    try:
        monkeypatch.setenv("XERO_NOTIFY_WEBHOOK_URL", receiver.url)
        monkeypatch.setenv("XERO_NOTIFY_LOG_FILE", str(log_file))
        pipeline = load_history(url)
        instance = dg.DagsterInstance.ephemeral()
        tick(url, instance)  # baseline
        new = raise_invoice(recent_sandbox, 0, 0, "300.00")
        assert pipeline.job("sales_sync").success

        said = tick(url, instance)
        assert receiver.attempts == 3 and receiver.accepted == []
        assert "webhook: 0 sent, 1 waiting" in said
        assert "log_file: 1 sent" in said  # the other sink was not held up
        assert "s3cret-token" not in said
        assert outcomes(url).get((new["InvoiceID"], "webhook")) is None

        assert pipeline.job("sales_sync").success  # the pipeline goes on meanwhile
        tick(url, instance)  # attempts 4 (refused) and 5 (taken)
        tick(url, instance)
        assert receiver.attempts == 5
        assert [m["invoice_id"] for m in receiver.accepted] == [new["InvoiceID"]]
        assert len(log_file.read_text().splitlines()) == 1
    finally:
        receiver.stop()


def test_a_backfill_of_old_months_announces_nothing(recent_sandbox, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    log_file = tmp_path / "notifications.jsonl"
    monkeypatch.setenv("XERO_NOTIFY_LOG_FILE", str(log_file))
    pipeline = load_history(url)
    instance = dg.DagsterInstance.ephemeral()
    tick(url, instance)  # baseline
    # An invoice dated two months back that the warehouse never had, then a history re-read
    # of its month (as a backfill from an earlier start date would bring it).
    old = raise_invoice(recent_sandbox, 0, 50, "75.00")
    month = (TODAY - timedelta(days=50)).replace(day=1).isoformat()
    pipeline.job("history_only", month)
    said = tick(url, instance)
    assert "1 older than the lookback skipped" in said
    assert not log_file.exists()
    assert outcomes(url)[(old["InvoiceID"], "log_file")] == "skipped_old"
    tick(url, instance)
    assert not log_file.exists()  # and it stays dealt with


def test_without_a_sink_the_sensor_does_nothing_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("XERO_NOTIFY_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("XERO_NOTIFY_LOG_FILE", raising=False)
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    said = tick(url, dg.DagsterInstance.ephemeral())
    assert "No notification sink configured" in said
    assert "XERO_NOTIFY_WEBHOOK_URL" in said and "XERO_NOTIFY_LOG_FILE" in said
    assert query(url, "SELECT count(*) FROM notifications_sent") == [(0,)]


@pytest.mark.parametrize(
    "value",
    [
        "not a url",
        "ftp://127.0.0.1/hook",
        "http://hooks.example.com/services/T000/s3cret-token",  # plain http off this machine
    ],
)
def test_a_bad_webhook_url_is_a_config_error_naming_the_variable(value, tmp_path, monkeypatch):
    with pytest.raises(ConfigError) as raised:
        sinks_from_env({"XERO_NOTIFY_WEBHOOK_URL": value})
    assert raised.value.variable == "XERO_NOTIFY_WEBHOOK_URL"
    assert "s3cret-token" not in str(raised.value)
    monkeypatch.setenv("XERO_NOTIFY_WEBHOOK_URL", value)
    with pytest.raises(Exception, match="XERO_NOTIFY_WEBHOOK_URL"):
        tick(f"sqlite:///{tmp_path / 'w.sqlite'}", dg.DagsterInstance.ephemeral())


def test_sinks_come_from_the_environment_and_never_show_the_url():
    sinks = sinks_from_env(
        {
            "XERO_NOTIFY_WEBHOOK_URL": "https://hooks.example.com/services/T000/s3cret-token",
            "XERO_NOTIFY_LOG_FILE": "/var/log/sales.jsonl",
        }
    )
    webhook, log_file = sinks
    assert isinstance(webhook, WebhookSink) and isinstance(log_file, LogFileSink)
    assert log_file.path == Path("/var/log/sales.jsonl")
    for shown in (repr(webhook), webhook.describe(), str(sinks)):
        assert "s3cret-token" not in shown and "hooks.example.com" in shown
    assert sinks_from_env({}) == []
    assert lookback_days({}) == 14 and lookback_days({"XERO_NOTIFY_LOOKBACK_DAYS": "3"}) == 3
    with pytest.raises(ConfigError, match="XERO_NOTIFY_LOOKBACK_DAYS"):
        lookback_days({"XERO_NOTIFY_LOOKBACK_DAYS": "soon"})
