"""What the warehouse knows about each organisation (`xero_organisation`): the names and
currencies people read in metadata, and the short codes every link into Xero needs."""

from __future__ import annotations

from sqlalchemy import Engine, select

from xero_pipeline.warehouse.schema import xero_organisation
from xero_pipeline.xero.client import Tenant


def short_codes(engine: Engine) -> dict[str, str]:
    """tenant_id -> the organisation's ShortCode, which every deep link into Xero needs."""
    with engine.connect() as connection:
        return dict(
            connection.execute(
                select(xero_organisation.c.tenant_id, xero_organisation.c.short_code)
            ).all()
        )


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
    """The organisations the warehouse holds (tables built from the warehouse, not Xero)."""
    return [Tenant(t, name) for t, (name, _) in organisations(engine).items()]
