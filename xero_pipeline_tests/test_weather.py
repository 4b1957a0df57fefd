"""A week of weather: seven simulated days of a business using Xero while Xero misbehaves.

Every six simulated hours both organisations raise, pay, void, re-date and credit invoices,
re-code lines (which Xero does not stamp), rename, add and archive contacts and move them between
groups; meanwhile 5% of Xero's answers fail (429, 500, 503, dropped connections, slow
responses). The pipeline runs as its schedules would: the incremental sync after each slot,
reference data every morning, the reconciliation of recent months every night (its schedule
function picks the months). At the end the warehouse equals the sandbox exactly.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import dagster as dg
import pytest

from xero_pipeline.defs.history.loading import RECONCILIATION_TAG
from xero_pipeline.defs.history.schedules import reconcile_recent_months
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.faults import FaultConfig
from xero_pipeline.sandbox.store import TenantData
from xero_pipeline_tests.conftest import AS_OF, HISTORY_ORGS
from xero_pipeline_tests.test_history import (
    assert_equal_to_sandbox,
    load_reference,
    query,
    run,
)
from xero_pipeline_tests.test_reference_assets import sandbox_contacts

pytestmark = pytest.mark.slow

DAYS, SLOTS = 7, 4  # a sync every six hours
REVENUE = ("200", "260", "270")
RANGE = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def business(tenant: TenantData, rng: random.Random, today: datetime) -> None:
    """Six hours of one organisation's bookkeeping."""
    customers = [
        c["ContactID"]
        for c in tenant.contacts.records
        if c.get("IsCustomer") and c.get("ContactStatus") == "ACTIVE"
    ]
    for _ in range(rng.randint(1, 3)):
        tenant.add_document(
            "Invoice",
            contact_id=rng.choice(customers),
            day=today.date(),
            status=rng.choice(("AUTHORISED", "AUTHORISED", "DRAFT", "PAID")),
            amount_types=rng.choice(("Exclusive", "Inclusive", "NoTax")),
            lines=[
                {
                    "AccountCode": rng.choice(REVENUE),
                    "UnitAmount": str(Decimal(rng.randint(500, 90_000)) / 100),
                    "Quantity": rng.randint(1, 5),
                }
                for _ in range(rng.randint(1, 3))
            ],
        )
    stubs = tenant.invoices.stubs
    recent = [s for s in stubs if s.date >= (today - timedelta(days=60)).date()]
    authorised = [s.id for s in stubs if s.status == "AUTHORISED"]
    if authorised and rng.random() < 0.6:
        tenant.set_document_status("Invoice", rng.choice(authorised), "PAID")
    if rng.random() < 0.25:
        tenant.set_document_status("Invoice", rng.choice(recent).id, "VOIDED")
    if rng.random() < 0.2:
        tenant.recode_line("Invoice", rng.choice(recent).id, 0, rng.choice(REVENUE))
    if rng.random() < 0.1:
        tenant.set_document_date("Invoice", rng.choice(recent).id, (today - timedelta(40)).date())
    if rng.random() < 0.3:
        tenant.add_document(
            "CreditNote",
            contact_id=rng.choice(customers),
            day=today.date(),
            lines=[{"AccountCode": rng.choice(REVENUE), "UnitAmount": "19.90"}],
        )
    contacts = tenant.contacts.records
    if rng.random() < 0.4:
        contact = rng.choice(contacts)
        tenant.update_contact(contact["ContactID"], Name=f"{contact['Name']} *")
    if rng.random() < 0.3:
        tenant.add_contact(f"Walk-in {rng.randint(1000, 9999)} & Co")
    if rng.random() < 0.1:
        tenant.update_contact(rng.choice(contacts)["ContactID"], ContactStatus="ARCHIVED")
    if rng.random() < 0.3:
        group = rng.choice([g for g in tenant.groups.records if g["Status"] == "ACTIVE"])
        member = rng.random() < 0.6
        tenant.set_group_member(group["ContactGroupID"], rng.choice(customers), member=member)


def reconcile(url: str, schedule: dg.ScheduleDefinition, moment: datetime) -> None:
    """What the nightly schedule would launch at `moment`."""
    tags = schedule(dg.build_schedule_context(scheduled_execution_time=moment)).tags
    first, last = tags[RANGE[0]], tags[RANGE[1]]
    assert run(url, first, last, tags={RECONCILIATION_TAG: "true"}).success


def sandbox_members(sandbox: Sandbox) -> set[tuple]:
    return {
        (t.tenant_id, g["ContactGroupID"], c)
        for t in sandbox.tenants.values()
        for g in t.groups.records
        if g["Status"] == "ACTIVE"
        for c in t.members[g["ContactGroupID"]]
    }


def test_a_week_of_weather_ends_with_the_warehouse_equal_to_xero(
    make_sandbox, xero_env, warehouse_url, record_property
):
    sandbox = make_sandbox(
        orgs=HISTORY_ORGS,
        # The week must end before the real "now": the gate refuses records stamped in the future.
        as_of=AS_OF - timedelta(days=DAYS + 3),
        faults=FaultConfig(rate=0.05, slow_seconds=0.3, seed=2026),
    )
    xero_env(sandbox)
    rng = random.Random(7)
    schedule = reconcile_recent_months
    load_reference(warehouse_url)
    assert run(warehouse_url, "2024-12-01", "2026-11-01").success
    calls_per_day = []
    for _ in range(DAYS):
        at_start = sandbox.total_calls()
        for slot in range(SLOTS):
            now = sandbox.clock.advance(6 * 3600)
            for tenant in sandbox.tenants.values():
                business(tenant, rng, now)
            if slot == 0:  # 02:00 reconciliation and 05:00 reference data, roughly
                reconcile(warehouse_url, schedule, now)
                load_reference(warehouse_url)
            assert run(warehouse_url, sync=True).success
        calls_per_day.append(sandbox.total_calls() - at_start)
    final = sandbox.clock.advance(3600)
    reconcile(warehouse_url, schedule, final)
    load_reference(warehouse_url)
    assert run(warehouse_url, sync=True).success

    faults = sum(sandbox.faults.injected.values())
    record_property("api_calls_per_day", calls_per_day)
    record_property("faults_injected", dict(sandbox.faults.injected))
    print(f"API calls per simulated day: {calls_per_day}; faults: {sandbox.faults.injected}")
    assert faults >= 10 and len(sandbox.faults.injected) == 5  # every kind of weather came
    assert max(calls_per_day) < 5000 // 10  # a tenth of one organisation's daily allowance
    assert_equal_to_sandbox(sandbox, warehouse_url)
    contacts = query(
        warehouse_url,
        "SELECT tenant_id, contact_id, name, contact_status, is_customer, is_supplier "
        "FROM xero_contacts",
    )
    assert {(t, i, n, s, bool(c), bool(p)) for t, i, n, s, c, p in contacts} == (
        sandbox_contacts(sandbox)
    )
    members = query(
        warehouse_url,
        "SELECT tenant_id, contact_group_id, contact_id FROM xero_contact_group_members",
    )
    assert members == sandbox_members(sandbox)
