"""The Dagster code location: wiring only."""

import warnings

import dagster as dg

from xero_pipeline.assets.customers import customer_assets
from xero_pipeline.assets.history import build_document_assets, monthly_partitions
from xero_pipeline.assets.reference import reference_assets
from xero_pipeline.assets.sales import MONTHLY_ASSETS, UNPARTITIONED_ASSETS, build_sales_assets
from xero_pipeline.assets.sync import build_reconcile_schedule, build_sync_job
from xero_pipeline.configuration import sales_start
from xero_pipeline.notify.sensor import new_sales_invoice_notifications
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES

# BackfillPolicy is "beta" in Dagster 1.13; the version is pinned, so the warning says nothing new.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

SALES_START = sales_start()  # XERO_SALES_START_DATE; a bad value stops the location, naming it
sales_months = monthly_partitions(SALES_START)
history_assets = [build_document_assets(kind, sales_months) for kind in (INVOICES, CREDIT_NOTES)]
sales_assets = build_sales_assets(sales_months)

reference_data_job = dg.define_asset_job(
    "reference_data",
    selection=dg.AssetSelection.groups("xero"),
    description="Contacts, contact groups and members, accounts, suppliers and the organisation.",
)

sales_history_job = dg.define_asset_job(
    "sales_history",
    # The monthly sales assets ride along, so one backfill run (or the nightly reconciliation)
    # also rebuilds the fact and rollup of every month it loads.
    selection=dg.AssetSelection.groups("xero_history") | dg.AssetSelection.assets(*MONTHLY_ASSETS),
    partitions_def=sales_months,
    description="Invoices and credit notes with their lines, by month, and the sales fact and "
    "rollup built from them (backfill from the UI).",
)

sales_marts_job = dg.define_asset_job(
    "sales_marts",
    selection=dg.AssetSelection.assets(*UNPARTITIONED_ASSETS),
    description="dim_account_codes, invoiced_contacts and the sales chart (after a backfill).",
)

# Keeps the sales group following its sources without a person: Dagster's default automation
# sensor starts stopped, so this one is declared running.
sales_automation = dg.AutomationConditionSensorDefinition(
    "sales_automation",
    target=dg.AssetSelection.groups("sales"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds the sales months whose invoices or credit notes changed (backfill, "
    "sync, reconciliation), then invoiced_contacts and the chart.",
)

sales_sync_job = build_sync_job(SALES_START)

customer_merge_job = dg.define_asset_job(
    "customer_merge",
    selection=dg.AssetSelection.groups("customers"),
    description="The customer merge: preview, then apply (the safety rule may ask for confirm).",
)

defs = dg.Definitions(
    assets=[*reference_assets, *history_assets, *customer_assets, *sales_assets],
    jobs=[
        reference_data_job,
        sales_history_job,
        sales_sync_job,
        customer_merge_job,
        sales_marts_job,
    ],
    sensors=[sales_automation, new_sales_invoice_notifications],
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
        dg.ScheduleDefinition(
            name="customer_merge_daily",
            job=customer_merge_job,
            cron_schedule="30 5 * * *",
            execution_timezone="UTC",
            # Stopped until someone has set CUSTOMERS_SOURCE and looked at a first preview: the
            # merge writes the business's own customer list, so it is switched on on purpose.
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description="The customer merge every day at 05:30 UTC, after the reference data.",
        ),
    ],
    resources={"xero": XeroResource(), "warehouse": WarehouseResource()},
)
