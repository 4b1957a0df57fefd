"""The whole Dagster graph against a checked-in snapshot (`snapshots/definitions.json`): asset keys,
groups, deps, partitions, automation, concurrency pools, checks and which of them block, jobs
and what they select,
schedules with their cron and default status, sensors with theirs. Any change to them shows up
in review as a change to the snapshot. After an intended change, rewrite it with
`UPDATE_SNAPSHOT=1 .venv/bin/pytest xero_pipeline_tests/test_definitions.py` and commit it.

Also: the code location loads the way `dg` and `dagster definitions validate` load it, and every
domain's folder wires itself (one loading call finds everything)."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from xero_pipeline.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
ROOT = Path(__file__).resolve().parent.parent


def _partitions(partitions: dg.PartitionsDefinition | None) -> dict[str, Any] | None:
    """How a partitions definition is cut; a monthly start is the configured sales start, shown by
    its variable (it comes from XERO_SALES_START_DATE, not from the code)."""
    if partitions is None:
        return None
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        return {
            "type": type(partitions).__name__,
            "cron": partitions.cron_schedule,
            "start": "XERO_SALES_START_DATE",
            "end_offset": partitions.end_offset,
        }
    return {"type": type(partitions).__name__}


def snapshot(definitions: dg.Definitions) -> dict[str, Any]:
    """Everything about the graph a reviewer should see change."""
    repository = definitions.get_repository_def()
    graph = repository.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        condition = node.automation_condition
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "automation": condition.get_label() if condition is not None else None,
            "pools": sorted(node.pools or ()),
            "checks": {
                check.name: "blocking" if graph.get_check_spec(check).blocking else "warn"
                for check in sorted(node.check_keys, key=lambda c: c.name)
            },
        }
    jobs = {}
    for job in sorted(repository.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue  # Dagster's own implicit asset job
        jobs[job.name] = {
            "assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys),
            "ops": sorted(node.name for node in job.nodes)
            if not job.asset_layer.executable_asset_keys
            else [],
            "pools": sorted({node.definition.pool for node in job.nodes if node.definition.pool}),
            "partitions": _partitions(job.partitions_def),
            "tags": dict(sorted(job.tags.items())),
        }
    schedules = {
        s.name: {
            "job": s.job_name,
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "default_status": s.default_status.value,
        }
        for s in sorted(repository.schedule_defs, key=lambda s: s.name)
    }
    sensors = {
        s.name: {
            "type": type(s).__name__,
            "jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
            "minimum_interval_seconds": s.minimum_interval_seconds,
            "default_status": s.default_status.value,
        }
        for s in sorted(repository.sensor_defs, key=lambda s: s.name)
    }
    resources = sorted(definitions.resources or {})
    return {
        "assets": assets,
        "jobs": jobs,
        "schedules": schedules,
        "sensors": sensors,
        "resources": resources,
    }


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    """A unified diff of two snapshots; empty when they are the same."""
    before = json.dumps(expected, indent=1, sort_keys=True).splitlines()
    after = json.dumps(actual, indent=1, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(before, after, "snapshot", "definitions", lineterm=""))


def test_the_graph_matches_its_snapshot() -> None:
    actual = snapshot(defs)
    if os.environ.get("UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    changed = differences(expected, actual)
    assert not changed, (
        "The Dagster graph differs from xero_pipeline_tests/snapshots/definitions.json. If the "
        f"change is intended, rewrite the snapshot (see this module's docstring):\n{changed}"
    )


def test_the_snapshot_sees_a_schedule_switched_off() -> None:
    """The guard itself: flipping one schedule's default status is a difference it reports."""
    original = next(s for s in defs.schedules or [] if s.name == "reference_data_daily")
    flipped = dg.ScheduleDefinition(
        name=original.name,
        job=original.job,
        cron_schedule=original.cron_schedule,
        execution_timezone=original.execution_timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    altered = dg.Definitions(
        assets=list(defs.assets or []),
        jobs=list(defs.jobs or []),
        schedules=[s for s in (defs.schedules or []) if s.name != original.name] + [flipped],
        sensors=list(defs.sensors or []),
        resources=defs.resources,
    )
    changed = differences(snapshot(defs), snapshot(altered))
    assert '-   "default_status": "RUNNING"' in changed
    assert '+   "default_status": "STOPPED"' in changed


def _waits_while_built(condition: dg.AutomationCondition) -> set[str]:
    """The assets a condition names in `asset_matches` (which `follows` uses for its readers)."""
    key = getattr(condition, "key", None)
    named = {key.to_user_string()} if isinstance(key, dg.AssetKey) else set()
    return named.union(*(_waits_while_built(child) for child in condition.children))


def test_each_sales_asset_waits_while_exactly_its_sales_readers_are_built() -> None:
    """`follows(readers=...)` names by hand the sales assets built from each one; a reader added
    to the graph and not named there would reopen the race its docstring describes."""
    graph = defs.get_repository_def().asset_graph
    sales = {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "sales"}
    assert len(sales) == 5
    for key in sales:
        readers = {c.to_user_string() for c in graph.get(key).child_keys if c in sales}
        assert _waits_while_built(graph.get(key).automation_condition) == readers, key


def test_every_domain_folder_contributes_and_the_root_only_loads() -> None:
    groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert groups == {"xero", "xero_history", "sales", "customers", "xero_organisations"}
    repository = defs.get_repository_def()
    assert repository.has_job("send_sales_invoice_notifications")  # notifications' own job
    root = (ROOT / "xero_pipeline" / "definitions.py").read_text()
    assert "@dg.asset" not in root and "ScheduleDefinition" not in root


@pytest.mark.parametrize(
    "command",
    [
        ["dg", "check", "defs"],
        ["dagster", "definitions", "validate", "-w", "workspace.yaml"],
    ],
    ids=["dg check defs", "dagster definitions validate"],
)
def test_dagster_tools_load_the_code_location(command: list[str], tmp_path: Path) -> None:
    """As an operator's tools load it, in a process of their own (with an instance of its own:
    the repository's dagster.yaml is production's, PostgreSQL)."""
    binary = Path(sys.executable).parent / command[0]
    result = subprocess.run(
        [str(binary), *command[1:]],
        cwd=ROOT,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    said = result.stdout + result.stderr
    assert "All definitions loaded successfully" in said or "passed validation" in said
