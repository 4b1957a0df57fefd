"""`xero-pipeline …`: the command line.

`run` is what `make run` calls: it materializes the pipeline (against the built-in sandbox
unless a Xero app is configured) and prints what was loaded. `backfill` loads sales history for a
range of months. `sandbox` serves the sandbox until
interrupted. `connect` gives the pipeline access to a real Xero organisation (OAuth2 consent; each
consent adds a connection); `disconnect` removes one organisation's connection.
`merge` runs the customer merge; `review` lists what it could not decide and records decisions.
`chart` draws net sales by account code as a PNG from what the warehouse holds; `status` says
what the warehouse holds and where the next incremental reads start.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType

import dagster as dg
from sqlalchemy.engine import make_url

from xero_pipeline.cli.summary import history_summary, loaded_summary, status_summary
from xero_pipeline.configuration import check_environment, sales_start
from xero_pipeline.defs.customers.commands import (
    merge_report,
    merge_skipped,
    review_listing,
    run_merge,
)
from xero_pipeline.defs.customers.store import DecisionError, record_decision
from xero_pipeline.defs.history.backfill import parse_month, run_backfill
from xero_pipeline.defs.sales.chart import chart_path, write_chart
from xero_pipeline.defs.sales.summary import sales_summary
from xero_pipeline.instance import write_instance
from xero_pipeline.resources import WarehouseResource, pipeline_resources
from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.app import SANDBOX_CLIENT_ID
from xero_pipeline.sandbox.faults import FaultConfig
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline.warehouse.engine import warehouse_url
from xero_pipeline.xero.auth import TokenProvider
from xero_pipeline.xero.client import XeroClient
from xero_pipeline.xero.connect import connect
from xero_pipeline.xero.errors import XeroError
from xero_pipeline.xero.settings import XeroSettings, project_data

SUMMARY_MONTHS = 3  # months of sales by account code that `make run` ends with
LOCAL_INSTANCE_NOTE = (
    "Written by xero-pipeline (xero_pipeline/instance.py) and rewritten when its settings change.\n"
    "For an instance of your own, point DAGSTER_HOME at another folder."
)


def _sandbox_config(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        seed=args.seed,
        size=args.size,
        as_of=args.as_of,
        tenants=getattr(args, "tenants", None),
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 0),
        limits=LimitConfig(enabled=not args.no_limits, minute_seconds=args.minute_seconds),
        faults=FaultConfig(rate=getattr(args, "fault_rate", 0.0)),
    )


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2026-03-31: {value!r}") from None


def _add_organisation_options(parser: argparse.ArgumentParser) -> None:
    """Which sandbox organisations (used only when no Xero app is configured)."""
    parser.add_argument(
        "--size",
        default="small",
        choices=("tiny", "small", "large"),
        help="sandbox organisation size, without a Xero app (default: small; sales history "
        "starts at the small one's first month unless XERO_SALES_START_DATE says otherwise)",
    )
    parser.add_argument("--seed", type=int, default=42, help="sandbox data seed (default: 42)")
    parser.add_argument(
        "--as-of",
        type=_day,
        help="the sandbox organisations' 'today', YYYY-MM-DD (default: today); sales history "
        "then runs to that day",
    )


def _add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    _add_organisation_options(parser)
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


def _local_instance() -> Path:
    """The Dagster instance the commands record their runs in (so `dagster dev` shows them):
    DAGSTER_HOME, else one under the data folder, kept local (SQLite storage, no telemetry) and
    queued as production's (`instance.py`), so runs launched from `dagster dev` on it take turns
    the same way. Its dagster.yaml is the project's own, rewritten when the settings change; set
    DAGSTER_HOME for an instance of your own."""
    if "DAGSTER_HOME" not in os.environ:
        home = project_data() / "dagster_home"
        write_instance(home, note=LOCAL_INSTANCE_NOTE)
        os.environ["DAGSTER_HOME"] = str(home)
    return Path(os.environ["DAGSTER_HOME"])


def _definitions() -> ModuleType:
    """The code location, imported once the environment has been checked (importing it reads
    XERO_SALES_START_DATE)."""
    from xero_pipeline import definitions

    return definitions


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def cmd_run(args: argparse.Namespace) -> int:
    """Materialize the whole pipeline into the warehouse — reference data, the customer merge,
    sales history with its fact table, the marts and the chart — in a local Dagster instance
    (so the runs show in `dagster dev` afterwards), printing what each step loaded."""
    home = _local_instance()
    settings = XeroSettings.from_env()
    today = (args.as_of if settings.sandbox else None) or datetime.now(UTC).date()
    first = (
        sales_start(today=today)
        if args.history_from is None
        else parse_month(args.history_from, "--from")
    )
    # With the sandbox and no XERO_SALES_START_DATE, the code location's months start where this
    # run's history does (the sandbox organisations' first month, from `today`).
    os.environ.setdefault("XERO_SALES_START_DATE", f"{sales_start(today=today):%Y-%m}")
    code = _definitions()
    url = warehouse_url()
    print(f"Xero: {'the built-in sandbox' if settings.sandbox else settings.api_base}")
    print(f"Warehouse: {_shown(url)}")
    print(f"Dagster instance: {home}\n")
    resources = pipeline_resources(size=args.size, seed=args.seed, as_of=args.as_of)
    with dg.DagsterInstance.get() as instance:
        reference = code.defs.resolve_job_def("reference_data").execute_in_process(
            instance=instance,
            resources=resources,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    print(loaded_summary(url))
    if not reference.success:
        return report_failures(reference)
    print()
    skipped = merge_skipped(settings)
    if skipped:
        print(skipped)
    else:  # before the history, so that every fact line gets its customer_id as it is built
        merged = run_merge(code.defs, resources)
        print(merge_report(merged))
        if not merged.success:
            return report_failures(merged)
    print(f"\nSales history from {first:%Y-%m}, with the sales fact table month by month:")
    history = run_backfill(code.defs, first, today, resources)
    print(history_summary(url))
    if not history.success:
        return report_failures(history)
    marts = _bound(code.defs, resources).resolve_job_def("sales_marts")
    with dg.DagsterInstance.get() as instance:
        built = marts.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    if not built.success:
        return report_failures(built)
    print(f"\nNet sales by account code, the last {SUMMARY_MONTHS} months:")
    print(sales_summary(url, SUMMARY_MONTHS))
    print(f"\nChart: {chart_path()}")
    print(f"Warehouse: {_shown(url)}")
    print(
        f"\nDone. Explore it in the Dagster UI: DAGSTER_HOME={home} "
        "dagster dev -m xero_pipeline.definitions"
    )
    return 0


def _bound(defs: dg.Definitions, resources: dict) -> dg.Definitions:
    """The definitions with these resources (Dagster rebuilds a job's subset from them)."""
    return dg.Definitions(
        assets=list(defs.assets or []), jobs=list(defs.jobs or []), resources=resources
    )


def report_failures(result: dg.ExecuteInProcessResult) -> int:
    for event in result.get_step_failure_events():
        error = event.event_specific_data.error
        cause = error.cause.message.strip() if error.cause else ""
        print(f"FAILED {event.step_key}: {cause or error.message.strip()}")
    return 1


def cmd_backfill(args: argparse.Namespace) -> int:
    _local_instance()
    code = _definitions()
    first = parse_month(args.start, "--from")
    last = parse_month(args.end, "--to") if args.end else datetime.now(UTC).date()
    resources = pipeline_resources()
    print(f"Backfilling invoices and credit notes, {first:%Y-%m} to {last:%Y-%m}:")
    result = run_backfill(code.defs, first, last, resources)
    print(history_summary(warehouse_url()))
    return 0 if result.success else report_failures(result)


def cmd_sync(args: argparse.Namespace) -> int:
    """One incremental sync now: what the `sales_sync_every_15_minutes` schedule runs."""
    _local_instance()
    with dg.DagsterInstance.get() as instance:
        result = (
            _definitions()
            .defs.resolve_job_def("sales_sync")
            .execute_in_process(instance=instance, raise_on_error=False)
        )
    return 0 if result.success else report_failures(result)


def cmd_status(args: argparse.Namespace) -> int:
    """What the warehouse holds and where the next incremental reads start (no call to Xero)."""
    url = warehouse_url()
    print(f"Warehouse: {_shown(url)}\n")
    print(status_summary(url))
    return 0


def cmd_chart(args: argparse.Namespace) -> int:
    """Draw the sales chart from what the warehouse holds now (no Dagster run, no Xero call)."""
    warehouse = WarehouseResource()
    try:
        path, chart = write_chart(warehouse.engine, Path(args.out) if args.out else None)
    finally:
        warehouse.engine.dispose()
    months = chart.months
    if not months:
        print(f"No sales by account code in the warehouse yet (run `make run`); wrote {path}")
        return 0
    print(
        f"Net sales by revenue account code, {months[0]:%Y-%m} to {months[-1]:%Y-%m}, "
        f"{len(chart.panels)} organisation(s), {chart.codes} code series: {path}"
    )
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    settings = XeroSettings.from_env()
    if settings.sandbox:
        print(
            "XERO_CLIENT_ID and XERO_CLIENT_SECRET are not set: there is no Xero app to "
            "connect. (With neither set, the pipeline uses the built-in sandbox.)"
        )
        return 2
    key = connect(settings, port=args.port, open_browser=not args.no_browser)
    client = XeroClient(settings, TokenProvider(settings, key=key))
    print("This connection covers:")
    for tenant in client.tenants():
        print(f"  tenant {tenant.tenant_id}  {tenant.name}")
    everything = XeroClient(settings)
    total = everything.tenants()
    print(
        f"The app now reads {len(total)} organisation(s) over "
        f"{len(everything.connections)} connection(s)."
    )
    for problem in everything.connection_problems.values():
        print(f"  connection {problem.connection_key}: {problem.message}")
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    """Remove one organisation's connection (Xero's DELETE /connections/{id}); the stored refresh
    token goes too once its connection covers nothing."""
    settings = XeroSettings.from_env()
    if settings.sandbox:
        print(
            "XERO_CLIENT_ID and XERO_CLIENT_SECRET are not set: there is no Xero app to "
            "disconnect from."
        )
        return 2
    client = XeroClient(settings)
    done = client.disconnect(args.tenant)
    print(f"Disconnected {done.tenant.name} ({done.tenant.tenant_id}).")
    if done.token_removed:
        print(f"Connection {done.connection_key} covers nothing more: its refresh token is gone.")
    else:
        print(f"Connection {done.connection_key} still covers other organisations; it is kept.")
    print(
        "Its rows stay in the warehouse; nothing more is read for it. "
        "`xero-pipeline connect` connects it again."
    )
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    """The customer merge (preview, then apply) on what the warehouse holds now."""
    _local_instance()
    resources = pipeline_resources(size=args.size, seed=args.seed, as_of=args.as_of)
    result = run_merge(_definitions().defs, resources, confirm=args.confirm)
    print(merge_report(result))
    return 0 if result.success else report_failures(result)


def cmd_review(args: argparse.Namespace) -> int:
    """List the merge's open review items, or record a decision on one."""
    engine = WarehouseResource().engine
    try:
        for decision in ("accept", "reject", "new"):
            review_id = getattr(args, decision)
            if review_id:
                item = record_decision(engine, review_id, decision, args.note)
                print(
                    f"Recorded: {decision} {item.review_id} ({item.contact_name!r} / "
                    f"{item.customer_name!r}). The next merge run applies it "
                    "(xero-pipeline merge)."
                )
                return 0
        print(review_listing(engine))
        return 0
    except DecisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xero-pipeline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the main job against the built-in sandbox")
    _add_organisation_options(run)
    run.add_argument("--history-from", help="first month of sales history (default: the start)")
    run.set_defaults(func=cmd_run)
    fill = commands.add_parser("backfill", help="load sales history for a range of months")
    fill.add_argument("--from", dest="start", required=True, help="first month, e.g. 2021-01")
    fill.add_argument("--to", dest="end", help="last month, e.g. 2024-06 (default: this month)")
    fill.set_defaults(func=cmd_backfill)
    sync = commands.add_parser("sync", help="bring new and edited invoices and credit notes in")
    sync.set_defaults(func=cmd_sync)
    status = commands.add_parser("status", help="what the warehouse holds, per organisation")
    status.set_defaults(func=cmd_status)
    chart = commands.add_parser("chart", help="draw net sales by account code as a PNG")
    chart.add_argument("--out", help="where to write it (default: beside the warehouse)")
    chart.set_defaults(func=cmd_chart)
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
    serve.add_argument(
        "--tenants",
        type=int,
        help="serve that many generated organisations of --size (default: the two standard ones)",
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
    unlink = commands.add_parser(
        "disconnect", help="remove one Xero organisation's connection (DELETE /connections/{id})"
    )
    unlink.add_argument("tenant", help="the organisation's tenant id, or its name")
    unlink.set_defaults(func=cmd_disconnect)
    merge = commands.add_parser("merge", help="merge Xero customers into the customer list")
    merge.add_argument(
        "--confirm",
        action="store_true",
        help="apply even when it creates more new customers than XERO_NEW_CUSTOMER_LIMIT allows",
    )
    _add_organisation_options(merge)
    merge.set_defaults(func=cmd_merge)
    review = commands.add_parser("review", help="the customer merge's review list and decisions")
    decide = review.add_mutually_exclusive_group()
    decide.add_argument("--accept", metavar="ID", help="link the item's contact to its candidate")
    decide.add_argument("--reject", metavar="ID", help="never propose this pair again")
    decide.add_argument("--new", metavar="ID", help="make the item's contact a new customer")
    review.add_argument("--note", help="why (kept with the decision)")
    review.set_defaults(func=cmd_review)
    args = parser.parse_args(argv)
    try:
        if args.func is not cmd_sandbox:  # the sandbox needs no configuration
            check_environment()
        return args.func(args)
    except XeroError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 1
