"""A full backfill of a large organisation into PostgreSQL: API calls against the minimum, peak
memory, an incremental run with nothing changed, and the sales tables rebuilt against the same
SQL written by hand.

One large organisation (the sandbox's `large` size: 20,000 contacts, 100,000 invoices with about
a million lines and 5,000 credit notes over 60 months; `XERO_TENANT_IDS` picks the first of its
two tenants), served by `xero-pipeline sandbox --no-limits` in its own process. The pipeline
runs as `xero-pipeline run` does (reference data, then the sales-history backfill with the fact
and rollup) in a child process (`bench/backfill_run.py`), so its peak memory is its own.

Run: `.venv/bin/python bench/backfill.py` (about ten minutes). Prints Markdown sections for
bench/RESULTS.md.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import psycopg2
from benchlib import (
    AS_OF,
    machine,
    pg_database,
    pipeline_env,
    run_measured,
    sandbox,
    spread,
    verdict,
)
from sqlalchemy.engine import make_url

from xero_pipeline.defs.sales.queries import sql
from xero_pipeline.months import month_start

MONTHS = 60
FIRST = month_start(AS_OF, MONTHS - 1)
RUNNER = ["bench/backfill_run.py"]
SALES_RUNS = 3  # the pipeline's rebuild of all 60 months, and the hand-written SQL, each
HAND_RUNS = 3


def runner(mode: str, *extra: str, limits_off: bool = True) -> list[str]:
    """The child process's command; with the sandbox's limits off, the client's own governor
    is opened up too (it would otherwise pace the run at Xero's 60 calls a minute)."""
    budget = ["--minute-limit", str(10**6)] if limits_off else []
    return [sys.executable, *RUNNER, mode, *extra, *budget]


def pg(url: str) -> Any:
    parsed = make_url(url)
    return psycopg2.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
    )


def per_month_counts(url: str, table: str, tenant_id: str) -> list[int]:
    with pg(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"SELECT date_trunc('month', date), count(*) FROM {table} "
            "WHERE tenant_id = %s GROUP BY 1 ORDER BY 1",
            (tenant_id,),
        )
        found = {row[0].date(): row[1] for row in cursor.fetchall()}
    return [found.get(month_start(AS_OF, back), 0) for back in range(MONTHS - 1, -1, -1)]


def scalar(url: str, sql: str, *params: Any) -> Any:
    with pg(url) as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def hand_written_rebuild(url: str) -> float:
    """The fact and the rollup for every month in one INSERT … SELECT each, written by hand from
    the same SELECTs (the month computed in SQL instead of bound per month), into the same
    tables emptied first (TRUNCATE), in one transaction that is rolled back afterwards."""
    fact = (
        sql("fct_sales_lines")
        .replace(":month AS month", "CAST(date_trunc('month', d.date) AS date) AS month")
        .replace("AND h.date >= :start AND h.date < :end", "")
    )
    rollup = sql("sales_by_account_code_monthly").replace("WHERE f.month = :month", "")
    assert ":" not in fact.split("--")[0] and ":month" not in rollup
    columns = scalar(
        url,
        "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) "
        "FROM information_schema.columns WHERE table_name = 'fct_sales_lines'",
    )
    rollup_columns = scalar(
        url,
        "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) "
        "FROM information_schema.columns WHERE table_name = 'sales_by_account_code_monthly'",
    )
    with pg(url) as connection, connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("TRUNCATE fct_sales_lines, sales_by_account_code_monthly")
        cursor.execute(f"INSERT INTO fct_sales_lines ({columns}) {fact}")
        cursor.execute(f"INSERT INTO sales_by_account_code_monthly ({rollup_columns}) {rollup}")
        seconds = time.perf_counter() - started
        connection.rollback()
    return seconds


def accounting(calls: dict[str, int]) -> dict[str, int]:
    """Calls to the accounting API, which Xero's limits count: not `/connections` (identity)
    nor the token endpoint."""
    return {k: v for k, v in calls.items() if k not in ("connections", "token")}


def minimum_calls(counts: list[int]) -> int:
    """Xero's fewest calls for one paged read per month: ceil(n / 1000), one when empty."""
    return sum(max(1, math.ceil(n / 1000)) for n in counts)


def main() -> None:
    global MONTHS, FIRST
    header = machine()
    last = f"{AS_OF:%Y-%m}"
    size, orgs = "large", None
    if "--quick" in sys.argv:  # while working on this script: a 3-month organisation
        MONTHS, size = 3, None
        FIRST = month_start(AS_OF, MONTHS - 1)
        orgs = [dict(name="Quick", contacts=2000, invoices=5000, credit_notes=250, months=3)]
    with sandbox(size, orgs) as xero, pg_database() as url:
        tenant = xero.state()["tenants"][0]
        tenant_id = tenant["tenant_id"]
        with pipeline_env(xero.url, url, f"{FIRST:%Y-%m}", (tenant_id,)) as env:
            full, peak = run_measured(runner("full", "--from", f"{FIRST:%Y-%m}", "--to", last), env)
            calls_full = xero.calls()
            invoices = per_month_counts(url, "xero_invoices", tenant_id)
            credits = per_month_counts(url, "xero_credit_notes", tenant_id)
            lines = scalar(url, "SELECT count(*) FROM xero_invoice_lines")
            lines += scalar(url, "SELECT count(*) FROM xero_credit_note_lines")
            fact_rows = scalar(url, "SELECT count(*) FROM fct_sales_lines")
            contacts = scalar(url, "SELECT count(*) FROM xero_contacts")
            groups = scalar(url, "SELECT count(*) FROM xero_contact_groups")
            before = xero.calls()
            incremental, _ = run_measured(runner("incremental"), env)
            calls_incremental = xero.calls() - before
            sales_runs = []
            for _ in range(SALES_RUNS):
                done, _ = run_measured(
                    runner("sales", "--from", f"{FIRST:%Y-%m}", "--to", last), env
                )
                sales_runs.append(done["sales_s"])
            hand_runs = [hand_written_rebuild(url) for _ in range(HAND_RUNS)]
    report(
        header,
        tenant,
        full,
        peak,
        calls_full,
        invoices,
        credits,
        lines,
        fact_rows,
        contacts,
        groups,
        incremental,
        calls_incremental,
        sales_runs,
        hand_runs,
    )


def report(
    header: str,
    tenant: dict[str, Any],
    full: dict[str, Any],
    peak: float,
    calls_full: int,
    invoices: list[int],
    credits: list[int],
    lines: int,
    fact_rows: int,
    contacts: int,
    groups: int,
    incremental: dict[str, Any],
    calls_incremental: int,
    sales_runs: list[float],
    hand_runs: list[float],
) -> None:
    ref, fill = accounting(full["reference_calls"]), accounting(full["backfill_calls"])
    history_calls = fill.get("Invoices", 0) + fill.get("CreditNotes", 0)
    per_read = minimum_calls(invoices) + minimum_calls(credits)
    floor = math.ceil(sum(invoices) / 1000) + math.ceil(sum(credits) / 1000)
    fixed = ref.get("Organisation", 0) + ref.get("ContactGroups", 0) + ref.get("Accounts", 0)
    contact_min = max(1, math.ceil(contacts / 1000))
    spent = sum(ref.values()) + sum(fill.values())
    minimum = floor + contact_min + fixed  # the members come with the contacts, read in full
    sync, ref_again = incremental["sync_calls"], incremental["reference_calls"]
    resources_again = accounting({**ref_again, **sync})
    # Invoices and CreditNotes; Organisation, Contacts, ContactGroups, Accounts; each group.
    expected_again = 2 + 4 + groups
    sales, hand = sorted(sales_runs)[len(sales_runs) // 2], sorted(hand_runs)[len(hand_runs) // 2]
    print(f"""
## Full backfill of a large organisation (PostgreSQL)

{header}. One organisation of the sandbox's `large` size (the first tenant, by
`XERO_TENANT_IDS`): {contacts:,} contacts, {sum(invoices):,} invoices and {sum(credits):,}
credit notes over {MONTHS} months, {lines:,} document lines ({fact_rows:,} of them sales lines
in `fct_sales_lines`). Limits off; the sandbox in its own process; the pipeline in a child
process as `xero-pipeline run` runs it: reference data, then the sales-history backfill (one
Dagster run sweeping the months, each gated and published as the sweep passes it, the next
month read ahead) with the fact and rollup rebuilt per month. The client's own governor is opened up as well (otherwise it
paces the run at Xero's 60 calls a minute; see the next section for that). A single run (it
takes minutes).

| figure | value | limit | ratio | target |
|---|---|---|---|---|
| API calls, whole backfill (reference data + history) | {spent:,} | minimum {minimum:,} | {spent / minimum:.3f} | ≤ 1.05: {verdict(spent <= 1.05 * minimum)} |
| API calls, invoices and credit notes | {history_calls:,} | floor {floor:,} (ceil(invoices/1000) + ceil(credit notes/1000), one read for all history); one read per month would need {per_read:,} | {history_calls / floor:.2f} | ≤ 1.05: {verdict(history_calls <= 1.05 * floor)} |
| API calls, reference data | {sum(ref.values()):,} | {contact_min + fixed:,} (contacts ceil({contacts:,}/1000) = {contact_min}, Organisation, ContactGroups, Accounts; the {groups} group(s)' members listed on the contacts) | {sum(ref.values()) / (contact_min + fixed):.2f} | — |
| API calls, incremental run with nothing changed (reference data + sales sync) | {calls_incremental} | one per resource: {expected_again} | {calls_incremental / expected_again:.2f} | exactly 1: {verdict(calls_incremental == expected_again)} |
| peak memory of the backfill process (max RSS) | {peak:,.0f} MiB | 1 GiB | {peak / 1024:.2f} | ≤ 1: {verdict(peak <= 1024)} |
| wall time, limits off: reference data | {full["reference_s"]:.0f} s | — | — | — |
| wall time, limits off: backfill (history, then the sales tables) | {full["backfill_s"]:.0f} s (history {full["history_s"]:.0f} s) | — | — | — |

Calls per endpoint, counted by the client (`requests.Session.send` wrapped from outside):
reference data {ref}; backfill {fill}; besides, {full["reference_calls"].get("connections", 0) + full["backfill_calls"].get("connections", 0)} calls to
`/connections` (Xero's identity API, outside the accounting limits) and the token refreshes. The sandbox counted {calls_full:,}
accounting calls in all.

History is read in **one sweep** per resource (`defs/history/sweep.py`): the whole range in date
order, 1000 a page, each month gated and committed as soon as the sweep has passed it. The sweep
pages by keyset and re-reads the records of each page's boundary second, which now and then
pushes a resource's last page over: that is the difference from the floor.

Incremental run with nothing changed, per endpoint: {resources_again} (plus
{ref_again.get("connections", 0) + sync.get("connections", 0)} `/connections`). Every resource
is asked once: contacts and documents with `If-Modified-Since` from the committed watermark (an
empty page), the small lists in full, and each group for its members (an incremental read of
contacts cannot see who joined or left a group: Xero does not stamp the contact).

## Sales tables rebuilt for about a million lines (PostgreSQL)

Same database, after the backfill: `fct_sales_lines` ({fact_rows:,} rows) and
`sales_by_account_code_monthly` rebuilt for all {MONTHS} months.

| figure | value | compared with | ratio | target |
|---|---|---|---|---|
| the pipeline's rebuild (Dagster run of both assets; per month: stage in SQL, gate, replace) | {spread(sales_runs)} | the same two `INSERT … SELECT`s written by hand, one statement each for all months: {spread(hand_runs)} | {sales / hand:.2f} | ≤ 1.5: {verdict(sales <= 1.5 * hand)} |

How measured: the pipeline's figure is a child process materializing both assets for the 60
partitions in one run (`BackfillPolicy.single_run`), from the start of the run to its end
(Dagster's run overhead included). The hand-written figure is `TRUNCATE` of both tables, then
`fct_sales_lines.sql` with the month computed in SQL (`date_trunc`) and no month filter, then the
rollup's `GROUP BY` over all months, in one transaction on one connection (rolled back after
timing). What the pipeline does beyond that SQL: per month, the SELECT staged into a temporary
copy, the suite judged on it in one SQL query (`quality/in_warehouse.py`, with the gate's facts
of `fct_sales_lines_gate.sql` inside it: each line traced to its published document line, each
document's lines summed against its SubTotal, the key's duplicates counted), a summary query for
the run's metadata, and the month's DELETE and INSERT from the copy.
""")


if __name__ == "__main__":
    main()
