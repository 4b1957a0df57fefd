"""For operator tests: the pipeline as an operator runs it, and what an operator sees.

`operator_daemon(...)` gives a test a Dagster instance of its own (PostgreSQL run, event-log and
schedule storage in a fresh database, with the project's run queue and tag limits from
`xero_pipeline/instance.py`), a workspace.yaml loading `xero_pipeline.definitions`, and the real
`dagster-daemon run` as a child process in a process group of its own, its environment aimed at a
test sandbox as a connected live Xero app and at a fresh PostgreSQL warehouse. Whatever the
product declares RUNNING (schedules, sensors, automation) runs from the start, as in production.

The `Operator` it yields launches jobs the way the UI does (`dagster job launch`: the run is
created QUEUED and the daemon's run queue launches it, tag limits applied), lists runs
and their steps from the instance, and waits for things with a timeout that, when it runs out,
shows the daemon's log and the recent runs (with their errors) instead of a bare `False`.

The daemon and its children may ignore SIGTERM: stopping is SIGTERM to the group, then SIGKILL,
then a wait, by the process group this harness started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import yaml
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.scheduler.instigation import InstigatorTick
from sqlalchemy.engine import make_url

from xero_pipeline.defs.connections.sensors import onboard_new_organisations
from xero_pipeline.instance import write_instance
from xero_pipeline.resources import sandbox_settings
from xero_pipeline.sandbox import Sandbox
from xero_pipeline_tests.conftest import PARTITIONS_START, _drop_database, _new_database

BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parent.parent
# The tests that launch history themselves stop the onboarding sensor first (an operator may
# turn it off too), so that no run they did not launch writes beside theirs.
ONBOARDING = onboard_new_organisations.name
LOCATION = "xero_pipeline"
# Schedules a test did not ask for fire on 29 February at 00:00 only, so a test's runs are its
# own whatever the time of day it runs at (Dagster refuses crons that never fire).
RARELY = "0 0 29 2 *"
QUIET_SCHEDULES = {
    "XERO_SYNC_SCHEDULE": RARELY,
    "XERO_RECONCILE_SCHEDULE": RARELY,
    "XERO_REFERENCE_SCHEDULE": RARELY,
    "XERO_MERGE_SCHEDULE": RARELY,
}
# Variables of the test process that must not leak into the daemon's pipeline.
DROPPED = ("DAGSTER_HOME", "WAREHOUSE_URL", "CUSTOMERS_SOURCE", "XERO_TENANT_IDS")
IN_FLIGHT = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
}
STEP_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
}
T = TypeVar("T")


@dataclass(frozen=True)
class RunView:
    """A run as the UI's runs list shows it; times are epoch seconds (None: not yet)."""

    run_id: str
    job: str
    status: dg.DagsterRunStatus
    tags: Mapping[str, str]
    created: float
    start: float | None
    end: float | None

    @property
    def finished(self) -> bool:
        return self.status not in IN_FLIGHT

    def __str__(self) -> str:
        tags = {k: v for k, v in self.tags.items() if not k.startswith(".dagster/")}
        return f"{self.run_id[:8]} {self.job} {self.status.value} {tags}"


@dataclass(frozen=True)
class StepWindow:
    """When one step of one run ran: from STEP_START to its success or failure."""

    run_id: str
    step: str
    start: float
    end: float

    def overlaps(self, other: StepWindow) -> bool:
        return self.start < other.end and other.start < self.end


class OperatorTimeout(AssertionError):
    """What was awaited did not happen in time; the message carries the daemon's side."""


class Operator:
    """One running daemon on one instance, and what an operator does with it."""

    def __init__(
        self, home: Path, workspace: Path, env: dict[str, str], log: Path, warehouse_url: str
    ) -> None:
        self.home, self.workspace, self.env, self.log = home, workspace, env, log
        self.warehouse_url = warehouse_url
        self.instance = dg.DagsterInstance.from_config(str(home))
        self.process: subprocess.Popen[bytes] | None = None

    # -- the daemon --------------------------------------------------------------------------
    def start(self, timeout: float = 120) -> None:
        """Start `dagster-daemon run` and wait until every daemon it runs has a heartbeat."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)],
                cwd=self.home,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
            )
        required = set(self.instance.get_required_daemon_types())
        self.wait_for(
            lambda: required <= set(self.instance.get_daemon_heartbeats()),
            timeout,
            f"heartbeats from the daemons {sorted(required)}",
        )

    def stop(self) -> None:
        """SIGTERM to the daemon's group (its code server, the runs it launched), then SIGKILL."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- launching, as the UI does -----------------------------------------------------------
    def dagster(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """`dagster …` against this instance and workspace, in the daemon's environment."""
        done = subprocess.run(
            [str(BIN / "dagster"), *args],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"dagster {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def launch(
        self, *jobs: str | tuple[str, Mapping[str, str]], config: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Submit runs to the run queue at once (`dagster job launch` each, side by side):
        a job name, or (name, tags); `config` is run config for all of them. Returns their
        run ids, in order."""
        requests = [(job, {}) if isinstance(job, str) else job for job in jobs]
        run_ids = [str(uuid.uuid4()) for _ in requests]
        extra = ["--config-json", json.dumps(dict(config))] if config else []
        processes = [
            subprocess.Popen(
                [
                    str(BIN / "dagster"),
                    "job",
                    "launch",
                    "-w",
                    str(self.workspace),
                    "-j",
                    name,
                    "--run-id",
                    run_id,
                    "--tags",
                    json.dumps(dict(tags)),
                    *extra,
                ],
                cwd=self.home,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for (name, tags), run_id in zip(requests, run_ids, strict=True)
        ]
        for process, (name, _) in zip(processes, requests, strict=True):
            output, _ = process.communicate(timeout=180)
            assert process.returncode == 0, f"dagster job launch -j {name}:\n{output}"
        return run_ids

    def set_running(self, kind: str, name: str, running: bool) -> None:
        """Start or stop a schedule (`kind` "schedule") or sensor ("sensor") as the CLI does."""
        self.dagster(kind, "start" if running else "stop", name, "-w", str(self.workspace))

    # -- what an operator sees -----------------------------------------------------------------
    def runs(self, job: str | None = None) -> list[RunView]:
        """Every run on the instance (of `job`), oldest first."""
        records = self.instance.get_run_records(
            dg.RunsFilter(job_name=job) if job else None, ascending=True
        )
        return [
            RunView(
                record.dagster_run.run_id,
                record.dagster_run.job_name,
                record.dagster_run.status,
                dict(record.dagster_run.tags),
                record.create_timestamp.timestamp(),
                record.start_time,
                record.end_time,
            )
            for record in records
        ]

    def run(self, run_id: str) -> RunView:
        (view,) = [run for run in self.runs() if run.run_id == run_id]
        return view

    def enqueued_at(self, run_id: str) -> float:
        """When the run joined the queue (RUN_ENQUEUED)."""
        (entry,) = self.instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)
        return entry.timestamp

    def steps(self, run_id: str) -> list[StepWindow]:
        """The run's finished steps with their start and end, from its event log."""
        started: dict[str, float] = {}
        windows = []
        for entry in self.instance.all_logs(run_id, of_type=STEP_EVENTS):
            step = entry.step_key or ""
            if entry.dagster_event_type == dg.DagsterEventType.STEP_START:
                started[step] = entry.timestamp
            elif step in started:
                windows.append(StepWindow(run_id, step, started.pop(step), entry.timestamp))
        return windows

    def ticks(self, name: str, after: float | None = None) -> list[InstigatorTick]:
        """A schedule's or sensor's ticks (what it decided, its skip reason, the runs it asked
        for), newest first; `after`: only those since that epoch time."""
        states = [s for s in self.instance.all_instigator_state() if s.instigator_name == name]
        return [
            tick
            for state in states
            for tick in self.instance.get_ticks(
                state.instigator_origin_id, state.selector_id, after=after
            )
        ]

    def idle(self, sensor: str) -> bool:
        """Nothing in flight and nothing left to do: every run finished, no backfill still
        requesting, and a tick of the automation `sensor` that began after the last run ended
        asked for nothing. (A moment with no run in flight alone is not enough: the automation
        may be about to follow the run that just ended.)"""
        runs = self.runs()
        if not all(run.finished for run in runs):
            return False
        if self.instance.get_backfills(status=BulkActionStatus.REQUESTED):
            return False
        last_end = max((run.end or run.created for run in runs), default=0.0)
        return any(
            tick.is_completed
            and not tick.requested_asset_materialization_count
            and not tick.run_ids
            and tick.timestamp > last_end
            for tick in self.ticks(sensor, after=last_end)
        )

    def errors(self, run_id: str) -> list[str]:
        kinds = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
        return [entry.message for entry in self.instance.all_logs(run_id, of_type=kinds)]

    def report(self, runs: int = 15) -> str:
        """The recent runs (failed ones with their errors) and the daemon's log tail."""
        lines = []
        for run in self.runs()[-runs:]:
            lines.append(f"  {run}")
            if run.status == dg.DagsterRunStatus.FAILURE:
                lines += [f"      {error[:400]}" for error in self.errors(run.run_id)]
        return (
            "recent runs:\n"
            + ("\n".join(lines) or "  none")
            + f"\ndaemon log ({self.log}):\n{self.log_tail()}"
        )

    # -- waiting -----------------------------------------------------------------------------
    def wait_for(
        self, predicate: Callable[[], T], timeout: float, what: str, every: float = 1.0
    ) -> T:
        """Poll `predicate` until it returns something truthy, and return that; fail after
        `timeout` seconds (or if the daemon died) with what was awaited and the daemon's side."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if self.process is not None and self.process.poll() is not None:
                raise OperatorTimeout(
                    f"the daemon exited ({self.process.returncode}) while waiting for {what}\n"
                    + self.report()
                )
            if time.monotonic() > deadline:
                raise OperatorTimeout(f"no {what} within {timeout:.0f}s\n{self.report()}")
            time.sleep(every)

    def wait_for_runs(self, run_ids: Sequence[str], timeout: float = 300) -> list[RunView]:
        """Wait until every run has finished; fail unless every one succeeded."""

        def finished() -> list[RunView] | None:
            views = [self.run(run_id) for run_id in run_ids]
            return views if all(view.finished for view in views) else None

        views = self.wait_for(finished, timeout, f"end of runs {[r[:8] for r in run_ids]}")
        failed = [view for view in views if view.status != dg.DagsterRunStatus.SUCCESS]
        assert not failed, f"runs did not succeed: {[str(v) for v in failed]}\n{self.report()}"
        return views


def _instance_storage(url: str) -> dict[str, Any]:
    """dagster-postgres storage for the database at `url` (psycopg2, as in production)."""
    parts = make_url(url)
    return {
        "postgres": {
            "postgres_db": {
                "username": parts.username or "postgres",
                "password": parts.password or "",
                "hostname": parts.host or "127.0.0.1",
                "db_name": parts.database,
                "port": parts.port or 5432,
                "scheme": "postgresql+psycopg2",
            }
        }
    }


def _pipeline_env(
    sandbox: Sandbox, workdir: Path, home: Path, warehouse_url: str, overrides: Mapping[str, str]
) -> dict[str, str]:
    """The daemon's environment: the sandbox as a connected live app (consent given, tokens in
    `workdir`), the warehouse, quiet schedules unless `overrides` say otherwise."""
    settings = sandbox_settings(sandbox.url, workdir)
    env = {key: value for key, value in os.environ.items() if key not in DROPPED}
    env = {key: value for key, value in env.items() if not key.startswith("XERO_NOTIFY_")}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "XERO_CLIENT_ID": settings.client_id,
            "XERO_CLIENT_SECRET": settings.client_secret.reveal(),
            "XERO_API_BASE": sandbox.url,
            "XERO_IDENTITY_BASE": sandbox.url,
            "XERO_TOKEN_PATH": str(settings.token_path),
            # The test process's partitions start, so run tags name the same months everywhere.
            "XERO_SALES_START_DATE": PARTITIONS_START,
            "XERO_PIPELINE_DATA": str(workdir / "data"),
            "WAREHOUSE_URL": warehouse_url,
            **QUIET_SCHEDULES,
            **overrides,
        }
    )
    return env


@contextlib.contextmanager
def operator_daemon(
    workdir: Path,
    pg_admin: Any,
    sandbox: Sandbox,
    env: Mapping[str, str] | None = None,
    stopped: tuple[str, ...] = (),
) -> Iterator[Operator]:
    """A daemon on a fresh PostgreSQL-backed instance, the pipeline aimed at `sandbox` and a
    fresh PostgreSQL warehouse (`Operator.warehouse_url`); `env` adds or overrides variables
    (e.g. XERO_SYNC_SCHEDULE); `stopped`: sensors stopped before the daemon starts, as an
    operator stops one in the UI. Everything is stopped and dropped afterwards."""
    created: list[str] = []
    operator: Operator | None = None
    try:
        instance_db, instance_url = _new_database(pg_admin)
        created.append(instance_db)
        warehouse_db, warehouse_url = _new_database(pg_admin)
        created.append(warehouse_db)
        home = workdir / "dagster_home"
        write_instance(home, _instance_storage(instance_url), note="An operator test's instance.")
        workspace = home / "workspace.yaml"
        workspace.write_text(
            yaml.safe_dump(
                {
                    "load_from": [
                        {
                            "python_module": {
                                "module_name": "xero_pipeline.definitions",
                                "location_name": LOCATION,
                                "working_directory": str(REPO_ROOT),
                            }
                        }
                    ]
                }
            )
        )
        pipeline_env = _pipeline_env(sandbox, workdir, home, warehouse_url, env or {})
        operator = Operator(home, workspace, pipeline_env, workdir / "daemon.log", warehouse_url)
        for sensor in stopped:
            operator.set_running("sensor", sensor, False)
        operator.start()
        yield operator
    finally:
        if operator is not None:
            operator.stop()
            operator.instance.dispose()
        for name in created:
            _drop_database(pg_admin, name)
