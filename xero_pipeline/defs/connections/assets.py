"""`xero_connections` in the Dagster UI: the ledger of organisations (`warehouse/connections.py`)
as an asset the pipeline itself writes. Every sync (every 15 minutes) and every reference-data
run records a materialization of it with one row per organisation — its state, last success,
failures, next attempt and last error — and the count in each state, so an operator sees each
organisation's state, and its history, without reading a log."""

from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import Engine

from xero_pipeline.warehouse.connections import CONNECTED, DISCONNECTED, FAILING, organisations

GROUP = "xero_organisations"
LEDGER = "xero_connections"
ERROR_SHOWN = 120  # characters of each last error in the table (the column holds it whole)

xero_connections = dg.AssetSpec(
    LEDGER,
    group_name=GROUP,
    kinds={"sql"},
    description="One row per organisation connected to the app: connected, failing (with its "
    "last error and next attempt) or disconnected (its rows kept, marked is_connected = false "
    "in the marts). Written by the pipeline's own runs: every sync and reference-data run "
    "records it here.",
)


def ledger_metadata(engine: Engine) -> dict[str, Any]:
    """The ledger as materialization metadata: a table, and the count in each state."""
    rows = sorted(organisations(engine).values(), key=lambda o: o.tenant_name or "")
    table = pd.DataFrame(
        [
            {
                "organisation": o.tenant_name,
                "tenant": o.tenant_id,
                "status": o.status,
                "last success": o.last_success_at,
                "failures": o.failures,
                "next attempt": o.next_attempt_at,
                "last error": (o.last_error or "")[:ERROR_SHOWN],
            }
            for o in rows
        ]
    )
    counts = {
        state: sum(o.status == state for o in rows) for state in (CONNECTED, FAILING, DISCONNECTED)
    }
    return {
        "organisations": dg.MetadataValue.md(table.to_markdown(index=False) if rows else "(none)"),
        **counts,
    }


def record_ledger(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, engine: Engine
) -> None:
    """Record a materialization of `xero_connections` from a run that has just written it."""
    context.log_event(dg.AssetMaterialization(asset_key=LEDGER, metadata=ledger_metadata(engine)))
