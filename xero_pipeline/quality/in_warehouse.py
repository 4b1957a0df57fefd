"""A suite run inside the warehouse, on a table of staged rows, as SQL aggregates.

Tables built in SQL (the sales fact, its rollup) used to be read back into pandas, month by month,
for Great Expectations to judge: reading a month of a million-line fact back into Python and
validating it cost four times the SQL that built it. The expectations their suites use are simple
column conditions, so here they are the same conditions in SQL: one aggregate query counts every
column expectation's offending rows at once, one GROUP BY per compound key finds duplicates, and
only a failed expectation costs a query for its sample rows. The outcomes have Great
Expectations' meaning (nulls are not judged except by `not_be_null`; bounds are inclusive unless
`strict_*`; every row of a duplicated key is unexpected); `test_in_warehouse_gate.py` holds the
two to the same answers.

A suite with an expectation not translated here is validated by Great Expectations instead
(`supported`), on rows read back from the same table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from xero_pipeline.quality.gate import SAMPLE_ROWS, GateResult, Outcome, plain_row
from xero_pipeline.quality.suites import Expectation, load_suite

NOT_NULL = "expect_column_values_to_not_be_null"
IN_SET = "expect_column_values_to_be_in_set"
BETWEEN = "expect_column_values_to_be_between"
UNIQUE = "expect_compound_columns_to_be_unique"
OPTIONS = {
    NOT_NULL: {"column"},
    IN_SET: {"column", "value_set"},
    BETWEEN: {"column", "min_value", "max_value", "strict_min", "strict_max"},
    UNIQUE: {"column_list"},
}


def supported(name: str) -> bool:
    """Whether every expectation of suite `name` can run here (no `mostly`, no row conditions,
    no parameters such as "now")."""
    return all(
        e.type in OPTIONS
        and set(e.kwargs) <= OPTIONS[e.type]
        and not any(isinstance(v, dict) for v in e.kwargs.values())
        for e in load_suite(name)
    )


def _quoted(column: str) -> str:
    if not column.replace("_", "").isalnum():
        raise ValueError(f"not a column name: {column!r}")
    return f'"{column}"'


def _offending(expectation: Expectation, params: dict[str, Any]) -> str:
    """The SQL condition a row fails `expectation` by (bound values go into `params`)."""
    kwargs, n = expectation.kwargs, len(params)
    column = _quoted(kwargs["column"])
    if expectation.type == NOT_NULL:
        return f"{column} IS NULL"
    if expectation.type == IN_SET:
        names = []
        for offset, value in enumerate(kwargs["value_set"]):
            params[f"v{n}_{offset}"] = value
            names.append(f":v{n}_{offset}")
        allowed = ", ".join(names) or "NULL"
        return f"{column} IS NOT NULL AND {column} NOT IN ({allowed})"
    bounds = []
    if kwargs.get("min_value") is not None:
        params[f"v{n}_min"] = kwargs["min_value"]
        bounds.append(f"{column} {'<=' if kwargs.get('strict_min') else '<'} :v{n}_min")
    if kwargs.get("max_value") is not None:
        params[f"v{n}_max"] = kwargs["max_value"]
        bounds.append(f"{column} {'>=' if kwargs.get('strict_max') else '>'} :v{n}_max")
    return f"{column} IS NOT NULL AND ({' OR '.join(bounds) or '1 = 0'})"


def validate_in_warehouse(
    connection: Connection, name: str, table: str, id_columns: list[str]
) -> GateResult:
    """Suite `name` on the rows of `table` (a staged copy, quoted by the caller's naming rules:
    a plain identifier); samples show `id_columns` and the column judged."""
    suite = load_suite(name)
    source = _quoted(table)
    ids = [_quoted(c) for c in id_columns]
    params: dict[str, Any] = {}
    conditions = {e.name: _offending(e, params) for e in suite if e.type != UNIQUE}
    counts = ", ".join(
        f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)" for condition in conditions.values()
    )
    row = connection.execute(
        text(f"SELECT COUNT(*){', ' + counts if counts else ''} FROM {source}"), params
    ).one()
    total, unexpected = (
        int(row[0]),
        dict(zip(conditions, (int(v or 0) for v in row[1:]), strict=True)),
    )
    outcomes = []
    for expectation in suite:
        if expectation.type == UNIQUE:
            outcomes.append(_unique(connection, expectation, source, ids, total))
            continue
        count, sample = unexpected[expectation.name], ()
        if count:
            column = _quoted(expectation.kwargs["column"])
            shown = ", ".join(ids if column in ids else [*ids, column])
            where = conditions[expectation.name]
            sample = _sample(connection, f"SELECT {shown} FROM {source} WHERE {where}", params)
        outcomes.append(Outcome(expectation, count == 0, count, total, sample))
    return GateResult(name, outcomes)


def _unique(
    connection: Connection, expectation: Expectation, source: str, ids: list[str], total: int
) -> Outcome:
    """Every row whose key appears more than once is unexpected (rows whose key columns are all
    null are not judged, as in Great Expectations)."""
    key = [_quoted(c) for c in expectation.kwargs["column_list"]]
    duplicated = (
        f"SELECT {', '.join(key)}, COUNT(*) AS n FROM {source} "
        f"WHERE {' OR '.join(f'{c} IS NOT NULL' for c in key)} "
        f"GROUP BY {', '.join(key)} HAVING COUNT(*) > 1"
    )
    count = int(
        connection.execute(text(f"SELECT COALESCE(SUM(n), 0) FROM ({duplicated}) d")).scalar_one()
    )
    sample: tuple[dict[str, Any], ...] = ()
    if count:
        same = " AND ".join(f"s.{c} = d.{c}" for c in key)
        shown = ", ".join(f"s.{c}" for c in ids)
        sample = _sample(
            connection, f"SELECT {shown} FROM {source} s JOIN ({duplicated}) d ON {same}"
        )
    return Outcome(expectation, count == 0, count, total, sample)


def _sample(
    connection: Connection, query: str, params: dict[str, Any] | None = None
) -> tuple[dict[str, Any], ...]:
    """The first rows of `query`, as the UI shows sample failing rows."""
    found = connection.execute(text(f"{query} LIMIT {SAMPLE_ROWS}"), params or {}).mappings()
    return tuple(plain_row(dict(r)) for r in found)
