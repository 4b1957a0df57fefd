"""The customer merge as Dagster assets (group `customers`): preview, then apply.

- `customer_merge_preview` computes the plan from the business's list (CUSTOMERS_SOURCE), the
  selected Xero customers (from the published mirrors: no API calls), the `customers` table as it
  is and the decisions people made in review, and publishes it to `customer_merge_plan`, with
  counts and previews in its metadata. It never changes `customers`.
- `customer_merge_apply` materializes `customers` and `customer_match_review`. It computes the
  plan again and refuses to go on unless it is the plan the preview published (so what was
  previewed is what is applied); enforces the safety rule on new customers (XERO_NEW_CUSTOMER_LIMIT,
  overridden only by the run config `confirm: true`); gates both tables; and publishes them in
  one transaction.
"""

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from xero_pipeline.assets.loading import gated_publish
from xero_pipeline.customers.matching import CREATE, LINK, REVIEW
from xero_pipeline.customers.plan import (
    GATE_ONLY,
    MergePlan,
    build_plan,
    gate_columns,
    plan_identity,
    plan_rows,
)
from xero_pipeline.customers.settings import MergeSettings
from xero_pipeline.customers.source import ListedCustomer, describe, read_csv, read_source
from xero_pipeline.customers.warehouse import (
    Selection,
    current_customers,
    decisions,
    merge_tenants,
    published_plan,
    review_first_seen,
    select_xero_customers,
)
from xero_pipeline.quality.gate import check_results, check_specs, validate
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.sandbox.customers import write_sample_csv
from xero_pipeline.warehouse.publish import Load, publish
from xero_pipeline.warehouse.schema import (
    customer_match_review,
    customer_merge_plan,
    customers,
    key_columns,
)
from xero_pipeline.xero.client import Tenant
from xero_pipeline.xero.errors import ConfigError
from xero_pipeline.xero.settings import XeroSettings, project_data

GROUP = "customers"
APPLY = "customer_merge_apply"
PREVIEW_ROWS = 10
SAMPLE_FILE = "sandbox_customers.csv"
XERO_INPUTS = (
    "xero_organisation",
    "xero_contacts",
    "xero_contact_groups",
    "xero_contact_group_members",
)


class MergeConfig(dg.Config):
    """Run config of the apply; the launchpad shows it."""

    confirm: bool = Field(
        default=False,
        description=(
            "Apply even when the merge would create more new customers than "
            "XERO_NEW_CUSTOMER_LIMIT allows (the 'Confirm' button). Check the preview first."
        ),
    )


@dataclass
class MergeRun:
    """Everything one computation of the plan used, and the plan."""

    settings: MergeSettings
    source: str
    listed: list[ListedCustomer]
    selections: list[Selection]
    current_ids: set[str]
    plan: MergePlan

    @property
    def tenants(self) -> list[Tenant]:
        return [Tenant(s.tenant_id, s.tenant_name) for s in self.selections]


def customer_list(
    settings: MergeSettings, warehouse: WarehouseResource, xero: XeroResource
) -> tuple[list[ListedCustomer], str]:
    """The business's list and where it came from: CUSTOMERS_SOURCE, or the sandbox's sample."""
    if settings.source:
        return read_source(settings.source, warehouse.engine), describe(settings.source)
    if xero.sandbox is None:
        raise ConfigError(
            "CUSTOMERS_SOURCE",
            "is not set. With a Xero app the merge needs your existing customer list: a CSV "
            "file path (an id column, customer_id or id, and a name column, name or "
            "customer_name) or table:<name> for a table in the warehouse.",
        )
    path = write_sample_csv(xero.sandbox, project_data() / SAMPLE_FILE)
    return read_csv(path), f"the sandbox's sample list ({path})"


def compute(warehouse: WarehouseResource, xero: XeroResource) -> MergeRun:
    """The plan from the list, the Xero side, the customers table and the decisions."""
    settings = MergeSettings.from_env()  # a bad value stops here, naming the variable
    listed, source = customer_list(settings, warehouse, xero)
    engine = warehouse.engine
    tenants = merge_tenants(engine, XeroSettings.from_env().tenant_ids)
    selections, names = select_xero_customers(engine, tenants, settings.group)
    current = current_customers(engine)
    plan = build_plan(
        current,
        listed,
        [c for s in selections for c in s.contacts],
        decisions=decisions(engine),
        contact_names=names,
        first_seen=review_first_seen(engine),
        now=datetime.now(UTC),
    )
    return MergeRun(settings, source, listed, selections, {r["customer_id"] for r in current}, plan)


def report(run: MergeRun) -> dict[str, Any]:
    """The numbers and previews a person needs to judge the merge, for the Dagster UI."""
    plan, settings = run.plan, run.settings
    summary = plan.summary()
    metadata: dict[str, Any] = {
        "customer list": run.source,
        "selection": dg.MetadataValue.json(
            {s.tenant_name: s.describe(settings.group) for s in run.selections}
        ),
        **{k: v for k, v in summary.items() if k != "links by method"},
        "links by method": dg.MetadataValue.json(summary["links by method"]),
        "new customer share": (
            f"{plan.new_share:.0%} of {plan.selected} selected "
            f"(XERO_NEW_CUSTOMER_LIMIT {settings.new_customer_limit:.0%})"
        ),
        "apply needs confirm": plan.new_share > settings.new_customer_limit,
        "review list": dg.MetadataValue.md(review_preview(plan)),
        "new customers (first rows)": dg.MetadataValue.md(
            _table(
                [
                    {
                        "tenant": o.tenant_id[:8],
                        "contact": o.contact_name,
                        "customer": o.customer_id,
                    }
                    for o in plan.outcomes
                    if o.action == CREATE
                ]
            )
        ),
        "links (first rows)": dg.MetadataValue.md(
            _table(
                [
                    {
                        "contact": o.contact_name,
                        "customer": o.customer_name,
                        "method": o.match_method,
                    }
                    for o in plan.outcomes
                    if o.action == LINK
                ]
            )
        ),
    }
    if plan.unapplied:
        metadata["decisions not applied"] = dg.MetadataValue.md(
            _table(
                [
                    {
                        "contact": d.contact_id,
                        "decision": d.decision,
                        "customer": d.customer_id,
                        "why": why,
                    }
                    for d, why in plan.unapplied
                ]
            )
        )
    return metadata


def review_preview(plan: MergePlan) -> str:
    rows = sorted(plan.review, key=lambda r: (-float(r["score"]), r["contact_name"] or ""))
    return _table(
        [
            {
                "id": r["review_id"],
                "contact": r["contact_name"],
                "candidate": f"{r['customer_name']} ({r['customer_id']})",
                "reason": r["reason"],
                "score": float(r["score"]),
            }
            for r in rows
        ]
    )


def _table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "(none)"
    shown = pd.DataFrame(list(rows[:PREVIEW_ROWS])).to_markdown(index=False)
    more = len(rows) - PREVIEW_ROWS
    return shown + (f"\n\n… and {more} more" if more > 0 else "")


@dg.asset(
    name="customer_merge_preview",
    group_name=GROUP,
    deps=list(XERO_INPUTS),
    check_specs=check_specs("customer_merge_preview", customer_merge_plan.name),
    kinds={"sql"},
    description=(
        "What the customer merge would do with each selected Xero customer (link and how, new "
        "customer, review, skip), published to customer_merge_plan. Changes no customer."
    ),
)
def customer_merge_preview(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    run = compute(warehouse, xero)
    context.log.info(f"customer merge preview: {run.plan.summary()}")
    yield from gated_publish(
        context,
        xero=None,
        warehouse=warehouse,
        table=customer_merge_plan,
        rows=plan_rows(run.plan),
        tenants=run.tenants,
        mirror=True,
        preview_columns=("contact_name", "action", "customer_name", "match_method", "reason"),
        extra_metadata=report(run),
    )


@dg.multi_asset(
    name=APPLY,
    specs=[
        dg.AssetSpec(
            customers.name,
            group_name=GROUP,
            deps=["customer_merge_preview"],
            kinds={"sql"},
            description=(
                "The business's customer list merged with Xero's customers: one row per "
                "customer, linked to at most one Xero contact (tenant_id, contact_id), with "
                "how the link was found (match_method). Never deletes or renames a customer."
            ),
        ),
        dg.AssetSpec(
            customer_match_review.name,
            group_name=GROUP,
            deps=["customer_merge_preview"],
            kinds={"sql"},
            description=(
                "What the merge would not decide by itself, and why: fuzzy candidates and "
                "ambiguous names. Decide with `xero-pipeline review`."
            ),
        ),
    ],
    check_specs=(
        check_specs(customers.name, customers.name)
        + check_specs(customer_match_review.name, customer_match_review.name)
    ),
)
def customer_merge_apply(
    context: dg.AssetExecutionContext,
    config: MergeConfig,
    xero: XeroResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    run = compute(warehouse, xero)
    plan, settings = run.plan, run.settings
    tenant_ids = [t.tenant_id for t in run.tenants]
    if plan_identity(plan_rows(plan)) != plan_identity(
        published_plan(warehouse.engine, tenant_ids)
    ):
        raise dg.Failure(
            description=(
                "The customer merge plan has changed since the preview was published (the list, "
                "Xero's data or a review decision changed). Nothing was applied: materialize "
                "customer_merge_preview again, check it, then apply."
            )
        )
    if plan.new_share > settings.new_customer_limit:
        message = safety_message(run)
        if not config.confirm:
            raise dg.Failure(
                description=message,
                metadata={
                    "new customers": plan.created,
                    "Xero customers selected": plan.selected,
                    "limit": settings.new_customer_limit,
                },
            )
        context.log.warning(f"Confirmed by the run config: {message}")
    gate_columns(plan, run.listed, run.current_ids)
    customer_gate = validate(customers.name, plan.customers, key_columns(customers))
    review_gate = validate(
        customer_match_review.name, plan.review, key_columns(customer_match_review)
    )
    checks = {
        customers.name: check_results(customers.name, customer_gate),
        customer_match_review.name: check_results(customer_match_review.name, review_gate),
    }
    if not (customer_gate.passed and review_gate.passed):
        for results in checks.values():
            yield from results
        problems = "; ".join(g.summary() for g in (customer_gate, review_gate) if not g.passed)
        raise dg.Failure(
            description=(
                f"The quality gate stopped the customer merge: {problems}. Nothing was "
                "published; see the failed checks for the rows."
            )
        )
    results = publish(
        warehouse.engine,
        Load(customers, _strip(plan.customers), [], mirror=False),
        Load(customer_match_review, _strip(plan.review), tenant_ids, mirror=True),
    )
    common = {
        "links by method": dg.MetadataValue.json(plan.links_by_method),
        "new customers": plan.created,
        "review items": plan.count(REVIEW),
        "new customer share": f"{plan.new_share:.0%} (limit {settings.new_customer_limit:.0%})",
        "confirmed": config.confirm,
        "customer list": run.source,
    }
    by_method = Counter(row["match_method"] or "unlinked" for row in plan.customers)
    yield dg.MaterializeResult(
        asset_key=customers.name,
        metadata={
            **results[customers.name].as_metadata(),
            **common,
            "customers": len(plan.customers),
            "customers by match method": dg.MetadataValue.json(dict(by_method)),
            "added from the list": plan.added_from_list,
        },
        check_results=checks[customers.name],
    )
    review_meta: dict[str, Any] = {
        **results[customer_match_review.name].as_metadata(),
        **common,
        "review list": dg.MetadataValue.md(review_preview(plan)),
    }
    if plan.unapplied:
        review_meta["decisions not applied"] = len(plan.unapplied)
    yield dg.MaterializeResult(
        asset_key=customer_match_review.name,
        metadata=review_meta,
        check_results=checks[customer_match_review.name],
    )


def safety_message(run: MergeRun) -> str:
    plan, settings = run.plan, run.settings
    without = [s.tenant_name for s in run.selections if not s.group_found]
    hint = (
        f" Organisations without an active {settings.group!r} contact group select every "
        f"customer: {', '.join(without)}. If that is not intended, create the group in Xero "
        "(or set XERO_CUSTOMER_GROUP to the group's name)."
        if without
        else ""
    )
    return (
        f"The safety rule stopped the customer merge: it would create {plan.created} new "
        f"customers out of {plan.selected} Xero customers selected ({plan.new_share:.0%}), more "
        f"than XERO_NEW_CUSTOMER_LIMIT allows ({settings.new_customer_limit:.0%}). Nothing was "
        f"changed.{hint} To apply it anyway, launch the run with the apply's config "
        "`confirm: true` (in the launchpad: ops: customer_merge_apply: config: confirm: true) "
        "or run `xero-pipeline merge --confirm`."
    )


def _strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in GATE_ONLY} for row in rows]


customer_assets = [customer_merge_preview, customer_merge_apply]
