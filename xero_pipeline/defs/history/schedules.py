"""Keeping sales history loaded and fresh: the `sales_history` job (backfills, from the UI or
`xero-pipeline backfill`), the 15-minute sync and the nightly reconciliation. An operator moves
either schedule with XERO_SYNC_SCHEDULE / XERO_RECONCILE_SCHEDULE (cron, UTC); the sync keeps
its name whatever its cron, so its history in the instance stays one schedule's."""

import dagster as dg

from xero_pipeline.configuration import reconcile_months, schedule_cron
from xero_pipeline.defs.history.assets import GROUP
from xero_pipeline.defs.history.loading import RECONCILIATION_TAG
from xero_pipeline.defs.history.partitions import sales_months
from xero_pipeline.defs.history.sync import sales_sync

# The sales fact and rollup are partitioned like the history; riding along, one backfill run (or
# the nightly reconciliation) also rebuilds them for every month it loads.
MONTHLY_SALES_ASSETS = ("fct_sales_lines", "sales_by_account_code_monthly")

sales_history = dg.define_asset_job(
    "sales_history",
    selection=dg.AssetSelection.groups(GROUP) | dg.AssetSelection.assets(*MONTHLY_SALES_ASSETS),
    partitions_def=sales_months,
    description="Invoices and credit notes with their lines, by month, and the sales fact and "
    "rollup built from them (backfill from the UI).",
)

sales_sync_every_15_minutes = dg.ScheduleDefinition(
    name="sales_sync_every_15_minutes",
    job=sales_sync,
    cron_schedule=schedule_cron("XERO_SYNC_SCHEDULE"),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Bring new and edited invoices and credit notes in, every 15 minutes unless "
    "XERO_SYNC_SCHEDULE says otherwise.",
)


@dg.schedule(
    job=sales_history,
    cron_schedule=schedule_cron("XERO_RECONCILE_SCHEDULE"),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-read the trailing months nightly (XERO_RECONCILE_SCHEDULE, default 02:00; "
    "XERO_RECONCILE_MONTHS, default 3): catches "
    "edits Xero does not stamp (a re-coded line), and reports the corrected rows.",
)
def reconcile_recent_months(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    keys = sales_months.get_partition_keys(current_time=context.scheduled_execution_time)
    recent = keys[-reconcile_months() :]
    return dg.RunRequest(
        tags={
            "dagster/asset_partition_range_start": recent[0],
            "dagster/asset_partition_range_end": recent[-1],
            RECONCILIATION_TAG: "true",
        }
    )
