"""Sales by account code (group `sales`): which revenue codes each customer buys, month by month,
with a link to every invoice behind each number.

- `fct_sales_lines` and `sales_by_account_code_monthly` are partitioned by month like the history
  they come from. A run walks its months (`BackfillPolicy.single_run()`, as history does); per
  month it builds the rows in SQL into a temporary table (`xero_pipeline/sql/`), gates them, and
  replaces that month in one transaction (`warehouse/rebuild.py`). No month is published unless
  its gate passed, and no run holds more than one month of rows in memory.
- `dim_account_codes` (from `xero_accounts`, through the shared `gated_publish`),
  `invoiced_contacts` (rebuilt whole in SQL from the fact) and `sales_by_account_code_chart` (a
  PNG beside the warehouse) are unpartitioned.

They keep themselves fresh through declarative automation (see `follows`): a history backfill,
the nightly reconciliation or an incremental sync that touches a month rebuilds that month's fact
and rollup, then the unpartitioned tables and the chart; a customer merge rebuilds every month
(customer_id). Reference-data refreshes (account names) are not followed month by month: they
reach the unpartitioned tables at once and older months when those are next rebuilt.
"""

# No `from __future__ import annotations` here: Dagster reads the `context` annotation.
import base64
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import Engine, Table, select

from xero_pipeline.assets.history import months_in
from xero_pipeline.assets.loading import gated_publish
from xero_pipeline.assets.sales_columns import column_schema, described
from xero_pipeline.quality.gate import GateResult, check_results, check_specs, combine, validate
from xero_pipeline.resources import WarehouseResource
from xero_pipeline.sales_chart import write_chart
from xero_pipeline.warehouse.rebuild import read_back, replace, sql_file, stage
from xero_pipeline.warehouse.schema import (
    dim_account_codes,
    fct_sales_lines,
    invoiced_contacts,
    sales_by_account_code_monthly,
    xero_accounts,
    xero_organisation,
)
from xero_pipeline.warehouse.transactions import write_transaction
from xero_pipeline.xero.client import Tenant

GROUP = "sales"
HISTORY_ASSETS = (
    "xero_invoices",
    "xero_invoice_lines",
    "xero_credit_notes",
    "xero_credit_note_lines",
)
MONTHLY_ASSETS = ("fct_sales_lines", "sales_by_account_code_monthly")
UNPARTITIONED_ASSETS = ("dim_account_codes", "invoiced_contacts", "sales_by_account_code_chart")
TOP_CODES = 10

Results = Iterator[dg.MaterializeResult | dg.AssetCheckResult]


def follows(updates: dg.AutomationCondition) -> dg.AutomationCondition:
    """Rebuild when the sources named by `updates` changed, for whichever months they changed.

    `AutomationCondition.eager()` would be the stock choice, but it only ever considers the
    latest month of a time-partitioned asset (a backfill or a sync touching an older month would
    be ignored), and it waits while any dependency is missing (a month with no credit notes yet,
    or the customer list before its merge ever ran). So: eager without those two clauses."""
    return (
        updates.since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("rebuild the months whose sources changed")


# -- staging, gating and replacing in SQL ------------------------------------------------------


class SalesGateFailed(Exception):
    def __init__(self, gate: GateResult, where: str) -> None:
        super().__init__(
            f"The quality gate stopped {where}: {gate.summary()}. Nothing was published for it: "
            "the table keeps its previous rows; see the failed checks for the rows."
        )
        self.gate = gate


@dataclass(frozen=True)
class Rebuilt:
    gate: GateResult
    rows: list[dict[str, Any]]  # the staged rows as the gate read them
    deleted: int
    inserted: int


def gated_rebuild(
    engine: Engine,
    table: Table,
    *,
    scope: str,
    params: dict[str, Any],
    id_columns: Sequence[str],
    where: str,
) -> Rebuilt:
    """Stage `sql/<table>.sql`, read it back through `sql/<table>_gate.sql`, run the table's suite
    and, only if it passed, replace the rows in `scope` in one transaction."""
    with engine.connect() as connection:
        with connection.begin():
            staging = stage(connection, table, sql_file(table.name), params)
            rows = read_back(connection, sql_file(f"{table.name}_gate"), staging, params)
        try:
            gate = validate(table.name, rows, list(id_columns))
            if not gate.passed:
                raise SalesGateFailed(gate, where)
            with write_transaction(connection, [table.name]):
                deleted, inserted = replace(connection, table, staging, scope, params)
        finally:
            with connection.begin():
                staging.drop(connection)
    return Rebuilt(gate, rows, deleted, inserted)


# -- metadata ----------------------------------------------------------------------------------


def organisations(engine: Engine) -> dict[str, tuple[str, str]]:
    """tenant_id -> (name, base currency), for labels a person reads."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                xero_organisation.c.tenant_id,
                xero_organisation.c.name,
                xero_organisation.c.base_currency,
            )
        ).all()
    return {tenant_id: (name or tenant_id, currency or "") for tenant_id, name, currency in rows}


def warehouse_tenants(engine: Engine) -> list[Tenant]:
    """The organisations the warehouse holds: the sales assets read the warehouse, not Xero."""
    return [Tenant(t, name) for t, (name, _) in organisations(engine).items()]


def _decimal(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


class SalesTally:
    """What a run built, added up month by month (bounded by tenants x codes, not by lines)."""

    def __init__(self) -> None:
        self.by_code: dict[tuple[str, str], dict[str, Any]] = {}
        self.net_by_tenant: Counter = Counter()
        self.rows = self.deleted = self.inserted = 0
        self.link: str | None = None

    def add(self, built: Rebuilt, *, per_line: bool) -> None:
        """Add a month: fact rows (`per_line`, counted here) or rollup rows (carrying counts)."""
        self.rows += len(built.rows)
        self.deleted += built.deleted
        self.inserted += built.inserted
        seen: dict[tuple[str, str], set] = {}
        for row in built.rows:
            if row.get("in_rollup") == 0:
                continue
            key = (row["tenant_id"], row.get("account_code") or "")
            entry = self.by_code.setdefault(
                key, {"name": row.get("account_name"), "net": Decimal(0), "docs": 0, "lines": 0}
            )
            net = _decimal(row["net_amount_base"])
            entry["net"] += net
            self.net_by_tenant[row["tenant_id"]] += net
            if per_line:
                entry["lines"] += 1
                seen.setdefault(key, set()).add(row["invoice_id"] or row["credit_note_id"])
            else:
                entry["docs"] += row["invoice_count"] or 0
                entry["lines"] += row["line_count"] or 0
            if self.link is None and row.get("xero_url") and row.get("invoice_id"):
                self.link = row["xero_url"]
        for key, documents_seen in seen.items():
            self.by_code[key]["docs"] += len(documents_seen)

    def top_codes(self, names: dict[str, tuple[str, str]]) -> str:
        """The best-selling codes of each organisation (never ranked across currencies)."""
        ranked = sorted(
            self.by_code.items(),
            key=lambda item: (names.get(item[0][0], (item[0][0], ""))[0], -item[1]["net"]),
        )
        top, shown = [], Counter()
        for (tenant, code), entry in ranked:
            shown[tenant] += 1
            if shown[tenant] <= TOP_CODES:
                top.append(((tenant, code), entry))
        frame = pd.DataFrame(
            [
                {
                    "organisation": names.get(tenant, (tenant, ""))[0],
                    "code": code,
                    "account": entry["name"],
                    "net sales (base)": _money(entry["net"]),
                    "currency": names.get(tenant, ("", ""))[1],
                    "documents": entry["docs"],
                    "lines": entry["lines"],
                }
                for (tenant, code), entry in top
            ]
        )
        return markdown(frame, "(no sales in these months)")

    def totals(self, names: dict[str, tuple[str, str]]) -> dict[str, str]:
        return {
            f"{names.get(t, (t, ''))[0]} ({names.get(t, ('', ''))[1]})": _money(v)
            for t, v in sorted(self.net_by_tenant.items())
        }


def markdown(frame: pd.DataFrame, empty: str) -> str:
    """A table for the UI; numbers stay as formatted (tabulate would re-parse "1,234.50")."""
    return frame.to_markdown(index=False, disable_numparse=True) if not frame.empty else empty


def month_label(months: list[tuple[Any, Any]]) -> str:
    return f"{months[0][0]:%Y-%m} to {months[-1][0]:%Y-%m} ({len(months)})"


# -- the assets --------------------------------------------------------------------------------


def build_sales_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The sales assets, partitioned like the invoice history (`partitions`)."""

    @dg.asset(
        name="fct_sales_lines",
        group_name=GROUP,
        kinds={"sql"},
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[*HISTORY_ASSETS, "xero_accounts", "xero_organisation", "customers"],
        check_specs=check_specs("fct_sales_lines", "fct_sales_lines"),
        # Months follow their own history; the customer merge rebuilds every month (customer_id).
        # Daily reference refreshes are not followed: they would rebuild all history each day.
        automation_condition=follows(
            dg.AutomationCondition.any_deps_updated().allow(
                dg.AssetSelection.groups("xero_history") | dg.AssetSelection.assets("customers")
            )
        ),
        metadata={"dagster/column_schema": column_schema(fct_sales_lines)},
        description=described(
            "One row per line of an approved (AUTHORISED or PAID) sales invoice and sales credit "
            "note, credit notes negative; drafts, submitted, voided and deleted documents are "
            "left out. Rebuilt a month at a time in SQL from the invoice and credit-note history. "
            "The key is (tenant_id, document_type, invoice_id or credit_note_id, line_number).",
            fct_sales_lines,
        ),
    )
    def fct_sales_lines_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Results:
        engine = warehouse.engine
        months = months_in(context.partition_time_window)
        gates: list[GateResult] = []
        tally = SalesTally()
        kinds: Counter = Counter()
        for number, (start, end) in enumerate(months, start=1):
            try:
                built = gated_rebuild(
                    engine,
                    fct_sales_lines,
                    scope="month = :month",
                    params={"start": start, "end": end, "month": start},
                    id_columns=("tenant_id", "document_type", "document_id", "line_number"),
                    where=f"fct_sales_lines {start:%Y-%m}",
                )
            except SalesGateFailed as failed:
                yield from check_results(
                    "fct_sales_lines", combine("fct_sales_lines", [*gates, failed.gate])
                )
                raise dg.Failure(description=str(failed)) from None
            gates.append(built.gate)
            tally.add(built, per_line=True)
            kinds.update(row["document_type"] for row in built.rows)
            context.log.info(
                f"fct_sales_lines {start:%Y-%m} ({number}/{len(months)}): "
                f"{len(built.rows)} lines; replaced {built.deleted} with {built.inserted}"
            )
        names = organisations(engine)
        metadata: dict[str, Any] = {
            "months": month_label(months),
            "lines": tally.rows,
            "invoice lines": kinds["ACCREC"],
            "credit-note lines": kinds["ACCRECCREDIT"],
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
        name="sales_by_account_code_monthly",
        group_name=GROUP,
        kinds={"sql"},
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["fct_sales_lines"],
        check_specs=check_specs("sales_by_account_code_monthly", "sales_by_account_code_monthly"),
        automation_condition=follows(dg.AutomationCondition.any_deps_updated()),
        metadata={"dagster/column_schema": column_schema(sales_by_account_code_monthly)},
        description=described(
            "Net sales per organisation, month and account code, in the organisation's base "
            "currency, with how many documents, lines and customers are behind each figure. "
            "Rebuilt a month at a time from fct_sales_lines; its gate checks that it equals a "
            "direct aggregation of the fact.",
            sales_by_account_code_monthly,
        ),
    )
    def sales_by_account_code_monthly_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Results:
        engine = warehouse.engine
        name = "sales_by_account_code_monthly"
        months = months_in(context.partition_time_window)
        gates: list[GateResult] = []
        tally = SalesTally()
        for number, (start, _end) in enumerate(months, start=1):
            try:
                built = gated_rebuild(
                    engine,
                    sales_by_account_code_monthly,
                    scope="month = :month",
                    params={"month": start},
                    id_columns=("tenant_id", "month", "account_code"),
                    where=f"{name} {start:%Y-%m}",
                )
            except SalesGateFailed as failed:
                yield from check_results(name, combine(name, [*gates, failed.gate]))
                raise dg.Failure(description=str(failed)) from None
            gates.append(built.gate)
            tally.add(built, per_line=False)
            context.log.info(
                f"{name} {start:%Y-%m} ({number}/{len(months)}): {built.inserted} account codes"
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
        name="dim_account_codes",
        group_name=GROUP,
        kinds={"sql"},
        deps=["xero_accounts", "xero_organisation"],
        check_specs=check_specs("dim_account_codes", "dim_account_codes"),
        automation_condition=follows(dg.AutomationCondition.any_deps_updated()),
        metadata={"dagster/column_schema": column_schema(dim_account_codes)},
        description=described(
            "Every account code in each organisation's chart of accounts, flagged is_revenue "
            "when its class is REVENUE (the codes sales are booked to). Accounts without a code "
            "are left out; archived codes are kept with their status.",
            dim_account_codes,
        ),
    )
    def dim_account_codes_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Results:
        accounts = xero_accounts.c
        with warehouse.engine.connect() as connection:
            found = connection.execute(
                select(
                    accounts.tenant_id,
                    accounts.code,
                    accounts.name,
                    accounts.type,
                    accounts["class"],
                    accounts.status,
                ).where(accounts.code.is_not(None), accounts.code != "")
            ).mappings()
            rows = [{**row, "is_revenue": row["class"] == "REVENUE"} for row in found]
        yield from gated_publish(
            context,
            xero=None,
            warehouse=warehouse,
            table=dim_account_codes,
            rows=rows,
            tenants=warehouse_tenants(warehouse.engine),
            mirror=True,
            preview_columns=("code", "name", "class", "status", "is_revenue"),
        )

    @dg.asset(
        name="invoiced_contacts",
        group_name=GROUP,
        kinds={"sql"},
        deps=["fct_sales_lines", "xero_contacts", "customers"],
        check_specs=check_specs("invoiced_contacts", "invoiced_contacts"),
        automation_condition=follows(dg.AutomationCondition.any_deps_updated()),
        metadata={"dagster/column_schema": column_schema(invoiced_contacts)},
        description=described(
            "The contacts you have invoiced: every contact with at least one approved sales "
            "invoice, with the first and latest invoice dates and lifetime net sales (credit "
            "notes deducted) in base currency. Rebuilt whole, in SQL, from fct_sales_lines: what "
            "a CRM imports as customers.",
            invoiced_contacts,
        ),
    )
    def invoiced_contacts_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Results:
        name = "invoiced_contacts"
        try:
            built = gated_rebuild(
                warehouse.engine,
                invoiced_contacts,
                scope="1 = 1",
                params={},
                id_columns=("tenant_id", "contact_id"),
                where=name,
            )
        except SalesGateFailed as failed:
            yield from check_results(name, failed.gate)
            raise dg.Failure(description=str(failed)) from None
        names = organisations(warehouse.engine)
        per_tenant = Counter(names.get(r["tenant_id"], (r["tenant_id"], ""))[0] for r in built.rows)
        top = sorted(
            built.rows, key=lambda r: _decimal(r["lifetime_net_sales_base"]), reverse=True
        )[:TOP_CODES]
        preview = pd.DataFrame(
            [
                {
                    "contact": r["contact_name"],
                    "invoices": r["invoice_count"],
                    "first": str(r["first_invoice_date"])[:10],
                    "last": str(r["last_invoice_date"])[:10],
                    "lifetime net sales": _money(_decimal(r["lifetime_net_sales_base"])),
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
        name="sales_by_account_code_chart",
        group_name=GROUP,
        kinds={"python"},
        deps=["sales_by_account_code_monthly", "dim_account_codes"],
        automation_condition=follows(dg.AutomationCondition.any_deps_updated()),
        description="A PNG chart of net sales by revenue account code over time, one panel per "
        "organisation in its base currency, written beside the warehouse under the project's "
        "data folder (`sales_by_account_code.png`). Also: `xero-pipeline chart`.",
    )
    def sales_by_account_code_chart_asset(
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

    return [
        fct_sales_lines_asset,
        sales_by_account_code_monthly_asset,
        dim_account_codes_asset,
        invoiced_contacts_asset,
        sales_by_account_code_chart_asset,
    ]
