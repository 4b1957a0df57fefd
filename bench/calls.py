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
per tenant and resource, plus the fixed calls (Organisation, Accounts and ContactGroups). A full
load reads every contact, and a paged read lists each contact's groups, so the members cost no
call of their own. tap-xero reads contacts, invoices and credit notes at 100 a page, stopping at
the first page shorter than that (so n records cost floor(n / 100) + 1 calls), and accounts and
contact groups once (no organisation, no members): its figure here is that, computed rather than
run (no internet here); on the issue's organisations (about 1,150 invoices each) it comes to the
34 calls the issue measured through a counting proxy.

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
RECORDS = {"Contacts": "contacts", "Invoices": "invoices", "CreditNotes": "credit_notes"}


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


def fewest(tenants: list[dict[str, Any]]) -> dict[str, int]:
    """The fewest calls that read these tenants at Xero's 1,000 a page: contacts, invoices and
    credit notes paged, and Organisation, Accounts and ContactGroups once each."""
    pages = {"Contacts": 0, "Invoices": 0, "CreditNotes": 0}
    for tenant in tenants:
        for resource, field in RECORDS.items():
            pages[resource] += max(1, math.ceil(tenant[field] / 1000))
    fixed = 3 * len(tenants)
    return {**pages, "fixed": fixed, "total": sum(pages.values()) + fixed}


def tap_xero(tenants: list[dict[str, Any]]) -> int:
    """tap-xero's calls for the same tenants: 100 a page until a page comes back shorter
    (`tap_xero/streams.py`, PaginatedStream), then Accounts and ContactGroups once each."""
    per_tenant = (
        sum(tenant[field] // 100 + 1 for field in RECORDS.values()) + 2 for tenant in tenants
    )
    return sum(per_tenant)


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
        "floor": fewest(tenants),
        "tap": tap_xero(tenants),
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
            f"{ratio:.2f} | ≤ {TARGET}: {verdict(ratio <= TARGET)} | {tap} | "
            f"{verdict(r['accounting'] < tap)} |"
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

| shape | accounting calls (sandbox's count) | fewest: Σ max(1, ceil(n / 1000)) + fixed | ratio | target | tap-xero (100 a page, floor(n / 100) + 1) | fewer than tap-xero |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{details}

How measured: `bench/calls.py`. "Accounting calls" is what the sandbox counted (`/connections`
and token refreshes are outside Xero's accounting limits and not counted); the endpoint counts
come from the pipeline process (`requests.Session.send` wrapped from outside). Fixed calls:
Organisation, Accounts and ContactGroups once per tenant; the members come with the contacts (a
full load reads them all, each listing its groups), so no group is read on its own. The tap-xero
column is computed, not run: 100 records a page over contacts, invoices and credit notes until a
page comes back short, plus accounts and contact groups, per tenant. Where every resource fits
in one page, both sides need one call per resource: the pipeline's one more is the Organisation
(its short code makes the links into Xero, its base currency the base amounts), which the issue's
tap-xero run did not select; tap-xero's `organisations` stream would add the same call, and it
reads no members at all (the customer merge needs them).
"""


def main() -> None:
    wanted = set(sys.argv[1:]) or {s.name for s in SHAPES}
    results = [measure(shape) for shape in SHAPES if shape.name in wanted]
    print(section(results))


if __name__ == "__main__":
    main()
