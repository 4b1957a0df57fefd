"""The customer merge as a job (preview, then apply), and a daily schedule that starts stopped
(05:30 UTC unless XERO_MERGE_SCHEDULE, a cron string, says otherwise)."""

import dagster as dg

from xero_pipeline.configuration import schedule_cron
from xero_pipeline.defs.customers.assets import GROUP

customer_merge = dg.define_asset_job(
    "customer_merge",
    selection=dg.AssetSelection.groups(GROUP),
    description="The customer merge: preview, then apply (the safety rule may ask for confirm).",
)

customer_merge_daily = dg.ScheduleDefinition(
    name="customer_merge_daily",
    job=customer_merge,
    cron_schedule=schedule_cron("XERO_MERGE_SCHEDULE"),
    execution_timezone="UTC",
    # Stopped until someone has set CUSTOMERS_SOURCE and looked at a first preview: the merge
    # writes the business's own customer list, so it is switched on on purpose.
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="The customer merge every day at 05:30 UTC (XERO_MERGE_SCHEDULE), after the "
    "reference data.",
)
