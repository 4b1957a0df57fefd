"""The numbers and previews a person needs to judge the customer merge, for the Dagster UI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg
import pandas as pd

from xero_pipeline.defs.customers.matching import CREATE, LINK
from xero_pipeline.defs.customers.merge import MergeRun
from xero_pipeline.defs.customers.plan import MergePlan

PREVIEW_ROWS = 10


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
            table(
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
            table(
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
            table(
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
    return table(
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


def table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "(none)"
    shown = pd.DataFrame(list(rows[:PREVIEW_ROWS])).to_markdown(index=False)
    more = len(rows) - PREVIEW_ROWS
    return shown + (f"\n\n… and {more} more" if more > 0 else "")
