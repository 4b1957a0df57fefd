"""The project's Dagster code location and its instance settings: the production dagster.yaml,
and the local instance the command line writes, both carrying the run queue `instance.py` says."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.config import PoolGranularity
from dagster._core.run_coordinator import QueuedRunCoordinator
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from xero_pipeline.cli import _local_instance
from xero_pipeline.instance import (
    DOCUMENTS_POOL,
    NOTIFICATIONS_TAG,
    ORGANISATION_TAG,
    prepare_pools,
    run_queue_settings,
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
    """What Dagster made of the settings: coordinator, run limits, pool limit and granularity."""
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
        queue.should_block_op_concurrency_limited_runs,
        config.pool_config.default_pool_limit,
        config.pool_config.pool_granularity,
    )


EXPECTED_QUEUE = (
    QueuedRunCoordinator,
    4,
    [
        (NOTIFICATIONS_TAG, "send", 1),
        (ORGANISATION_TAG, {"applyLimitPerUniqueValue": True}, 1),  # one run per organisation
    ],
    True,
    1,
    PoolGranularity.RUN,
)


def test_the_command_lines_instance_queues_like_production_and_runs_in_process(
    tmp_path, monkeypatch
) -> None:
    """`xero-pipeline run` executes in process on the local instance: the pool must not hold it,
    not even when a killed run left the pool's one slot claimed."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path))
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    home = _local_instance()  # an older project's file is brought up to date
    assert home == tmp_path / "dagster_home"
    written = yaml.safe_load((home / "dagster.yaml").read_text())
    assert written == {**run_queue_settings(), "telemetry": {"enabled": False}}

    @dg.asset(pool=DOCUMENTS_POOL)
    def documents() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert queue_of(instance) == EXPECTED_QUEUE
        storage = instance.event_log_storage
        assert storage.supports_global_concurrency_limits
        storage.initialize_concurrency_limit_to_default(DOCUMENTS_POOL)
        assert storage.claim_concurrency_slot(DOCUMENTS_POOL, "killed-run", "step").is_claimed
        assert dg.materialize([documents], instance=instance).success


def test_prepare_pools_sets_the_default_limit_once_and_keeps_an_operators(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(run_queue_settings()))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        assert storage.get_pool_limits() == []
        assert prepare_pools(instance) == [DOCUMENTS_POOL]
        (pool,) = storage.get_pool_limits()
        assert (pool.name, pool.limit, pool.from_default) == (DOCUMENTS_POOL, 1, True)
        assert prepare_pools(instance) == []
        storage.set_concurrency_slots(DOCUMENTS_POOL, 2)  # `dagster instance concurrency set`
        assert prepare_pools(instance) == []
        (pool,) = storage.get_pool_limits()
        assert (pool.limit, pool.from_default) == (2, False)
