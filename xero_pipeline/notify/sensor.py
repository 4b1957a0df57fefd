"""The `new_sales_invoice_notifications` sensor: every minute, announce newly raised sales
invoices to the configured sinks (`sinks.py`), each once (`invoices.py`).

It launches no runs; what it did is its tick's skip reason (visible in the Dagster UI). With no
sink configured it does nothing and says so. Delivery problems are logged and retried on later
ticks; only a configuration error (a bad `XERO_NOTIFY_*` value) fails the tick, naming the
variable.
"""

# No `from __future__ import annotations`: Dagster reads the parameters' annotations.
from datetime import UTC, datetime

import dagster as dg

from xero_pipeline.notify.invoices import notify_new_invoices
from xero_pipeline.notify.sinks import (
    LOG_FILE_VARIABLE,
    WEBHOOK_VARIABLE,
    lookback_days,
    sinks_from_env,
)
from xero_pipeline.resources import WarehouseResource

SENSOR_NAME = "new_sales_invoice_notifications"


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends one notification per newly raised sales invoice (number, customer, "
    f"total, link) to {WEBHOOK_VARIABLE} and/or {LOG_FILE_VARIABLE}; never twice, even after "
    "a restart. The first tick with invoices takes a baseline and sends nothing.",
)
def new_sales_invoice_notifications(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SkipReason:
    sinks = sinks_from_env()
    if not sinks:
        return dg.SkipReason(
            f"No notification sink configured: set {WEBHOOK_VARIABLE} (a webhook) and/or "
            f"{LOG_FILE_VARIABLE} (a JSON-lines file). Nothing was sent."
        )
    report = notify_new_invoices(
        warehouse.engine,
        sinks,
        today=datetime.now(UTC).date(),
        lookback_days=lookback_days(),
        log=context.log,
    )
    context.log.info(f"sales invoice notifications: {report.summary()}")
    return dg.SkipReason(f"Notifications ({report.summary()}); this sensor launches no runs.")
