"""A newly connected organisation loads by itself: the `onboard_new_organisations` sensor looks
at the ledger (`xero_connections`, kept by every run that asks /connections, the 15-minute sync
among them) and, for each connected organisation whose history is not complete, launches a run
tagged with it: first its reference data (its short code makes the links to Xero, its chart of
accounts the gate's codes); once that is in, its whole history from the sales start to this
month as one backfill run (`sales_history`) at a lower priority (`dagster/priority` -1) than the
running organisations' syncs, beside which it runs (the run queue limits runs per organisation,
`instance.py`). The sync and the reconciliation leave an organisation alone until its history is
complete (`history/progress.py`), so nothing else writes its documents meanwhile.

Nothing is launched for an organisation while a run for it (or an untagged history run, an
operator's backfill of every organisation) is queued or running, nor while it backs off after a
failure; disconnected organisations are left alone. The sensor reads only the warehouse and the
instance: it never calls Xero.
"""

# No `from __future__ import annotations`: Dagster reads the parameters' annotations.
from datetime import UTC, datetime

import dagster as dg
from sqlalchemy import select

from xero_pipeline.configuration import sales_start
from xero_pipeline.defs.history.backfill import RANGE_END, RANGE_START
from xero_pipeline.defs.history.partitions import sales_months
from xero_pipeline.defs.history.progress import history_complete
from xero_pipeline.defs.history.schedules import sales_history
from xero_pipeline.defs.reference.schedules import reference_data
from xero_pipeline.instance import EVERY_ORGANISATION, IN_FLIGHT, ORGANISATION_TAG
from xero_pipeline.resources import WarehouseResource
from xero_pipeline.warehouse.connections import DISCONNECTED, organisations
from xero_pipeline.warehouse.schema import xero_organisation

ONBOARDING_PRIORITY = "-1"  # below the default 0 of syncs and schedules: they go first


def busy_organisations(instance: dg.DagsterInstance) -> tuple[set[str], bool]:
    """The organisations with a reference or history run queued or running, and whether a
    history run of every organisation (tag `all`, or none) is."""
    busy, everyone = set(), False
    for job in (reference_data.name, sales_history.name):
        for record in instance.get_run_records(dg.RunsFilter(job_name=job, statuses=IN_FLIGHT)):
            tenant_id = record.dagster_run.tags.get(ORGANISATION_TAG)
            if tenant_id and tenant_id != EVERY_ORGANISATION:
                busy.add(tenant_id)
            elif job == sales_history.name:
                everyone = True
    return busy, everyone


@dg.sensor(
    jobs=[reference_data, sales_history],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Loads a newly connected organisation by itself: its reference data, then its "
    "whole history from XERO_SALES_START_DATE as one backfill run at a lower priority than the "
    "other organisations' syncs. Reads the warehouse only.",
)
def onboard_new_organisations(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult | dg.SkipReason:
    now = datetime.now(UTC)
    start = sales_start()
    busy, everyone = busy_organisations(context.instance)
    if everyone:
        return dg.SkipReason("A history run of every organisation is queued or running.")
    ledger = organisations(warehouse.engine)
    waiting = [
        o
        for o in ledger.values()
        if o.status != DISCONNECTED and o.tenant_id not in busy and not o.waiting(now)
    ]
    with warehouse.engine.connect() as connection:
        new = [o for o in waiting if not history_complete(connection, o.tenant_id, start)]
        referenced = set(connection.execute(select(xero_organisation.c.tenant_id)).scalars())
    if not new:
        return dg.SkipReason("Every connected organisation's history is loaded (or loading).")
    months = [
        key for key in sales_months.get_partition_keys(current_time=now) if key >= start.isoformat()
    ]
    requests = []
    for organisation in new:
        tags = {ORGANISATION_TAG: organisation.tenant_id}
        if organisation.tenant_id not in referenced:
            requests.append(dg.RunRequest(job_name=reference_data.name, tags=tags))
            context.log.info(f"{organisation.tenant_name}: new; loading its reference data")
            continue
        requests.append(
            dg.RunRequest(
                job_name=sales_history.name,
                tags={
                    **tags,
                    RANGE_START: months[0],
                    RANGE_END: months[-1],
                    "dagster/priority": ONBOARDING_PRIORITY,
                },
            )
        )
        context.log.info(
            f"{organisation.tenant_name} ({organisation.tenant_id}): history incomplete; "
            f"loading {months[0][:7]} to {months[-1][:7]}"
        )
    return dg.SensorResult(run_requests=requests)
