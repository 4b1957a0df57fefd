"""Shared by the sales, notification and docs tests: a small sandbox organisation with every
status, tax mode and currency; running the real assets against it; and the expected sales
computed independently, from the sandbox's own documents (its store), never from the warehouse.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import dagster as dg
from sqlalchemy import create_engine, text

from xero_pipeline.definitions import defs as pipeline_defs
from xero_pipeline.defs.history.partitions import sales_months
from xero_pipeline.defs.history.schedules import MONTHLY_SALES_ASSETS
from xero_pipeline.months import month_start
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.sandbox import Sandbox
from xero_pipeline.sandbox.generator import OrgSpec

CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")
RAISED = ("AUTHORISED", "PAID")


def org_specs(months: int = 6) -> tuple[OrgSpec, ...]:
    """Two organisations (NZD and AUD base, each with foreign-currency documents), every status
    and every tax mode: enough documents over a few months, small enough to run in seconds."""
    shape = dict(contacts=30, invoices=150, credit_notes=40, months=months, max_lines=4)
    return (
        OrgSpec(name="Sales One Ltd", customer_group=None, **shape),
        OrgSpec(
            name="Sales Two Pty Ltd",
            country="AU",
            base_currency="AUD",
            customer_group=None,
            **shape,
        ),
    )


def pipeline_definitions(
    resources: dict[str, Any], jobs: list[Any] | None = None
) -> dg.Definitions:
    """The code location's assets, jobs (plus `jobs`) and executor (steps one after the other,
    in the run's process, as in production), bound to a test's own resources."""
    return dg.Definitions(
        assets=list(pipeline_defs.assets or []),
        jobs=[*(pipeline_defs.jobs or []), *(jobs or [])],
        resources=resources,
        executor=pipeline_defs.executor,
    )


class Pipeline:
    """The real assets (reference data, history, sales) against one warehouse, for months from
    `start`; jobs run in-process with real resources, optionally on a given Dagster instance."""

    def __init__(self, url: str, start: date, instance: dg.DagsterInstance | None = None) -> None:
        self.url, self.start, self.instance = url, start, instance
        self.partitions = sales_months
        self.defs = pipeline_definitions(
            {"xero": XeroResource(), "warehouse": WarehouseResource(url=url)},
            jobs=[
                dg.define_asset_job(
                    "history_only",
                    selection=dg.AssetSelection.groups("xero_history"),
                    partitions_def=sales_months,
                ),
                dg.define_asset_job(
                    "monthly_sales",
                    selection=dg.AssetSelection.assets(*MONTHLY_SALES_ASSETS),
                    partitions_def=sales_months,
                ),
            ],
        )

    def job(self, name: str, first: str | None = None, last: str | None = None, **kwargs: Any):
        tags = {}
        if first:
            tags = {
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last or first,
            }
        kwargs.setdefault("raise_on_error", True)
        if self.instance is not None:
            kwargs.setdefault("instance", self.instance)
        return self.defs.resolve_job_def(name).execute_in_process(tags=tags, **kwargs)

    def load_everything(self, last: str) -> None:
        """Reference data, every month's history with its fact and rollup, then the marts."""
        self.job("reference_data")
        self.job("sales_history", self.start.isoformat(), last)
        self.job("sales_marts")


def query(url: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params or {})]
    finally:
        engine.dispose()


def execute(url: str, sql: str, params: dict[str, Any] | None = None) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(sql), params or {})
    finally:
        engine.dispose()


def dec(value: Any) -> Decimal:
    """A warehouse number as a Decimal (SQLite hands back floats, PostgreSQL Decimals)."""
    return Decimal(str(value)) if value is not None else Decimal(0)


def day(value: Any) -> str:
    return str(value)[:10]


@dataclass(frozen=True)
class SandboxLine:
    """One sales line as the sandbox holds it, with the amounts worked out here, by the rules
    in the issue (net = LineAmount, less TaxAmount when Inclusive; base = net / CurrencyRate)."""

    tenant_id: str
    document_type: str
    document_id: str
    number: str
    line_number: int
    contact_id: str
    code: str
    date: date
    net: Decimal
    tax: Decimal
    base: Decimal
    currency: str
    status: str

    @property
    def month(self) -> str:
        return self.date.replace(day=1).isoformat()


@dataclass
class Coverage:
    statuses: set = field(default_factory=set)  # every ACCREC status seen, included or not
    amount_types: set = field(default_factory=set)  # of included documents
    foreign: int = 0  # included documents not in the base currency
    credit_notes: int = 0  # included credit notes


def sandbox_sales_lines(
    sandbox: Sandbox, first: date, last: date, coverage: Coverage | None = None
) -> list[SandboxLine]:
    """Every line of approved sales invoices and credit notes dated first..last's month."""
    end = month_start(last, -1)
    lines = []
    for tenant in sandbox.tenants.values():
        base_currency = tenant.organisation["BaseCurrency"]
        for resource, type_, sign in (("Invoice", "ACCREC", 1), ("CreditNote", "ACCRECCREDIT", -1)):
            documents = tenant.collection(resource)
            for position in range(len(documents)):
                doc = documents.record(position, with_lines=True)
                if doc["Type"] != type_ or not first <= doc["Date"] < end:
                    continue
                if coverage is not None and type_ == "ACCREC":
                    coverage.statuses.add(doc["Status"])
                if doc["Status"] not in RAISED:
                    continue
                if coverage is not None:
                    coverage.amount_types.add(doc["LineAmountTypes"])
                    coverage.foreign += doc["CurrencyCode"] != base_currency
                    coverage.credit_notes += type_ == "ACCRECCREDIT"
                rate = Decimal(str(doc["CurrencyRate"] or 1))
                for number, item in enumerate(doc["LineItems"], start=1):
                    amount, tax = Decimal(str(item["LineAmount"])), Decimal(str(item["TaxAmount"]))
                    net = amount - tax if doc["LineAmountTypes"] == "Inclusive" else amount
                    lines.append(
                        SandboxLine(
                            tenant_id=tenant.tenant_id,
                            document_type=type_,
                            document_id=doc[f"{resource}ID"],
                            number=doc[f"{resource}Number"],
                            line_number=number,
                            contact_id=doc["Contact"]["ContactID"],
                            code=item["AccountCode"],
                            date=doc["Date"],
                            net=sign * net,
                            tax=sign * tax,
                            base=sign * net / rate,
                            currency=doc["CurrencyCode"],
                            status=doc["Status"],
                        )
                    )
    return lines


@dataclass
class Group:
    net: Decimal = Decimal(0)
    documents: set = field(default_factory=set)
    lines: int = 0
    contacts: set = field(default_factory=set)


def rollup(lines: list[SandboxLine], key=lambda line: (line.tenant_id, line.month, line.code)):
    """Sales lines added up by `key`: base-currency net, documents, lines, contacts."""
    groups: dict[Any, Group] = defaultdict(Group)
    for line in lines:
        group = groups[key(line)]
        group.net += line.base
        group.documents.add(line.document_id)
        group.lines += 1
        group.contacts.add(line.contact_id)
    return dict(groups)


def assert_sales_equal_the_sandbox(sandbox: Sandbox, url: str, first: date, last: date) -> None:
    """The fact (every line, its month and net amount) and the rollup's document counts equal
    what the sandbox's approved sales documents of first..last's month say."""
    lines = sandbox_sales_lines(sandbox, first, last)
    facts = query(
        url,
        "SELECT tenant_id, COALESCE(invoice_id, credit_note_id), line_number, month, net_amount "
        "FROM fct_sales_lines",
    )
    assert sorted((t, d, n, day(m), dec(a).quantize(CENT)) for t, d, n, m, a in facts) == sorted(
        (x.tenant_id, x.document_id, x.line_number, x.month, x.net) for x in lines
    )
    rows = query(
        url,
        "SELECT tenant_id, month, account_code, invoice_count FROM sales_by_account_code_monthly",
    )
    assert {(t, day(m), c): n for t, m, c, n in rows} == {
        key: len(group.documents) for key, group in rollup(lines).items()
    }
