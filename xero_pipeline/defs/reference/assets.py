"""Reference data from Xero: the organisation, contacts, contact groups and their members,
the chart of accounts, and suppliers. Group `xero`. Every connected organisation, side by side,
each its own unit of work (`defs/connections/work.py`): one Xero refuses, or whose rows fail the
table's suite, is left out and named while the others publish (`quality/publish.py`)."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from sqlalchemy import Table, and_, or_, select

from xero_pipeline.defs.connections.assets import record_ledger
from xero_pipeline.defs.connections.work import OrganisationWork, checks_by_organisation
from xero_pipeline.quality.publish import gated_publish
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.warehouse import schema
from xero_pipeline.warehouse.organisations import short_codes
from xero_pipeline.warehouse.publish import read_watermark
from xero_pipeline.xero.client import READ_OVERLAP, Tenant, latest_copies
from xero_pipeline.xero.errors import XeroRequestError
from xero_pipeline.xero.rows import (
    account_row,
    contact_row,
    group_row,
    member_row,
    organisation_row,
)

GROUP = "xero"
# sync_state's mark of when an organisation's contacts were last read in full (machine clock).
MEMBERSHIPS = "contact_memberships"
KINDS = {"xero", "sql"}
Results = Iterator[dg.MaterializeResult | dg.AssetCheckResult]
Rows = list[dict[str, Any]]


def load_each(
    context: dg.AssetExecutionContext,
    xero: XeroResource,
    warehouse: WarehouseResource,
    table: Table,
    read_rows: Callable[[Tenant], Rows],
    **publishing: Any,
) -> Results:
    """Read each organisation's rows on its own (one that Xero refuses is left out and
    recorded), then gate and publish them all (`gated_publish`, each organisation gated on its
    own); `publishing`: the rest of gated_publish's options."""
    calls = xero.client.stats.total()
    work = OrganisationWork.start(context, xero, warehouse)
    rows: Rows = []
    for tenant in work.tenants:
        with work.each(tenant):
            rows += read_rows(tenant)
    yield from gated_publish(
        context,
        xero=xero,
        warehouse=warehouse,
        table=table,
        rows=rows,
        tenants=work.active,
        calls_before=calls,
        organisations=work,
        **publishing,
    )


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=checks_by_organisation("xero_organisation"),
    description=(
        "One row per tenant: name, base currency, and the short code used "
        "in links that open records in Xero."
    ),
)
def xero_organisation(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    def read_rows(t: Tenant) -> Rows:
        found = xero.client.get(t.tenant_id, "Organisation")["Organisations"]
        return [organisation_row(t.tenant_id, org) for org in found]

    yield from load_each(
        context,
        xero,
        warehouse,
        schema.xero_organisation,
        read_rows,
        mirror=True,
        preview_columns=("name", "base_currency", "short_code"),
    )
    record_ledger(context, warehouse.engine)


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=checks_by_organisation("xero_contacts"),
    deps=["xero_organisation"],
    description=(
        "Every contact, archived ones kept with their status; addresses and "
        "phones flattened. Read incrementally: the changes since a few minutes before the "
        "watermark in sync_state, oldest first; and, by id, contacts whose invoices in the "
        "warehouse made them customers or suppliers (Xero does not stamp that)."
    ),
)
def xero_contacts(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    codes = short_codes(warehouse.engine)
    watermarks: dict = {}  # filled as each organisation is read, published with the rows
    rechecked: dict[str, int] = {}  # shown in the metadata, per organisation

    def read_rows(t: Tenant) -> Rows:
        fresh = read_contacts(context, xero.client, warehouse, t, codes, watermarks)
        roles = read_new_roles(xero.client, warehouse, t, codes, {r["contact_id"] for r in fresh})
        rechecked[f"roles re-read in {t.name}"] = len(roles)
        return fresh + roles

    yield from load_each(
        context,
        xero,
        warehouse,
        schema.xero_contacts,
        read_rows,
        mirror=False,
        watermarks=watermarks,
        preview_columns=("name", "contact_status", "is_customer", "is_supplier"),
        extra_metadata=rechecked,
    )


def read_contacts(
    context: dg.AssetExecutionContext,
    client: Any,
    warehouse: WarehouseResource,
    tenant: Tenant,
    codes: dict[str, str],
    watermarks: dict,
) -> list[dict]:
    """One organisation's contacts changed since its watermark; notes its next watermark, and,
    when it read them all, when (`MEMBERSHIPS`: each contact's groups are then all fresh)."""
    watermark = read_watermark(warehouse.engine, tenant.tenant_id, "contacts")
    since = watermark - READ_OVERLAP if watermark is not None else None
    started = datetime.now(UTC)
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
    if since is None:
        watermarks[(tenant.tenant_id, MEMBERSHIPS)] = started
    return fresh


def read_new_roles(
    client: Any, warehouse: WarehouseResource, tenant: Tenant, codes: dict[str, str], read: set[str]
) -> list[dict]:
    """Contacts the warehouse's invoices say have taken a role their stored row lacks: a sales
    invoice makes its contact a customer in Xero, a bill a supplier, and Xero does not stamp
    that, so an incremental read never sees it (the customer merge would miss a new customer).
    Re-read by id (50 a call), skipping those this run has just read; none: no call."""
    suspects = sorted(stale_roles(warehouse, tenant.tenant_id) - read)
    pages = client.by_ids(
        tenant.tenant_id, "Contacts", "Contacts", suspects, params={"includeArchived": "true"}
    )
    return [
        contact_row(tenant.tenant_id, contact, codes.get(tenant.tenant_id))
        for page in pages
        for contact in page
    ]


def stale_roles(warehouse: WarehouseResource, tenant_id: str) -> set[str]:
    """Ids of the organisation's contacts with a sales invoice in the warehouse yet not stored
    as customers, or a bill yet not stored as suppliers."""
    contacts, invoices = schema.xero_contacts, schema.xero_invoices
    lacking = or_(
        and_(invoices.c.type == "ACCREC", contacts.c.is_customer.is_not(True)),
        and_(invoices.c.type == "ACCPAY", contacts.c.is_supplier.is_not(True)),
    )
    query = (
        select(contacts.c.contact_id)
        .distinct()
        .join(
            invoices,
            and_(
                invoices.c.tenant_id == contacts.c.tenant_id,
                invoices.c.contact_id == contacts.c.contact_id,
            ),
        )
        .where(contacts.c.tenant_id == tenant_id, lacking)
    )
    with warehouse.engine.connect() as connection:
        return set(connection.execute(query).scalars())


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=checks_by_organisation("xero_contact_groups"),
    description=("Active contact groups (Xero lists only those)."),
)
def xero_contact_groups(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    def read_rows(t: Tenant) -> Rows:
        found = xero.client.get(t.tenant_id, "ContactGroups")["ContactGroups"]
        return [group_row(t.tenant_id, g) for g in found]

    yield from load_each(
        context,
        xero,
        warehouse,
        schema.xero_contact_groups,
        read_rows,
        mirror=True,
        preview_columns=("name", "status"),
    )


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=checks_by_organisation("xero_contact_group_members"),
    deps=["xero_contact_groups", "xero_contacts"],
    description=(
        "Who is in each contact group: from the contacts themselves when this run read all of an "
        "organisation's contacts (a paged read lists each contact's groups), otherwise from "
        "/ContactGroups/{id}. A contact taken out of a group disappears from this table."
    ),
)
def xero_contact_group_members(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    groups_table, contacts_table = schema.xero_contact_groups, schema.xero_contacts
    with warehouse.engine.connect() as connection:
        groups = connection.execute(
            select(groups_table.c.tenant_id, groups_table.c.contact_group_id, groups_table.c.name)
        ).all()
        known = set(
            connection.execute(
                select(contacts_table.c.tenant_id, contacts_table.c.contact_id)
            ).all()
        )
    started = run_started(context)
    sources: dict[str, str] = {}  # shown in the metadata: where each organisation's came from

    def read_rows(t: Tenant) -> Rows:
        own = {group_id: name for tenant_id, group_id, name in groups if tenant_id == t.tenant_id}
        seen = read_watermark(warehouse.engine, t.tenant_id, MEMBERSHIPS)
        if started is not None and seen is not None and seen >= started:
            rows = members_from_contacts(warehouse, t.tenant_id, own)
            # Groups, yet no contact lists one: not proof they are empty, so ask the groups.
            if rows or not own:
                sources[f"members of {t.name}"] = "this run's read of all its contacts"
                return rows
        sources[f"members of {t.name}"] = f"one read per group ({len(own)})"
        return group_members(context, xero.client, t.tenant_id, list(own), known)

    yield from load_each(
        context,
        xero,
        warehouse,
        schema.xero_contact_group_members,
        read_rows,
        mirror=True,
        gate_only_columns=("is_known_contact",),
        preview_columns=("group_name", "contact_name"),
        extra_metadata=sources,
    )


def run_started(context: dg.AssetExecutionContext) -> datetime | None:
    """When this run started (None if the instance does not say)."""
    record = context.instance.get_run_record_by_id(context.run_id)
    start = record.start_time if record is not None else None
    return datetime.fromtimestamp(start, UTC) if start else None


def members_from_contacts(
    warehouse: WarehouseResource, tenant_id: str, groups: dict[str, str]
) -> list[dict]:
    """The members of an organisation's active groups as its contacts list them (`ContactGroups`
    on each contact of a paged read, kept in `raw`): no call to Xero. Only right when the contacts
    were all read just now: Xero does not move a contact's UpdatedDateUTC when it joins or
    leaves a group, so an incremental read cannot see membership change."""
    contacts = schema.xero_contacts
    with warehouse.engine.connect() as connection:
        found = connection.execute(
            select(contacts.c.contact_id, contacts.c.name, contacts.c.raw).where(
                contacts.c.tenant_id == tenant_id
            )
        ).all()
    by_id = {group_id.lower(): group_id for group_id in groups}
    rows = []
    for contact_id, name, raw in found:
        for group_id in sorted({by_id[g] for g in listed_groups(raw) if g in by_id}):
            group = {"ContactGroupID": group_id, "Name": groups[group_id]}
            row = member_row(tenant_id, group, {"ContactID": contact_id, "Name": name})
            rows.append({**row, "is_known_contact": True})
    return rows


def listed_groups(raw: Any) -> set[str]:
    """The group ids a contact's raw record lists, lower-cased; nothing from a malformed one."""
    listed = raw.get("ContactGroups") if isinstance(raw, dict) else None
    if not isinstance(listed, list):
        return set()
    return {
        str(g["ContactGroupID"]).lower()
        for g in listed
        if isinstance(g, dict) and g.get("ContactGroupID")
    }


def group_members(
    context: dg.AssetExecutionContext,
    client: Any,
    tenant_id: str,
    group_ids: list[str],
    known: set[tuple[str, str]],
) -> list[dict]:
    """The members of one organisation's groups; a group deleted meanwhile is skipped."""
    rows = []
    for group_id in group_ids:
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
    return rows


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=checks_by_organisation("xero_accounts"),
    description=(
        "The chart of accounts: every account code with its type, class and "
        "status (archived codes kept)."
    ),
)
def xero_accounts(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    def read_rows(t: Tenant) -> Rows:
        found = xero.client.get(t.tenant_id, "Accounts")["Accounts"]
        return [account_row(t.tenant_id, a) for a in found]

    yield from load_each(
        context,
        xero,
        warehouse,
        schema.xero_accounts,
        read_rows,
        mirror=True,
        preview_columns=("code", "name", "type", "class", "status"),
    )


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    check_specs=checks_by_organisation("suppliers"),
    deps=["xero_contacts"],
    description=("Contacts that are suppliers (IsSupplier), from xero_contacts."),
)
def suppliers(
    context: dg.AssetExecutionContext, xero: XeroResource, warehouse: WarehouseResource
) -> Results:
    work = OrganisationWork.start(context, xero, warehouse)
    tenants = work.tenants
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
        organisations=work,
    )
