"""The client with limits off: invoices read, parsed and staged per second, against the sandbox
serving the same pages to a client that only reads the bytes.

The sandbox (`xero-pipeline sandbox --size large --no-limits`, its own process) serves the 12
most recent months of the first large organisation (~20,000 invoices, ~200,000 lines), read as
the backfill reads them: one sweep of the whole range (`defs/history/sweep.py`, 1000 a page, in
date order, by keyset), a month handed out as soon as the sweep has passed it.

- the pipeline's client: `Sweep` over `XeroClient.sweep` (governor, retries, JSON with exact
  decimals) → header and line rows (`/Date(…)/`, amounts, links) → staged in PostgreSQL as the
  publish stages them (`row_hash`, COPY into a temporary copy of the table), month by month, the
  next month read ahead while this one is staged (`defs/history/read_ahead.py`).
- bytes only: `requests` asks for the very pages the pipeline's client asked for, in the same
  order (their URLs recorded from its session), and reads each body; nothing else. What the
  sandbox and HTTP alone allow.

Run: `.venv/bin/python bench/client_throughput.py` (a few minutes). Prints a Markdown section.
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from benchlib import AS_OF, machine, pg_database, sandbox, spread, verdict

from xero_pipeline.defs.history.read_ahead import read_ahead
from xero_pipeline.defs.history.sweep import Sweep
from xero_pipeline.months import month_start
from xero_pipeline.resources import sandbox_settings
from xero_pipeline.sandbox.consent import sandbox_token
from xero_pipeline.warehouse.engine import connect
from xero_pipeline.warehouse.schema import xero_invoice_lines, xero_invoices
from xero_pipeline.warehouse.staging import stage
from xero_pipeline.warehouse.values import row_hash
from xero_pipeline.xero.auth import TokenProvider
from xero_pipeline.xero.client import Tenant, XeroClient
from xero_pipeline.xero.governor import Limits
from xero_pipeline.xero.rows import INVOICES

MONTHS = 12
RUNS = 3
TARGET = 0.5


def months() -> list[tuple]:
    return [
        (month_start(AS_OF, back), month_start(AS_OF, back - 1)) for back in range(MONTHS, 0, -1)
    ]


def bytes_only(base: str, tenant_id: str, urls: list[str]) -> tuple[float, int]:
    """Seconds to ask for these pages one after the other and read each body; invoices in them."""
    session = requests.Session()
    headers = {
        "Authorization": f"Bearer {sandbox_token(session, base)}",
        "Xero-tenant-id": tenant_id,
    }
    started, invoices = time.perf_counter(), 0
    for url in urls:
        body = session.get(url, headers=headers, timeout=120).content
        invoices += body.count(b'"InvoiceID"')
    return time.perf_counter() - started, invoices


def pipeline_client(client: XeroClient, tenant: Tenant, engine) -> tuple[float, int, int, list]:
    """Seconds to sweep, parse and stage every month; invoices, lines, and the URLs asked."""
    asked: list[str] = []

    def record(response: requests.Response, *args: object, **kwargs: object) -> None:
        asked.append(response.request.url)

    client.session.hooks["response"].append(record)
    sweep = Sweep(client, INVOICES, tenant, "!bench", months()[0][0], months()[-1][1])

    def read(month: tuple, stop: threading.Event) -> tuple[list, list]:
        found = sweep.month(*month, stop=stop)
        return found.headers, found.lines

    started, invoices, lines = time.perf_counter(), 0, 0
    with engine.connect() as connection:
        for _, (headers, rows) in read_ahead(months(), read):
            with connection.begin() as transaction:
                now = datetime.now(UTC)
                for table, batch in ((xero_invoices, headers), (xero_invoice_lines, rows)):
                    staged = stage(connection, table, batch, [row_hash(r) for r in batch], now)
                    staged.drop(connection)
                transaction.rollback()
            invoices, lines = invoices + len(headers), lines + len(rows)
    seconds = time.perf_counter() - started
    client.session.hooks["response"].remove(record)
    return seconds, invoices, lines, asked


def main() -> None:
    header = machine()
    with sandbox("large") as xero, pg_database() as url, tempfile.TemporaryDirectory() as folder:
        tenant_id = xero.state()["tenants"][0]["tenant_id"]
        settings = sandbox_settings(xero.url, Path(folder))
        client = XeroClient(settings, TokenProvider(settings), limits=Limits(per_minute=10**6))
        tenant = Tenant(tenant_id, "bench")
        engine = connect(url)
        bare, ours = [], []
        for _ in range(RUNS):  # alternated, so that both see the same machine
            seconds, invoices, lines, urls = pipeline_client(client, tenant, engine)
            ours.append(invoices / seconds)
            seconds, served = bytes_only(xero.url, tenant_id, urls)
            assert served >= invoices  # the sweep re-reads its pages' boundary seconds
            bare.append(invoices / seconds)
        engine.dispose()
    ratio = sorted(ours)[RUNS // 2] / sorted(bare)[RUNS // 2]
    print(f"""
## Client throughput with limits off

{header}. The {MONTHS} most recent months of the first large organisation: {invoices:,}
invoices with {lines:,} lines, read as the backfill reads them — one sweep of the range, 1000 a
page in date order ({len(urls)} pages) — from the sandbox in its own process over loopback HTTP,
into PostgreSQL. Medians of {RUNS} runs, the two clients alternated; both figures count the
invoices the months hold (each once).

| figure | value | compared with | ratio | target |
|---|---|---|---|---|
| the pipeline's client: sweep (one month ahead), parse (`/Date(…)/`, exact amounts, rows) and stage (row_hash, COPY) | {spread(ours, "invoices/s", 0)} ({sorted(ours)[RUNS // 2] * lines / invoices:,.0f} lines/s) | the sandbox serving the same pages to a client that only reads the bytes: {spread(bare, "invoices/s", 0)} | {ratio:.2f} | ≥ {TARGET}: {verdict(ratio >= TARGET)} |

How measured: `bench/client_throughput.py`. Both clients ask for the same pages in the same
order (the bytes-only client replays the URLs the pipeline's client asked for) and the
bytes-only client does nothing with a page but count its invoices. The pipeline's client stages
each month in a transaction that is rolled back (the publish's merge is measured in "Load into
PostgreSQL"). Every page of a keyset sweep is a new query (its `where` starts after the previous
page's last record), so both wait on the sandbox filtering and rendering each page; the
pipeline's client reads the next month on a thread while it stages this one.
""")


if __name__ == "__main__":
    main()
