"""What the warehouse holds, per table and tenant: printed by `make run`, `backfill` and
`status`. (Net sales by account code: `defs/sales/summary.py`.)"""

from __future__ import annotations

from sqlalchemy import Connection, String, func, inspect, null, select

from xero_pipeline.configuration import sales_start
from xero_pipeline.defs.history.progress import history_complete
from xero_pipeline.warehouse.engine import reading
from xero_pipeline.warehouse.schema import (
    history_months,
    metadata,
    sync_state,
    xero_connections,
    xero_organisation,
)
from xero_pipeline.warehouse.values import as_utc

SUMMARY_TABLES = (
    "xero_organisation",
    "xero_contacts",
    "xero_contact_groups",
    "xero_contact_group_members",
    "xero_accounts",
    "suppliers",
)


def loaded_summary(url: str) -> str:
    with reading(url, "xero_organisation") as connection:
        if connection is None:
            return "(the warehouse is empty)"
        names = _organisation_names(connection)
        counts = _rows_by_tenant(connection, SUMMARY_TABLES)
    width = max(len(t) for t in SUMMARY_TABLES)
    lines = []
    for tenant_id, tables in counts.items():
        lines.append(f"{names.get(tenant_id, '?')}  (tenant {tenant_id})")
        lines += [
            f"  {name:<{width}} {tables.get(name, (0, None))[0]:>7}" for name in SUMMARY_TABLES
        ]
    return "\n".join(lines)


def _organisation_names(connection: Connection) -> dict[str, str]:
    return dict(
        connection.execute(select(xero_organisation.c.tenant_id, xero_organisation.c.name)).all()
    )


def _rows_by_tenant(
    connection: Connection, table_names: tuple[str, ...]
) -> dict[str, dict[str, tuple[int, object]]]:
    """tenant_id -> table -> (rows, when last written). The tables built in SQL keep no
    loaded_at: their time is None."""
    found: dict[str, dict[str, tuple[int, object]]] = {}
    for name in table_names:
        table = metadata.tables[name]
        written = table.c.get("loaded_at")
        latest = func.max(written) if written is not None else null()
        for tenant_id, count, last in connection.execute(
            select(table.c.tenant_id, func.count(), latest).group_by(table.c.tenant_id)
        ):
            found.setdefault(tenant_id, {})[name] = (count, last)
    return found


def history_summary(url: str, last_months: int | None = None) -> str:
    """Documents and lines per month, both resources, all tenants."""
    with reading(url, "xero_invoices") as connection:
        if connection is None:
            return "(no sales history loaded)"
        counts: dict[str, list[int]] = {}
        for position, (table, date_column) in enumerate(
            (
                ("xero_invoices", "date"),
                ("xero_invoice_lines", "invoice_date"),
                ("xero_credit_notes", "date"),
                ("xero_credit_note_lines", "credit_note_date"),
            )
        ):
            column = metadata.tables[table].c[date_column]
            month = func.substr(func.cast(column, String), 1, 7)
            for key, count in connection.execute(select(month, func.count()).group_by(month)):
                counts.setdefault(key, [0, 0, 0, 0])[position] = count
    months = sorted(counts)[-last_months:] if last_months else sorted(counts)
    lines = [f"{'month':<8} {'invoices':>9} {'lines':>7} {'credit notes':>13} {'lines':>7}"]
    lines += [
        f"{m:<8} {c[0]:>9} {c[1]:>7} {c[2]:>13} {c[3]:>7}" for m in months for c in [counts[m]]
    ]
    return "\n".join(lines)


STATUS_TABLES = (
    *SUMMARY_TABLES,
    "xero_invoices",
    "xero_invoice_lines",
    "xero_credit_notes",
    "xero_credit_note_lines",
    "fct_sales_lines",
    "sales_by_account_code_monthly",
    "dim_account_codes",
    "invoiced_contacts",
)


def organisations_summary(connection: Connection) -> list[str]:
    """One line per organisation the pipeline knows: its state in `xero_connections` (with
    the last error and the next attempt when failing), its last success and how far its history
    has loaded."""
    if not inspect(connection).has_table(xero_connections.name):
        return []
    start = sales_start()
    months = dict(
        connection.execute(
            select(history_months.c.tenant_id, func.count(func.distinct(history_months.c.month)))
            .where(history_months.c.month >= start)
            .group_by(history_months.c.tenant_id)
        ).all()
    )
    lines = []
    rows = connection.execute(select(xero_connections).order_by(xero_connections.c.tenant_name))
    for row in rows.mappings().all():
        complete = history_complete(connection, row["tenant_id"], start)
        history = "history complete" if complete else "history loading"
        line = (
            f"{row['tenant_name'] or '?'}  (tenant {row['tenant_id']}): {row['status']}; "
            f"last success {_moment(row['last_success_at'])}; {history} "
            f"({months.get(row['tenant_id'], 0)} months since {start:%Y-%m})"
        )
        if row["status"] == "failing":
            line += (
                f"; {row['failures']} failure(s), next attempt {_moment(row['next_attempt_at'])}"
                f"; last error: {row['last_error']}"
            )
        elif row["status"] == "disconnected":
            line += f" ({row['last_error']}); its rows are kept, marked is_connected = false"
        lines.append(line)
    return lines


def status_summary(url: str) -> str:
    """First one line per organisation (connected, failing or disconnected; history loaded);
    then, per organisation, each table's rows and when they were last written, and where each
    incremental read will start (its committed watermark). Reads the warehouse only."""
    with reading(url, "xero_organisation") as connection:
        if connection is None:
            return "(the warehouse is empty: run `xero-pipeline run` or `make run` first)"
        organisations = organisations_summary(connection)
        names = _organisation_names(connection)
        tables = _rows_by_tenant(connection, STATUS_TABLES)
        marks: dict[str, list[tuple[str, object]]] = {}
        for tenant_id, resource, watermark in connection.execute(
            select(sync_state.c.tenant_id, sync_state.c.resource, sync_state.c.watermark)
        ):
            marks.setdefault(tenant_id, []).append((resource, watermark))
    width = max(len(t) for t in STATUS_TABLES)
    lines = ["Organisations", *[f"  {line}" for line in organisations], ""] if organisations else []
    for tenant_id, name in sorted(names.items(), key=lambda item: item[1] or ""):
        lines.append(f"{name}  (tenant {tenant_id})")
        lines.append(f"  {'table':<{width}} {'rows':>8}  last written (UTC)")
        for table_name in STATUS_TABLES:
            count, last = tables.get(tenant_id, {}).get(table_name, (0, None))
            lines.append(f"  {table_name:<{width}} {count:>8}  {_moment(last)}")
        for resource, watermark in sorted(marks.get(tenant_id, [])):
            lines.append(f"  incremental {resource} read from {_moment(watermark)}")
    return "\n".join(lines)


def _moment(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):  # SQLite hands timestamps back as text in aggregates
        return value[:19].replace("T", " ")
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[arg-type]
