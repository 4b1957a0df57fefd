"""The Dagster code location: wiring only."""

import dagster as dg

from xero_pipeline.assets.reference import reference_assets
from xero_pipeline.resources import WarehouseResource, XeroResource

reference_data_job = dg.define_asset_job(
    "reference_data",
    selection=dg.AssetSelection.groups("xero"),
    description="Contacts, contact groups and members, accounts, suppliers and the organisation.",
)

reference_data_schedule = dg.ScheduleDefinition(
    name="reference_data_daily",
    job=reference_data_job,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh reference data from Xero every day at 05:00 UTC.",
)

defs = dg.Definitions(
    assets=reference_assets,
    jobs=[reference_data_job],
    schedules=[reference_data_schedule],
    resources={"xero": XeroResource(), "warehouse": WarehouseResource()},
)
