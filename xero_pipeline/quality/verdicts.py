"""Each expectation's verdict on rows from Python, worked out here for the simple column
conditions the suites use, so that Great Expectations is needed only where one fails.

Most loads pass. For them the gate's answer is one boolean per expectation, and Great
Expectations spends about a quarter of a second of overhead per validation reaching it (more than
the rows' own cost for a month of a small organisation), plus seconds to import in every process
that validates. The conditions in `data_checks/` are simple: a column is not null, in a set,
between bounds, of a length, matches a pattern, unique alone or with others. Here they are the
same conditions over the rows' values, with Great Expectations' meaning on pandas: nulls (None,
NaN) are judged only by `not_be_null`; bounds are inclusive unless `strict_*`; `"now"` is the
parameter the gate gives; a regex matches anywhere in the text (`re.search`); rows whose compound
key is all null are not judged (or as `ignore_row_if` says); a `row_condition` (the forms the
suites use: `a.notnull()`, `a == "x"`, `a in [...]`, joined by `and`) judges only the rows it
keeps.

The verdict is one of three: True (passes), False (fails), None (not decided here: `mostly`,
another row condition, a parameter other than "now", a value of a type whose comparison would be
Great Expectations' to make, such as text against a number). The gate hands every False and None
to Great Expectations, which has the last word and gives the failures their counts and offending
rows; `test_verdicts.py` holds the two to the same answers on generated rows.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from xero_pipeline.quality.storable import encodes
from xero_pipeline.quality.suites import Expectation

NOT_NULL = "expect_column_values_to_not_be_null"
IN_SET = "expect_column_values_to_be_in_set"
BETWEEN = "expect_column_values_to_be_between"
LENGTHS = "expect_column_value_lengths_to_be_between"
REGEX = "expect_column_values_to_match_regex"
UNIQUE = "expect_column_values_to_be_unique"
COMPOUND_UNIQUE = "expect_compound_columns_to_be_unique"
OPTIONS = {  # the kwargs each is decided here with; any other kwarg leaves it to GE
    NOT_NULL: {"column"},
    IN_SET: {"column", "value_set"},
    BETWEEN: {"column", "min_value", "max_value", "strict_min", "strict_max"},
    LENGTHS: {"column", "min_value", "max_value", "strict_min", "strict_max"},
    REGEX: {"column", "regex"},
    UNIQUE: {"column"},
    COMPOUND_UNIQUE: {"column_list", "ignore_row_if"},
}
ROW_CONDITION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\.notnull\(\)\s*")

Rows = Sequence[dict[str, Any]]


class Undecided(Exception):
    """The verdict is Great Expectations' to give."""


def verdicts(
    expectations: Sequence[Expectation], rows: Rows, now: datetime
) -> dict[str, bool | None]:
    """Each expectation's verdict by name: True, False or None (see the module's docstring).
    `now` is what `{"$PARAMETER": "now"}` stands for (the gate's, skew included)."""
    return {e.name: verdict(e, rows, now) for e in expectations}


def verdict(expectation: Expectation, rows: Rows, now: datetime) -> bool | None:
    if expectation.type not in OPTIONS:
        return None
    try:
        kwargs = dict(expectation.kwargs)
        rows = _rows_judged(kwargs, rows)
        if set(kwargs) - OPTIONS[expectation.type]:
            return None
        kwargs = {k: _parameter(v, now) for k, v in kwargs.items()}
        if expectation.type == COMPOUND_UNIQUE:
            return _compound_unique(
                rows, kwargs["column_list"], kwargs.get("ignore_row_if", "all_values_are_missing")
            )
        values = _column(rows, kwargs["column"])
        if expectation.type == NOT_NULL:
            return not any(_is_null(v) for v in values)
        present = [v for v in values if not _is_null(v)]
        return _JUDGES[expectation.type](present, kwargs)
    except (Undecided, KeyError, TypeError, ValueError, ArithmeticError, re.error, SyntaxError):
        return None


def _rows_judged(kwargs: dict[str, Any], rows: Rows) -> Rows:
    """The rows a `row_condition` keeps (it and its parser are removed from `kwargs`)."""
    condition = kwargs.pop("row_condition", None)
    parser = kwargs.pop("condition_parser", None)
    if condition is None:
        return rows
    if parser != "pandas" or not isinstance(condition, str):
        raise Undecided
    keep = _condition(ast.parse(condition.strip(), mode="eval").body)
    return [row for row in rows if keep(row)]


def _condition(node: ast.expr) -> Callable[[dict[str, Any]], bool]:
    """A row condition as pandas' `DataFrame.query` reads the forms the suites use: `a.notnull()`,
    `a == "x"`, `a in ["x", "y"]`, joined by `and`. Anything else is left to GE."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        parts = [_condition(value) for value in node.values]
        # Every part on every row, as pandas evaluates each over the whole column: a value
        # one part would refuse (a signalling NaN) is refused even where another part fails.
        return lambda row: all([part(row) for part in parts])
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "notnull"
        and isinstance(node.func.value, ast.Name)
        and not node.args
        and not node.keywords
    ):
        column = node.func.value.id
        return lambda row: not _is_null(_value(row, column))
    if (
        isinstance(node, ast.Compare)
        and isinstance(node.left, ast.Name)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.Eq | ast.In)
    ):
        column, (right,) = node.left.id, node.comparators
        if isinstance(node.ops[0], ast.In) and not isinstance(right, ast.List):
            raise Undecided  # `a in "x"`: pandas refuses it
        options = right.elts if isinstance(right, ast.List) else [right]
        if all(isinstance(o, ast.Constant) and isinstance(o.value, str) for o in options):
            texts = {o.value for o in options}  # type: ignore[attr-defined]
            return lambda row: isinstance(_value(row, column), str) and row[column] in texts
    raise Undecided


def _parameter(value: Any, now: datetime) -> Any:
    if isinstance(value, dict):
        if value == {"$PARAMETER": "now"}:
            return now
        raise Undecided
    return value


def _value(row: dict[str, Any], column: str) -> Any:
    if column not in row:
        raise Undecided  # GE reports a missing column its own way
    value = row[column]
    if isinstance(value, str) and not value.isascii() and not encodes(value):
        raise Undecided  # GE judges such text escaped (gate._frame); the storage check stops it
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        raise Undecided  # pandas may hold it as a float, where it has neighbours it equals
    return value


def _column(rows: Rows, column: str) -> list[Any]:
    return [_value(row, column) for row in rows]


def _is_null(value: Any) -> bool:
    """None or NaN (float or Decimal), as pandas' isnull sees a value."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except ArithmeticError:  # a signalling Decimal NaN, which pandas' isnull refuses too
        raise Undecided from None


def _in_set(values: list[Any], kwargs: dict[str, Any]) -> bool:
    allowed = kwargs["value_set"]
    if not isinstance(allowed, list | tuple | set | frozenset):
        raise Undecided
    booleans = [isinstance(v, bool) for v in (*values, *allowed)]
    if any(booleans) and not all(booleans):
        raise Undecided  # True against 1: pandas' call, not ours
    return all(v in allowed for v in values)


def _between(values: list[Any], kwargs: dict[str, Any]) -> bool:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None and high is None:
        raise Undecided  # GE refuses the expectation
    if any(isinstance(v, str | bytes | bool) for v in values):
        raise Undecided  # text (or booleans) against bounds: GE's comparison, not ours
    if low is not None and high is not None and low > high:
        raise Undecided
    strict_low, strict_high = kwargs.get("strict_min", False), kwargs.get("strict_max", False)
    if not isinstance(strict_low, bool) or not isinstance(strict_high, bool):
        raise Undecided
    for value in values:
        if low is not None and (value <= low if strict_low else value < low):
            return False
        if high is not None and (value >= high if strict_high else value > high):
            return False
    return True


def _lengths(values: list[Any], kwargs: dict[str, Any]) -> bool:
    bounds = [kwargs.get("min_value"), kwargs.get("max_value")]
    if not all(isinstance(v, str) for v in values) or any(
        b is not None and (not isinstance(b, int) or isinstance(b, bool)) for b in bounds
    ):
        raise Undecided  # GE measures text only, against whole numbers
    return _between([len(v) for v in values], kwargs)


def _regex(values: list[Any], kwargs: dict[str, Any]) -> bool:
    if not all(isinstance(v, str) for v in values):
        raise Undecided
    pattern = re.compile(kwargs["regex"])
    return all(pattern.search(v) is not None for v in values)


def _unique(values: list[Any], kwargs: dict[str, Any]) -> bool:
    return _no_repeats(values)


def _compound_unique(rows: Rows, columns: list[str], ignore_row_if: str) -> bool:
    if not isinstance(columns, list | tuple) or len(columns) < 2:
        raise Undecided  # GE wants two columns at least
    skip = {"all_values_are_missing": all, "any_value_is_missing": any}.get(ignore_row_if)
    if skip is None and ignore_row_if != "never":
        raise Undecided
    keys = []
    for row in rows:
        key = tuple(_value(row, c) for c in columns)
        if skip is not None and skip(_is_null(v) for v in key):
            continue  # by default, a key of nothing but nulls is not judged
        if any(_is_null(v) and v is not None for v in key):
            raise Undecided  # NaN in a key: pandas' equality, not Python's
        keys.append(key)
    return _no_repeats(keys)


def _no_repeats(values: list[Any]) -> bool:
    """No value (or key) twice; values must be of the plain kinds Python and pandas compare
    alike: text, whole numbers, Decimals, dates, booleans (and, in keys, None)."""
    for value in values:
        for part in value if isinstance(value, tuple) else (value,):
            if part is not None and not isinstance(part, str | int | Decimal | date):
                raise Undecided  # floats (1 and 1.0), tuples with NaN: pandas' equality
    return all(count == 1 for count in Counter(values).values())


_JUDGES: dict[str, Callable[[list[Any], dict[str, Any]], bool]] = {
    IN_SET: _in_set,
    BETWEEN: _between,
    LENGTHS: _lengths,
    REGEX: _regex,
    UNIQUE: _unique,
}
