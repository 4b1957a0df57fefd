"""What the warehouse holds, per table and tenant: printed at the end of `make run`."""

from __future__ import annotations

from sqlalchemy import create_engine, func, inspect, select

from xero_pipeline.warehouse.schema import metadata, xero_organisation

SUMMARY_TABLES = (
    "xero_organisation",
    "xero_contacts",
    "xero_contact_groups",
    "xero_contact_group_members",
    "xero_accounts",
    "suppliers",
)


def loaded_summary(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("xero_organisation"):
                return "(the warehouse is empty)"
            names = dict(
                connection.execute(
                    select(xero_organisation.c.tenant_id, xero_organisation.c.name)
                ).all()
            )
            counts: dict[str, dict[str, int]] = {}
            for name in SUMMARY_TABLES:
                table = metadata.tables[name]
                for tenant_id, count in connection.execute(
                    select(table.c.tenant_id, func.count()).group_by(table.c.tenant_id)
                ):
                    counts.setdefault(tenant_id, {})[name] = count
    finally:
        engine.dispose()
    width = max(len(t) for t in SUMMARY_TABLES)
    lines = []
    for tenant_id, tables in counts.items():
        lines.append(f"{names.get(tenant_id, '?')}  (tenant {tenant_id})")
        lines += [f"  {name:<{width}} {tables.get(name, 0):>7}" for name in SUMMARY_TABLES]
    return "\n".join(lines)
