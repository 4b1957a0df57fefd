"""Notifications on newly raised sales invoices: a real webhook receiver (http.server on
loopback, in a thread) and a log file, the real sensor evaluated against a real Dagster instance
and the send run it launches, against a real warehouse (SQLite and PostgreSQL), invoices raised in
the sandbox and brought in by the real incremental sync. Only what the sync sees being raised,
once an organisation's history is complete, is announced: loading history floods nobody."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
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
from xero_pipeline.months import month_start
from xero_pipeline.resources import WarehouseResource
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.xero.errors import ConfigError
from xero_pipeline_tests.conftest import AS_OF
from xero_pipeline_tests.sales_support import Pipeline, execute, org_specs, query

FIRST = month_start(AS_OF, 2)  # the organisations' three months: two before AS_OF's, and its own


class Receiver:
    """A webhook endpoint on loopback that refuses the first `failures` POSTs with a 503, then
    accepts: what it accepted is what a recipient got."""

    def __init__(self, failures: int = 0, refuse: str | None = None) -> None:
        self.failures = failures
        self.refuse = refuse  # an invoice number this receiver rejects for good (HTTP 422)
        self.attempts = 0
        self.accepted: list[dict[str, Any]] = []
        self.keys: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                message = json.loads(body)
                with lock:
                    receiver.attempts += 1
                    status = 503 if receiver.attempts <= receiver.failures else 204
                    if message["number"] == receiver.refuse:
                        status = 422
                    if status == 204:
                        receiver.accepted.append(message)
                        receiver.keys.append(self.headers["Idempotency-Key"])
                reply = b'{"error": "unknown customer"}' if status == 422 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

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
def recent_sandbox(make_sandbox, xero_env, monkeypatch) -> Sandbox:
    """Three months of sales up to AS_OF, with recent invoices inside the lookback; sales
    history starts at the first of them."""
    sandbox = make_sandbox(orgs=org_specs(months=3))
    xero_env(sandbox)
    monkeypatch.setenv("XERO_SALES_START_DATE", f"{FIRST:%Y-%m}")
    return sandbox


def load_history(
    url: str, instance: dg.DagsterInstance | None = None, months: tuple[date, ...] | None = None
) -> Pipeline:
    """Reference data and the history of `months` (default: all three), as backfills do."""
    pipeline = Pipeline(url, FIRST, instance=instance)
    pipeline.job("reference_data")
    for month in months or (FIRST, month_start(AS_OF, 1), month_start(AS_OF)):
        pipeline.job("history_only", month.isoformat())
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
        day=AS_OF - timedelta(days=days_ago),
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


def test_each_raised_sales_invoice_is_announced_once_and_history_floods_nobody(
    recent_sandbox, warehouse_url, receiver, tmp_path, monkeypatch
):
    log_file = tmp_path / "notifications.jsonl"
    monkeypatch.setenv("XERO_NOTIFY_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("XERO_NOTIFY_LOG_FILE", str(log_file))
    recent = [
        s
        for t in recent_sandbox.tenants.values()
        for s in t.invoices.stubs
        if s.type == "ACCREC"
        and s.status in ("AUTHORISED", "PAID")
        and s.date >= AS_OF - timedelta(14)
    ]
    assert len(recent) >= 5  # history holds invoices recent enough to be announced, were it news
    pipeline = load_history(warehouse_url)
    instance = dg.DagsterInstance.ephemeral()
    assert pipeline.job("sales_sync").success  # nothing changed since history was read
    assert tick(warehouse_url, instance) == "Nothing new to announce."
    assert receiver.accepted == [] and not log_file.exists()

    first = raise_invoice(recent_sandbox, 0, 1, "120.50")
    second = raise_invoice(recent_sandbox, 1, 0, "99.99", currency="USD", rate=Decimal("0.65"))
    draft = raise_invoice(recent_sandbox, 0, 2, "10.00", status="DRAFT")
    bill = raise_invoice(recent_sandbox, 0, 1, "55.00", type_="ACCPAY")
    assert pipeline.job("sales_sync").success
    assert "webhook: 2 sent" in tick(warehouse_url, instance)
    assert tick(warehouse_url, instance) == "Nothing new to announce."
    assert sorted(m["invoice_id"] for m in receiver.accepted) == sorted(
        [first["InvoiceID"], second["InvoiceID"]]
    )

    # "Restart": a new Dagster instance and sensor context, the same warehouse.
    restarted = dg.DagsterInstance.ephemeral()
    assert tick(warehouse_url, restarted) == "Nothing new to announce."
    third = raise_invoice(recent_sandbox, 1, 3, "42.00")
    recent_sandbox.clock.advance(5)
    recent_sandbox.tenant(0).set_document_status("Invoice", draft["InvoiceID"], "AUTHORISED")
    assert pipeline.job("sales_sync").success
    assert pipeline.job("sales_sync").success  # the overlap re-read raises nothing twice
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


def test_a_first_backfill_announces_nothing_until_history_is_complete(
    recent_sandbox, tmp_path, monkeypatch
):
    """The backfill walks from the oldest month; the sync runs meanwhile (its watermark is set
    by the first month). What it sees raised before the last month is loaded is not news: no
    flood when the backfill reaches the recent weeks. Once history is complete, it is."""
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    log_file = tmp_path / "notifications.jsonl"
    monkeypatch.setenv("XERO_NOTIFY_LOG_FILE", str(log_file))
    instance = dg.DagsterInstance.ephemeral()
    pipeline = load_history(url, months=(FIRST,))
    during = raise_invoice(recent_sandbox, 0, 1, "15.00")
    assert pipeline.job("sales_sync").success
    for month in (month_start(AS_OF, 1), month_start(AS_OF)):
        pipeline.job("history_only", month.isoformat())
    assert pipeline.job("sales_sync").success
    assert tick(url, instance) == "Nothing new to announce."
    assert query(url, "SELECT count(*) FROM invoices_raised") == [(0,)]
    assert query(
        url, f"SELECT status FROM xero_invoices WHERE invoice_id = '{during['InvoiceID']}'"
    )
    after = raise_invoice(recent_sandbox, 1, 0, "25.00")
    assert pipeline.job("sales_sync").success
    assert "log_file: 1 sent" in tick(url, instance)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [m["invoice_id"] for m in lines] == [after["InvoiceID"]]


def test_a_failing_webhook_is_retried_by_a_later_run_and_blocks_nothing(
    recent_sandbox, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    receiver = Receiver(failures=4)  # three attempts a run: the first run fails outright
    log_file = tmp_path / "notifications.jsonl"
    try:
        monkeypatch.setenv("XERO_NOTIFY_WEBHOOK_URL", receiver.url)
        monkeypatch.setenv("XERO_NOTIFY_LOG_FILE", str(log_file))
        pipeline = load_history(url)
        instance = dg.DagsterInstance.ephemeral()
        new = raise_invoice(recent_sandbox, 0, 0, "300.00")
        assert pipeline.job("sales_sync").success

        said = tick(url, instance)
        assert receiver.attempts == 3 and receiver.accepted == []
        assert "webhook: 0 sent, 1 waiting" in said
        assert "log_file: 1 sent" in said  # the other sink was not held up
        assert "s3cret-token" not in said
        assert outcomes(url).get((new["InvoiceID"], "webhook")) is None
        failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        assert [r.job_name for r in failed] == ["send_sales_invoice_notifications"]

        assert pipeline.job("sales_sync").success  # the pipeline goes on meanwhile
        tick(url, instance)  # attempts 4 (refused) and 5 (taken)
        assert tick(url, instance) == "Nothing new to announce."
        assert receiver.attempts == 5
        assert [m["invoice_id"] for m in receiver.accepted] == [new["InvoiceID"]]
        assert len(log_file.read_text().splitlines()) == 1
    finally:
        receiver.stop()


def test_a_message_refused_for_good_is_recorded_and_the_rest_go_on(
    recent_sandbox, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    pipeline = load_history(url)
    instance = dg.DagsterInstance.ephemeral()
    refused = raise_invoice(recent_sandbox, 0, 2, "10.00", number="INV-REFUSED")
    later = [raise_invoice(recent_sandbox, 1, days, "20.00") for days in (1, 0)]
    receiver = Receiver(refuse="INV-REFUSED")
    try:
        monkeypatch.setenv("XERO_NOTIFY_WEBHOOK_URL", receiver.url)
        assert pipeline.job("sales_sync").success
        said = tick(url, instance)
        assert "webhook: 2 sent, 1 refused by the receiver" in said
        assert receiver.attempts == 3  # a refusal is not asked again
        assert sorted(m["invoice_id"] for m in receiver.accepted) == sorted(
            d["InvoiceID"] for d in later
        )
        assert outcomes(url)[(refused["InvoiceID"], "webhook")] == "failed"
        detail = query(url, "SELECT detail FROM notifications_sent WHERE outcome = 'failed'")
        assert detail == [('HTTP 422: {"error": "unknown customer"}',)]
        assert tick(url, instance) == "Nothing new to announce."
    finally:
        receiver.stop()


def test_a_sink_configured_later_gets_no_old_announcements(recent_sandbox, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    log_file = tmp_path / "notifications.jsonl"
    pipeline = load_history(url)
    instance = dg.DagsterInstance.ephemeral()
    old = raise_invoice(recent_sandbox, 0, 1, "75.00")
    assert pipeline.job("sales_sync").success  # raised while no sink was configured
    # ... a month ago, longer than the lookback (XERO_NOTIFY_LOOKBACK_DAYS, 14)
    execute(url, "UPDATE invoices_raised SET recorded_at = :then", {"then": AS_OF - timedelta(30)})
    new = raise_invoice(recent_sandbox, 0, 0, "80.00")
    assert pipeline.job("sales_sync").success
    monkeypatch.setenv("XERO_NOTIFY_LOG_FILE", str(log_file))
    assert "log_file: 1 sent, 1 raised before the lookback skipped" in tick(url, instance)
    assert outcomes(url)[(old["InvoiceID"], "log_file")] == "skipped_old"
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [m["invoice_id"] for m in lines] == [new["InvoiceID"]]


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
