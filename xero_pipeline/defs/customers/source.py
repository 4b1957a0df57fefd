"""The business's existing customer list, from CUSTOMERS_SOURCE.

CUSTOMERS_SOURCE is either a CSV file path or `table:<name>` for a table in the warehouse. Either
way the list needs an id column (`customer_id` or `id`) and a name column (`name` or
`customer_name`); header names are matched ignoring case and surrounding spaces. It may also say
per row which Xero organisation the customer belongs to (`organisation`): a column `tenant_id`,
`short_code`, `organisation` (or `organization`) or `tenant`, with or without `xero_` in front,
matched ignoring case, spaces and underscores, holding the organisation's tenant id or short code
(resolved against the warehouse in `organisations`); an empty cell means any organisation. Every
other column is kept, as text, in `customers.attributes`. A CSV is read as UTF-8 (a byte-order
mark, as Excel writes, is fine). Ids are trimmed; names are kept exactly as written, because
"exact" matching means exact.

Unset, the built-in sandbox's sample list is used when the pipeline runs on the sandbox; with a
Xero app it is an error naming CUSTOMERS_SOURCE, raised when the merge runs (not when Dagster
loads the code location, so the rest of the pipeline keeps working).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, inspect, select

from xero_pipeline.xero.errors import ConfigError

ID_HEADERS = ("customer_id", "id")
NAME_HEADERS = ("name", "customer_name")
# Compared with spaces and underscores removed ("Tenant ID", "xero_short_code"), first found wins.
ORGANISATION_HEADERS = (
    "tenant_id",
    "xero_tenant_id",
    "short_code",
    "xero_short_code",
    "organisation",
    "xero_organisation",
    "organization",
    "xero_organization",
    "tenant",
    "xero_tenant",
)
TABLE_PREFIX = "table:"


@dataclass(frozen=True)
class ListedCustomer:
    """A row of the business's list. `organisation` is as written; `tenant_id` is the
    organisation it names, once resolved (None: any organisation)."""

    customer_id: str
    name: str
    attributes: dict[str, Any] | None = None
    organisation: str | None = None
    tenant_id: str | None = None
    where: str = field(default="", compare=False)  # "line 4, column short_code": for errors


def describe(source: str) -> str:
    if source.startswith(TABLE_PREFIX):
        return f"warehouse table {source.removeprefix(TABLE_PREFIX).strip()}"
    return f"CSV file {source}"


def read_source(source: str, engine: Engine) -> list[ListedCustomer]:
    """The list CUSTOMERS_SOURCE names, duplicates and all (the gate judges them)."""
    if source.startswith(TABLE_PREFIX):
        return read_table(engine, source.removeprefix(TABLE_PREFIX).strip())
    return read_csv(Path(source).expanduser())


def read_csv(path: Path) -> list[ListedCustomer]:
    if not path.is_file():
        raise ConfigError(
            "CUSTOMERS_SOURCE",
            f"{path} is not a file; give a CSV path or table:<name> for a warehouse table",
        )
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ConfigError("CUSTOMERS_SOURCE", f"{path} is empty (no header row)")
        columns = _columns(header, str(path))
        rows = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # blank lines
            values += [""] * (len(header) - len(values))
            rows.append(_listed(header, values, columns, f"line {reader.line_num}"))
    return rows


def read_table(engine: Engine, name: str) -> list[ListedCustomer]:
    if not inspect(engine).has_table(name):
        raise ConfigError("CUSTOMERS_SOURCE", f"there is no table {name!r} in the warehouse")
    table = Table(name, MetaData(), autoload_with=engine)
    header = [column.name for column in table.columns]
    columns = _columns(header, f"table {name}")
    with engine.connect() as connection:
        rows = [[_text(v) for v in row] for row in connection.execute(select(table))]
    return [
        _listed(
            header, values, columns, f"the row with {header[columns[0]]} {values[columns[0]]!r}"
        )
        for values in rows
    ]


def _columns(header: list[str], where: str) -> tuple[int, int, int | None]:
    """Where the id, name and (if any) organisation columns are."""
    folded = [h.strip().casefold() for h in header]
    loose = [_loose(h) for h in header]
    organisation = next(
        (loose.index(_loose(n)) for n in ORGANISATION_HEADERS if _loose(n) in loose), None
    )

    def find(accepted: tuple[str, ...], what: str) -> int:
        for name in accepted:
            if name in folded:
                return folded.index(name)
        raise ConfigError(
            "CUSTOMERS_SOURCE",
            f"{where} has no {what} column: expected one of {', '.join(accepted)}, "
            f"found {', '.join(h.strip() for h in header) or 'no columns'}",
        )

    return find(ID_HEADERS, "customer id"), find(NAME_HEADERS, "name"), organisation


def _loose(header: str) -> str:
    return "".join(header.casefold().replace("_", " ").split())


def _listed(
    header: list[str], values: list[Any], columns: tuple[int, int, int | None], where: str
) -> ListedCustomer:
    id_at, name_at, organisation_at = columns
    attributes = {
        header[i].strip(): values[i]
        for i in range(len(header))
        if i not in columns and header[i].strip()
    }
    organisation = None
    if organisation_at is not None:
        organisation = (values[organisation_at] or "").strip() or None
        where = f"{where}, column {header[organisation_at].strip()}"
    return ListedCustomer(
        customer_id=(values[id_at] or "").strip(),
        name=values[name_at] or "",
        attributes=attributes or None,
        organisation=organisation,
        where=where,
    )


def _text(value: Any) -> str | None:
    """Attributes are kept as text, whatever the source table's column types."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat() if isinstance(value, datetime | date) else str(value)
