"""When the reference data is read: the `reference_data` job, every day at 05:00 UTC unless
XERO_REFERENCE_SCHEDULE (cron, UTC) says otherwise."""

import dagster as dg

from xero_pipeline.configuration import schedule_cron
from xero_pipeline.defs.reference.assets import GROUP

reference_data = dg.define_asset_job(
    "reference_data",
    selection=dg.AssetSelection.groups(GROUP),
    description="Contacts, contact groups and members, accounts, suppliers and the organisation.",
)

reference_data_daily = dg.ScheduleDefinition(
    name="reference_data_daily",
    job=reference_data,
    cron_schedule=schedule_cron("XERO_REFERENCE_SCHEDULE"),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh reference data from Xero (daily at 05:00 UTC unless "
    "XERO_REFERENCE_SCHEDULE says otherwise).",
)
