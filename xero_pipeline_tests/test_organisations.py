"""Organisations as units: one organisation's trouble (Xero offline for it, its gate failing)
fails only that organisation's work, is recorded in `xero_connections` with its reason, and
backs off; every other organisation loads. Real Dagster runs against the sandbox over HTTP, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from sqlalchemy import create_engine, text

from xero_pipeline.cli.summary import status_summary
from xero_pipeline.defs.connections.sensors import onboard_new_organisations
from xero_pipeline.defs.connections.work import ORGANISATION_TAG
from xero_pipeline.defs.history.backfill import RANGE_START
from xero_pipeline.resources import WarehouseResource
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.faults import ScriptedFault
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline.warehouse.connections import (
    CONNECTED,
    DISCONNECTED,
    FAILING,
    FIRST_BACKOFF,
    LONGEST_BACKOFF,
    backoff,
    note_listed,
    organisations,
    record_failure,
    record_success,
)
from xero_pipeline.warehouse.engine import connect
from xero_pipeline.warehouse.values import as_utc
from xero_pipeline.xero.client import Tenant
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import XeroSettings
from xero_pipeline.xero.tokens import open_token_store
from xero_pipeline_tests.conftest import HISTORY_ORGS
from xero_pipeline_tests.sales_support import Pipeline, query
from xero_pipeline_tests.test_connections import partner_connects
from xero_pipeline_tests.test_history import (
    assert_equal_to_sandbox,
    load_reference,
    run,
    warehouse_documents,
)

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)  # the ledger's clock in the unit tests


def take_offline(sandbox: Sandbox, tenant_id: str) -> None:
    """Xero answers every call for the organisation with 503 "The Organisation is offline"."""
    sandbox.faults.script(ScriptedFault(kind="503", count=10**6, tenant_id=tenant_id))


def ledger(url: str) -> dict[str, tuple]:
    with create_engine(url).connect() as connection:
        rows = connection.execute(
            text("SELECT tenant_id, status, failures, last_error FROM xero_connections")
        )
        return {row[0]: tuple(row[1:]) for row in rows}


def documents_of(url: str, tenant_id: str) -> int:
    return sum(
        1
        for kind in (INVOICES, CREDIT_NOTES)
        for header in warehouse_documents(url, kind)[0]
        if header[0] == tenant_id
    )


def check(result: dg.ExecuteInProcessResult, asset: str, name: str) -> dg.AssetCheckEvaluation:
    return next(
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == name
        and e.event_specific_data.asset_key.to_user_string() == asset
    )


def test_an_offline_organisation_fails_alone_and_loads_once_back(history_sandbox, warehouse_url):
    offline, online = list(history_sandbox.tenants)
    take_offline(history_sandbox, offline)
    load_reference(warehouse_url)  # succeeds: the online organisation's reference data loads
    status, failures, error = ledger(warehouse_url)[offline]
    assert status == FAILING and failures >= 1 and "offline" in error
    assert ledger(warehouse_url)[online][:2] == (CONNECTED, 0)

    result = run(warehouse_url)
    assert result.success, "one offline organisation must not stop the other's history"
    status = {
        line.split("(tenant ")[1][:36]: line
        for line in status_summary(warehouse_url).splitlines()
        if "(tenant " in line and "): " in line
    }
    assert ": failing;" in status[offline] and "The Organisation is offline" in status[offline]
    assert ": connected;" in status[online] and "history complete" in status[online]
    assert documents_of(warehouse_url, offline) == 0
    assert documents_of(warehouse_url, online) > 0
    loaded = check(result, "xero_invoices", "organisations_loaded")
    assert not loaded.passed and offline in loaded.metadata["failed"].value

    edited = history_sandbox.tenants[online]
    docs = edited.collection("Invoice")
    invoice_id = docs.record(len(docs) - 1, with_lines=False)["InvoiceID"]
    history_sandbox.clock.advance(60)
    edited.set_document_reference("Invoice", invoice_id, "edited while the other was offline")
    # The sync leaves the organisation with no history alone and syncs the other.
    assert run(warehouse_url, sync=True).success
    assert ledger(warehouse_url)[online][:2] == (CONNECTED, 0)
    with create_engine(warehouse_url).connect() as connection:
        reference = connection.execute(
            text("SELECT reference FROM xero_invoices WHERE invoice_id = :i"), {"i": invoice_id}
        ).scalar_one()
    assert reference == "edited while the other was offline"

    history_sandbox.faults.clear()  # back online
    assert run(warehouse_url).success
    assert_equal_to_sandbox(history_sandbox, warehouse_url)
    assert ledger(warehouse_url)[offline][:2] == (CONNECTED, 0)


def test_scheduled_runs_leave_a_failing_organisation_alone_until_its_backoff_ends(
    history_sandbox, warehouse_url
):
    offline = next(iter(history_sandbox.tenants))
    load_reference(warehouse_url)
    run(warehouse_url)  # whole history: the sync reads an organisation once it is complete
    take_offline(history_sandbox, offline)
    synced = run(warehouse_url, sync=True, raise_on_error=False)
    assert not synced.success  # the sync names the organisation it could not sync
    message = " ".join(
        e.event_specific_data.error.message for e in synced.get_step_failure_events()
    )
    assert offline in message and "offline" in message
    assert ledger(warehouse_url)[offline][:2] == (FAILING, 1)

    scheduled = {"dagster/schedule_name": "sales_sync_every_15_minutes"}
    before = history_sandbox.total_calls(offline)
    quiet = run(warehouse_url, sync=True, tags=scheduled)
    assert quiet.success  # nothing asked of it
    # The UI shows the ledger as the asset xero_connections, recorded by the sync itself.
    (recorded,) = [
        e.materialization.metadata
        for e in quiet.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "xero_connections"
    ]
    assert (recorded["failing"].value, recorded["connected"].value) == (1, 1)
    assert offline in recorded["organisations"].value
    assert history_sandbox.total_calls(offline) == before
    assert ledger(warehouse_url)[offline][:2] == (FAILING, 1)

    # Its backoff over, the next scheduled sync tries it again: still offline, backs off longer.
    with create_engine(warehouse_url).begin() as connection:
        connection.execute(
            text("UPDATE xero_connections SET next_attempt_at = :past WHERE tenant_id = :t"),
            {"past": datetime.now(UTC) - timedelta(minutes=1), "t": offline},
        )
    assert not run(warehouse_url, sync=True, tags=scheduled, raise_on_error=False).success
    assert history_sandbox.total_calls(offline) > before
    assert ledger(warehouse_url)[offline][:2] == (FAILING, 2)


# -- the ledger on its own ---------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield engine
    engine.dispose()


A, B = Tenant("a" * 8, "Alpha", connection_id="c-a"), Tenant("b" * 8, "Beta", connection_id="c-b")


def test_backoff_doubles_from_a_quarter_hour_up_to_a_day():
    assert [backoff(n) for n in (1, 2, 3)] == [FIRST_BACKOFF, 2 * FIRST_BACKOFF, 4 * FIRST_BACKOFF]
    assert backoff(30) == LONGEST_BACKOFF


def test_the_ledger_follows_connections_failures_and_successes(engine):
    listing = note_listed(engine, [A, B], NOW)
    assert set(listing.new) == {A.tenant_id, B.tenant_id}
    state = record_failure(engine, A, "XeroUnavailableError: offline", NOW, run_id="r1")
    assert state.status == FAILING and state.next_attempt_at == NOW + FIRST_BACKOFF
    assert state.waiting(NOW + timedelta(minutes=14)) and not state.waiting(NOW + FIRST_BACKOFF)
    record_success(engine, [A.tenant_id], NOW, run_id="r1")  # a later step of the same run
    assert organisations(engine)[A.tenant_id].status == FAILING
    record_success(engine, [A.tenant_id], NOW, run_id="r2")
    assert organisations(engine)[A.tenant_id].status == CONNECTED

    listing = note_listed(engine, [A], NOW)  # B's admin removed the app
    assert listing.disconnected == (B.tenant_id,)
    gone = organisations(engine)[B.tenant_id]
    assert gone.status == DISCONNECTED and gone.waiting(NOW + timedelta(days=365))
    assert note_listed(engine, [A, B], NOW).reconnected == (B.tenant_id,)

    refused = record_failure(engine, A, "XeroRequestError: 403", NOW, disconnected=True)
    assert refused.status == DISCONNECTED
    # Still listed, same connection: stays disconnected (Xero refused it); a new consent
    # (a new connection id) brings it back.
    assert note_listed(engine, [A, B], NOW).reconnected == ()
    again = Tenant(A.tenant_id, A.name, connection_id="c-a2")
    assert note_listed(engine, [again, B], NOW).reconnected == (A.tenant_id,)

    # A consent whose token Xero refuses: its organisations are failing (reconnect), not gone,
    # and the first success after a new consent clears it.
    note_listed(engine, [again, B], NOW, token_keys={A.tenant_id: "k-a", B.tenant_id: "k-b"})
    listing = note_listed(engine, [again], NOW, broken={"k-b": "XeroAuthError: invalid_grant"})
    assert listing.disconnected == ()
    broken = organisations(engine)[B.tenant_id]
    assert broken.status == FAILING and "invalid_grant" in (broken.last_error or "")
    record_success(engine, [B.tenant_id], NOW, run_id="r3")
    assert organisations(engine)[B.tenant_id].status == CONNECTED
    # Narrowed to one organisation (XERO_TENANT_IDS), the others are not judged gone.
    assert note_listed(engine, [again], NOW, within={A.tenant_id}).disconnected == ()
    assert organisations(engine)[B.tenant_id].status == CONNECTED


def test_a_disconnected_organisation_stops_being_called_and_the_marts_say_so(
    history_sandbox, warehouse_url
):
    pipeline = Pipeline(warehouse_url, date(2026, 9, 1))
    pipeline.load_everything("2026-11-01")
    leaving, staying = list(history_sandbox.tenants)
    rows_before = query(
        warehouse_url, "SELECT count(*) FROM fct_sales_lines WHERE tenant_id = :t", {"t": leaving}
    )
    assert rows_before[0][0] > 0
    assert history_sandbox.disconnect(leaving) >= 1  # its admin revoked the app in Xero
    calls = history_sandbox.total_calls(leaving)

    pipeline.load_everything("2026-11-01")  # reference data, history, marts: all succeed
    assert pipeline.job("sales_sync").success
    assert history_sandbox.total_calls(leaving) == calls  # never called again
    status, _, error = ledger(warehouse_url)[leaving]
    assert status == DISCONNECTED and "no longer listed" in error
    assert ledger(warehouse_url)[staying][:2] == (CONNECTED, 0)
    for mart in ("fct_sales_lines", "sales_by_account_code_monthly", "invoiced_contacts"):
        marked = dict(
            query(
                warehouse_url,
                f"SELECT tenant_id, count(*) FROM {mart} WHERE NOT is_connected GROUP BY tenant_id",
            )
        )
        assert set(marked) == {leaving}, mart  # its rows stay, marked; the other's are not
    assert (
        query(
            warehouse_url,
            "SELECT count(*) FROM fct_sales_lines WHERE tenant_id = :t",
            {"t": leaving},
        )
        == rows_before
    )
    assert query(
        warehouse_url,
        "SELECT count(*) FROM dim_account_codes WHERE tenant_id = :t AND is_connected",
        {"t": leaving},
    ) == [(0,)]

    history_sandbox.connect(leaving)  # connected again (a new consent)
    pipeline.job("reference_data")
    assert ledger(warehouse_url)[leaving][0] == CONNECTED
    assert query(
        warehouse_url,
        "SELECT count(*) FROM fct_sales_lines WHERE tenant_id = :t AND NOT is_connected",
        {"t": leaving},
    ) == [(0,)]


def test_a_newly_connected_organisation_loads_its_whole_history_by_itself(
    make_sandbox, xero_env, tmp_path
):
    """A partner connects while the pipeline runs: the sync notes the new organisation, the
    onboarding sensor launches its reference data, then its whole history at a lower priority,
    each run for it alone; then the sensor is quiet and the sync reads it too."""
    sandbox = make_sandbox(orgs=HISTORY_ORGS, hidden=1)
    xero_env(sandbox)
    first, newcomer = list(sandbox.tenants)
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    instance = dg.DagsterInstance.ephemeral()
    pipeline = Pipeline(url, date(2024, 12, 1), instance)
    pipeline.load_everything("2026-11-01")

    def tick() -> list[dg.RunRequest]:
        with dg.build_sensor_context(
            instance=instance, resources={"warehouse": WarehouseResource(url=url)}
        ) as context:
            result = onboard_new_organisations(context)
        return list(result.run_requests or []) if isinstance(result, dg.SensorResult) else []

    assert tick() == []  # the first organisation's history is complete
    sandbox.connect(newcomer)  # the partner's consent adds their organisation
    assert pipeline.job("sales_sync").success  # notes it in the ledger; reads none of it yet
    assert ledger(url)[newcomer][0] == CONNECTED

    reference = tick()
    assert [(r.job_name, r.tags[ORGANISATION_TAG]) for r in reference] == [
        ("reference_data", newcomer)
    ]
    before = sandbox.total_calls(first)
    for request in reference:
        pipeline.defs.resolve_job_def(request.job_name).execute_in_process(
            tags=request.tags, instance=instance
        )
    assert sandbox.total_calls(first) == before  # a run for the newcomer reads only it

    history = tick()
    assert [(r.job_name, r.tags[ORGANISATION_TAG]) for r in history] == [
        ("sales_history", newcomer)
    ]
    request = history[0]
    assert request.tags["dagster/priority"] == "-1"
    assert request.tags[RANGE_START] == "2024-12-01"
    run = pipeline.defs.resolve_job_def(request.job_name).execute_in_process(
        tags=request.tags, instance=instance
    )
    assert run.success and sandbox.total_calls(first) == before
    assert_equal_to_sandbox(sandbox, url)  # both organisations, every month
    assert tick() == []
    assert "history complete" in next(
        line for line in status_summary(url).splitlines() if newcomer in line
    )


def spend_the_day(sandbox: Sandbox, tenant_id: str) -> None:
    """Use up the organisation's day of calls (as another app of the same organisation would)."""
    for _ in range(sandbox.limiter.config.per_day):
        assert sandbox.limiter.acquire(tenant_id).allowed
        sandbox.limiter.release(tenant_id)


def test_one_organisations_day_limit_waits_for_its_reset_and_the_other_loads(
    history_sandbox, warehouse_url
):
    spent, fresh = list(history_sandbox.tenants)
    load_reference(warehouse_url)
    history_sandbox.limiter.config = LimitConfig(per_minute=10_000, per_day=500)
    spend_the_day(history_sandbox, spent)
    before = datetime.now(UTC)
    result = run(warehouse_url)
    assert result.success  # the other organisation's whole history loaded
    assert documents_of(warehouse_url, spent) == 0 and documents_of(warehouse_url, fresh) > 0
    status, _, error = ledger(warehouse_url)[spent]
    assert status == FAILING and "daily call limit" in error
    retry_at = organisations(connect(warehouse_url))[spent].next_attempt_at
    # Left alone until the day resets (the sandbox's day: 24 hours from its first call), not
    # for a quarter of an hour.
    assert retry_at is not None and as_utc(retry_at) > before + timedelta(hours=23)


def test_a_revoked_consent_marks_its_organisation_failing_and_the_other_partner_loads(
    make_sandbox, xero_env, warehouse_url, tmp_path
):
    sandbox = make_sandbox(orgs=HISTORY_ORGS, hidden=2)
    xero_env(sandbox)  # the app, consented to nothing yet: each partner consents below
    first, second = list(sandbox.tenants)
    settings = XeroSettings.from_env()
    a = partner_connects(settings, "partner-a", first)
    partner_connects(settings, "partner-b", second)
    load_reference(warehouse_url)
    assert {t: row[0] for t, row in ledger(warehouse_url).items()} == {
        first: CONNECTED,
        second: CONNECTED,
    }
    tokens = open_token_store(settings)
    with tokens.locked(settings.client_id, a):  # partner A's refresh token stops working
        tokens.write(settings.client_id, Secret("revoked-at-xero"), a)
    sandbox.clock.advance(60)
    renamed = sandbox.tenants[second].contacts.records[0]["ContactID"]
    sandbox.tenants[second].update_contact(renamed, Name="Partner B Renamed")
    load_reference(warehouse_url)  # succeeds: partner B's organisation is read
    status, _, error = ledger(warehouse_url)[first]
    assert status == FAILING and "invalid_grant" in error  # failing, not disconnected
    assert ledger(warehouse_url)[second][:2] == (CONNECTED, 0)
    assert query(
        warehouse_url, "SELECT name FROM xero_contacts WHERE contact_id = :c", {"c": renamed}
    ) == [("Partner B Renamed",)]

    partner_connects(settings, "partner-a", first)  # partner A connects again
    load_reference(warehouse_url)
    assert ledger(warehouse_url)[first][:2] == (CONNECTED, 0)
