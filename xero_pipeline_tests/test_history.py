"""Invoice and credit-note history against the sandbox, on SQLite and PostgreSQL: backfill,
resume, incremental sync, reconciliation, and the gate."""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import pytest
from sqlalchemy import create_engine, text

from xero_pipeline.defs.history.loading import RECONCILIATION_TAG
from xero_pipeline.defs.history.partitions import sales_months
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES
from xero_pipeline_tests import warm_python
from xero_pipeline_tests.conftest import AS_OF, HISTORY_ORGS
from xero_pipeline_tests.sales_support import pipeline_definitions

START = date(2024, 12, 1)  # 24 months up to AS_OF's month
HISTORY_ONLY = dg.define_asset_job(
    "history", selection=dg.AssetSelection.groups("xero_history"), partitions_def=sales_months
)


def run(
    url: str,
    first: str = "2024-12-01",
    last: str = "2026-11-01",
    *,
    sync: bool = False,
    tags: dict | None = None,
    minute: tuple[int, float] = (60, 60.0),
    raise_on_error: bool = True,
    page_size: int = 1000,
) -> dg.ExecuteInProcessResult:
    resources = {
        "xero": XeroResource(minute_limit=minute[0], minute_seconds=minute[1], page_size=page_size),
        "warehouse": WarehouseResource(url=url),
    }
    defs = pipeline_definitions(resources, jobs=[HISTORY_ONLY])
    if sync:
        return defs.resolve_job_def("sales_sync").execute_in_process(
            tags=tags, raise_on_error=raise_on_error
        )
    tags = {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
        **(tags or {}),
    }
    return defs.resolve_job_def("history").execute_in_process(
        tags=tags, raise_on_error=raise_on_error
    )


def failure_text(event: dg.DagsterEvent) -> str:
    """A step failure's message with its cause's (Dagster wraps the exception the asset raised)."""
    error = event.event_specific_data.error
    return " ".join(e.message for e in (error, error.cause) if e is not None)


def load_reference(url: str) -> None:
    resources = {"xero": XeroResource(), "warehouse": WarehouseResource(url=url)}
    pipeline_definitions(resources).resolve_job_def("reference_data").execute_in_process()


def query(url: str, sql: str) -> set[tuple]:
    with create_engine(url).connect() as connection:
        return {tuple(row) for row in connection.execute(text(sql))}


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def sandbox_documents(sandbox: Sandbox, resource: str) -> tuple[set[tuple], set[tuple]]:
    headers, lines = set(), set()
    for tenant in sandbox.tenants.values():
        docs = tenant.collection(resource)
        for pos in range(len(docs)):
            doc = docs.record(pos, with_lines=True)
            doc_id = doc[f"{resource}ID"]
            headers.add(
                (
                    tenant.tenant_id,
                    doc_id,
                    doc["Status"],
                    doc["Date"].isoformat(),
                    money(doc["Total"]),
                )
            )
            for number, line in enumerate(doc["LineItems"], start=1):
                lines.add(
                    (
                        tenant.tenant_id,
                        doc_id,
                        number,
                        line["AccountCode"],
                        money(line["LineAmount"]),
                    )
                )
    return headers, lines


def warehouse_documents(url: str, kind) -> tuple[set[tuple], set[tuple]]:
    table = "xero_invoices" if kind is INVOICES else "xero_credit_notes"
    headers = {
        (t, i, s, str(d)[:10], money(v))
        for t, i, s, d, v in query(
            url, f"SELECT tenant_id, {kind.id_column}, status, date, total FROM {table}"
        )
    }
    lines = {
        (t, i, n, c, money(a))
        for t, i, n, c, a in query(
            url,
            f"SELECT tenant_id, {kind.id_column}, line_number, account_code, line_amount "
            f"FROM {table[:-1]}_lines",
        )
    }
    return headers, lines


def assert_equal_to_sandbox(sandbox: Sandbox, url: str, since: date | None = None) -> None:
    """Documents and lines equal the sandbox's (those dated `since` or later, when given: the
    sales start; the warehouse keeps nothing dated before it)."""
    for kind, resource in ((INVOICES, "Invoice"), (CREDIT_NOTES, "CreditNote")):
        headers, lines = sandbox_documents(sandbox, resource)
        if since is not None:
            headers = {h for h in headers if h[3] >= since.isoformat()}
            kept = {h[1] for h in headers}
            lines = {line for line in lines if line[1] in kept}
        assert warehouse_documents(url, kind) == (headers, lines), resource


def fewest_calls(sandbox: Sandbox, since: date, page: int = 1000) -> int:
    """The fewest calls that read every invoice and credit note dated `since` or later: one
    read per tenant and resource, ceil(documents / page) calls (one when there are none)."""
    total = 0
    for tenant in sandbox.tenants.values():
        for documents in (tenant.invoices, tenant.credit_notes):
            count = sum(1 for stub in documents.stubs if stub.date >= since)
            total += max(1, -(-count // page))
    return total


def test_backfill_of_24_months_equals_the_sandbox_in_the_fewest_calls(
    history_sandbox, warehouse_url
):
    load_reference(warehouse_url)
    before = history_sandbox.total_calls()
    result = run(warehouse_url)
    assert result.success
    assert_equal_to_sandbox(history_sandbox, warehouse_url)
    # One sweep per tenant and resource: ceil(documents / 1000) calls, not one per month.
    assert history_sandbox.total_calls() - before == fewest_calls(history_sandbox, START)
    partitions = {
        e.partition
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "xero_invoices"
    }
    assert len(partitions) == 24
    shown = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "xero_invoices"
    )
    headers, lines = sandbox_documents(history_sandbox, "Invoice")
    assert sum(shown["documents by status"].value.values()) == len(headers)
    assert sum(shown["lines by status"].value.values()) == len(lines)
    assert shown["months"].value == "2024-12 to 2026-11 (24)"


def test_a_backfill_stopped_halfway_and_relaunched_ends_identical(
    history_sandbox, warehouse_url, tmp_path
):
    load_reference(warehouse_url)
    used = {t: history_sandbox.limiter.calls_today(t) for t in history_sandbox.tenants}
    # Pages of 25: a tenant's 300 invoices take a sweep of 12 pages, and the day limit runs out
    # six pages in, with the sweep's first months committed and the rest not.
    history_sandbox.limiter.config = LimitConfig(enabled=True, per_day=max(used.values()) + 6)
    stopped = run(warehouse_url, raise_on_error=False, page_size=25)
    assert not stopped.success
    errors = " ".join(failure_text(e) for e in stopped.get_step_failure_events())
    assert "daily call limit" in errors
    committed = query(
        warehouse_url,
        "SELECT DISTINCT tenant_id, substr(CAST(date AS TEXT), 1, 7) FROM xero_invoices",
    )
    months = {month for _, month in committed}
    assert 3 <= len(months) < 24  # stopped in the middle of the sweep, whole months committed
    history_sandbox.limiter.config = LimitConfig(enabled=False)  # a new day
    assert run(warehouse_url, page_size=25).success
    assert_equal_to_sandbox(history_sandbox, warehouse_url)
    fresh = f"sqlite:///{tmp_path / 'uninterrupted.sqlite'}"
    load_reference(fresh)
    run(fresh)
    for kind in (INVOICES, CREDIT_NOTES):
        assert warehouse_documents(fresh, kind) == warehouse_documents(warehouse_url, kind)


def history_job_in_pages_of_25() -> dg.JobDefinition:
    """The history job as a re-execution reconstructs it (warehouse from WAREHOUSE_URL)."""
    resources = {"xero": XeroResource(page_size=25), "warehouse": WarehouseResource()}
    return pipeline_definitions(resources, jobs=[HISTORY_ONLY]).resolve_job_def("history")


def test_a_re_execution_of_a_sweep_stopped_part_way_resumes_at_the_first_month_not_committed(
    history_sandbox, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    monkeypatch.setenv("WAREHOUSE_URL", url)
    load_reference(url)
    used = {t: history_sandbox.limiter.calls_today(t) for t in history_sandbox.tenants}
    history_sandbox.limiter.config = LimitConfig(enabled=True, per_day=max(used.values()) + 6)
    months = "SELECT tenant_id, resource, month, loaded_at FROM history_months"
    tags = {
        "dagster/asset_partition_range_start": "2024-12-01",
        "dagster/asset_partition_range_end": "2026-11-01",
    }
    job = dg.reconstructable(history_job_in_pages_of_25)
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        stopped = dg.execute_job(job, instance, tags=tags, raise_on_error=False)
        assert not stopped.success
        committed = query(url, months)
        assert 0 < len(committed) < 2 * 2 * 24  # part-way through the sweep
        history_sandbox.limiter.config = LimitConfig(enabled=False)  # a new day
        before = history_sandbox.total_calls()
        again = dg.execute_job(
            job,
            instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(stopped.run_id, instance),
            tags=tags,  # the UI's re-execution carries the run's tags over; execute_job does not
            raise_on_error=False,
        )
        assert again.success
        said = [e.user_message for e in instance.all_logs(again.run_id) if e.user_message]
    assert_equal_to_sandbox(history_sandbox, url)
    resumed = [m for m in said if "resuming at" in m]
    assert resumed, said[:20]
    # It resumed at a month the first attempt had not committed, after ones it had.
    kind, month = resumed[0].split(": resuming at ")[0], resumed[0].split("resuming at ")[1][:7]
    resource = "invoices" if kind == "Invoices" else "credit_notes"
    done = {(t, str(m)[:7]) for t, r, m, _ in committed if r == resource}
    tenants = set(history_sandbox.tenants)
    assert not {(t, month) for t in tenants} <= done
    assert {(t, "2024-12") for t in tenants} <= done
    # What the first attempt committed was not read again: its months kept their load time...
    assert committed <= query(url, months)
    # ...and the re-execution spent fewer calls than reading the range from its start would.
    from_the_start = fewest_calls(history_sandbox, START, page=25)
    assert history_sandbox.total_calls() - before < from_the_start


def test_incremental_sync_brings_edits_in(history_sandbox, warehouse_url):
    load_reference(warehouse_url)
    run(warehouse_url)
    before = history_sandbox.total_calls()
    assert run(warehouse_url, sync=True).success
    assert history_sandbox.total_calls() - before == 2 * 2  # one call per resource and tenant
    tenant = history_sandbox.tenant(0)
    history_sandbox.clock.advance(10)
    customer = next(c["ContactID"] for c in tenant.contacts.records if c["IsCustomer"])
    tenant.add_document(
        "Invoice",
        contact_id=customer,
        day=AS_OF - timedelta(days=2),
        lines=[{"AccountCode": "200", "UnitAmount": "99.90", "Quantity": 3}],
    )
    invoices = tenant.invoices
    authorised = [s.id for s in invoices.stubs if s.status == "AUTHORISED"]
    paid = [s.id for s in invoices.stubs if s.status == "PAID"]
    tenant.set_document_status("Invoice", authorised[0], "PAID")
    tenant.set_document_status("Invoice", paid[0], "VOIDED")
    tenant.set_document_date("Invoice", paid[1], date(2025, 3, 14))  # moves to another month
    tenant.add_document(
        "CreditNote",
        contact_id=customer,
        day=AS_OF - timedelta(days=1),
        lines=[{"AccountCode": "200", "UnitAmount": "25.00"}],
    )
    tenant.add_document(
        "Invoice",
        contact_id=customer,
        day=date(2023, 6, 1),  # before the start
        lines=[{"AccountCode": "200", "UnitAmount": "1.00"}],
    )
    result = run(warehouse_url, sync=True)
    assert result.success
    headers, lines = sandbox_documents(history_sandbox, "Invoice")
    ignored = {h for h in headers if h[3] < START.isoformat()}
    assert len(ignored) == 1
    assert warehouse_documents(warehouse_url, INVOICES) == (
        headers - ignored,
        {line for line in lines if line[1] not in {h[1] for h in ignored}},
    )
    assert warehouse_documents(warehouse_url, CREDIT_NOTES) == sandbox_documents(
        history_sandbox, "CreditNote"
    )
    touched = {
        (e.asset_key.to_user_string(), e.partition)
        for e in result.get_asset_materialization_events()
    }
    assert ("xero_invoices", "2025-03-01") in touched


def test_a_recoded_line_is_missed_by_sync_and_fixed_by_reconciliation(
    history_sandbox, warehouse_url
):
    load_reference(warehouse_url)
    run(warehouse_url)
    tenant = history_sandbox.tenant(1)
    recent = next(
        s for s in tenant.invoices.stubs if s.type == "ACCREC" and s.date >= date(2026, 10, 1)
    )
    tenant.recode_line("Invoice", recent.id, 0, "260")
    run(warehouse_url, sync=True)
    code = (
        f"SELECT account_code FROM xero_invoice_lines WHERE invoice_id = '{recent.id}' "
        "AND line_number = 1"
    )
    assert query(warehouse_url, code) != {("260",)}  # incremental sync cannot see it
    result = run(warehouse_url, "2026-09-01", "2026-11-01", tags={RECONCILIATION_TAG: "true"})
    assert query(warehouse_url, code) == {("260",)}
    corrected = {
        e.asset_key.to_user_string(): e.materialization.metadata["corrected rows"].value
        for e in result.get_asset_materialization_events()
    }
    assert corrected["xero_invoice_lines"] == 1


def test_a_reconciliation_before_history_has_loaded_does_nothing_and_succeeds(
    history_sandbox, warehouse_url
):
    """The nightly reconciliation can start before a first backfill (or queue ahead of it): the
    organisations' history belongs to that backfill, so it leaves them alone, and that is
    nothing to do, not a failed run."""
    load_reference(warehouse_url)
    before = history_sandbox.total_calls()
    result = run(warehouse_url, "2026-09-01", "2026-11-01", tags={RECONCILIATION_TAG: "true"})
    assert result.success
    assert history_sandbox.total_calls() == before  # no document was read
    assert query(warehouse_url, "SELECT count(*) FROM xero_invoices") == {(0,)}
    shown = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "xero_invoices"
    )
    assert "history still loading" in shown["organisations"].value
    assert shown["organisations failed"].value == 0


def inject_unbalanced_invoice(sandbox: Sandbox, index: int = 0) -> str:
    tenant = sandbox.tenant(index)
    customer = tenant.contacts.records[0]["ContactID"]
    invoice = tenant.add_document(
        "Invoice",
        contact_id=customer,
        day=date(2026, 6, 10),
        lines=[{"AccountCode": "200", "UnitAmount": "10.00"}],
    )
    tenant.invoices.edit(
        invoice["InvoiceID"],
        lambda doc: doc.update(SubTotal=Decimal("12.00")),
        touched=sandbox.clock.now(),
    )
    return tenant.tenant_id


def inject_duplicate_invoice(sandbox: Sandbox, index: int = 0) -> str:
    tenant = sandbox.tenant(index)
    june = next(s.id for s in tenant.invoices.stubs if s.date.month == 6 and s.date.year == 2026)
    tenant.put_raw(
        "Invoice", tenant.invoices.record(tenant.invoices.position[june], with_lines=True)
    )
    return tenant.tenant_id


JUNE = (
    "SELECT invoice_id, row_hash FROM xero_invoices WHERE date >= '2026-06-01' "
    "AND date < '2026-07-01'"
)


def check_evaluations(result: dg.ExecuteInProcessResult, asset: str = "xero_invoices") -> dict:
    return {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.asset_key.to_user_string() == asset
    }


@pytest.mark.parametrize(
    "inject,check",
    [
        (inject_unbalanced_invoice, "lines_sum_to_subtotal"),
        (inject_duplicate_invoice, "invoice_id_unique_per_tenant"),
    ],
)
def test_bad_documents_fail_the_gate_for_their_organisation_and_leave_its_month_untouched(
    history_sandbox, warehouse_url, inject, check
):
    load_reference(warehouse_url)
    run(warehouse_url, "2026-06-01", "2026-06-01")
    bad = inject(history_sandbox)
    good = next(t for t in history_sandbox.tenants if t != bad)
    own = f"{JUNE} AND tenant_id = '{bad}'"
    before = query(warehouse_url, own)
    added = history_sandbox.tenants[good].add_document(
        "Invoice",
        contact_id=history_sandbox.tenants[good].contacts.records[0]["ContactID"],
        day=date(2026, 6, 11),
        lines=[{"AccountCode": "200", "UnitAmount": "10.00"}],
    )
    result = run(warehouse_url, "2026-06-01", "2026-06-01", raise_on_error=False)
    assert result.success, "one organisation's bad month must not stop the other's"
    loaded = check_evaluations(result)["organisations_loaded"]
    assert not loaded.passed and check in loaded.metadata["failed"].value[bad]
    assert any(key.startswith("sample failing rows") for key in loaded.metadata)
    assert query(warehouse_url, own) == before
    assert query(
        warehouse_url,
        f"SELECT count(*) FROM xero_invoices WHERE invoice_id = '{added['InvoiceID']}'",
    ) == {(1,)}


def test_bad_documents_in_every_organisation_fail_the_gate_and_leave_the_month_untouched(
    history_sandbox, warehouse_url
):
    load_reference(warehouse_url)
    run(warehouse_url, "2026-06-01", "2026-06-01")
    before = query(warehouse_url, JUNE)
    for index in range(len(history_sandbox.tenants)):
        inject_duplicate_invoice(history_sandbox, index)
    result = run(warehouse_url, "2026-06-01", "2026-06-01", raise_on_error=False)
    assert not result.success
    evaluation = check_evaluations(result)["invoice_id_unique_per_tenant"]
    assert not evaluation.passed
    assert evaluation.metadata["unexpected count"].value >= 2
    assert query(warehouse_url, JUNE) == before


def test_backfill_under_the_minute_limit_sees_no_429(make_sandbox, xero_env, tmp_path):
    sandbox = make_sandbox(orgs=HISTORY_ORGS, limits=LimitConfig(per_minute=10, minute_seconds=1.0))
    xero_env(sandbox)
    url = f"sqlite:///{tmp_path / 'paced.sqlite'}"
    load_reference(url)
    assert run(url, "2025-12-01", "2026-11-01", minute=(10, 1.0)).success
    assert sandbox.limiter.rejections == {}


def test_a_backfill_killed_mid_run_and_relaunched_loses_and_duplicates_nothing(
    history_sandbox, tmp_path, monkeypatch
):
    """SIGKILL the `xero-pipeline backfill` process once some months are committed; relaunch."""
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path))
    monkeypatch.setenv("XERO_SALES_START_DATE", START.isoformat()[:7])
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    load_reference(url)
    command = ("xero_pipeline.cli", "backfill", "--from", "2024-12", "--to", "2026-11")
    process = warm_python.start(*command)  # a process of its own, started warm
    committed = "SELECT count(DISTINCT substr(CAST(date AS TEXT), 1, 7)) FROM {}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            months = max(
                next(iter(query(url, committed.format(t))))[0]
                for t in ("xero_invoices", "xero_credit_notes")
            )
            if months >= 4:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the backfill finished before it could be killed"
        process.kill()  # SIGKILL
    finally:
        process.kill()
        process.wait(timeout=30)
    loaded = sum(len(warehouse_documents(url, kind)[0]) for kind in (INVOICES, CREDIT_NOTES))
    everything = sum(
        len(sandbox_documents(history_sandbox, r)[0]) for r in ("Invoice", "CreditNote")
    )
    assert 0 < loaded < everything  # killed part-way, with whole months committed
    relaunched = warm_python.run(*command, timeout=300)
    assert relaunched.returncode == 0, relaunched.stdout[-2000:] + relaunched.stderr[-3000:]
    assert_equal_to_sandbox(history_sandbox, url)
    keys = query(
        url,
        "SELECT tenant_id, invoice_id, count(*) FROM xero_invoice_lines "
        "GROUP BY tenant_id, invoice_id, line_number HAVING count(*) > 1",
    )
    assert keys == set()  # no duplicates, ever
