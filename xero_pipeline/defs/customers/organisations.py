"""Which Xero organisation each row of the customer list is for.

A list may say per row which organisation a customer belongs to, by tenant id or short code (see
`source`). This resolves those values against every organisation the warehouse knows
(`xero_organisation`; not only those XERO_TENANT_IDS selects: a row for an organisation left out
this run simply meets no contacts). A value that names none stops the merge with an error naming
CUSTOMERS_SOURCE and the row, because merging that row with every organisation, or with none,
would be a guess either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Engine, select

from xero_pipeline.defs.customers.source import ListedCustomer
from xero_pipeline.warehouse.schema import xero_organisation
from xero_pipeline.xero.errors import ConfigError

SHOWN = 10  # organisations an error lists as the ones it could have meant


@dataclass(frozen=True)
class Organisation:
    tenant_id: str
    short_code: str | None = None
    name: str | None = None

    def describe(self) -> str:
        code = f"short code {self.short_code}, " if self.short_code else ""
        return f"{self.name or 'unnamed'} ({code}tenant id {self.tenant_id})"


def known_organisations(engine: Engine) -> list[Organisation]:
    table = xero_organisation
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.tenant_id, table.c.short_code, table.c.name).order_by(
                table.c.name, table.c.tenant_id
            )
        ).all()
    return [Organisation(t, code, name) for t, code, name in rows]


def resolve(
    listed: Sequence[ListedCustomer], organisations: Sequence[Organisation], source: str
) -> list[ListedCustomer]:
    """The list with each row's organisation resolved to its tenant id. A tenant id matches
    ignoring case; a short code exactly, or ignoring case when that still finds only one."""
    by_id = {org.tenant_id.casefold(): org.tenant_id for org in organisations}
    by_code: dict[str, set[str]] = {}
    by_folded_code: dict[str, set[str]] = {}
    for org in organisations:
        if org.short_code and org.short_code.strip():
            by_code.setdefault(org.short_code.strip(), set()).add(org.tenant_id)
            by_folded_code.setdefault(org.short_code.strip().casefold(), set()).add(org.tenant_id)
    out, wrong = [], []
    for item in listed:
        value = item.organisation
        if value is None:
            out.append(item)
            continue
        found = by_code.get(value) or by_folded_code.get(value.casefold(), set())
        tenant_id = by_id.get(value.casefold()) or (next(iter(found)) if len(found) == 1 else None)
        if tenant_id is None:
            wrong.append(item)
        else:
            out.append(replace(item, tenant_id=tenant_id))
    if wrong:
        raise ConfigError("CUSTOMERS_SOURCE", _unknown(wrong, organisations, source))
    return out


def _unknown(
    wrong: list[ListedCustomer], organisations: Sequence[Organisation], source: str
) -> str:
    first = wrong[0]
    more = f" (and {len(wrong) - 1} more rows)" if len(wrong) > 1 else ""
    if not organisations:
        known = "the warehouse has no organisations yet: load the reference data first"
    else:
        known = "the warehouse knows " + "; ".join(o.describe() for o in organisations[:SHOWN])
        if len(organisations) > SHOWN:
            known += f"; and {len(organisations) - SHOWN} more"
    return (
        f"{source}, {first.where}: {first.organisation!r} (customer {first.customer_id}) names "
        f"no organisation in the warehouse{more}. Give the organisation's tenant id or short "
        f"code, or leave the cell empty for a customer of every organisation; {known}. If the "
        "column means something else, rename it."
    )
