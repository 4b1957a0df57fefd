"""Reference data from Xero: the organisation, contacts, contact groups and their members,
the chart of accounts, and suppliers. Group `xero`. Every configured tenant, side by side; each
asset gates its rows with its table's suite, then publishes them (`quality/publish.py`)."""

from collections.abc import Iterator

import dagster as dg
from sqlalchemy import select

from xero_pipeline.quality.checks import check_specs
from xero_pipeline.quality.publish import gated_publish
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.warehouse import schema
from xero_pipeline.warehouse.organisations import short_codes
from xero_pipeline.warehouse.publish import read_watermark
from xero_pipeline.xero.client import READ_OVERLAP, latest_copies
from xero_pipeline.xero.errors import XeroRequestError
from xero_pipeline.xero.rows import (
    account_row,
    contact_row,
    group_row,
    member_row,
    organisation_row,
)

GROUP = "xero"
KINDS = {"xero", "sql"}
Results = Iterator[dg.MaterializeResult | dg.AssetCheckResult]


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=check_specs("xero_organisation"),
    description=(
        "One row per tenant: name, base currency, and the short code used "
        "in links that open records in Xero."
    ),
)
def xero_organisation(
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
        table=schema.xero_organisation,
        rows=rows,
        tenants=tenants,
        mirror=True,
        calls_before=calls,
        preview_columns=("name", "base_currency", "short_code"),
    )


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=check_specs("xero_contacts"),
    deps=["xero_organisation"],
    description=(
        "Every contact, archived ones kept with their status; addresses and "
        "phones flattened. Read incrementally: the changes since a few minutes before the "
        "watermark in sync_state, oldest first."
    ),
)
def xero_contacts(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    client, calls = xero.client, xero.client.stats.total()
    tenants = xero.tenants()
    codes = short_codes(warehouse.engine)
    rows, watermarks = [], {}
    for tenant in tenants:
        watermark = read_watermark(warehouse.engine, tenant.tenant_id, "contacts")
        since = watermark - READ_OVERLAP if watermark is not None else None
        pages = []
        for page_number, page in enumerate(
            client.changes(
                tenant.tenant_id, "Contacts", "Contacts", since, params={"includeArchived": "true"}
            ),
            start=1,
        ):
            pages.append(page)
            context.log.info(f"{tenant.name}: contacts page {page_number}, {len(page)} records")
        fresh = [
            contact_row(tenant.tenant_id, contact, codes.get(tenant.tenant_id))
            for contact in latest_copies(pages, "Contacts")  # each contact once (a keyset read)
        ]
        stamps = [r["updated_date_utc"] for r in fresh if r["updated_date_utc"]]
        watermarks[(tenant.tenant_id, "contacts")] = max(stamps, default=watermark)
        rows += fresh
    yield from gated_publish(
        context,
        xero=xero,
        warehouse=warehouse,
        table=schema.xero_contacts,
        rows=rows,
        tenants=tenants,
        mirror=False,
        calls_before=calls,
        watermarks=watermarks,
        preview_columns=("name", "contact_status", "is_customer", "is_supplier"),
    )


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=check_specs("xero_contact_groups"),
    description=("Active contact groups (Xero lists only those)."),
)
def xero_contact_groups(
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
        table=schema.xero_contact_groups,
        rows=rows,
        tenants=tenants,
        mirror=True,
        calls_before=calls,
        preview_columns=("name", "status"),
    )


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=check_specs("xero_contact_group_members"),
    deps=["xero_contact_groups", "xero_contacts"],
    description=(
        "Who is in each contact group, from /ContactGroups/{id}. "
        "A contact taken out of a group disappears from this table."
    ),
)
def xero_contact_group_members(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    client, calls = xero.client, xero.client.stats.total()
    tenants = xero.tenants()
    groups_table, contacts_table = schema.xero_contact_groups, schema.xero_contacts
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
        table=schema.xero_contact_group_members,
        rows=rows,
        tenants=tenants,
        mirror=True,
        calls_before=calls,
        gate_only_columns=("is_known_contact",),
        preview_columns=("group_name", "contact_name"),
    )


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=check_specs("xero_accounts"),
    description=(
        "The chart of accounts: every account code with its type, class and "
        "status (archived codes kept)."
    ),
)
def xero_accounts(
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
        table=schema.xero_accounts,
        rows=rows,
        tenants=tenants,
        mirror=True,
        calls_before=calls,
        preview_columns=("code", "name", "type", "class", "status"),
    )


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=check_specs("suppliers"),
    deps=["xero_contacts"],
    description=("Contacts that are suppliers (IsSupplier), from xero_contacts."),
)
def suppliers(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    tenants = xero.tenants()
    contacts = schema.xero_contacts
    columns = [c.name for c in schema.suppliers.columns if c.name not in ("row_hash", "loaded_at")]
    with warehouse.engine.connect() as connection:
        rows = [
            dict(r)
            for r in connection.execute(
                select(*[contacts.c[name] for name in columns]).where(
                    contacts.c.is_supplier.is_(True),
                    contacts.c.tenant_id.in_([t.tenant_id for t in tenants]),
                )
            ).mappings()
        ]
    yield from gated_publish(
        context,
        xero=None,
        warehouse=warehouse,
        table=schema.suppliers,
        rows=rows,
        tenants=tenants,
        mirror=True,
        preview_columns=("name", "contact_status", "email_address"),
    )
