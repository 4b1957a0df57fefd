"""How fast the sandbox makes and serves a large organisation.

The sandbox must not be what a benchmark measures: a client paging through invoices should wait
on its own work, not on the sandbox. The sandbox runs as in every benchmark, in its own process
(`xero-pipeline sandbox --size large --no-limits`), and renders the next page of a paged read
while the client works on the current one. The client here does the least work any real client
does on a page, `json.loads(..., parse_float=Decimal)`; a real client (parsing dates, building
rows, staging) does more, so its wait is at most what is shown.

Run: `.venv/bin/python bench/sandbox_serving.py` (about a minute). Prints a Markdown section for
bench/RESULTS.md.
"""

from __future__ import annotations

import json
import platform
import socket
import statistics
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal

import requests

from xero_pipeline.sandbox.consent import sandbox_token

AS_OF = "2026-11-22"
MONTHS = 12  # the most recent months of the large organisation (~1,700 invoices each)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def month_window(index_from_end: int) -> str:
    today = date.fromisoformat(AS_OF)
    first = today.year * 12 + today.month - 1 - index_from_end
    after = first + 1
    return (
        f"Date>=DateTime({first // 12},{first % 12 + 1},1) AND "
        f"Date<DateTime({after // 12},{after % 12 + 1},1)"
    )


def start_sandbox(port: int) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xero_pipeline.cli",
            "sandbox",
            "--size",
            "large",
            "--no-limits",
            "--as-of",
            AS_OF,
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
    )
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/__sandbox/state", timeout=1)
            return process, time.perf_counter() - started
        except requests.ConnectionError:
            time.sleep(0.1)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def main() -> None:
    port = free_port()
    process, startup_s = start_sandbox(port)
    base = f"http://127.0.0.1:{port}"
    try:
        state = requests.get(f"{base}/__sandbox/state", timeout=5).json()
        tenant = state["tenants"][0]
        session = requests.Session()
        headers = {
            "Authorization": f"Bearer {sandbox_token(session, base)}",
            "Xero-tenant-id": tenant["tenant_id"],
        }
        first_waits, later_waits, parses = [], [], []
        for month in range(1, MONTHS + 1):
            page = 1
            while True:
                params = {  # as the pipeline asks (unitdp=4: unit prices as entered)
                    "where": month_window(month),
                    "page": page,
                    "pageSize": 1000,
                    "unitdp": 4,
                }
                t0 = time.perf_counter()
                body = session.get(
                    f"{base}/api.xro/2.0/Invoices", params=params, headers=headers, timeout=120
                ).content
                waited = time.perf_counter() - t0
                t0 = time.perf_counter()
                invoices = json.loads(body, parse_float=Decimal)["Invoices"]
                parsed = time.perf_counter() - t0
                per_1000 = 1000 / max(len(invoices), 1)
                (first_waits if page == 1 else later_waits).append(waited * per_1000)
                parses.append(parsed * per_1000)
                if len(invoices) < 1000:
                    break
                page += 1
        peak = rss_mib(process.pid)
    finally:
        process.kill()
        process.wait()
    first, later, parse = (statistics.median(v) * 1000 for v in (first_waits, later_waits, parses))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"""## Sandbox: generating and serving the large organisation

{date.today()}, commit {commit}, {platform.machine()} ({platform.processor() or "cpu"}),
CPython {platform.python_version()}. Two tenants of size `large`; reads from the first tenant:
{tenant["invoices"]:,} invoices, {tenant["contacts"]:,} contacts. Medians over {MONTHS} months
({len(first_waits)} first pages, {len(later_waits)} further pages), per 1000 invoices
(~10,000 lines).

| figure | value | compared with | ratio |
|---|---|---|---|
| start the sandbox process (generate 2 × 100k invoices, serve) | {startup_s:.1f} s | "seconds, not minutes" | — |
| sandbox process peak memory | {peak:.0f} MiB | 1 GiB | {peak / 1024:.2f} |
| client's wait for a further page (rendered ahead) | {later:.0f} ms | the client's least work per page, `json.loads`: {parse:.0f} ms | {later / parse:.2f} |
| client's wait for the first page of a month (filter 100k, render) | {first:.0f} ms | same | {first / parse:.2f} |

How measured: `bench/sandbox_serving.py`; wait = request sent to last byte received, over
loopback HTTP, limits off. A ratio below 1 means the sandbox keeps up with even the thinnest
client. First pages cannot be rendered ahead (the client has not asked for the month yet).
""")


if __name__ == "__main__":
    main()
