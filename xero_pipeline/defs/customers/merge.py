"""One computation of the customer merge: the business's list, the selected Xero customers (from
the published mirrors: no API calls), the `customers` table as it is and the decisions people
made in review, turned into a plan (`plan.py`). The preview and the apply each compute it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from xero_pipeline.defs.customers.organisations import known_organisations, resolve
from xero_pipeline.defs.customers.plan import GATE_ONLY, MergePlan, build_plan
from xero_pipeline.defs.customers.settings import MergeSettings
from xero_pipeline.defs.customers.source import ListedCustomer, describe, read_csv, read_source
from xero_pipeline.defs.customers.store import (
    Selection,
    current_customers,
    decisions,
    merge_tenants,
    review_first_seen,
    select_xero_customers,
)
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.xero.client import Tenant
from xero_pipeline.xero.errors import ConfigError
from xero_pipeline.xero.settings import XeroSettings, project_data

SAMPLE_FILE = "sandbox_customers.csv"


@dataclass
class MergeRun:
    """Everything one computation of the plan used, and the plan."""

    settings: MergeSettings
    source: str
    listed: list[ListedCustomer]
    selections: list[Selection]
    current_ids: set[str]
    plan: MergePlan

    @property
    def tenants(self) -> list[Tenant]:
        return [Tenant(s.tenant_id, s.tenant_name) for s in self.selections]


def customer_list(
    settings: MergeSettings, warehouse: WarehouseResource, xero: XeroResource
) -> tuple[list[ListedCustomer], str]:
    """The business's list and where it came from: CUSTOMERS_SOURCE, or the sandbox's sample;
    each row's organisation, if it names one, resolved to its tenant id."""
    if settings.source:
        listed, source = read_source(settings.source, warehouse.engine), describe(settings.source)
    else:
        sample = xero.sample_customer_list(project_data() / SAMPLE_FILE)
        if sample is None:
            raise ConfigError(
                "CUSTOMERS_SOURCE",
                "is not set. With a Xero app the merge needs your existing customer list: a CSV "
                "file path (an id column, customer_id or id, and a name column, name or "
                "customer_name) or table:<name> for a table in the warehouse.",
            )
        listed, source = read_csv(sample), f"the sandbox's sample list ({sample})"
    return resolve(listed, known_organisations(warehouse.engine), source), source


def compute(warehouse: WarehouseResource, xero: XeroResource) -> MergeRun:
    """The plan from the list, the Xero side, the customers table and the decisions."""
    settings = MergeSettings.from_env()  # a bad value stops here, naming the variable
    listed, source = customer_list(settings, warehouse, xero)
    engine = warehouse.engine
    tenants = merge_tenants(engine, XeroSettings.from_env().tenant_ids)
    selections, names = select_xero_customers(engine, tenants, settings.group)
    current = current_customers(engine)
    plan = build_plan(
        current,
        listed,
        [c for s in selections for c in s.contacts],
        decisions=decisions(engine),
        contact_names=names,
        first_seen=review_first_seen(engine),
        now=datetime.now(UTC),
    )
    return MergeRun(settings, source, listed, selections, {r["customer_id"] for r in current}, plan)


def safety_message(run: MergeRun) -> str:
    plan, settings = run.plan, run.settings
    without = [s.tenant_name for s in run.selections if not s.group_found]
    hint = (
        f" Organisations without an active {settings.group!r} contact group select every "
        f"customer: {', '.join(without)}. If that is not intended, create the group in Xero "
        "(or set XERO_CUSTOMER_GROUP to the group's name)."
        if without
        else ""
    )
    return (
        f"The safety rule stopped the customer merge: it would create {plan.created} new "
        f"customers out of {plan.selected} Xero customers selected ({plan.new_share:.0%}), more "
        f"than XERO_NEW_CUSTOMER_LIMIT allows ({settings.new_customer_limit:.0%}). Nothing was "
        f"changed.{hint} To apply it anyway, launch the run with the apply's config "
        "`confirm: true` (in the launchpad: ops: customer_merge_apply: config: confirm: true) "
        "or run `xero-pipeline merge --confirm`."
    )


def strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in GATE_ONLY} for row in rows]
