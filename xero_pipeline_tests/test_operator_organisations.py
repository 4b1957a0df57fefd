"""Organisations through the real daemon (`operator_support.py`): nobody launches anything. The
one-minute sync notes each connected organisation in `xero_connections`; the onboarding sensor
loads each one's reference data, then its whole history, in runs of its own; a partner who
connects later is loaded the same way while the other organisation's syncs go on beside it.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest
from sqlalchemy.exc import ProgrammingError

from xero_pipeline.instance import EVERY_ORGANISATION, ORGANISATION_TAG
from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.faults import FaultConfig, ScriptedFault
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline_tests.conftest import AS_OF
from xero_pipeline_tests.operator_support import ONBOARDING, Operator, RunView, operator_daemon
from xero_pipeline_tests.sales_support import org_specs, query

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1200)]

# The newcomer's history reads its invoices in one sweep: that one read is slowed past a whole
# sync period (a minute) and its run's start-up, so a sync tick always falls inside the history.
SLOW_SECONDS = 90


def invoices_by_tenant(op: Operator) -> dict[str, int]:
    """Invoices in the warehouse per organisation (none while no run has made the tables)."""
    try:
        rows = query(op.warehouse_url, "SELECT tenant_id, count(*) FROM xero_invoices GROUP BY 1")
    except ProgrammingError:  # relation "xero_invoices" does not exist yet
        return {}
    return dict(rows)


def loaded(op: Operator, sandbox: Sandbox, tenant_id: str) -> bool:
    """The organisation's invoices are all in the warehouse, and the sync has read it since."""
    return invoices_by_tenant(op).get(tenant_id) == len(sandbox.tenants[tenant_id].invoices)


def onboarding_runs(op: Operator, tenant_id: str) -> list[RunView]:
    return [run for run in op.runs() if run.tags.get(ORGANISATION_TAG) == tenant_id]


def test_organisations_connecting_are_loaded_by_the_sensor_beside_the_others_syncs(
    pg_admin: Any, tmp_path
) -> None:
    sandbox = Sandbox(
        SandboxConfig(
            orgs=org_specs(months=3),
            hidden=1,  # the second organisation's partner connects later
            as_of=AS_OF,
            limits=LimitConfig(enabled=False),
            faults=FaultConfig(slow_seconds=SLOW_SECONDS),
        )
    ).start()
    first, newcomer = list(sandbox.tenants)
    months = sorted(
        stub.date.replace(day=1) for t in sandbox.tenants.values() for stub in t.invoices.stubs
    )
    env = {"XERO_SYNC_SCHEDULE": "* * * * *", "XERO_SALES_START_DATE": f"{months[0]:%Y-%m}"}
    try:
        with operator_daemon(tmp_path, pg_admin, sandbox, env) as op:
            # A new deployment: the first organisation is found by the sync and loaded by the
            # sensor, with no run launched by hand.
            op.wait_for(lambda: loaded(op, sandbox, first), 420, "the first organisation loaded")
            assert newcomer not in invoices_by_tenant(op)

            # The partner connects; their organisation's reads are slow, so its history run
            # lasts longer than a sync tick.
            sandbox.faults.script(
                ScriptedFault(kind="slow", count=1, path_contains="Invoices", tenant_id=newcomer)
            )
            sandbox.connect(newcomer)
            op.wait_for(lambda: loaded(op, sandbox, newcomer), 600, "the newcomer loaded")
            op.wait_for(
                lambda: all(run.finished for run in onboarding_runs(op, newcomer)),
                120,
                "the newcomer's runs ended",
            )
            assert_onboarded(op, first, newcomer)
    finally:
        sandbox.stop()


def assert_onboarded(op: Operator, first: str, newcomer: str) -> None:
    """Each organisation came in by the sensor's runs for it alone, reference data first, the
    newcomer's history beside the other's syncs."""
    for tenant_id in (first, newcomer):
        runs = onboarding_runs(op, tenant_id)
        assert sorted(run.job for run in runs) == ["reference_data", "sales_history"], runs
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), runs
        assert all(run.tags.get("dagster/sensor_name") == ONBOARDING for run in runs)
        (history,) = [run for run in runs if run.job == "sales_history"]
        assert history.tags["dagster/priority"] == "-1"
        (reference,) = [run for run in runs if run.job == "reference_data"]
        assert reference.end is not None and history.start is not None
        assert reference.end <= history.start  # its reference data first
    # The newcomer's history did not hold up the other organisation's syncs: one started and
    # succeeded while it ran.
    (history,) = [run for run in onboarding_runs(op, newcomer) if run.job == "sales_history"]
    assert history.start is not None and history.end is not None
    beside = [
        run
        for run in op.runs("sales_sync")
        if run.start is not None
        and history.start < run.start < history.end
        and run.status == dg.DagsterRunStatus.SUCCESS
    ]
    assert beside, "no sync ran while the newcomer's history loaded"
    assert all(run.tags.get(ORGANISATION_TAG) == EVERY_ORGANISATION for run in beside)
    assert history.end - history.start > SLOW_SECONDS  # (the slow reads were its own)
