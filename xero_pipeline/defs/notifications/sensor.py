"""The `new_sales_invoice_notifications` sensor decides; the `send_sales_invoice_notifications`
job sends (`jobs.py`). Every minute the sensor looks at what the configured sinks have not dealt
with yet and, when there is something and no send is already queued or running, launches a run:
so every send shows in the Dagster UI with its log, its failure and its retry (the next tick
launches again while something is left).

With no sink configured it does nothing and says so. A bad `XERO_NOTIFY_*` value fails the tick,
naming the variable.
"""

# No `from __future__ import annotations`: Dagster reads the parameters' annotations.
import dagster as dg

from xero_pipeline.defs.notifications.invoices import waiting
from xero_pipeline.defs.notifications.jobs import send_sales_invoice_notifications
from xero_pipeline.defs.notifications.sinks import (
    LOG_FILE_VARIABLE,
    WEBHOOK_VARIABLE,
    sinks_from_env,
)
from xero_pipeline.instance import IN_FLIGHT
from xero_pipeline.resources import WarehouseResource


@dg.sensor(
    job=send_sales_invoice_notifications,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches a send whenever a sales invoice the sync saw being raised (number, "
    f"customer, total, link) waits for {WEBHOOK_VARIABLE} and/or {LOG_FILE_VARIABLE}; each is "
    "announced once per sink, even after a restart. Loading history announces nothing.",
)
def new_sales_invoice_notifications(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.RunRequest | dg.SkipReason:
    sinks = sinks_from_env()
    if not sinks:
        return dg.SkipReason(
            f"No notification sink configured: set {WEBHOOK_VARIABLE} (a webhook) and/or "
            f"{LOG_FILE_VARIABLE} (a JSON-lines file). Nothing was sent."
        )
    running = context.instance.get_run_records(
        dg.RunsFilter(job_name=send_sales_invoice_notifications.name, statuses=IN_FLIGHT), limit=1
    )
    if running:
        return dg.SkipReason("A send is already queued or running; it takes what is waiting.")
    work = waiting(warehouse.engine, sinks)
    if not work:
        return dg.SkipReason("Nothing new to announce.")
    return dg.RunRequest(tags={"xero/sinks": ", ".join(sorted(work))})
