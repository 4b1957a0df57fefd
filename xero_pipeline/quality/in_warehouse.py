"""A suite run inside the warehouse, on a query of staged rows, as SQL aggregates.

Tables built in SQL (the sales fact, its rollup) used to be read back into pandas, month by month,
for Great Expectations to judge: reading a month of a million-line fact back into Python and
validating it cost four times the SQL that built it. The expectations their suites use are simple
column conditions, so here they are the same conditions in SQL: one aggregate query counts every
expectation's offending rows at once (a compound key's duplicates by a window count beside each
row), and only a failed expectation costs a query for its sample rows. The outcomes have Great
Expectations' meaning (nulls are not judged except by `not_be_null`; bounds are inclusive unless
`strict_*`; every row of a duplicated key is unexpected); `test_in_warehouse_gate.py` holds the
two to the same answers.

A suite with an expectation not translated here is validated by Great Expectations instead
(`supported`), on rows read back from the same query.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from xero_pipeline.quality.gate import SAMPLE_ROWS, GateResult, Outcome, plain_row
from xero_pipeline.quality.suites import Expectation, load_suite
from xero_pipeline.quality.verdicts import BETWEEN, IN_SET, NOT_NULL
from xero_pipeline.quality.verdicts import COMPOUND_UNIQUE as UNIQUE
from xero_pipeline.warehouse.rebuild import execute

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
    connection: Connection,
    name: str,
    source: str,
    id_columns: list[str],
    params: dict[str, Any] | None = None,
) -> GateResult:
    """Suite `name` on the rows of the query `source` (bound with `params`); samples show
    `id_columns` and the column judged. One query judges every expectation: the column
    conditions as sums, each compound key's duplicates as a window count beside every row."""
    suite = load_suite(name)
    ids = [_quoted(c) for c in id_columns]
    bound: dict[str, Any] = dict(params or {})
    conditions = {e.name: _offending(e, bound) for e in suite if e.type != UNIQUE}
    windows = {e.name: f"_n{i}" for i, e in enumerate(suite) if e.type == UNIQUE}
    for expectation in suite:
        if expectation.type == UNIQUE:
            conditions[expectation.name] = _duplicated(expectation, windows[expectation.name])
    judged = _judged(source, suite, windows)
    counts = "".join(
        f", SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)" for condition in conditions.values()
    )
    row = execute(connection, f"SELECT COUNT(*){counts} FROM {judged}", bound).one()
    total = int(row[0])
    unexpected = dict(zip(conditions, (int(v or 0) for v in row[1:]), strict=True))
    outcomes = []
    for expectation in suite:
        count, sample = unexpected[expectation.name], ()
        if count:
            shown = list(ids)
            if expectation.type != UNIQUE and _quoted(expectation.kwargs["column"]) not in ids:
                shown.append(_quoted(expectation.kwargs["column"]))
            where = conditions[expectation.name]
            sample = _sample(
                connection, f"SELECT {', '.join(shown)} FROM {judged} WHERE {where}", bound
            )
        outcomes.append(Outcome(expectation, count == 0, count, total, sample))
    return GateResult(name, outcomes)


def _judged(source: str, suite: tuple[Expectation, ...], windows: dict[str, str]) -> str:
    """`source` as a derived table, with a count of each compound key's rows beside every row."""
    counted = "".join(
        f", COUNT(*) OVER (PARTITION BY {', '.join(map(_quoted, e.kwargs['column_list']))})"
        f" AS {windows[e.name]}"
        for e in suite
        if e.type == UNIQUE
    )
    return f"(SELECT judged_rows.*{counted} FROM ({source}) judged_rows) judged"


def _duplicated(expectation: Expectation, window: str) -> str:
    """A row fails a compound key's uniqueness when its key appears more than once; rows whose
    key columns are all null are not judged, as in Great Expectations."""
    key = [_quoted(c) for c in expectation.kwargs["column_list"]]
    return f"{window} > 1 AND ({' OR '.join(f'{c} IS NOT NULL' for c in key)})"


def _sample(
    connection: Connection, query: str, params: dict[str, Any]
) -> tuple[dict[str, Any], ...]:
    """The first rows of `query`, as the UI shows sample failing rows."""
    found = execute(connection, f"{query} LIMIT {SAMPLE_ROWS}", params).mappings()
    return tuple(plain_row(dict(r)) for r in found)
