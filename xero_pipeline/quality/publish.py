"""The one way a table loaded from Python rows is published: gate the staged rows, publish them
in one transaction, report.

Everything a person needs to act on goes into the materialization's metadata: rows read,
inserted, updated, unchanged and deleted; API calls spent and left today; the tenants; a preview;
and a marker when the data is the sandbox's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

import dagster as dg
import pandas as pd
from sqlalchemy import Table, select

from xero_pipeline.quality.checks import check_results, stop
from xero_pipeline.quality.gate import GateFailed, GateResult, combine, validate
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.warehouse.publish import Load, publish
from xero_pipeline.warehouse.schema import key_columns
from xero_pipeline.xero.client import Tenant

PREVIEW_ROWS = 10


class Organisations(Protocol):
    """The organisations of a step, each its own unit of work (`defs/connections/work.py`)."""

    @property
    def active(self) -> list[Tenant]: ...

    def fail(self, tenant: Tenant, failure: Exception) -> None: ...

    def finish(self) -> dict[str, Any]: ...

    def check_result(self, asset: Any) -> dg.AssetCheckResult: ...


def split_gate(
    table: Table, rows: list[dict[str, Any]], tenants: Sequence[Tenant], now: datetime | None
) -> tuple[GateResult, dict[str, GateResult]]:
    """Validate `rows`; when the suite fails, validate each tenant's rows on their own to find
    whose stopped it. Returns the gate of the rows that pass and the failed gates by tenant."""
    keys = key_columns(table)
    gate = validate(table.name, rows, keys, now)
    if gate.passed:
        return gate, {}
    passed, failed = [], {}
    for tenant in tenants:
        own = [row for row in rows if row["tenant_id"] == tenant.tenant_id]
        result = validate(table.name, own, keys, now)
        if result.passed:
            passed.append(result)
        else:
            failed[tenant.tenant_id] = result
    return combine(table.name, passed), failed


def gated_publish(
    context: dg.AssetExecutionContext,
    *,
    xero: XeroResource | None,
    warehouse: WarehouseResource,
    table: Table,
    rows: list[dict[str, Any]],
    tenants: Sequence[Tenant],
    mirror: bool,
    calls_before: int = 0,
    watermarks: dict[tuple[str, str], datetime | None] | None = None,
    gate_only_columns: Sequence[str] = (),
    preview_columns: Sequence[str] = ("name",),
    extra_metadata: dict[str, Any] | None = None,
    organisations: Organisations | None = None,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Validate `rows` with the table's suite; publish them only if every blocking check passed.
    `extra_metadata`: what the asset has to say beyond the standard counts (shown after them).
    With `organisations`, each tenant is gated on its own: one whose rows fail is left out (and
    recorded as failing) while the others publish; only when none passes does the step stop."""
    asset = context.asset_key
    if organisations is not None:
        tenants = organisations.active
        if not tenants:
            organisations.finish()  # fails the step when every organisation failed
        gate, failed = split_gate(table, rows, tenants, xero_clock(xero, tenants))
        for tenant in tenants:
            if tenant.tenant_id in failed:
                own = failed[tenant.tenant_id]
                organisations.fail(tenant, GateFailed(f"{table.name} of {tenant.name}", [own]))
        if failed and not organisations.active:
            everyone = combine(table.name, list(failed.values()))
            yield from stop(GateFailed(table.name, [everyone]), assets={table.name: asset})
        tenants = organisations.active
        rows = [row for row in rows if row["tenant_id"] not in failed]
        kept = {t.tenant_id for t in tenants}
        watermarks = {k: v for k, v in (watermarks or {}).items() if k[0] in kept}
    else:
        gate = validate(table.name, rows, key_columns(table), xero_clock(xero, tenants))
    if not gate.passed:
        yield from stop(GateFailed(table.name, [gate]), assets={table.name: asset})
    publishable = [{k: v for k, v in row.items() if k not in gate_only_columns} for row in rows]
    load = Load(table, publishable, [t.tenant_id for t in tenants], mirror)
    result = publish(warehouse.engine, load, watermarks=watermarks)[table.name]
    metadata: dict[str, Any] = {
        **result.as_metadata(),
        "tenants": ", ".join(f"{t.name} ({t.tenant_id})" for t in tenants),
        "table": table.name,
    }
    if xero is not None:
        metadata.update(api_metadata(xero, tenants, calls_before))
    metadata.update(extra_metadata or {})
    checks = check_results(asset, gate)
    if organisations is not None:
        metadata.update(organisations.finish())
        checks.append(organisations.check_result(asset))
    metadata["preview"] = dg.MetadataValue.md(preview(warehouse, table, preview_columns))
    for watermark_key, value in (watermarks or {}).items():
        if value is not None:
            metadata[f"watermark {watermark_key[0][:8]}…"] = value.isoformat()
    context.log.info(f"{table.name}: {result.as_metadata()}")
    yield dg.MaterializeResult(metadata=metadata, check_results=checks)


def xero_clock(xero: XeroResource | None, tenants: Sequence[Tenant]) -> datetime | None:
    """Xero's clock at its latest answer for these tenants: the gate's "now" for their rows
    (None, and so this machine's clock, when the rows did not come from Xero)."""
    if xero is None:
        return None
    seen = [xero.client.server_time.get(t.tenant_id) for t in tenants]
    return max((stamp for stamp in seen if stamp is not None), default=None)


def api_metadata(xero: XeroResource, tenants: Sequence[Tenant], calls_before: int) -> dict:
    """API calls this step spent, what Xero says is left today, and where the data came from."""
    client = xero.client
    metadata: dict[str, Any] = {
        "API calls": client.stats.total() - calls_before,
        "calls left today": dg.MetadataValue.json(
            {t.name: client.governors[t.tenant_id].day_remaining for t in tenants}
        ),
    }
    if xero.source_note:
        metadata["source"] = xero.source_note
    return metadata


def preview(warehouse: WarehouseResource, table: Table, columns: Sequence[str]) -> str:
    chosen = [table.c.tenant_id, *[table.c[name] for name in columns]]
    with warehouse.engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(select(*chosen).limit(PREVIEW_ROWS)).mappings())
    return frame.to_markdown(index=False) if not frame.empty else "(empty)"
