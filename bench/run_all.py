"""`make bench`: every benchmark, one after the other, into bench/RESULTS.md.

Benchmarks time a machine that may be busy with something else (a test run, another session):
first this waits, up to `BENCH_WAIT_MINUTES` (default 30), for the 1-minute load average to fall
below `BENCH_MAX_LOAD` (default 0.7), and the results say what it was. Each script prints its
own Markdown section; a script that fails leaves its error in the file instead, the others still
run, and `make bench` then fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = (
    "sandbox_serving.py",
    "client_throughput.py",
    "pg_load.py",
    "backfill.py",
    "calls.py",
    "steady_state.py",
    "real_limits.py",
    "cost_growth.py",
    "customer_merge.py",
)


def wait_for_quiet(limit: float, minutes: float) -> tuple[float, float]:
    """Wait for the 1-minute load to drop below `limit`; (load when done, minutes waited)."""
    started = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - started < minutes * 60:
        time.sleep(30)
    return os.getloadavg()[0], (time.monotonic() - started) / 60


def main() -> int:
    limit = float(os.environ.get("BENCH_MAX_LOAD", "0.7"))
    load, waited = wait_for_quiet(limit, float(os.environ.get("BENCH_WAIT_MINUTES", "30")))
    started, begun = time.monotonic(), datetime.now(UTC)
    sections, failed = [], []
    for script in SCRIPTS:
        print(f"bench: {script} …", file=sys.stderr, flush=True)
        done = subprocess.run(
            [sys.executable, str(BENCH / script)],
            capture_output=True,
            text=True,
            cwd=BENCH.parent,
            check=False,
        )
        if done.returncode == 0:
            sections.append(done.stdout.strip())
        else:
            failed.append(script)
            sections.append(
                f"## {script}: FAILED\n\n```\n{(done.stdout + done.stderr)[-3000:]}\n```"
            )
    minutes = (time.monotonic() - started) / 60
    quiet = "below" if load < limit else "**not** below"
    head = f"""# Benchmark results

Written by `make bench` (`bench/run_all.py`), started {begun:%Y-%m-%d %H:%M} UTC; the whole run
took {minutes:.0f} minutes. Before starting it waited {waited:.0f} min for the machine to be
quiet: 1-minute load average {load:.2f} ({quiet} {limit}). Each section says how it was
measured, how many runs each figure is the median of, the limit it is compared with, and
whether the target is met."""
    (BENCH / "RESULTS.md").write_text("\n\n".join([head, *sections]) + "\n")
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
