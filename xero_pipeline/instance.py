"""What the project needs from the Dagster instance it runs in: how runs queue and which may not
run together. One source for the command line's local instance, the operator tests' instances
and (held to it by a test) the production `dagster.yaml`.

- Runs that write invoices and credit notes (the history assets, the incremental sync) share the
  pool `xero_documents`, limited to one. With `granularity: run` the run queue holds a second such
  run QUEUED until the first has finished, so their writes never interleave. Steps do not claim
  slots at run time: an in-process run (`xero-pipeline run`) is never held by a slot a killed
  run left claimed. Dagster reads the limit from `default_limit` (the only pool limit a
  dagster.yaml can set; a per-pool limit lives in the instance's database).
- Dagster applies `default_limit` to a pool the first time its run queue sees a run in it, and
  every run queued in that same pass is launched regardless (seen with 1.13: two runs of the
  pool started together on a fresh instance). `prepare_pools` gives the pool its limit before
  any run is queued (the operator tests' instances); on a production instance
  `dagster instance concurrency set xero_documents 1`, once, does the same (see the README).
- The notification sender (`send_sales_invoice_notifications`, tag `xero/notifications: send`)
  runs one at a time, so two sends never announce the same invoice.
- Runs for one organisation (tag `xero/organisation`: the onboarding sensor's, or an operator's
  run for one organisation) run one at a time per organisation, whatever they write; runs for
  different organisations are limited only as above.

Dagster 1.13 refuses `max_concurrent_runs` and `tag_concurrency_limits` under `run_coordinator`
once a `concurrency` section is present: all limits live in `concurrency`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from dagster import DagsterInstance

DOCUMENTS_POOL = "xero_documents"
NOTIFICATIONS_TAG = "xero/notifications"
NOTIFICATIONS_SEND = "send"
ORGANISATION_TAG = "xero/organisation"  # a run for one organisation: its tenant id
MAX_CONCURRENT_RUNS = 4
USER_CODE_RETRIES = 3
USER_CODE_RETRY_SECONDS = 10
POOLS = (DOCUMENTS_POOL,)


def run_queue_settings() -> dict[str, Any]:
    """The run coordinator and concurrency sections of a dagster.yaml."""
    return {
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            # A code server slow to answer (a busy machine, a redeploy) puts the run back in the
            # queue a few times instead of failing it.
            "config": {
                "max_user_code_failure_retries": USER_CODE_RETRIES,
                "user_code_failure_retry_delay": USER_CODE_RETRY_SECONDS,
            },
        },
        "concurrency": {
            "runs": {
                "max_concurrent_runs": MAX_CONCURRENT_RUNS,
                "tag_concurrency_limits": [
                    {"key": NOTIFICATIONS_TAG, "value": NOTIFICATIONS_SEND, "limit": 1},
                    {
                        "key": ORGANISATION_TAG,
                        "value": {"applyLimitPerUniqueValue": True},
                        "limit": 1,
                    },
                ],
            },
            "pools": {"default_limit": 1, "granularity": "run"},
        },
    }


def instance_settings(storage: dict[str, Any] | None = None) -> dict[str, Any]:
    """A whole dagster.yaml: `storage` (None: SQLite under DAGSTER_HOME), the run queue, no
    telemetry (nothing leaves the machine)."""
    return {
        **({"storage": storage} if storage else {}),
        **run_queue_settings(),
        "telemetry": {"enabled": False},
    }


def write_instance(home: Path, storage: dict[str, Any] | None = None, note: str = "") -> Path:
    """Write `home`/dagster.yaml (only when its content changes, so a running daemon reading it
    never sees a half-written file for nothing); `note` becomes its header comment."""
    home.mkdir(parents=True, exist_ok=True)
    header = "".join(f"# {line}\n" for line in note.splitlines())
    text = header + yaml.safe_dump(instance_settings(storage), sort_keys=False)
    path = home / "dagster.yaml"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def prepare_pools(instance: DagsterInstance) -> list[str]:
    """Give each of the project's pools the instance's default limit now, unless it has a limit
    already (an operator's explicit one is kept). Returns the pools it set up."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    known = {pool.name for pool in storage.get_pool_limits()}
    missing = [pool for pool in POOLS if pool not in known]
    for pool in missing:
        storage.initialize_concurrency_limit_to_default(pool)
    return missing
