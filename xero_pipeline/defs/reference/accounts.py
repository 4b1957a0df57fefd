"""Bringing one organisation's chart of accounts up to date between the daily refreshes.

A line coded to an account created today would otherwise look unknown to the history gate until
the next 05:00 refresh. Whoever finds such a code calls this first: one cheap call to Xero, the
chart gated and published for that organisation (a mirror, as the `xero_accounts` asset does),
and a materialization of `xero_accounts` recorded so that what follows it (dim_account_codes)
follows this too."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Engine

from xero_pipeline.quality.gate import validate
from xero_pipeline.warehouse.publish import Load, publish
from xero_pipeline.warehouse.schema import key_columns, xero_accounts
from xero_pipeline.xero.client import Tenant, XeroClient
from xero_pipeline.xero.rows import account_row


def refresh_accounts(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    client: XeroClient,
    engine: Engine,
    tenant: Tenant,
    why: str,
) -> bool:
    """Read and publish the tenant's chart of accounts; False (logged) when its gate stopped it,
    leaving the published chart as it was."""
    rows = [
        account_row(tenant.tenant_id, a)
        for a in client.get(tenant.tenant_id, "Accounts")["Accounts"]
    ]
    gate = validate(xero_accounts.name, rows, key_columns(xero_accounts))
    if not gate.passed:
        context.log.warning(
            f"{tenant.name}: the chart of accounts read for {why} did not pass its gate "
            f"({gate.summary()}); the published chart stays as it was"
        )
        return False
    result = publish(engine, Load(xero_accounts, rows, [tenant.tenant_id], mirror=True))
    shown = result[xero_accounts.name].as_metadata()
    context.log_event(
        dg.AssetMaterialization(
            asset_key=xero_accounts.name,
            description=f"{tenant.name}: refreshed for {why}",
            metadata={**shown, "tenant": tenant.name, "refreshed for": why},
        )
    )
    context.log.info(f"{tenant.name}: chart of accounts refreshed for {why}: {shown}")
    return True
