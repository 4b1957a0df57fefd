"""What every benchmark here shares: the machine line, a sandbox in its own process, a throwaway
PostgreSQL database, and the pipeline's environment aimed at both.

The sandbox always runs in a process of its own (as Xero is not in ours): a benchmark of the
pipeline must measure the pipeline, and the sandbox rendering pages under the same GIL would be
charged to it. Databases are created per benchmark and dropped after it, whatever happens.

Run as a script (`python bench/benchlib.py serve SPEC_JSON`), this module serves a sandbox of
custom organisations (`OrgSpec`s), which `xero-pipeline sandbox` (named sizes only) cannot.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2
import requests

AS_OF = date(2026, 11, 22)  # the sandbox's "today": the same data on every run
PG_ADMIN_DSN = os.environ.get("XERO_TEST_PG_DSN", "host=127.0.0.1 port=5432 dbname=postgres")
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def machine() -> str:
    """One line: date, commit, CPU, cores, Python, and the load average when it was measured."""
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    ).stdout.strip()
    load = os.getloadavg()[0]
    return (
        f"{date.today()}, commit {commit}, {platform.machine()} "
        f"({platform.processor() or 'cpu'}, {os.cpu_count()} cores), CPython "
        f"{platform.python_version()}, 1-minute load {load:.2f} at the start"
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], unit: str = "s", digits: int = 1) -> str:
    """`12.3 s (min 11.9, max 12.8, 5 runs)` — or just the value for a single run."""
    if len(values) == 1:
        return f"{values[0]:,.{digits}f} {unit} (1 run)"
    return (
        f"{median(values):,.{digits}f} {unit} (min {min(values):,.{digits}f}, "
        f"max {max(values):,.{digits}f}, {len(values)} runs)"
    )


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the sandbox, in its own process ---------------------------------------------------------


@dataclass
class SandboxProcess:
    url: str
    process: subprocess.Popen

    def state(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/__sandbox/state", timeout=30).json()

    def calls(self) -> int:
        return sum(t["calls"] for t in self.state()["tenants"])

    def rejections(self) -> int:
        """429s the sandbox has answered so far (refused calls do not count as calls)."""
        rejected = self.state()["rate_limit_rejections"]
        return sum(rejected.values()) if isinstance(rejected, dict) else int(rejected)

    def peak_rss_mib(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            line = next(line for line in status if line.startswith("VmHWM"))
        return int(line.split()[1]) / 1024


@contextlib.contextmanager
def sandbox(
    size: str | None = "large", orgs: list[dict[str, Any]] | None = None, limits: bool = False
) -> Iterator[SandboxProcess]:
    """A sandbox process: a named size (`xero-pipeline sandbox --size`) or custom `OrgSpec`
    fields (`orgs`), with Xero's limits (60 calls a minute, real minutes) or without."""
    port = free_port()
    if orgs is None:
        command = [sys.executable, "-m", "xero_pipeline.cli", "sandbox", "--size", str(size)]
        command += ["--as-of", AS_OF.isoformat(), "--port", str(port)]
        command += [] if limits else ["--no-limits"]
    else:
        spec = {"orgs": orgs, "limits": limits, "port": port}
        command = [sys.executable, str(BENCH / "benchlib.py"), "serve", json.dumps(spec)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                requests.get(f"{url}/__sandbox/state", timeout=5)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox process did not start") from None
                time.sleep(0.2)
        yield SandboxProcess(url, process)
    finally:
        process.kill()
        process.wait()


def serve(spec: dict[str, Any]) -> None:
    """The `serve` command: a sandbox of custom organisations until killed."""
    from xero_pipeline.sandbox import Sandbox, SandboxConfig
    from xero_pipeline.sandbox.generator import OrgSpec
    from xero_pipeline.sandbox.limits import LimitConfig

    config = SandboxConfig(
        orgs=tuple(OrgSpec(**org) for org in spec["orgs"]),
        as_of=AS_OF,
        port=spec["port"],
        limits=LimitConfig(enabled=spec["limits"]),
    )
    running = Sandbox(config).start()
    print(running.url, flush=True)
    running._thread.join()  # type: ignore[union-attr]


# -- PostgreSQL ------------------------------------------------------------------------------


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one benchmark, dropped afterwards; yields its URL."""
    admin = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=5)
    admin.autocommit = True
    name = f"xero_bench_{uuid.uuid4().hex[:10]}"
    params = admin.get_dsn_parameters()
    user, host, port = params.get("user", "root"), params["host"], params["port"]
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{user}@{host}:{port}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# -- the pipeline's environment ----------------------------------------------------------------


@contextlib.contextmanager
def pipeline_env(
    sandbox_url: str, warehouse: str, start: str, tenant_ids: tuple[str, ...] = ()
) -> Iterator[dict[str, str]]:
    """Environment variables for a pipeline process aimed at the sandbox as a connected live
    app (consent given, tokens in a temporary folder) and at the warehouse, with its own
    Dagster instance in that folder."""
    from xero_pipeline.resources import sandbox_settings

    with tempfile.TemporaryDirectory(prefix="xero-bench-") as folder:
        settings = sandbox_settings(sandbox_url, Path(folder))
        home = Path(folder) / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {
            **os.environ,
            "XERO_CLIENT_ID": settings.client_id,
            "XERO_CLIENT_SECRET": settings.client_secret.reveal(),
            "XERO_API_BASE": sandbox_url,
            "XERO_IDENTITY_BASE": sandbox_url,
            "XERO_TOKEN_PATH": str(settings.token_path),
            "XERO_SALES_START_DATE": start,
            "XERO_PIPELINE_DATA": folder,
            "WAREHOUSE_URL": warehouse,
            "DAGSTER_HOME": str(home),
        }
        if tenant_ids:
            env["XERO_TENANT_IDS"] = ",".join(tenant_ids)
        yield env


def run_measured(command: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run a pipeline process; its last stdout line (JSON) and its peak memory in MiB (the
    kernel's max RSS for that child, from wait4)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, cwd=ROOT, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command[1]} failed ({process.returncode}):\n{output[-3000:]}")
    return json.loads(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(json.loads(sys.argv[2]))
