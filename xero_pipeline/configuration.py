"""Every setting the pipeline takes from the environment, checked together before anything runs.

Each setting is parsed where it is used (the Xero client, the warehouse, the history, the merge,
the notifications); this module only asks all of them at once, so that a run with a wrong
variable stops before its first call to Xero with one line per wrong variable, naming it —
rather than after an hour of backfill, when the step that reads it finally starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

from dagster._utils.schedules import is_valid_cron_string

from xero_pipeline.defs.customers.settings import MergeSettings
from xero_pipeline.defs.customers.source import TABLE_PREFIX
from xero_pipeline.defs.notifications.sinks import lookback_days, sinks_from_env
from xero_pipeline.months import SANDBOX_HISTORY_MONTHS, month_start
from xero_pipeline.warehouse.engine import warehouse_url
from xero_pipeline.xero.errors import ConfigError
from xero_pipeline.xero.settings import XeroSettings, token_key_of, token_store_kind


def sales_start(env: Mapping[str, str] | None = None, today: date | None = None) -> date:
    """The first month of sales history: XERO_SALES_START_DATE (YYYY-MM or YYYY-MM-DD), required
    with a Xero app; with the sandbox, the first month of its default organisation."""
    env = dict(os.environ) if env is None else env
    raw = (env.get("XERO_SALES_START_DATE") or "").strip()
    if raw:
        try:
            return date.fromisoformat(raw if len(raw) > 7 else f"{raw}-01").replace(day=1)
        except ValueError:
            raise ConfigError(
                "XERO_SALES_START_DATE", f"must be a month like 2021-01 (or a date), not {raw!r}"
            ) from None
    if env.get("XERO_CLIENT_ID"):
        raise ConfigError(
            "XERO_SALES_START_DATE",
            "is required with a Xero app: the first month of sales history to load, e.g. 2021-01",
        )
    return month_start(today or datetime.now(UTC).date(), SANDBOX_HISTORY_MONTHS - 1)


def reconcile_months(env: Mapping[str, str] | None = None) -> int:
    """How many trailing months the nightly reconciliation re-reads: XERO_RECONCILE_MONTHS."""
    env = dict(os.environ) if env is None else env
    raw = (env.get("XERO_RECONCILE_MONTHS") or "3").strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError("XERO_RECONCILE_MONTHS", f"must be a whole number of months, not {raw!r}")
    return int(raw)


# When each schedule fires (cron, UTC), by the variable an operator sets to move it; the defaults
# are the schedules' own (the checked-in graph snapshot holds them).
SCHEDULES = {
    "XERO_SYNC_SCHEDULE": "*/15 * * * *",  # sales_sync_every_15_minutes
    "XERO_RECONCILE_SCHEDULE": "0 2 * * *",  # reconcile_recent_months
    "XERO_REFERENCE_SCHEDULE": "0 5 * * *",  # reference_data_daily
    "XERO_MERGE_SCHEDULE": "30 5 * * *",  # customer_merge_daily
}


def schedule_cron(variable: str, env: Mapping[str, str] | None = None) -> str:
    """A schedule's cron string: `variable` (one of SCHEDULES) or its default. Checked with
    Dagster's own cron rules, so a value the daemon would refuse stops here, named, instead of
    failing the code location's load with a message about a schedule."""
    env = dict(os.environ) if env is None else env
    raw = (env.get(variable) or "").strip()
    if not raw:
        return SCHEDULES[variable]
    if not is_valid_cron_string(raw):
        raise ConfigError(
            variable, f"must be a cron string of five fields like '*/15 * * * *', not {raw!r}"
        )
    return raw


class ConfigurationError(ConfigError):
    """One or more variables are wrong; the message has a line for each, naming it."""

    def __init__(self, problems: list[ConfigError]) -> None:
        Exception.__init__(self, "\n".join(str(p) for p in problems))
        self.problems = problems
        self.variable = problems[0].variable
        self.variables = [p.variable for p in problems]


def _customers_source(env: Mapping[str, str]) -> None:
    source = MergeSettings.from_env(env).source
    if source and not source.startswith(TABLE_PREFIX):
        path = Path(source).expanduser()
        if not path.is_file():
            raise ConfigError(
                "CUSTOMERS_SOURCE",
                f"{path} is not a file; give a CSV path or table:<name> for a warehouse table",
            )


CHECKS: tuple[Callable[[Mapping[str, str]], object], ...] = (
    XeroSettings.from_env,  # XERO_CLIENT_ID, _SECRET, _TENANT_IDS, _API_BASE, _IDENTITY_BASE,
    # _SCOPES (and the first of the two below)
    token_store_kind,  # XERO_TOKEN_STORE
    token_key_of,  # XERO_TOKEN_KEY
    warehouse_url,  # WAREHOUSE_URL
    sales_start,  # XERO_SALES_START_DATE
    reconcile_months,  # XERO_RECONCILE_MONTHS
    _customers_source,  # CUSTOMERS_SOURCE, XERO_CUSTOMER_GROUP, XERO_NEW_CUSTOMER_LIMIT
    sinks_from_env,  # XERO_NOTIFY_WEBHOOK_URL, XERO_NOTIFY_LOG_FILE
    lookback_days,  # XERO_NOTIFY_LOOKBACK_DAYS
    *(partial(schedule_cron, variable) for variable in SCHEDULES),  # XERO_*_SCHEDULE
)


def check_environment(env: Mapping[str, str] | None = None) -> None:
    """Raise a ConfigurationError listing every wrong variable; return quietly if none is."""
    env = dict(os.environ) if env is None else env
    problems = []
    for check in CHECKS:
        try:
            check(env)
        except ConfigError as problem:
            if str(problem) not in {str(p) for p in problems}:  # one line per wrong variable
                problems.append(problem)
    if problems:
        raise ConfigurationError(problems)
