"""The customer merge as Dagster assets (group `customers`): preview, then apply.

- `customer_merge_preview` computes the plan (`merge.py`) and publishes it to
  `customer_merge_plan`, with counts and previews in its metadata. It never changes `customers`.
- `customer_merge_apply` materializes `customers` and `customer_match_review`. It computes the
  plan again and refuses to go on unless it is the plan the preview published (so what was
  previewed is what is applied); enforces the safety rule on new customers (XERO_NEW_CUSTOMER_LIMIT,
  overridden only by the run config `confirm: true`); gates both tables; and publishes them in
  one transaction.
"""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import Field

from xero_pipeline.defs.customers.matching import REVIEW
from xero_pipeline.defs.customers.merge import compute, safety_message, strip
from xero_pipeline.defs.customers.plan import gate_columns, plan_identity, plan_rows
from xero_pipeline.defs.customers.report import report, review_preview
from xero_pipeline.defs.customers.store import published_plan
from xero_pipeline.quality.checks import check_results, check_specs, stop
from xero_pipeline.quality.gate import GateFailed, passed_or_raise, validate
from xero_pipeline.quality.publish import gated_publish
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.warehouse.publish import Load, publish
from xero_pipeline.warehouse.schema import (
    customer_match_review,
    customer_merge_plan,
    customers,
    key_columns,
)

GROUP = "customers"
APPLY = "customer_merge_apply"
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


@dg.asset(
    group_name=GROUP,
    deps=list(XERO_INPUTS),
    check_specs=check_specs("customer_merge_preview", suite=customer_merge_plan.name),
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
    check_specs=(check_specs(customers.name) + check_specs(customer_match_review.name)),
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
    try:
        passed_or_raise("the customer merge", customer_gate, review_gate)
    except GateFailed as failed:
        yield from stop(failed)
    results = publish(
        warehouse.engine,
        Load(customers, strip(plan.customers), [], mirror=False),
        Load(customer_match_review, strip(plan.review), tenant_ids, mirror=True),
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
        check_results=check_results(customers.name, customer_gate),
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
        check_results=check_results(customer_match_review.name, review_gate),
    )
