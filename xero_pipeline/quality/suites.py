"""The expectation suites in `data_checks/`: where they are, and what each says.

A suite is a JSON file (Great Expectations 1.x format) that a person can read and edit. Each
expectation may say in its `meta`:
- `name`: the asset check's name (default: its type and column);
- `severity`: `error` (default) blocks the publish, `warn` only reports.
Bounds that depend on the time of the run use GE's parameters: `{"$PARAMETER": "now"}` is the
time of validation (a real datetime, so datetime columns compare correctly).

Besides its suite, every table whose rows come from Python gets one more blocking check,
`rows_fit_the_warehouse` (quality/storable.py): each value fits its column exactly, so that a
row the suite accepts can never fail half-way through a publish.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from xero_pipeline.quality import storable
from xero_pipeline.warehouse import schema


def data_checks_folder() -> Path:
    """Where the suites are: XERO_DATA_CHECKS; else `data_checks/` as shipped inside the
    installed package (the wheel carries the project's top-level folder there); else the
    project's top-level `data_checks/` (a source checkout or an editable install)."""
    override = os.environ.get("XERO_DATA_CHECKS")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parents[1]
    shipped = package / "data_checks"
    return shipped if shipped.is_dir() else package.parent / "data_checks"


DATA_CHECKS = data_checks_folder()


@dataclass(frozen=True)
class Expectation:
    name: str
    type: str
    kwargs: dict[str, Any]
    blocking: bool
    notes: str = ""


STORABLE = Expectation(
    name=storable.CHECK_NAME,
    type="values_fit_their_warehouse_columns",
    kwargs={},
    blocking=True,
    notes="derived from the table's column types: lengths, numeric precision, text encoding",
)


def expectations(name: str) -> tuple[Expectation, ...]:
    """The suite's expectations, plus the storage check when its rows come from Python."""
    suite = load_suite(name)
    return (*suite, STORABLE) if checks_storage(name) else suite


@cache
def checks_storage(name: str) -> bool:
    """Rows built by SQL inside the warehouse (the suite says `built_in_the_warehouse`) were
    stored by the database itself: there is nothing left to check."""
    if name not in schema.metadata.tables:
        return False
    meta = json.loads((DATA_CHECKS / f"{name}.json").read_text()).get("meta") or {}
    return not meta.get("built_in_the_warehouse", False)


@cache
def load_suite(name: str) -> tuple[Expectation, ...]:
    path = DATA_CHECKS / f"{name}.json"
    document = json.loads(path.read_text())
    expectations = []
    for item in document["expectations"]:
        meta = item.get("meta", {})
        column = item["kwargs"].get("column") or "_".join(item["kwargs"].get("column_list", []))
        default_name = f"{item['type'].removeprefix('expect_')}__{column}".strip("_")
        severity = meta.get("severity", "error")
        if severity not in ("error", "warn"):
            raise ValueError(f"{path}: severity must be 'error' or 'warn', not {severity!r}")
        name = meta.get("name", default_name)
        if any(e.name == name for e in expectations):
            raise ValueError(f"{path}: two expectations are named {name!r}; give one a meta name")
        expectations.append(
            Expectation(
                name=name,
                type=item["type"],
                kwargs=item["kwargs"],
                blocking=severity == "error",
                notes=meta.get("notes", ""),
            )
        )
    return tuple(expectations)


def columns_read(expectations: tuple[Expectation, ...]) -> frozenset[str] | None:
    """Every name these expectations could mean as a column (`column`, `column_list`, words of
    a `row_condition`); None when one of them is about the whole table."""
    names: set[str] = set()
    for expectation in expectations:
        if not expectation.kwargs.keys() & {"column", "column_list", "column_A", "column_B"}:
            return None
        for value in expectation.kwargs.values():
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    names.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    return frozenset(names)
