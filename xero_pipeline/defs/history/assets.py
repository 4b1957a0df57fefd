"""Invoice and credit-note history (group `xero_history`): monthly partitions by document date,
from the sales start. A partition run reads its month with a `where` date window (paged at 1000,
with line items), gates headers and lines with their suites, and replaces that month's rows for
every tenant in one transaction (`loading.py`). A backfill of many months is one run
(`BackfillPolicy.single_run()`) that walks the range month by month.
"""

from collections.abc import Iterator

import dagster as dg

from xero_pipeline.defs.connections.work import checks_by_organisation
from xero_pipeline.defs.history.loading import load_months
from xero_pipeline.defs.history.partitions import sales_months
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.xero.rows import CREDIT_NOTES, INVOICES

GROUP = "xero_history"
KINDS = {"xero", "sql"}
Results = Iterator[dg.MaterializeResult | dg.AssetCheckResult]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "xero_invoices",
            group_name=GROUP,
            kinds=KINDS,
            deps=["xero_accounts", "xero_organisation"],
            description="Every invoice header, one row per document, by month of its date.",
        ),
        dg.AssetSpec(
            "xero_invoice_lines",
            group_name=GROUP,
            kinds=KINDS,
            description="The line items of invoices (ACCREC sales and ACCPAY bills), numbered "
            "from 1 per document.",
        ),
    ],
    check_specs=checks_by_organisation("xero_invoices")
    + checks_by_organisation("xero_invoice_lines"),
    partitions_def=sales_months,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def xero_invoices_history(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    yield from load_months(context, INVOICES, xero, warehouse)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "xero_credit_notes",
            group_name=GROUP,
            kinds=KINDS,
            deps=["xero_accounts", "xero_organisation"],
            description="Every credit note header, one row per document, by month of its date.",
        ),
        dg.AssetSpec(
            "xero_credit_note_lines",
            group_name=GROUP,
            kinds=KINDS,
            description="The line items of credit notes, numbered from 1 per document.",
        ),
    ],
    check_specs=checks_by_organisation("xero_credit_notes")
    + checks_by_organisation("xero_credit_note_lines"),
    partitions_def=sales_months,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def xero_credit_notes_history(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    yield from load_months(context, CREDIT_NOTES, xero, warehouse)
