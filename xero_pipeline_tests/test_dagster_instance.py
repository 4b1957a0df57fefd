"""The project's Dagster code location and its production instance settings (dagster.yaml)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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
    with create_engine(postgres_url).connect() as connection:
        runs = connection.execute(text("SELECT count(*) FROM runs")).scalar_one()
    assert runs == 1
