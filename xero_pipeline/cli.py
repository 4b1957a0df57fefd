"""`xero-pipeline …`: the command line.

`run` is what `make run` calls: it materializes the pipeline (against the built-in sandbox
unless a Xero app is configured) and prints what was loaded. `backfill` loads sales history for a
range of months. `sandbox` serves the sandbox until
interrupted. `connect` gives the pipeline access to a real Xero organisation (OAuth2 consent).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime

import dagster as dg

from xero_pipeline.backfill import parse_month, run_backfill
from xero_pipeline.definitions import SALES_START, defs
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.app import SANDBOX_CLIENT_ID
from xero_pipeline.sandbox.faults import FaultConfig
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline.summary import history_summary, loaded_summary
from xero_pipeline.warehouse.engine import warehouse_url
from xero_pipeline.xero.auth import TokenProvider
from xero_pipeline.xero.client import XeroClient
from xero_pipeline.xero.connect import connect
from xero_pipeline.xero.errors import XeroError
from xero_pipeline.xero.settings import XeroSettings, project_data


def _sandbox_config(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        seed=args.seed,
        size=args.size,
        as_of=date.fromisoformat(args.as_of) if args.as_of else None,
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 0),
        limits=LimitConfig(enabled=not args.no_limits, minute_seconds=args.minute_seconds),
        faults=FaultConfig(rate=getattr(args, "fault_rate", 0.0)),
    )


def _add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--size",
        default="small",
        choices=("tiny", "small", "large"),
        help="organisation size (default: small)",
    )
    parser.add_argument("--seed", type=int, default=42, help="data generator seed (default: 42)")
    parser.add_argument("--as-of", help="the organisations' 'today', YYYY-MM-DD (default: today)")
    parser.add_argument("--no-limits", action="store_true", help="turn Xero's rate limits off")
    parser.add_argument(
        "--minute-seconds",
        type=float,
        default=60.0,
        help="length of a rate-limit 'minute' in seconds (default: 60)",
    )


def cmd_sandbox(args: argparse.Namespace) -> int:
    sandbox = Sandbox(_sandbox_config(args))
    sandbox.start()
    print(f"Xero sandbox on {sandbox.url} (use it as XERO_API_BASE and XERO_IDENTITY_BASE)")
    print(f"client id: {SANDBOX_CLIENT_ID} (the sandbox's secret is in the README)")
    for tenant in sandbox.tenants.values():
        print(f"  tenant {tenant.tenant_id}  {tenant.name}")
    print("Ctrl-C to stop.")
    try:
        sandbox._thread.join()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Materialize the pipeline into the warehouse, in a Dagster instance under the data folder
    (so the runs show in `dagster dev` afterwards), then print what was loaded."""
    data = project_data()
    home = data / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # a local instance: SQLite storage, no telemetry
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ.setdefault("DAGSTER_HOME", str(home))
    settings = XeroSettings.from_env()  # a configuration error stops here, naming the variable
    url = warehouse_url()
    print(f"Xero: {'the built-in sandbox' if settings.sandbox else settings.api_base}")
    print(f"Warehouse: {url}")
    print(f"Dagster instance: {os.environ['DAGSTER_HOME']}\n")
    job = defs.resolve_job_def("reference_data")
    resources = {
        "xero": XeroResource(sandbox_size=args.size, sandbox_seed=args.seed),
        "warehouse": WarehouseResource(),
    }
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            resources=resources,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    print(loaded_summary(url))
    if not result.success:
        return report_failures(result)
    first = SALES_START if args.history_from is None else parse_month(args.history_from, "--from")
    print(f"\nSales history from {first:%Y-%m}:")
    history = run_backfill(defs, first, datetime.now(UTC).date(), resources)
    print(history_summary(url))
    if not history.success:
        return report_failures(history)
    print(f"\nDone. Explore it: .venv/bin/dagster dev (with DAGSTER_HOME={home})")
    return 0


def report_failures(result: dg.ExecuteInProcessResult) -> int:
    for event in result.get_step_failure_events():
        error = event.event_specific_data.error
        cause = error.cause.message.strip() if error.cause else ""
        print(f"FAILED {event.step_key}: {cause or error.message.strip()}")
    return 1


def cmd_backfill(args: argparse.Namespace) -> int:
    home = project_data() / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(home))
    first = parse_month(args.start, "--from")
    last = parse_month(args.end, "--to") if args.end else datetime.now(UTC).date()
    resources = {"xero": XeroResource(), "warehouse": WarehouseResource()}
    print(f"Backfilling invoices and credit notes, {first:%Y-%m} to {last:%Y-%m}:")
    result = run_backfill(defs, first, last, resources)
    print(history_summary(warehouse_url()))
    return 0 if result.success else report_failures(result)


def cmd_connect(args: argparse.Namespace) -> int:
    settings = XeroSettings.from_env()
    if settings.sandbox:
        print(
            "XERO_CLIENT_ID and XERO_CLIENT_SECRET are not set: there is no Xero app to "
            "connect. (With neither set, the pipeline uses the built-in sandbox.)"
        )
        return 2
    connect(settings, port=args.port, open_browser=not args.no_browser)
    client = XeroClient(settings, TokenProvider(settings))
    for tenant in client.tenants():
        print(f"  tenant {tenant.tenant_id}  {tenant.name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xero-pipeline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the main job against the built-in sandbox")
    _add_sandbox_options(run)
    run.add_argument("--history-from", help="first month of sales history (default: the start)")
    run.set_defaults(func=cmd_run)
    fill = commands.add_parser("backfill", help="load sales history for a range of months")
    fill.add_argument("--from", dest="start", required=True, help="first month, e.g. 2021-01")
    fill.add_argument("--to", dest="end", help="last month, e.g. 2024-06 (default: this month)")
    fill.set_defaults(func=cmd_backfill)
    serve = commands.add_parser("sandbox", help="serve the Xero sandbox until interrupted")
    _add_sandbox_options(serve)
    serve.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0: any)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: loopback only)"
    )
    serve.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="share of accounting calls that fail (default: 0)",
    )
    serve.set_defaults(func=cmd_sandbox)
    link = commands.add_parser("connect", help="give the pipeline access to a Xero organisation")
    link.add_argument(
        "--port",
        type=int,
        default=8910,
        help="loopback port for Xero's redirect (register "
        "http://localhost:PORT/callback with your Xero app; default 8910)",
    )
    link.add_argument("--no-browser", action="store_true", help="print the URL only")
    link.set_defaults(func=cmd_connect)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except XeroError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
