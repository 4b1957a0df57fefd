"""The `send_sales_invoice_notifications` job: announce every raised sales invoice waiting in the
outbox to every configured sink, once (`invoices.py`). Launched by the sensor (`sensor.py`); a run
fails, visibly, when a receiver did not take a message (a timeout, a 5xx), and the sensor
launches another while any is waiting. A message the receiver refuses for good (a 4xx) is
recorded as failed, with its answer, and holds nothing back."""

import dagster as dg

from xero_pipeline.defs.notifications.invoices import notify_new_invoices
from xero_pipeline.defs.notifications.sinks import lookback_days, sinks_from_env
from xero_pipeline.instance import NOTIFICATIONS_SEND, NOTIFICATIONS_TAG
from xero_pipeline.resources import WarehouseResource


@dg.op(description="Send each waiting sales invoice to each sink, recording it as sent.")
def send_notifications(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
    report = notify_new_invoices(
        warehouse.engine, sinks_from_env(), lookback_days=lookback_days(), log=context.log
    )
    context.log.info(f"sales invoice notifications: {report.summary()}")
    if report.waiting:
        raise dg.Failure(
            description=f"Not every message was taken: {report.summary()}. The waiting ones "
            "are sent again by the next run the sensor launches.",
            metadata={"waiting": dg.MetadataValue.json(dict(report.waiting))},
        )


@dg.job(
    description="Announce newly raised sales invoices to the configured sinks, each once.",
    # At most one send at a time: the instance's run queue limits runs with this tag to one
    # (instance.py, and the production dagster.yaml).
    tags={NOTIFICATIONS_TAG: NOTIFICATIONS_SEND},
)
def send_sales_invoice_notifications() -> None:
    send_notifications()
