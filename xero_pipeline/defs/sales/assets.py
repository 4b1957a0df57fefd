"""Sales by account code (group `sales`): which revenue codes each customer buys, month by month,
with a link to every invoice behind each number.

- `fct_sales_lines` and `sales_by_account_code_monthly` are partitioned by month like the history
  they come from. A run walks its months (`BackfillPolicy.single_run()`, as history does); per
  month it builds the rows in SQL into a temporary table (`sql/`), gates them, and replaces that
  month in one transaction (`monthly.py`).
- `dim_account_codes` (from `xero_accounts`, through the shared gated publish),
  `invoiced_contacts` (rebuilt whole in SQL from the fact) and `sales_by_account_code_chart` (a
  PNG beside the warehouse) are unpartitioned.

They keep themselves fresh through declarative automation (`automation.py`).
"""

# No `from __future__ import annotations` here: Dagster reads the `context` annotation.
import base64
from collections import Counter
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import select

from xero_pipeline.defs.history.partitions import sales_months
from xero_pipeline.defs.sales.automation import FACT_SOURCES, GROUP, follows
from xero_pipeline.defs.sales.chart import write_chart
from xero_pipeline.defs.sales.columns import column_schema, described
from xero_pipeline.defs.sales.monthly import rebuild_months
from xero_pipeline.defs.sales.queries import sql
from xero_pipeline.defs.sales.report import TOP_CODES, decimal, markdown, money, month_label
from xero_pipeline.quality.checks import check_results, check_specs, stop
from xero_pipeline.quality.gate import GateFailed, combine
from xero_pipeline.quality.publish import gated_publish
from xero_pipeline.quality.rebuild import gated_rebuild
from xero_pipeline.resources import WarehouseResource
from xero_pipeline.warehouse import schema
from xero_pipeline.warehouse.connections import disconnected_tenants
from xero_pipeline.warehouse.organisations import organisations, warehouse_tenants

HISTORY_ASSETS = (
    "xero_invoices",
    "xero_invoice_lines",
    "xero_credit_notes",
    "xero_credit_note_lines",
)

# What names a fact line's document, whatever month it is in (the fact's key index leads with it).
DOCUMENT_KEY = ("tenant_id", "document_type", "COALESCE(invoice_id, credit_note_id)")
Results = Iterator[dg.MaterializeResult | dg.AssetCheckResult]


@dg.asset(
    group_name=GROUP,
    kinds={"sql"},
    partitions_def=sales_months,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[*HISTORY_ASSETS, "xero_accounts", "xero_organisation", "customers"],
    check_specs=check_specs("fct_sales_lines"),
    automation_condition=follows(
        FACT_SOURCES, readers=["sales_by_account_code_monthly", "invoiced_contacts"]
    ),
    metadata={"dagster/column_schema": column_schema(schema.fct_sales_lines)},
    description=described(
        "One row per line of an approved (AUTHORISED or PAID) sales invoice and sales credit "
        "note, credit notes negative; drafts, submitted, voided and deleted documents are "
        "left out. Rebuilt a month at a time in SQL from the invoice and credit-note history. "
        "The key is (tenant_id, document_type, invoice_id or credit_note_id, line_number).",
        schema.fct_sales_lines,
    ),
)
def fct_sales_lines(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Results:
    engine = warehouse.engine
    months, gates, tally = yield from rebuild_months(
        context,
        engine,
        schema.fct_sales_lines,
        id_columns=("tenant_id", "document_type", "document_id", "line_number"),
        per_line=True,
        document_key=DOCUMENT_KEY,
    )
    names = organisations(engine)
    metadata: dict[str, Any] = {
        "months": month_label(months),
        "lines": tally.rows,
        "invoice lines": tally.document_types["ACCREC"],
        "credit-note lines": tally.document_types["ACCRECCREDIT"],
        "rows deleted": tally.deleted,
        "rows inserted": tally.inserted,
        "net sales by organisation (base currency)": dg.MetadataValue.json(tally.totals(names)),
        "top account codes": dg.MetadataValue.md(tally.top_codes(names)),
    }
    if len(months) == 1:
        metadata["dagster/row_count"] = tally.inserted
    if tally.link:
        metadata["link example"] = dg.MetadataValue.url(tally.link)
    yield dg.MaterializeResult(
        metadata=metadata,
        check_results=check_results("fct_sales_lines", combine("fct_sales_lines", gates)),
    )


@dg.asset(
    group_name=GROUP,
    kinds={"sql"},
    partitions_def=sales_months,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["fct_sales_lines"],
    check_specs=check_specs("sales_by_account_code_monthly"),
    automation_condition=follows(readers=["sales_by_account_code_chart"]),
    metadata={"dagster/column_schema": column_schema(schema.sales_by_account_code_monthly)},
    description=described(
        "Net sales per organisation, month and account code, in the organisation's base "
        "currency, with how many documents, lines and customers are behind each figure. "
        "Rebuilt a month at a time from fct_sales_lines; its gate checks that it equals a "
        "direct aggregation of the fact.",
        schema.sales_by_account_code_monthly,
    ),
)
def sales_by_account_code_monthly(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Results:
    engine = warehouse.engine
    name = "sales_by_account_code_monthly"
    months, gates, tally = yield from rebuild_months(
        context,
        engine,
        schema.sales_by_account_code_monthly,
        id_columns=("tenant_id", "month", "account_code"),
        per_line=False,
    )
    names = organisations(engine)
    metadata: dict[str, Any] = {
        "months": month_label(months),
        "rows": tally.inserted,
        "rows deleted": tally.deleted,
        "net sales by organisation (base currency)": dg.MetadataValue.json(tally.totals(names)),
        "top account codes": dg.MetadataValue.md(tally.top_codes(names)),
    }
    if len(months) == 1:
        metadata["dagster/row_count"] = tally.inserted
    yield dg.MaterializeResult(
        metadata=metadata, check_results=check_results(name, combine(name, gates))
    )


@dg.asset(
    group_name=GROUP,
    kinds={"sql"},
    deps=["xero_accounts", "xero_organisation"],
    check_specs=check_specs("dim_account_codes"),
    automation_condition=follows(readers=["sales_by_account_code_chart"]),
    metadata={"dagster/column_schema": column_schema(schema.dim_account_codes)},
    description=described(
        "Every account code in each organisation's chart of accounts, flagged is_revenue "
        "when its class is REVENUE (the codes sales are booked to). Accounts without a code "
        "are left out; archived codes are kept with their status.",
        schema.dim_account_codes,
    ),
)
def dim_account_codes(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Results:
    accounts = schema.xero_accounts.c
    with warehouse.engine.connect() as connection:
        found = (
            connection.execute(
                select(
                    accounts.tenant_id,
                    accounts.code,
                    accounts.name,
                    accounts.type,
                    accounts["class"],
                    accounts.status,
                ).where(accounts.code.is_not(None), accounts.code != "")
            )
            .mappings()
            .all()
        )
        gone = disconnected_tenants(connection)
        rows = [
            {
                **row,
                "is_revenue": row["class"] == "REVENUE",
                "is_connected": row["tenant_id"] not in gone,
            }
            for row in found
        ]
    yield from gated_publish(
        context,
        xero=None,
        warehouse=warehouse,
        table=schema.dim_account_codes,
        rows=rows,
        tenants=warehouse_tenants(warehouse.engine),
        mirror=True,
        preview_columns=("code", "name", "class", "status", "is_revenue"),
    )


@dg.asset(
    group_name=GROUP,
    kinds={"sql"},
    deps=["fct_sales_lines", "xero_contacts", "customers"],
    check_specs=check_specs("invoiced_contacts"),
    automation_condition=follows(),
    metadata={"dagster/column_schema": column_schema(schema.invoiced_contacts)},
    description=described(
        "The contacts you have invoiced: every contact with at least one approved sales "
        "invoice, with the first and latest invoice dates and lifetime net sales (credit "
        "notes deducted) in base currency. Rebuilt whole, in SQL, from fct_sales_lines: what "
        "a CRM imports as customers.",
        schema.invoiced_contacts,
    ),
)
def invoiced_contacts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Results:
    name = "invoiced_contacts"
    try:
        built = gated_rebuild(
            warehouse.engine,
            schema.invoiced_contacts,
            select_sql=sql(name),
            gate_sql=sql(f"{name}_gate"),
            scope="1 = 1",
            params={},
            id_columns=("tenant_id", "contact_id"),
            where=name,
        )
    except GateFailed as failed:
        yield from stop(failed)
    names = organisations(warehouse.engine)
    per_tenant = Counter(names.get(r["tenant_id"], (r["tenant_id"], ""))[0] for r in built.rows)
    top = sorted(built.rows, key=lambda r: decimal(r["lifetime_net_sales_base"]), reverse=True)[
        :TOP_CODES
    ]
    preview = pd.DataFrame(
        [
            {
                "contact": r["contact_name"],
                "invoices": r["invoice_count"],
                "first": str(r["first_invoice_date"])[:10],
                "last": str(r["last_invoice_date"])[:10],
                "lifetime net sales": money(decimal(r["lifetime_net_sales_base"])),
                "currency": r["base_currency"],
            }
            for r in top
        ]
    )
    metadata: dict[str, Any] = {
        "dagster/row_count": built.inserted,
        "rows deleted": built.deleted,
        "contacts by organisation": dg.MetadataValue.json(dict(per_tenant)),
        "top contacts": dg.MetadataValue.md(markdown(preview, "(none)")),
    }
    link = next((r["xero_url"] for r in top if r["xero_url"]), None)
    if link:
        metadata["link example"] = dg.MetadataValue.url(link)
    context.log.info(f"{name}: {built.inserted} contacts")
    yield dg.MaterializeResult(metadata=metadata, check_results=check_results(name, built.gate))


@dg.asset(
    group_name=GROUP,
    kinds={"python"},
    deps=["sales_by_account_code_monthly", "dim_account_codes"],
    automation_condition=follows(),
    description="A PNG chart of net sales by revenue account code over time, one panel per "
    "organisation in its base currency, written beside the warehouse under the project's "
    "data folder (`sales_by_account_code.png`). Also: `xero-pipeline chart`.",
)
def sales_by_account_code_chart(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    path, chart = write_chart(warehouse.engine)
    inline = base64.b64encode(chart.thumbnail).decode("ascii")
    months = chart.months
    context.log.info(f"sales chart written to {path} ({len(chart.png)} bytes)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "chart": dg.MetadataValue.md(
                f"![net sales by revenue account code](data:image/png;base64,{inline})"
            ),
            "organisations": len(chart.panels),
            "account codes": chart.codes,
            "months": f"{months[0]:%Y-%m} to {months[-1]:%Y-%m}" if months else "none",
            "bytes": len(chart.png),
        }
    )
