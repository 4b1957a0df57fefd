"""Run a table's expectation suite on staged rows and turn the outcome into asset checks.

A suite is a JSON file in `data_checks/` (Great Expectations 1.x format) that a person can read
and edit. Each expectation may say in its `meta`:
- `name`: the asset check's name (default: its type and column);
- `severity`: `error` (default) blocks the publish, `warn` only reports.
Bounds that depend on the time of the run use GE's parameters: `{"$PARAMETER": "now"}` is the
time of validation (a real datetime, so datetime columns compare correctly).

Besides its suite, every table that lives in the warehouse gets one more blocking check,
`rows_fit_the_warehouse` (quality/storable.py): each value fits its column exactly, so that a
row the suite accepts can never fail half-way through a publish.

Dagster runs blocking asset checks only after an asset has written; this gate runs before the
publish instead, and the asset reports its outcome as check results.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import Table

from xero_pipeline.quality import storable
from xero_pipeline.warehouse import schema

DATA_CHECKS = Path(
    os.environ.get("XERO_DATA_CHECKS", Path(__file__).resolve().parents[2] / "data_checks")
)
CLOCK_SKEW = timedelta(minutes=5)  # "now" allows for clocks a little ahead of ours
SAMPLE_ROWS = 10


@dataclass(frozen=True)
class Expectation:
    name: str
    type: str
    kwargs: dict[str, Any]
    blocking: bool
    notes: str = ""


@dataclass(frozen=True)
class Outcome:
    expectation: Expectation
    success: bool
    unexpected_count: int = 0
    element_count: int = 0
    sample: tuple[dict[str, Any], ...] = ()


@dataclass
class GateResult:
    suite: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(o.success for o in self.outcomes if o.expectation.blocking)

    @property
    def blocking_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.expectation.blocking and not o.success]

    def summary(self) -> str:
        return "; ".join(
            f"{o.expectation.name}: {o.unexpected_count} unexpected" for o in self.blocking_failures
        )


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
    return (*suite, STORABLE) if _checks_storage(name) else suite


@cache
def _checks_storage(name: str) -> bool:
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
        expectations.append(
            Expectation(
                name=meta.get("name", default_name),
                type=item["type"],
                kwargs=item["kwargs"],
                blocking=severity == "error",
                notes=meta.get("notes", ""),
            )
        )
    return tuple(expectations)


class _Validator:
    """One ephemeral GE context per process: building it is the slow part."""

    def __init__(self) -> None:
        import great_expectations as gx  # imported lazily: it takes seconds

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        source = self.context.data_sources.add_pandas("staged")
        self.batches = source.add_dataframe_asset("rows").add_batch_definition_whole_dataframe(
            "all"
        )
        self.lock = threading.Lock()

    def run(
        self,
        name: str,
        expectations: tuple[Expectation, ...],
        frame: pd.DataFrame,
        id_columns: list[str],
    ) -> list[Any]:
        suite = self.gx.ExpectationSuite(
            name=name,
            expectations=[
                {"type": e.type, "kwargs": e.kwargs, "meta": {"name": e.name}} for e in expectations
            ],
        )
        with self.lock:
            batch = self.batches.get_batch(batch_parameters={"dataframe": frame})
            result = batch.validate(
                suite,
                expectation_parameters={"now": datetime.now(UTC) + CLOCK_SKEW},
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": id_columns,
                },
            )
        return result.results


@cache
def _validator() -> _Validator:
    return _Validator()


def validate(name: str, rows: list[dict[str, Any]], id_columns: list[str]) -> GateResult:
    """Run suite `name` on the staged rows; `id_columns` identify offending rows in samples."""
    suite = load_suite(name)
    if not rows:
        return GateResult(name, [Outcome(e, True) for e in expectations(name)])
    frame = _frame(name, rows, id_columns)
    outcomes = []
    by_name = {e.name: e for e in suite}
    for result in _validator().run(name, suite, frame, id_columns):
        expectation = by_name[result.expectation_config.meta["name"]]
        details = result.result or {}
        sample = tuple(
            _plain(row) for row in (details.get("unexpected_index_list") or [])[:SAMPLE_ROWS]
        )
        outcomes.append(
            Outcome(
                expectation,
                bool(result.success),
                int(details.get("unexpected_count") or 0),
                int(details.get("element_count") or len(frame)),
                sample,
            )
        )
    if _checks_storage(name):
        outcomes.append(_storable(schema.metadata.tables[name], rows, id_columns))
    return GateResult(name, outcomes)


def _frame(name: str, rows: list[dict[str, Any]], id_columns: list[str]) -> pd.DataFrame:
    """The rows as the suite sees them: only the columns it names, and the id columns its
    samples show. Great Expectations' cost grows with the frame's width (a month of invoice
    lines validates three times faster on the 6 columns its suite reads than on all 19), and
    no expectation looks at a column it does not name. Built column by column when every row
    has the same keys (rows.py's always do), which gives pandas' own result for a list of
    dicts (same columns, order, dtypes and values) in a fraction of the time."""
    named = _suite_columns(name)
    keys = rows[0].keys()
    if all(row.keys() == keys for row in rows):
        return pd.DataFrame(
            {
                k: _pandas_safe_values([row[k] for row in rows])
                for k in keys
                if named is None or k in named or k in id_columns
            },
            index=pd.RangeIndex(len(rows)),  # as many rows even when no column is kept
        )
    frame = pd.DataFrame([_pandas_safe(row) for row in rows])
    if named is None:
        return frame
    return frame[[c for c in frame.columns if c in named or c in id_columns]]


@cache
def _suite_columns(name: str) -> frozenset[str] | None:
    """Every name suite `name`'s expectations could mean as a column (`column`, `column_list`,
    words of a `row_condition`); None when one of them is about the whole table."""
    names: set[str] = set()
    for expectation in load_suite(name):
        if not expectation.kwargs.keys() & {"column", "column_list", "column_A", "column_B"}:
            return None
        for value in expectation.kwargs.values():
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    names.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    return frozenset(names)


def _pandas_safe_values(values: list[Any]) -> list[Any]:
    """`_pandas_safe` for one column's values: escaping a row's every text value, as it does,
    leaves the ones that encode unchanged, so only the ones that do not are touched."""
    if all(not isinstance(v, str) or v.isascii() for v in values):
        return values
    return [
        v.encode("utf-8", "backslashreplace").decode()
        if isinstance(v, str) and not v.isascii() and not _encodes(v)
        else v
        for v in values
    ]


def _pandas_safe(row: dict[str, Any]) -> dict[str, Any]:
    """The row as pandas can hash it: text holding an unpaired UTF-16 surrogate (which Xero's
    JSON can carry, and which is not text) is shown with the surrogate escaped. The storage
    check sees the original and stops the row; this only keeps the suite's own checks running."""
    if all(not isinstance(v, str) or v.isascii() or _encodes(v) for v in row.values()):
        return row
    return {
        k: v.encode("utf-8", "backslashreplace").decode() if isinstance(v, str) else v
        for k, v in row.items()
    }


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable(table: Table, rows: list[dict[str, Any]], id_columns: list[str]) -> Outcome:
    failing = [
        {**{c: _shown(rows[index].get(c)) for c in id_columns}, "problem": "; ".join(problems)}
        for index, problems in storable.problems_by_row(table, rows).items()
    ]
    return Outcome(STORABLE, not failing, len(failing), len(rows), tuple(failing[:SAMPLE_ROWS]))


def combine(suite: str, gates: list[GateResult]) -> GateResult:
    """One result for a suite run on several batches (the months of a backfill): an expectation
    passes only if it passed on every batch; counts add up; samples are the first ones found."""
    merged: dict[str, Outcome] = {}
    for gate in gates:
        for outcome in gate.outcomes:
            seen = merged.get(outcome.expectation.name)
            if seen is None:
                merged[outcome.expectation.name] = outcome
                continue
            merged[outcome.expectation.name] = Outcome(
                outcome.expectation,
                seen.success and outcome.success,
                seen.unexpected_count + outcome.unexpected_count,
                seen.element_count + outcome.element_count,
                (seen.sample + outcome.sample)[:SAMPLE_ROWS],
            )
    if not merged:
        return GateResult(suite, [Outcome(e, True) for e in expectations(suite)])
    return GateResult(suite, list(merged.values()))


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _shown(v) for k, v in row.items()}


def _shown(value: Any) -> str | None:
    """A sample value as text a person can read in the UI: NaN as empty, long values cut."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def check_specs(asset: str, suite: str) -> list[dg.AssetCheckSpec]:
    """One asset check per expectation of the suite, declared on the asset that runs it."""
    return [
        dg.AssetCheckSpec(
            name=e.name,
            asset=asset,
            description=f"{e.type} {json.dumps(e.kwargs)}"
            + (f" — {e.notes}" if e.notes else "")
            + ("" if e.blocking else " (warn only)"),
        )
        for e in expectations(suite)
    ]


def check_results(asset: str, gate: GateResult) -> list[dg.AssetCheckResult]:
    results = []
    for outcome in gate.outcomes:
        expectation = outcome.expectation
        metadata: dict[str, Any] = {
            "expectation": expectation.type,
            "arguments": dg.MetadataValue.json(expectation.kwargs),
            "unexpected count": outcome.unexpected_count,
            "rows checked": outcome.element_count,
            "blocking": expectation.blocking,
        }
        if outcome.sample:
            metadata["sample failing rows"] = dg.MetadataValue.md(
                pd.DataFrame(outcome.sample).to_markdown(index=False)
            )
        results.append(
            dg.AssetCheckResult(
                asset_key=asset,
                check_name=expectation.name,
                passed=outcome.success,
                severity=(
                    dg.AssetCheckSeverity.ERROR
                    if expectation.blocking
                    else dg.AssetCheckSeverity.WARN
                ),
                metadata=metadata,
            )
        )
    return results
