"""Accounting calls of a full load, at every size, against the fewest that could read it.

Four shapes, each served by a sandbox in its own process with its limits off, loaded by the
pipeline as `xero-pipeline run` loads it (reference data, then the sales-history backfill of the
organisations' whole history, with the sales tables) in a child process
(`bench/backfill_run.py`, which counts calls from outside the shipped code):
- the sandbox's default organisations (`--size small`: two tenants, 1,200 invoices each);
- the large organisation (100,000 invoices, 5,000 credit notes, 20,000 contacts; one tenant);
- an organisation with ten years of sparse history (a few invoices a month);
- an organisation a month old.

The minimum: every resource read once at Xero's 1,000 a page, Σ max(1, ceil(records / 1000))
per tenant and resource, plus the fixed calls (Organisation, Accounts, ContactGroups and each
active group's members). tap-xero reads contacts, invoices and credit notes at 100 a page, and
accounts and contact groups once (no organisation, no members): its figure here is that,
Σ max(1, ceil(records / 100)) + 2 per tenant, computed rather than run (no internet here); on
the default organisations it comes to the 34 calls the issue measured through a counting
proxy.

Run: `.venv/bin/python bench/calls.py [shape ...]` (the large shape takes about five minutes).
Prints a Markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from benchlib import AS_OF, machine, pg_database, pipeline_env, run_measured, sandbox, verdict

from xero_pipeline.months import month_start

RUNNER = [sys.executable, "bench/backfill_run.py"]
TARGET = 1.05


@dataclass(frozen=True)
class Shape:
    name: str
    label: str
    months: int
    size: str | None = None  # a named sandbox size, or
    orgs: tuple[dict[str, Any], ...] = ()  # custom OrgSpec fields
    first_tenant_only: bool = False


SHAPES = (
    Shape("default", "the default sandbox organisations (2 tenants)", 24, size="small"),
    Shape(
        "sparse",
        "ten years of sparse history (1 tenant, ~4 invoices a month)",
        120,
        orgs=(dict(name="Old Sparse Ltd", contacts=60, invoices=480, credit_notes=24, months=120),),
    ),
    Shape(
        "new",
        "one month of history (1 tenant)",
        1,
        orgs=(dict(name="Brand New Ltd", contacts=20, invoices=30, credit_notes=2, months=1),),
    ),
    Shape("large", "100k invoices (1 tenant)", 60, size="large", first_tenant_only=True),
)


def fewest(tenants: list[dict[str, Any]], page: int, members: bool = True) -> dict[str, int]:
    """The fewest calls that read these tenants' contacts, invoices and credit notes at `page`
    records a page, and the fixed calls beside them: Accounts and ContactGroups, and (the
    pipeline) Organisation and each active group's members."""
    pages = {"Contacts": 0, "Invoices": 0, "CreditNotes": 0}
    fixed = 0
    for tenant in tenants:
        pages["Contacts"] += max(1, math.ceil(tenant["contacts"] / page))
        pages["Invoices"] += max(1, math.ceil(tenant["invoices"] / page))
        pages["CreditNotes"] += max(1, math.ceil(tenant["credit_notes"] / page))
        fixed += 2 + (1 + tenant["active_contact_groups"] if members else 0)
    return {**pages, "fixed": fixed, "total": sum(pages.values()) + fixed}


def measure(shape: Shape) -> dict[str, Any]:
    first = month_start(AS_OF, shape.months - 1)
    with (
        sandbox(size=shape.size, orgs=list(shape.orgs) or None) as served,
        pg_database() as url,
    ):
        tenants = served.state()["tenants"]
        if shape.first_tenant_only:
            tenants = tenants[:1]
        ids = tuple(t["tenant_id"] for t in tenants) if shape.first_tenant_only else ()
        with pipeline_env(served.url, url, f"{first:%Y-%m}", ids) as env:
            command = [*RUNNER, "full", "--from", f"{first:%Y-%m}", "--to", f"{AS_OF:%Y-%m}"]
            report, _ = run_measured([*command, "--minute-limit", str(10**6)], env)
        counted = served.calls()
    spent = {**report["reference_calls"]}
    for name, n in report["backfill_calls"].items():
        spent[name] = spent.get(name, 0) + n
    documents = spent.get("Invoices", 0) + spent.get("CreditNotes", 0)
    return {
        "shape": shape,
        "tenants": tenants,
        "spent": spent,
        "accounting": counted,
        "documents": documents,
        "floor": fewest(tenants, 1000),
        "tap": fewest(tenants, 100, members=False),
    }


def section(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        floor, tap = r["floor"], r["tap"]
        ratio = r["accounting"] / floor["total"]
        doc_floor = floor["Invoices"] + floor["CreditNotes"]
        rows.append(
            f"| {r['shape'].label} | {r['accounting']} (invoices and credit notes "
            f"{r['documents']}) | {floor['total']} (invoices and credit notes {doc_floor}) | "
            f"{ratio:.2f} | ≤ {TARGET}: {verdict(ratio <= TARGET)} | {tap['total']} | "
            f"{verdict(r['accounting'] < tap['total'])} |"
        )
    details = "\n".join(
        f"- {r['shape'].label}: "
        + ", ".join(
            f"{t['name']}: {t['invoices']:,} invoices, {t['credit_notes']:,} credit notes, "
            f"{t['contacts']:,} contacts, {t['contact_groups']} groups"
            for t in r["tenants"]
        )
        + f"; calls by endpoint {dict(sorted(r['spent'].items()))}"
        for r in results
    )
    return f"""## Accounting calls of a full load, at every size

{machine()}. Each shape served by a sandbox process (limits off), loaded into PostgreSQL by a
child process as `xero-pipeline run` loads it: reference data, then the whole history in one
backfill (one sweep per tenant and resource, months published as the sweep passes them), with
the sales tables. One run each (calls do not vary between runs).

| shape | accounting calls (sandbox's count) | fewest: Σ max(1, ceil(n / 1000)) + fixed | ratio | target | tap-xero (100 a page) | fewer than tap-xero |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{details}

How measured: `bench/calls.py`. "Accounting calls" is what the sandbox counted (`/connections`
and token refreshes are outside Xero's accounting limits and not counted); the endpoint counts
come from the pipeline process (`requests.Session.send` wrapped from outside). Fixed calls:
Organisation, Accounts and ContactGroups once per tenant, and one members read per active
contact group. The tap-xero column is computed, not run: its 100 records a page over contacts,
invoices and credit notes, plus accounts and contact groups, per tenant.
"""


def main() -> None:
    wanted = set(sys.argv[1:]) or {s.name for s in SHAPES}
    results = [measure(shape) for shape in SHAPES if shape.name in wanted]
    print(section(results))


if __name__ == "__main__":
    main()
