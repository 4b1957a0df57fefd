"""The Dagster webserver, started against `workspace.yaml` as its own process, loads the code
location: its GraphQL API lists the assets, their checks, the job and the schedule."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from xero_pipeline.definitions import defs
from xero_pipeline.quality.suites import DATA_CHECKS, expectations

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = REPO_ROOT / "workspace.yaml"
STARTUP_TIMEOUT = 90  # seconds: importing Dagster and great_expectations is slow
EXPECTED_GROUPS = {
    "xero_organisation": "xero",
    "xero_contacts": "xero",
    "xero_contact_groups": "xero",
    "xero_contact_group_members": "xero",
    "xero_accounts": "xero",
    "suppliers": "xero",
    "xero_invoices": "xero_history",
    "xero_invoice_lines": "xero_history",
    "xero_credit_notes": "xero_history",
    "xero_credit_note_lines": "xero_history",
    "fct_sales_lines": "sales",
    "sales_by_account_code_monthly": "sales",
    "dim_account_codes": "sales",
    "invoiced_contacts": "sales",
    "sales_by_account_code_chart": "sales",
    "customer_merge_preview": "customers",
    "customers": "customers",
    "customer_match_review": "customers",
    "xero_connections": "xero_organisations",
}
EXPECTED_ASSETS = set(EXPECTED_GROUPS)
EXPECTED_SCHEDULES = {  # name: (cron, job)
    "reference_data_daily": ("0 5 * * *", "reference_data"),
    "sales_sync_every_15_minutes": ("*/15 * * * *", "sales_sync"),
    "reconcile_recent_months": ("0 2 * * *", "sales_history"),
    "customer_merge_daily": ("30 5 * * *", "customer_merge"),
}
EXPECTED_SENSORS = {  # name: status as a fresh instance starts it
    "sales_automation": "RUNNING",
    "new_sales_invoice_notifications": "RUNNING",
    "onboard_new_organisations": "RUNNING",
}
# A picture, not a table; the ledger of organisations, bookkeeping the pipeline writes itself.
UNCHECKED = {"sales_by_account_code_chart", "xero_connections"}

WORKSPACE_QUERY = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation {
            name
            repositories {
              name
              assetNodes {
                assetKey { path }
                groupName
                assetChecksOrError {
                  __typename
                  ... on AssetChecks { checks { name } }
                  ... on Error { message }
                }
              }
              schedules { name cronSchedule pipelineName }
              sensors { name sensorState { status } }
              jobs { name }
            }
          }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message stack }
  }
}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop the webserver and everything it spawned (the code server): SIGTERM, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    # The leader may have gone while its children linger in the group: kill whatever is left.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_until_up(base: str, process: subprocess.Popen[bytes], stderr_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"dagster-webserver exited with {process.returncode}:\n"
                f"{stderr_path.read_text(errors='replace')}"
            )
        try:
            if requests.get(f"{base}/server_info", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"dagster-webserver did not answer within {STARTUP_TIMEOUT}s:\n"
                f"{stderr_path.read_text(errors='replace')}"
            )
        time.sleep(0.5)


def graphql(base: str, query: str) -> dict[str, Any]:
    response = requests.post(f"{base}/graphql", json={"query": query}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


@pytest.mark.slow
def test_webserver_loads_the_code_location_with_assets_checks_and_schedule(
    tmp_path: Path,
) -> None:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()  # empty: the instance uses SQLite storage under it
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "XERO_API_BASE", "XERO_IDENTITY_BASE"}
    }
    env["DAGSTER_HOME"] = str(dagster_home)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stdout_path = tmp_path / "webserver.out"
    stderr_path = tmp_path / "webserver.err"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster_webserver",
                "-w",
                str(WORKSPACE),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            wait_until_up(base, process, stderr_path)
            data = graphql(base, WORKSPACE_QUERY)
        finally:
            stop_group(process)

    workspace = data["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace.get("message")
    entries = workspace["locationEntries"]
    assert len(entries) == 1, [entry["name"] for entry in entries]
    location = entries[0]["locationOrLoadError"]
    assert location is not None, f"location not loaded: {entries[0]['loadStatus']}"
    if location["__typename"] == "PythonError":
        pytest.fail(f"code location failed to load: {location['message']}\n{location['stack']}")
    assert location["__typename"] == "RepositoryLocation"
    (repository,) = location["repositories"]

    nodes = {"/".join(node["assetKey"]["path"]): node for node in repository["assetNodes"]}
    assert set(nodes) == EXPECTED_ASSETS
    assert {name: node["groupName"] for name, node in nodes.items()} == EXPECTED_GROUPS

    expected_checks: dict[str, set[str]] = {name: set() for name in EXPECTED_ASSETS}
    for check_key in defs.resolve_asset_graph().asset_check_keys:
        expected_checks[check_key.asset_key.to_user_string()].add(check_key.name)
    # Every expectation kept in data_checks/ is an asset check somewhere, and every gated table
    # also carries the storage check.
    declared = set().union(*expected_checks.values())
    for path in DATA_CHECKS.glob("*.json"):
        assert {e.name for e in expectations(path.stem)} <= declared, path.name
    assert all(expected_checks[name] for name in EXPECTED_ASSETS - UNCHECKED), (
        "an asset lacks checks"
    )
    for name, node in nodes.items():
        checks = node["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks", (name, checks.get("message"))
        assert {check["name"] for check in checks["checks"]} == expected_checks[name], name

    schedules = {schedule["name"]: schedule for schedule in repository["schedules"]}
    assert {name: (s["cronSchedule"], s["pipelineName"]) for name, s in schedules.items()} == (
        EXPECTED_SCHEDULES
    )
    assert {"reference_data", "sales_history", "sales_sync", "customer_merge", "sales_marts"} <= {
        job["name"] for job in repository["jobs"]
    }
    sensors = {sensor["name"]: sensor["sensorState"]["status"] for sensor in repository["sensors"]}
    assert sensors == EXPECTED_SENSORS
