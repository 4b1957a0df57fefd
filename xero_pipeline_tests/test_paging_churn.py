"""Reading while Xero changes: with the sandbox's churn on, a record the reader was already served
is edited or re-dated between two page requests (`sandbox/churn.py`), which shifts the list under
an offset reader. Nothing may be lost: not by a first load, not by a month's re-read (whose
mirror deletes what it did not read), not by the incremental sync. Pages of 10 records, so small
organisations take many pages."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from xero_pipeline.defs.history.partitions import sales_months
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.churn import ChurnConfig
from xero_pipeline.xero.filters import date_window
from xero_pipeline_tests.sales_support import org_specs, pipeline_definitions
from xero_pipeline_tests.test_history import assert_equal_to_sandbox

START = date(2026, 6, 1)
PAGE = 10
HISTORY = dg.define_asset_job(
    "history", selection=dg.AssetSelection.groups("xero_history"), partitions_def=sales_months
)


@pytest.fixture
def churning(make_sandbox, xero_env, monkeypatch) -> Sandbox:
    sandbox = make_sandbox(orgs=org_specs())
    xero_env(sandbox)
    monkeypatch.setenv("XERO_SALES_START_DATE", f"{START:%Y-%m}")
    return sandbox


def definitions(url: str) -> dg.Definitions:
    resources = {"xero": XeroResource(page_size=PAGE), "warehouse": WarehouseResource(url=url)}
    return pipeline_definitions(resources, jobs=[HISTORY])


def run(defs: dg.Definitions, job: str, first: str | None = None, last: str | None = None):
    tags = (
        {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        if first
        else {}
    )
    result = defs.resolve_job_def(job).execute_in_process(tags=tags, raise_on_error=False)
    assert result.success, [e.event_specific_data.error for e in result.get_step_failure_events()]
    return result


def test_the_churn_mode_makes_offset_pages_skip_a_record(churning, connect_client):
    """The behaviour the pipeline must survive is real: read page by page by offset while churn
    edits what was already served, a record that never changed is never seen."""
    client = connect_client(churning)
    tenant = churning.tenant(0)
    month = (date(2026, 10, 1), date(2026, 11, 1))
    before = {s.id for s in tenant.invoices.stubs if month[0] <= s.date < month[1]}
    assert len(before) > 2 * PAGE
    churning.churn.configure(ChurnConfig(enabled=True))
    seen = {
        doc["InvoiceID"]
        for page in client.pages(
            tenant.tenant_id, "Invoices", "Invoices", {"where": date_window(*month)}, page_size=PAGE
        )
        for doc in page
    }
    still_there = {s.id for s in tenant.invoices.stubs if month[0] <= s.date < month[1]}
    redated = before - still_there
    assert churning.churn.edits["touch"] >= 1 and redated  # both kinds of edit happened
    assert still_there - seen  # offset paging skipped something that is still in the month
    keyset = {
        doc["InvoiceID"]
        for page in client.changes(
            tenant.tenant_id,
            "Invoices",
            "Invoices",
            None,
            params={"where": date_window(*month)},
            page_size=PAGE,
        )
        for doc in page
    }
    # The keyset read, under the same churn, is served every document still in the month.
    in_the_month = {s.id for s in tenant.invoices.stubs if month[0] <= s.date < month[1]}
    assert in_the_month <= keyset


def test_a_sweep_in_date_order_under_churn_is_served_every_document_still_in_its_range(
    churning, connect_client
):
    """The history sweep's keyset (Date, then UpdatedDateUTC) under the same churn: documents
    edited behind the reader move on within their date or leave the range, and none that stays
    is skipped. It reads the range in date order, so a month can be taken as soon as it is
    passed."""
    client = connect_client(churning)
    tenant = churning.tenant(0)
    start, end = date(2026, 8, 1), date(2026, 11, 1)
    assert sum(1 for s in tenant.invoices.stubs if start <= s.date < end) > 3 * PAGE
    churning.churn.configure(ChurnConfig(enabled=True))
    pages = list(client.sweep(tenant.tenant_id, "Invoices", "Invoices", start, end, PAGE))
    churning.churn.configure(ChurnConfig(enabled=False))
    assert sum(churning.churn.edits.values()) >= 3
    served = [doc for page in pages for doc in page]
    in_the_range = {s.id for s in tenant.invoices.stubs if start <= s.date < end}
    assert in_the_range <= {doc["InvoiceID"] for doc in served}
    days = [doc["DateString"][:10] for doc in served]
    assert days == sorted(days)  # oldest date first, page after page


def test_a_first_load_under_churn_loses_nothing(churning, tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    defs = definitions(url)
    run(defs, "reference_data")
    churning.churn.configure(ChurnConfig(enabled=True))
    run(defs, "history", START.isoformat(), "2026-11-01")
    assert sum(churning.churn.edits.values()) > 10  # the list moved under every month's read
    run(defs, "sales_sync")  # what changed while history was read (and more churn)
    churning.churn.configure(ChurnConfig(enabled=False))
    run(defs, "sales_sync")  # the last changes, read still
    assert_equal_to_sandbox(churning, url, since=START)


def test_a_months_re_read_under_churn_deletes_nothing_still_there(churning, warehouse_url):
    defs = definitions(warehouse_url)
    run(defs, "reference_data")
    run(defs, "history", START.isoformat(), "2026-11-01")
    assert_equal_to_sandbox(churning, warehouse_url, since=START)
    churning.churn.configure(ChurnConfig(enabled=True))
    run(defs, "history", "2026-09-01", "2026-11-01")  # the nightly reconciliation's months
    churning.churn.configure(ChurnConfig(enabled=False))
    run(defs, "sales_sync")
    assert sum(churning.churn.edits.values()) > 3
    assert_equal_to_sandbox(churning, warehouse_url, since=START)
