"""The tables built from all months at once, as a job to run after a backfill (`make run` does)."""

import dagster as dg

UNPARTITIONED_ASSETS = ("dim_account_codes", "invoiced_contacts", "sales_by_account_code_chart")

sales_marts = dg.define_asset_job(
    "sales_marts",
    selection=dg.AssetSelection.assets(*UNPARTITIONED_ASSETS),
    description="dim_account_codes, invoiced_contacts and the sales chart (after a backfill).",
)
