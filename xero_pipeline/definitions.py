"""The Dagster code location: wiring only."""

import dagster as dg

from xero_pipeline.assets.history import build_document_assets, monthly_partitions, sales_start
from xero_pipeline.assets.reference import reference_assets
from xero_pipeline.assets.sync import build_reconcile_schedule, build_sync_job
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES

SALES_START = sales_start()  # XERO_SALES_START_DATE; a bad value stops the location, naming it
sales_months = monthly_partitions(SALES_START)
history_assets = [build_document_assets(kind, sales_months) for kind in (INVOICES, CREDIT_NOTES)]

reference_data_job = dg.define_asset_job(
    "reference_data",
    selection=dg.AssetSelection.groups("xero"),
    description="Contacts, contact groups and members, accounts, suppliers and the organisation.",
)

sales_history_job = dg.define_asset_job(
    "sales_history",
    selection=dg.AssetSelection.groups("xero_history"),
    partitions_def=sales_months,
    description="Invoices and credit notes with their lines, by month (backfill from the UI).",
)

sales_sync_job = build_sync_job(SALES_START)

defs = dg.Definitions(
    assets=[*reference_assets, *history_assets],
    jobs=[reference_data_job, sales_history_job, sales_sync_job],
    schedules=[
        dg.ScheduleDefinition(
            name="reference_data_daily",
            job=reference_data_job,
            cron_schedule="0 5 * * *",
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Refresh reference data from Xero every day at 05:00 UTC.",
        ),
        dg.ScheduleDefinition(
            name="sales_sync_every_15_minutes",
            job=sales_sync_job,
            cron_schedule="*/15 * * * *",
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Bring new and edited invoices and credit notes in, every 15 minutes.",
        ),
        build_reconcile_schedule(sales_history_job, sales_months),
    ],
    resources={"xero": XeroResource(), "warehouse": WarehouseResource()},
)
