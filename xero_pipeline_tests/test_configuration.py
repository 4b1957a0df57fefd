"""Bad configuration: each variable wrong or missing in turn gives one clear error naming it,
before any call to Xero — from the command line and from a Dagster run alike."""

from __future__ import annotations

import dagster as dg
import pytest

from xero_pipeline.cli import main
from xero_pipeline.configuration import (
    SCHEDULES,
    ConfigurationError,
    check_environment,
    schedule_cron,
)
from xero_pipeline.defs.reference import assets as reference
from xero_pipeline.resources import WarehouseResource, XeroResource

reference_assets = dg.load_assets_from_modules([reference])

# (variable, value; None removes it, message it must contain)
CASES = [
    ("XERO_CLIENT_SECRET", None, "is not set, but XERO_CLIENT_ID is"),
    ("XERO_TENANT_IDS", "not-a-guid", "is not a tenant id"),
    ("XERO_API_BASE", "ftp://api.xero.com", "must be an http(s) URL"),
    ("XERO_IDENTITY_BASE", "http://identity.example.com", "must use https"),
    ("XERO_SCOPES", "accounting.transactions.read", "has no scope to read contacts"),
    ("WAREHOUSE_URL", "postgresql://me@db/warehouse", "must name its driver"),
    ("WAREHOUSE_URL", "a warehouse", "is not a SQLAlchemy URL"),
    ("XERO_SALES_START_DATE", "2024-13", "must be a month like 2021-01"),
    ("XERO_SALES_START_DATE", None, "is required with a Xero app"),
    ("XERO_RECONCILE_MONTHS", "three", "must be a whole number of months"),
    ("CUSTOMERS_SOURCE", "/nowhere/customers.csv", "is not a file"),
    ("CUSTOMERS_SOURCE", "table:", "needs a table name"),
    ("XERO_NEW_CUSTOMER_LIMIT", "150%", "must be a share between 0 and 1"),
    ("XERO_NOTIFY_WEBHOOK_URL", "http://hooks.example.com/x", "must use https"),
    ("XERO_NOTIFY_LOOKBACK_DAYS", "-1", "must be a whole number of days"),
    ("XERO_SYNC_SCHEDULE", "every 15 minutes", "must be a cron string"),
    ("XERO_RECONCILE_SCHEDULE", "0 2 * * * *", "must be a cron string"),  # seconds: not Dagster's
    ("XERO_REFERENCE_SCHEDULE", "61 5 * * *", "must be a cron string"),
    ("XERO_MERGE_SCHEDULE", "0 0 31 2 *", "must be a cron string"),  # never fires
]
IDS = [f"{variable}={value}" for variable, value, _ in CASES]


@pytest.fixture
def configured(sandbox, xero_env, monkeypatch, tmp_path):
    """A correct live configuration aimed at the sandbox; each case then breaks one thing."""
    xero_env(sandbox)
    monkeypatch.setenv("XERO_SALES_START_DATE", "2026-01")
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for name in (
        "CUSTOMERS_SOURCE",
        "XERO_NOTIFY_WEBHOOK_URL",
        "XERO_RECONCILE_MONTHS",
        *SCHEDULES,
    ):
        monkeypatch.delenv(name, raising=False)
    check_environment()  # the starting point is right
    return sandbox


def break_one(monkeypatch, variable: str, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, value)


@pytest.mark.parametrize("variable, value, says", CASES, ids=IDS)
def test_the_command_line_names_the_variable_before_calling_xero(
    configured, monkeypatch, capsys, variable, value, says
):
    break_one(monkeypatch, variable, value)
    tokens_before = configured.identity.refreshes
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [err.splitlines()[0]], err  # one error, one line
    assert err.startswith(f"error: {variable}: ") and says in err, err
    assert "Traceback" not in err
    assert configured.total_calls() == 0
    assert configured.identity.refreshes == tokens_before  # not even a token refresh


@pytest.mark.parametrize("variable, value, says", CASES, ids=IDS)
def test_a_dagster_run_names_the_variable_before_calling_xero(
    configured, monkeypatch, tmp_path, variable, value, says
):
    break_one(monkeypatch, variable, value)
    result = dg.materialize(
        reference_assets,
        resources={
            "xero": XeroResource(),
            "warehouse": WarehouseResource(url=f"sqlite:///{tmp_path / 'w.sqlite'}"),
        },
        raise_on_error=False,
    )
    assert not result.success
    (failed,) = [e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE"]
    error = failed.event_specific_data.error
    assert error.cls_name == "ConfigurationError"
    assert error.message.startswith(f"xero_pipeline.configuration.ConfigurationError: {variable}: ")
    assert says in error.message
    assert configured.total_calls() == 0


def test_every_wrong_variable_is_named_at_once(configured, monkeypatch):
    monkeypatch.setenv("XERO_API_BASE", "ftp://x")
    monkeypatch.setenv("XERO_RECONCILE_MONTHS", "0")
    monkeypatch.setenv("XERO_NEW_CUSTOMER_LIMIT", "lots")
    with pytest.raises(ConfigurationError) as raised:
        check_environment()
    assert raised.value.variables == [
        "XERO_API_BASE",
        "XERO_RECONCILE_MONTHS",
        "XERO_NEW_CUSTOMER_LIMIT",
    ]
    assert len(str(raised.value).splitlines()) == 3


def test_a_schedule_is_its_default_unless_its_variable_says_otherwise():
    assert {name: schedule_cron(name, {}) for name in SCHEDULES} == {
        "XERO_SYNC_SCHEDULE": "*/15 * * * *",
        "XERO_RECONCILE_SCHEDULE": "0 2 * * *",
        "XERO_REFERENCE_SCHEDULE": "0 5 * * *",
        "XERO_MERGE_SCHEDULE": "30 5 * * *",
    }
    assert schedule_cron("XERO_SYNC_SCHEDULE", {"XERO_SYNC_SCHEDULE": " * * * * * "}) == "* * * * *"
    assert schedule_cron("XERO_MERGE_SCHEDULE", {"XERO_MERGE_SCHEDULE": ""}) == "30 5 * * *"
