"""Reference data from Xero: the organisation, contacts, contact groups and their members,
the chart of accounts, and suppliers. Group `xero`. Every configured tenant, side by side."""

from collections.abc import Iterator

import dagster as dg
from sqlalchemy import select

from xero_pipeline.assets.loading import gated_publish, organisation_short_codes
from xero_pipeline.quality.gate import check_specs
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.warehouse.publish import read_watermark
from xero_pipeline.warehouse.schema import (
    suppliers as suppliers_table,
)
from xero_pipeline.warehouse.schema import (
    xero_accounts,
    xero_contact_group_members,
    xero_contact_groups,
    xero_contacts,
    xero_organisation,
)
from xero_pipeline.xero.errors import XeroRequestError
from xero_pipeline.xero.rows import (
    account_row,
    contact_row,
    group_row,
    member_row,
    organisation_row,
)

Results = Iterator[dg.MaterializeResult | dg.AssetCheckResult]


def _asset(name: str, description: str, deps: tuple[str, ...] = ()):
    return dg.asset(
        name=name,
        group_name="xero",
        description=description,
        deps=list(deps),
        check_specs=check_specs(name, name),
        kinds={"xero", "sql"},
    )


@_asset(
    "xero_organisation",
    "One row per tenant: name, base currency, and the short code used "
    "in links that open records in Xero.",
)
def xero_organisation_asset(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    client, calls = xero.client, xero.client.stats.total()
    tenants = xero.tenants()
    rows = [
        organisation_row(t.tenant_id, org)
        for t in tenants
        for org in client.get(t.tenant_id, "Organisation")["Organisations"]
    ]
    yield from gated_publish(
        context,
        xero=xero,
        warehouse=warehouse,
        table=xero_organisation,
        rows=rows,
        tenants=tenants,
        mirror=True,
        calls_before=calls,
        preview_columns=("name", "base_currency", "short_code"),
    )


@_asset(
    "xero_contacts",
    "Every contact, archived ones kept with their status; addresses and "
    "phones flattened. Read incrementally (If-Modified-Since from sync_state).",
    deps=("xero_organisation",),
)
def xero_contacts_asset(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    client, calls = xero.client, xero.client.stats.total()
    tenants = xero.tenants()
    short_codes = organisation_short_codes(warehouse)
    rows, watermarks = [], {}
    for tenant in tenants:
        watermark = read_watermark(warehouse.engine, tenant.tenant_id, "contacts")
        changed = []
        for page_number, page in enumerate(
            client.pages(
                tenant.tenant_id,
                "Contacts",
                "Contacts",
                params={"includeArchived": "true"},
                modified_since=watermark,
            ),
            start=1,
        ):
            changed += [
                contact_row(tenant.tenant_id, c, short_codes.get(tenant.tenant_id)) for c in page
            ]
            context.log.info(f"{tenant.name}: contacts page {page_number}, {len(page)} records")
        fresh = [
            r
            for r in changed
            if watermark is None
            or r["updated_date_utc"] is None
            or r["updated_date_utc"] > watermark
        ]
        stamps = [r["updated_date_utc"] for r in fresh if r["updated_date_utc"] is not None]
        watermarks[(tenant.tenant_id, "contacts")] = max(stamps, default=watermark)
        rows += fresh
    yield from gated_publish(
        context,
        xero=xero,
        warehouse=warehouse,
        table=xero_contacts,
        rows=rows,
        tenants=tenants,
        mirror=False,
        calls_before=calls,
        watermarks=watermarks,
        preview_columns=("name", "contact_status", "is_customer", "is_supplier"),
    )


@_asset("xero_contact_groups", "Active contact groups (Xero lists only those).")
def xero_contact_groups_asset(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    client, calls = xero.client, xero.client.stats.total()
    tenants = xero.tenants()
    rows = [
        group_row(t.tenant_id, g)
        for t in tenants
        for g in client.get(t.tenant_id, "ContactGroups")["ContactGroups"]
    ]
    yield from gated_publish(
        context,
        xero=xero,
        warehouse=warehouse,
        table=xero_contact_groups,
        rows=rows,
        tenants=tenants,
        mirror=True,
        calls_before=calls,
        preview_columns=("name", "status"),
    )


@_asset(
    "xero_contact_group_members",
    "Who is in each contact group, from /ContactGroups/{id}. "
    "A contact taken out of a group disappears from this table.",
    deps=("xero_contact_groups", "xero_contacts"),
)
def xero_contact_group_members_asset(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    client, calls = xero.client, xero.client.stats.total()
    tenants = xero.tenants()
    groups_table, contacts_table = xero_contact_groups, xero_contacts
    with warehouse.engine.connect() as connection:
        groups = connection.execute(
            select(groups_table.c.tenant_id, groups_table.c.contact_group_id)
        ).all()
        known = set(
            connection.execute(
                select(contacts_table.c.tenant_id, contacts_table.c.contact_id)
            ).all()
        )
    wanted = {t.tenant_id for t in tenants}
    rows = []
    for tenant_id, group_id in groups:
        if tenant_id not in wanted:
            continue
        try:
            body = client.get(tenant_id, f"ContactGroups/{group_id}")
        except XeroRequestError as exc:
            if exc.status != 404:
                raise
            context.log.warning(f"contact group {group_id} is gone from Xero; skipped")
            continue
        for group in body["ContactGroups"]:
            for member in group.get("Contacts") or []:
                row = member_row(tenant_id, group, member)
                row["is_known_contact"] = (tenant_id, row["contact_id"]) in known
                rows.append(row)
    yield from gated_publish(
        context,
        xero=xero,
        warehouse=warehouse,
        table=xero_contact_group_members,
        rows=rows,
        tenants=tenants,
        mirror=True,
        calls_before=calls,
        gate_only_columns=("is_known_contact",),
        preview_columns=("group_name", "contact_name"),
    )


@_asset(
    "xero_accounts",
    "The chart of accounts: every account code with its type, class and "
    "status (archived codes kept).",
)
def xero_accounts_asset(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    client, calls = xero.client, xero.client.stats.total()
    tenants = xero.tenants()
    rows = [
        account_row(t.tenant_id, a)
        for t in tenants
        for a in client.get(t.tenant_id, "Accounts")["Accounts"]
    ]
    yield from gated_publish(
        context,
        xero=xero,
        warehouse=warehouse,
        table=xero_accounts,
        rows=rows,
        tenants=tenants,
        mirror=True,
        calls_before=calls,
        preview_columns=("code", "name", "type", "class", "status"),
    )


@_asset(
    "suppliers",
    "Contacts that are suppliers (IsSupplier), from xero_contacts.",
    deps=("xero_contacts",),
)
def suppliers_asset(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    tenants = xero.tenants()
    columns = [c.name for c in suppliers_table.columns if c.name not in ("row_hash", "loaded_at")]
    with warehouse.engine.connect() as connection:
        rows = [
            dict(r)
            for r in connection.execute(
                select(*[xero_contacts.c[name] for name in columns]).where(
                    xero_contacts.c.is_supplier.is_(True),
                    xero_contacts.c.tenant_id.in_([t.tenant_id for t in tenants]),
                )
            ).mappings()
        ]
    yield from gated_publish(
        context,
        xero=None,
        warehouse=warehouse,
        table=suppliers_table,
        rows=rows,
        tenants=tenants,
        mirror=True,
        preview_columns=("name", "contact_status", "email_address"),
    )


reference_assets = [
    xero_organisation_asset,
    xero_contacts_asset,
    xero_contact_groups_asset,
    xero_contact_group_members_asset,
    xero_accounts_asset,
    suppliers_asset,
]
