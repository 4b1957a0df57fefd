"""A profile of the sales rebuild: where a month's time goes inside `gated_rebuild`.

One organisation of 24,000 invoices over 12 months is loaded into PostgreSQL from a sandbox
process (as `bench/backfill_run.py full` loads it); then the fact and the rollup are rebuilt for
each month in this process with each phase timed from outside (the functions wrapped, nothing in
the shipped code changed): staging the SELECT, the suite in SQL on the staged rows (the gate's
query inside it), the summary, the replace. Prints seconds per phase, summed over the months.

Run: `.venv/bin/python bench/sales_phases.py` (about two minutes). Not part of `make bench`: it
explains a figure of `bench/backfill.py`, it does not measure one against a target.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from benchlib import AS_OF, pg_database, pipeline_env, run_measured, sandbox

from xero_pipeline.months import month_start

ORG = dict(
    name="Profile", contacts=3000, invoices=24000, credit_notes=1200, months=12, max_lines=19
)
SPENT: defaultdict[str, float] = defaultdict(float)


def timed(module: Any, name: str, label: str) -> None:
    """Wrap `module.name` so its time adds up under `label`."""
    function: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[label] += time.perf_counter() - started

    setattr(module, name, wrapper)


def main() -> None:
    first = month_start(AS_OF, 11)
    with (
        sandbox(None, [ORG]) as xero,
        pg_database() as url,
        pipeline_env(xero.url, url, f"{first:%Y-%m}") as env,
    ):
        load = [sys.executable, "bench/backfill_run.py", "full", "--from", f"{first:%Y-%m}"]
        run_measured([*load, "--to", f"{AS_OF:%Y-%m}", "--minute-limit", "1000000"], env)
        os.environ.update(env)
        from sqlalchemy import text

        import xero_pipeline.quality.in_warehouse as in_warehouse
        import xero_pipeline.quality.rebuild as rebuild
        from xero_pipeline.defs.sales.assets import DOCUMENT_KEY
        from xero_pipeline.defs.sales.queries import sql
        from xero_pipeline.warehouse import schema
        from xero_pipeline.warehouse.engine import connect

        for label, module, name in (
            ("stage the SELECT", rebuild, "stage"),
            ("suite in SQL, on the staged rows", in_warehouse, "validate_in_warehouse"),
            ("summary", rebuild, "read_back"),
            ("replace the month", rebuild, "replace"),
        ):
            timed(module, name, label)
        engine = connect(url)  # as the pipeline connects (its session settings)
        keys = {
            "fct_sales_lines": ("tenant_id", "document_type", "document_id", "line_number"),
            "sales_by_account_code_monthly": ("tenant_id", "month", "account_code"),
        }
        for table, ids in keys.items():
            for back in range(11, -1, -1):
                start, end = month_start(AS_OF, back), month_start(AS_OF, back - 1)
                started = time.perf_counter()
                rebuild.gated_rebuild(
                    engine,
                    schema.metadata.tables[table],
                    select_sql=sql(table),
                    gate_sql=sql(f"{table}_gate"),
                    summary_sql=sql(f"{table}_summary"),
                    scope="month = :month",
                    params={"start": start, "end": end, "month": start},
                    id_columns=ids,
                    where=table,
                    document_key=DOCUMENT_KEY if table == "fct_sales_lines" else (),
                )
                SPENT[f"{table}, whole"] += time.perf_counter() - started
        with engine.connect() as connection:
            lines = connection.execute(text("SELECT count(*) FROM fct_sales_lines")).scalar()
    print(json.dumps({"fact lines": lines, **{k: round(v, 2) for k, v in SPENT.items()}}))


if __name__ == "__main__":
    main()
