"""What the project needs from the Dagster instance it runs in: how runs queue and which may not
run together. One source for the command line's local instance, the operator tests' instances
and (held to it by a test) the production `dagster.yaml`.

- Every run that writes invoices and credit notes carries the tag `xero/organisation`: the tenant
  id of the one organisation it works on (the onboarding sensor's runs, or an operator's run for
  one organisation), or `all` (the sync, the reconciliation, a backfill of every organisation).
  The run queue runs one run per value at a time (`applyLimitPerUniqueValue`): two runs writing
  the same organisation's documents never interleave — the 02:00 reconciliation waits for the
  15-minute sync and the other way round — while one organisation's whole-history load runs
  beside the others' syncs, which leave an organisation alone until its history is complete.
- `DocumentRunCoordinator` (Dagster's queue, plus one thing) gives the tag `all` to a
  document-writing run submitted without the tag — launched from the UI's asset graph, say — so
  no such run escapes the limit. Runs executed in process (`xero-pipeline run`) do not queue.
- The notification sender (`send_sales_invoice_notifications`, tag `xero/notifications: send`)
  runs one at a time, so two sends never announce the same invoice.

Dagster 1.13 refuses `max_concurrent_runs` and `tag_concurrency_limits` under `run_coordinator`
once a `concurrency` section is present: all limits live in `concurrency`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext

NOTIFICATIONS_TAG = "xero/notifications"
NOTIFICATIONS_SEND = "send"
ORGANISATION_TAG = "xero/organisation"  # the organisation a run writes: a tenant id, or `all`
EVERY_ORGANISATION = "all"
# What writes invoices and credit notes: the history assets, and the jobs that run them.
DOCUMENT_ASSETS = frozenset(
    AssetKey(name)
    for name in (
        "xero_invoices",
        "xero_invoice_lines",
        "xero_credit_notes",
        "xero_credit_note_lines",
    )
)
DOCUMENT_JOBS = frozenset({"sales_history", "sales_sync"})
# A run the queue has not finished with: what sensors look at before launching another.
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
MAX_CONCURRENT_RUNS = 4
USER_CODE_RETRIES = 3
USER_CODE_RETRY_SECONDS = 10


def writes_documents(run: DagsterRun) -> bool:
    """Whether the run writes invoices or credit notes."""
    return run.job_name in DOCUMENT_JOBS or bool(DOCUMENT_ASSETS & (run.asset_selection or set()))


def tag_document_writer(instance: DagsterInstance, run: DagsterRun) -> None:
    """Tag a document-writing run that names no organisation `all` (every organisation)."""
    if writes_documents(run) and not run.tags.get(ORGANISATION_TAG):
        instance.add_run_tags(run.run_id, {ORGANISATION_TAG: EVERY_ORGANISATION})


class DocumentRunCoordinator(QueuedRunCoordinator):
    """Dagster's run queue; a document-writing run submitted without `xero/organisation` is
    tagged `all` first, so the queue's per-organisation limit holds it too."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        tag_document_writer(self._instance, context.dagster_run)
        return super().submit_run(context)


def run_queue_settings() -> dict[str, Any]:
    """The run coordinator and concurrency sections of a dagster.yaml."""
    return {
        "run_coordinator": {
            "module": "xero_pipeline.instance",
            "class": "DocumentRunCoordinator",
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
