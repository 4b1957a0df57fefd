"""One pipeline process, as the benchmarks run it: `full` (reference data, then the sales-history
backfill with its fact and rollup, as `xero-pipeline run` does), `incremental` (the same jobs
again, with nothing changed in Xero), `sales` (rebuild the fact and rollup only) or `steady`
(the default schedules' jobs once each, with their calls and bytes).

The environment comes from `benchlib.pipeline_env`. HTTP calls are counted from the outside, by
wrapping `requests.Session.send` (as the crash harness finds its points): nothing in the shipped
code knows it is measured. Prints one JSON line last: timings, calls per endpoint, 429s.
Run by the benchmark scripts as a child process, so that its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from datetime import date
from typing import Any

import requests

CALLS: Counter = Counter()
BYTES: Counter = Counter()  # response bodies, by endpoint
REFUSED: Counter = Counter()


def endpoint(url: str) -> str:
    path = url.split("?", 1)[0]
    if "/api.xro/2.0/" in path:
        name = path.split("/api.xro/2.0/", 1)[1]
        return re.sub(r"/[0-9a-fA-F-]{36}$", "/{id}", name)
    return path.rsplit("/", 1)[-1]


def count_calls() -> None:
    send = requests.Session.send

    def counted(self: requests.Session, request: Any, **kwargs: Any) -> Any:
        response = send(self, request, **kwargs)
        name = endpoint(request.url)
        CALLS[name] += 1
        BYTES[name] += len(response.content)
        if response.status_code == 429:
            REFUSED[name] += 1
        return response

    requests.Session.send = counted  # type: ignore[method-assign]


class Stamps:
    """The backfill's progress bar as a clock: when each month of each resource was done."""

    def __init__(self) -> None:
        self.done: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        found = re.search(r"(Invoices|CreditNotes) (\d{4}-\d{2})", text)
        if found:
            self.done.append((time.perf_counter(), found.group(0)))
        return len(text)

    def flush(self) -> None:
        pass


def calls_since(before: Counter, counter: Counter = CALLS) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(counter.items()) if v - before.get(k, 0)}


def steady(jobs: list[str], resources: dict[str, Any], instance: Any) -> dict[str, Any]:
    """Each of the default schedules' jobs once, as its schedule launches it (`reconcile`: the
    trailing months with the reconciliation's tag), with its calls and bytes by endpoint."""
    from xero_pipeline import definitions
    from xero_pipeline.configuration import reconcile_months
    from xero_pipeline.defs.history.loading import RECONCILIATION_TAG
    from xero_pipeline.defs.history.partitions import sales_months

    measured = {}
    for job in jobs:
        tags: dict[str, str] = {}
        name = {"reference": "reference_data", "sync": "sales_sync"}.get(job, "sales_history")
        if job == "reconcile":
            recent = sales_months.get_partition_keys()[-reconcile_months() :]
            tags = {
                "dagster/asset_partition_range_start": recent[0],
                "dagster/asset_partition_range_end": recent[-1],
                RECONCILIATION_TAG: "true",
            }
        calls, sizes = Counter(CALLS), Counter(BYTES)
        result = definitions.defs.resolve_job_def(name).execute_in_process(
            instance=instance, resources=resources, tags=tags, raise_on_error=False
        )
        assert result.success, f"{job} failed"
        measured[job] = {"calls": calls_since(calls), "bytes": calls_since(sizes, BYTES)}
    return measured


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("full", "incremental", "sales", "steady"))
    parser.add_argument("--jobs", default="reference,sync,reconcile")
    parser.add_argument("--from", dest="first")
    parser.add_argument("--to", dest="last")
    parser.add_argument(
        "--minute-limit",
        type=int,
        default=60,
        help="the client's own calls-a-minute budget (60, Xero's; more only against a sandbox "
        "with its limits off)",
    )
    args = parser.parse_args()
    count_calls()
    import dagster as dg

    from xero_pipeline import definitions
    from xero_pipeline.defs.history.backfill import run_backfill
    from xero_pipeline.defs.history.partitions import sales_months
    from xero_pipeline.resources import WarehouseResource, XeroResource

    resources = {
        "xero": XeroResource(minute_limit=args.minute_limit),
        "warehouse": WarehouseResource(),
    }
    report: dict[str, Any] = {}
    instance = dg.DagsterInstance.get()
    if args.mode in ("full", "incremental"):
        before, started = Counter(CALLS), time.perf_counter()
        job = definitions.defs.resolve_job_def("reference_data")
        result = job.execute_in_process(
            instance=instance, resources=resources, raise_on_error=False
        )
        assert result.success, "reference data failed"
        report["reference_s"] = time.perf_counter() - started
        report["reference_calls"] = calls_since(before)
    if args.mode == "full":
        first, last = date.fromisoformat(f"{args.first}-01"), date.fromisoformat(f"{args.last}-01")
        before, stamps = Counter(CALLS), Stamps()
        started = time.perf_counter()
        result = run_backfill(definitions.defs, first, last, resources, out=stamps)  # type: ignore[arg-type]
        ended = time.perf_counter()
        assert result.success, "the backfill failed"
        report["backfill_s"] = ended - started
        report["history_s"] = stamps.done[-1][0] - started if stamps.done else None
        report["months_done"] = [round(t - started, 2) for t, _ in stamps.done]
        report["backfill_calls"] = calls_since(before)
    if args.mode == "incremental":
        before, started = Counter(CALLS), time.perf_counter()
        result = definitions.defs.resolve_job_def("sales_sync").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert result.success, "the sync failed"
        report["sync_s"] = time.perf_counter() - started
        report["sync_calls"] = calls_since(before)
    if args.mode == "sales":
        job = dg.Definitions(
            assets=list(definitions.defs.assets or []),
            jobs=[
                dg.define_asset_job(
                    "sales_only",
                    selection=dg.AssetSelection.assets(
                        "fct_sales_lines", "sales_by_account_code_monthly"
                    ),
                    partitions_def=sales_months,
                )
            ],
            resources=resources,
        ).resolve_job_def("sales_only")
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags={
                "dagster/asset_partition_range_start": f"{args.first}-01",
                "dagster/asset_partition_range_end": f"{args.last}-01",
            },
        )
        assert result.success, "the sales rebuild failed"
        report["sales_s"] = time.perf_counter() - started
    if args.mode == "steady":
        report["steady"] = steady(args.jobs.split(","), resources, instance)
    report["refused_429"] = sum(REFUSED.values())
    report["pid"] = os.getpid()
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
