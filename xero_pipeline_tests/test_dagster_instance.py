"""The project's Dagster code location and its instance settings: the production dagster.yaml,
and the local instance the command line writes, both carrying the run queue `instance.py` says."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from xero_pipeline.cli import _local_instance
from xero_pipeline.instance import (
    EVERY_ORGANISATION,
    NOTIFICATIONS_TAG,
    ORGANISATION_TAG,
    DocumentRunCoordinator,
    run_queue_settings,
    tag_document_writer,
)

ROOT = Path(__file__).resolve().parent.parent


def test_definitions_load() -> None:
    from xero_pipeline.definitions import defs

    assert isinstance(defs, dg.Definitions)


@pytest.mark.postgres
def test_instance_from_dagster_yaml_keeps_runs_in_postgres(
    postgres_url, tmp_path, monkeypatch
) -> None:
    url = make_url(postgres_url)
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_USER", url.username or "")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
    monkeypatch.setenv("DAGSTER_PG_HOST", url.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_DB", url.database or "")

    @dg.asset
    def heartbeat() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        result = dg.materialize([heartbeat], instance=instance)
        assert result.success
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert queue_of(instance) == EXPECTED_QUEUE
    with create_engine(postgres_url).connect() as connection:
        runs = connection.execute(text("SELECT count(*) FROM runs")).scalar_one()
    assert runs == 1


def test_production_dagster_yaml_queues_runs_as_the_code_says() -> None:
    production = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    expected = run_queue_settings()
    assert {key: production.get(key) for key in expected} == expected
    assert production["telemetry"] == {"enabled": False}
    assert production["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"


def queue_of(instance: dg.DagsterInstance) -> tuple[object, ...]:
    """What Dagster made of the settings: coordinator, run limit and tag limits."""
    config = instance.get_concurrency_config()
    queue = config.run_queue_config
    assert queue is not None
    return (
        type(instance.run_coordinator),
        queue.max_concurrent_runs,
        [
            (limit["key"], limit.get("value"), limit["limit"])
            for limit in queue.tag_concurrency_limits
        ],
    )


EXPECTED_QUEUE = (
    DocumentRunCoordinator,
    4,
    [
        (NOTIFICATIONS_TAG, "send", 1),
        (ORGANISATION_TAG, {"applyLimitPerUniqueValue": True}, 1),  # one run per organisation
    ],
)


def test_the_command_lines_instance_queues_like_production_and_runs_in_process(
    tmp_path, monkeypatch
) -> None:
    """`xero-pipeline run` executes in process on the local instance, which queues like
    production; an older project's file is brought up to date."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path))
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    home = _local_instance()
    assert home == tmp_path / "dagster_home"
    written = yaml.safe_load((home / "dagster.yaml").read_text())
    assert written == {**run_queue_settings(), "telemetry": {"enabled": False}}

    @dg.asset
    def documents() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert queue_of(instance) == EXPECTED_QUEUE
        assert dg.materialize([documents], instance=instance).success


@dg.asset(name="xero_invoices")
def invoices_stand_in() -> int:
    return 1


@dg.asset
def contacts_stand_in() -> int:
    return 1


def test_the_queue_tags_every_document_writing_run_with_its_organisations(tmp_path) -> None:
    """Submitted without `xero/organisation`, a run writing documents is tagged `all` (so the
    per-organisation limit holds it); a run for one organisation keeps its tenant id; other
    runs are left as they are."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(run_queue_settings()))
    defs = dg.Definitions(
        assets=[invoices_stand_in, contacts_stand_in],
        jobs=[
            dg.define_asset_job("sales_sync", selection=[contacts_stand_in]),
            dg.define_asset_job("adhoc_invoices", selection=[invoices_stand_in]),
            dg.define_asset_job("reference_data", selection=[contacts_stand_in]),
        ],
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, DocumentRunCoordinator)
        submitted = {}
        for job_name, tags in (
            ("sales_sync", {}),
            ("adhoc_invoices", {}),
            ("adhoc_invoices", {ORGANISATION_TAG: "tenant-b"}),
            ("reference_data", {}),
        ):
            job = defs.resolve_job_def(job_name)
            run = instance.create_run_for_job(
                job,
                tags=tags,
                status=dg.DagsterRunStatus.NOT_STARTED,
                asset_selection=frozenset(job.asset_layer.executable_asset_keys),
            )
            tag_document_writer(instance, run)  # what the coordinator's submit_run does first
            stored = instance.get_run_by_id(run.run_id)
            assert stored is not None
            submitted[(job_name, tags.get(ORGANISATION_TAG))] = stored.tags.get(ORGANISATION_TAG)
    assert submitted == {
        ("sales_sync", None): EVERY_ORGANISATION,
        ("adhoc_invoices", None): EVERY_ORGANISATION,
        ("adhoc_invoices", "tenant-b"): "tenant-b",
        ("reference_data", None): None,
    }
