"""Calls and bytes per organisation per day once history is loaded, with the default schedules:
the sync every 15 minutes, reference data daily, the reconciliation nightly (or weekly).

The sandbox's default organisations (two tenants) are loaded in full; then, in child processes
as the schedules launch them (`bench/backfill_run.py steady`): a sync with nothing changed (the
empty poll that 95 of the day's 96 syncs are), the day's changes made in the sandbox (per
tenant: new invoices, payments, a credit note, a renamed contact), a sync that brings them,
the reference-data refresh and the reconciliation of the trailing months. The day is then
95 empty polls + one sync with the changes + one refresh + one reconciliation (or a seventh of
one, weekly). Bytes are response bodies as received.

Run: `.venv/bin/python bench/steady_state.py` (about two minutes). Prints a Markdown section.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Any

import psycopg2
import requests
from benchlib import AS_OF, machine, pg_database, pipeline_env, run_measured, sandbox
from sqlalchemy.engine import make_url

from xero_pipeline.configuration import reconcile_months
from xero_pipeline.months import month_start

RUNNER = [sys.executable, "bench/backfill_run.py"]
SYNCS_A_DAY = 96
NEW_INVOICES, PAYMENTS = 4, 4  # per tenant and day: the default organisations raise ~2.5 a day


def rows(url: str, sql: str, *params: Any) -> list[tuple]:
    parsed = make_url(url)
    with (
        psycopg2.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
        return cursor.fetchall()


def edit(sandbox_url: str, tenant: int, op: str, **args: Any) -> None:
    response = requests.post(
        f"{sandbox_url}/__sandbox/edit",
        data=json.dumps({"tenant": tenant, "op": op, "args": args}),
        timeout=30,
    )
    response.raise_for_status()


def a_days_changes(sandbox_url: str, warehouse: str, tenant_ids: list[str]) -> int:
    """The day's changes in every tenant; returns how many records changed."""
    requests.post(f"{sandbox_url}/__sandbox/clock", json={"advance_seconds": 3600}, timeout=30)
    changed = 0
    for index, tenant_id in enumerate(tenant_ids):
        contacts = rows(
            warehouse,
            "SELECT contact_id FROM xero_contacts WHERE tenant_id = %s AND is_customer "
            "ORDER BY contact_id LIMIT 2",
            tenant_id,
        )
        due = rows(
            warehouse,
            "SELECT invoice_id FROM xero_invoices WHERE tenant_id = %s AND type = 'ACCREC' "
            "AND status = 'AUTHORISED' ORDER BY date DESC LIMIT %s",
            tenant_id,
            PAYMENTS,
        )
        for n in range(NEW_INVOICES):
            edit(
                sandbox_url,
                index,
                "add_document",
                resource="Invoice",
                contact_id=contacts[n % len(contacts)][0],
                day=(AS_OF - timedelta(days=n % 3)).isoformat(),
                lines=[{"AccountCode": "200", "UnitAmount": "120.00", "Quantity": "2"}],
            )
        for (invoice_id,) in due:
            edit(sandbox_url, index, "set_document_status", resource="Invoice",
                 doc_id=invoice_id, status="PAID")  # fmt: skip
        edit(
            sandbox_url,
            index,
            "add_document",
            resource="CreditNote",
            contact_id=contacts[0][0],
            day=AS_OF.isoformat(),
            lines=[{"AccountCode": "200", "UnitAmount": "40.00"}],
        )
        edit(sandbox_url, index, "update_contact", contact_id=contacts[1][0], Name="Renamed Ltd")
        changed += NEW_INVOICES + len(due) + 2
    return changed


IDENTITY = ("connections", "token")  # Xero's identity API: outside the accounting limits


def total(measured: dict[str, Any], what: str) -> int:
    """Accounting calls (`calls`), or every byte received (`bytes`)."""
    counts = measured[what]
    return sum(v for k, v in counts.items() if what == "bytes" or k not in IDENTITY)


def main() -> None:
    first = month_start(AS_OF, 23)
    with sandbox(size="small") as served, pg_database() as url:
        tenants = served.state()["tenants"]
        with pipeline_env(served.url, url, f"{first:%Y-%m}") as env:
            base = [*RUNNER, "full", "--from", f"{first:%Y-%m}", "--to", f"{AS_OF:%Y-%m}"]
            run_measured([*base, "--minute-limit", str(10**6)], env)
            idle, _ = run_measured([*RUNNER, "steady", "--jobs", "sync"], env)
            changed = a_days_changes(served.url, url, [t["tenant_id"] for t in tenants])
            day, _ = run_measured([*RUNNER, "steady", "--jobs", "sync,reference,reconcile"], env)
    empty, busy = idle["steady"]["sync"], day["steady"]["sync"]
    reference, reconcile = day["steady"]["reference"], day["steady"]["reconcile"]
    n = len(tenants)

    def per_org(calls: float, size: float) -> tuple[float, float]:
        return calls / n, size / n

    parts = {
        "sync, 95 empty polls": per_org(
            (SYNCS_A_DAY - 1) * total(empty, "calls"), (SYNCS_A_DAY - 1) * total(empty, "bytes")
        ),
        "sync that brings the day's changes": per_org(total(busy, "calls"), total(busy, "bytes")),
        "reference data, daily": per_org(total(reference, "calls"), total(reference, "bytes")),
    }
    nightly = per_org(total(reconcile, "calls"), total(reconcile, "bytes"))
    weekly = (nightly[0] / 7, nightly[1] / 7)
    lines = []
    for label, reconciliation in (("nightly", nightly), ("weekly", weekly)):
        calls = sum(c for c, _ in parts.values()) + reconciliation[0]
        size = sum(b for _, b in parts.values()) + reconciliation[1]
        lines.append(
            f"| reconciliation {label} | {calls:,.0f} | {size / 1024:,.0f} KiB | "
            f"{reconciliation[0]:,.1f} calls ({reconciliation[0] / calls:.0%}), "
            f"{reconciliation[1] / 1024:,.0f} KiB ({reconciliation[1] / size:.0%}) |"
        )
    breakdown = "\n".join(
        f"| {label} | {calls:,.1f} | {size / 1024:,.1f} KiB |"
        for label, (calls, size) in {**parts, "reconciliation (one)": nightly}.items()
    )
    changed_bytes = total(busy, "bytes") - total(empty, "bytes")
    print(f"""## Steady state: calls and bytes per organisation per day

{machine()}. The sandbox's default organisations ({n} tenants, 1,200 invoices each over 24
months), loaded in full; then each default schedule's job once, as the schedule launches it, in
a child process (`bench/backfill_run.py steady`). The day's changes, per tenant:
{NEW_INVOICES} new invoices, {PAYMENTS} invoices paid, a credit note, a contact renamed
({changed} records in all). The reconciliation re-reads the trailing {reconcile_months()} months
(XERO_RECONCILE_MONTHS). One run.

| a day, per organisation | accounting calls | bytes received | of which the reconciliation |
|---|---|---|---|
{chr(10).join(lines)}

| part, per organisation | accounting calls | bytes |
|---|---|---|
{breakdown}

The day's changed records cost {changed_bytes / n / 1024:,.1f} KiB per organisation above an empty
poll (what a sync with nothing to bring receives: {total(empty, "bytes") / n:,.0f} bytes in
{total(empty, "calls") / n:.0f} calls). Calls by endpoint: empty poll {empty["calls"]}; the busy
sync {busy["calls"]}; reference data {reference["calls"]}; reconciliation {reconcile["calls"]}.

How measured: `bench/steady_state.py`; bytes are response bodies as the client received them
(`requests.Session.send` wrapped from outside the shipped code), the identity API's
`/connections` and token refreshes (one each a run, shared by the organisations) included;
calls are accounting calls only. The reconciliation exists for what the sync cannot see (Xero does not stamp
a re-coded line, a part-paid invoice's DueDate); run weekly
(`XERO_RECONCILE_SCHEDULE="0 2 * * 0"`), such a correction waits up to a week instead of a night.
""")


if __name__ == "__main__":
    main()
