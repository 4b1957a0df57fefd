"""The merge from the command line: `xero-pipeline merge [--confirm]`, `xero-pipeline review`, and
the merge step of `xero-pipeline run`. The commands themselves are wired in `cli.py`."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import Engine

from xero_pipeline.defs.customers.assets import APPLY
from xero_pipeline.defs.customers.settings import MergeSettings
from xero_pipeline.defs.customers.store import review_items
from xero_pipeline.xero.settings import XeroSettings

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def merge_skipped(settings: XeroSettings) -> str | None:
    """Why `xero-pipeline run` leaves the merge out, if it does: with a Xero app and no
    CUSTOMERS_SOURCE there is no list to merge into. `run` says so, naming the variable, and
    carries on; `xero-pipeline merge` and the Dagster job fail with that error instead."""
    if settings.sandbox or MergeSettings.from_env().source:
        return None
    return (
        "Customer merge: not run. CUSTOMERS_SOURCE is not set; with a Xero app the merge "
        "needs your existing customer list (a CSV path or table:<name>; see the README, "
        '"The customer merge"), then `xero-pipeline merge`.'
    )


def run_merge(
    defs: dg.Definitions, resources: dict[str, Any], *, confirm: bool = False
) -> dg.ExecuteInProcessResult:
    """The `customer_merge` job (preview, then apply), in the current Dagster instance."""
    run_config: dict[str, Any] = dict(QUIET_LOGS)
    if confirm:
        run_config["ops"] = {APPLY: {"config": {"confirm": True}}}
    with dg.DagsterInstance.get() as instance:
        return defs.resolve_job_def("customer_merge").execute_in_process(
            instance=instance, resources=resources, raise_on_error=False, run_config=run_config
        )


def merge_report(result: dg.ExecuteInProcessResult) -> str:
    """What the merge did (or, when the apply was stopped, what it would have done)."""
    shown = {
        event.asset_key.to_user_string(): {
            k: v.value for k, v in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }
    preview = shown.get("customer_merge_preview")
    if preview is None:
        return "Customer merge: no preview (see the error below)."
    methods = preview["links by method"] or {}
    applied = shown.get("customers")
    lines = [
        f"Customer merge ({preview['customer list']}):"
        + ("" if applied else "  NOT APPLIED, this is the preview"),
        *(f"  {tenant}: {how}" for tenant, how in (preview["selection"] or {}).items()),
        f"  {'Xero customers selected':<28} {preview['Xero customers selected']:>6}",
        f"  {'already linked':<28} {preview['already linked']:>6}",
        *(f"  {'linked by ' + method:<28} {methods[method]:>6}" for method in sorted(methods)),
        f"  {'new customers':<28} {preview['new customers']:>6}",
        f"  {'review items':<28} {preview['review items']:>6}"
        + ("   (xero-pipeline review)" if preview["review items"] else ""),
        f"  {'skipped (archived, erased)':<28} {preview['skipped (archived or erased)']:>6}",
        f"  new customer share: {preview['new customer share']}",
    ]
    if applied:
        lines.append(
            f"  customers: {applied['customers']} (inserted {applied['inserted']}, "
            f"updated {applied['updated']}, unchanged {applied['unchanged']})"
        )
    return "\n".join(lines)


def review_listing(engine: Engine) -> str:
    """The open review items, with the ids `--accept`, `--reject` and `--new` take."""
    items = review_items(engine)
    if not items:
        return "No open review items."
    frame = pd.DataFrame(
        [
            {
                "id": item.review_id,
                "organisation": item.tenant_name,
                "Xero contact": item.contact_name,
                "candidate customer": f"{item.customer_name} ({item.customer_id})",
                "score": item.score,
                "reason": item.reason,
                "decided": item.pending or "",
            }
            for item in items
        ]
    )
    return (
        f"{len(items)} open review items (decide with --accept ID, --reject ID or --new ID; "
        "decisions are applied on the next merge run):\n\n"
        + frame.to_markdown(index=False, tablefmt="simple")
    )
