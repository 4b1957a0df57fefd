"""Run a table's expectation suite (`suites.py`) on staged rows, before anything is published.

Dagster runs blocking asset checks only after an asset has written; this gate runs before the
publish instead, and the asset reports its outcome as check results (`checks.py`). A failed
blocking expectation raises `GateFailed`, the one way a load says the gate stopped it.

Each expectation's verdict is first worked out directly on the rows (`verdicts.py`: the simple
column conditions the suites use); Great Expectations validates only the expectations that fail
there or that are left to it, and gives those their counts and offending rows. A load whose
rows all pass therefore never starts Great Expectations (seconds to import, a quarter of a
second per validation).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pandas as pd
from sqlalchemy import Table

from xero_pipeline.quality import storable
from xero_pipeline.quality.suites import (
    STORABLE,
    Expectation,
    checks_storage,
    columns_read,
    expectations,
    load_suite,
)
from xero_pipeline.quality.verdicts import verdicts
from xero_pipeline.warehouse import schema

CLOCK_SKEW = timedelta(minutes=5)  # "now" allows for clocks a little ahead of ours
SAMPLE_ROWS = 10


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
    def warnings(self) -> list[Outcome]:
        """Failed expectations that only warn."""
        return [o for o in self.outcomes if not o.expectation.blocking and not o.success]

    @property
    def blocking_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.expectation.blocking and not o.success]

    def summary(self) -> str:
        return "; ".join(
            f"{o.expectation.name}: {o.unexpected_count} unexpected" for o in self.blocking_failures
        )


class GateFailed(Exception):
    """The quality gate stopped a unit of work (a table, a month, a merge): nothing of it was
    published, and its tables and watermark are as they were. `gates` hold the failed checks."""

    def __init__(self, where: str, gates: Sequence[GateResult]) -> None:
        problems = "; ".join(g.summary() for g in gates if not g.passed)
        super().__init__(
            f"The quality gate stopped {where}: {problems}. Nothing was published: its tables "
            "and watermark are as they were; see the failed checks for the rows."
        )
        self.where, self.gates = where, list(gates)


def passed_or_raise(where: str, *gates: GateResult) -> None:
    """Raise GateFailed unless every gate passed."""
    if not all(g.passed for g in gates):
        raise GateFailed(where, gates)


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
        now: datetime,
        failing: frozenset[str] = frozenset(),
    ) -> list[Any]:
        """The suite's results on `frame`, in the order of `expectations`: first each
        expectation's verdict alone (GE's BOOLEAN_ONLY, about half the cost of a full result),
        then the full result, with the offending rows, for the expectations that failed or that
        pass with `mostly` (whose passing result may still count unexpected rows). Rows that pass
        are judged as before and cost only the verdict; rows that fail are shown as before.

        `failing` names expectations the gate's own verdict already failed (`verdicts.py`):
        they go straight to the full result, which carries Great Expectations' own verdict, so
        asking for it alone first would be a second validation that tells nothing new."""
        parameters = {"now": now + CLOCK_SKEW}
        unsure = tuple(e for e in expectations if e.name not in failing)
        with self.lock:
            batch = self.batches.get_batch(batch_parameters={"dataframe": frame})
            verdicts = (
                batch.validate(
                    self._suite(name, unsure),
                    expectation_parameters=parameters,
                    result_format="BOOLEAN_ONLY",
                ).results
                if unsure
                else []
            )
            detail = failing | {
                r.expectation_config.meta["name"]
                for r in verdicts
                if not r.success or "mostly" in r.expectation_config.kwargs
            }
            if not detail:
                return verdicts
            detailed = batch.validate(
                self._suite(name, tuple(e for e in expectations if e.name in detail)),
                expectation_parameters=parameters,
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": id_columns,
                },
            ).results
        results = {r.expectation_config.meta["name"]: r for r in (*verdicts, *detailed)}
        return [results[e.name] for e in expectations]

    def _suite(self, name: str, expectations: tuple[Expectation, ...]) -> Any:
        return self.gx.ExpectationSuite(
            name=name,
            expectations=[
                {"type": e.type, "kwargs": e.kwargs, "meta": {"name": e.name}} for e in expectations
            ],
        )


@cache
def _validator() -> _Validator:
    return _Validator()


def validate(
    name: str, rows: list[dict[str, Any]], id_columns: list[str], now: datetime | None = None
) -> GateResult:
    """Run suite `name` on the staged rows; `id_columns` identify offending rows in samples.

    `now` is what the suites' `{"$PARAMETER": "now"}` means: for rows read from Xero, Xero's
    clock when it answered (a record Xero stamped a moment ago is not "in the future" because
    this machine's clock is behind Xero's); by default this machine's clock."""
    suite = load_suite(name)
    if not rows:
        return GateResult(name, [Outcome(e, True) for e in expectations(name)])
    moment = now if now is not None else datetime.now(UTC)
    # Verdicts worked out here first (verdicts.py); GE judges only what fails or is left to it.
    passed = verdicts(suite, rows, moment + CLOCK_SKEW)
    by_name = {e.name: Outcome(e, True, 0, len(rows)) for e in suite if passed[e.name]}
    asked = tuple(e for e in suite if not passed[e.name])
    if asked:
        failing = frozenset(e.name for e in asked if passed[e.name] is False)
        frame = _frame(asked, rows, id_columns)
        for result in _validator().run(name, asked, frame, id_columns, moment, failing):
            expectation_name = result.expectation_config.meta["name"]
            details = result.result or {}
            sample = tuple(
                plain_row(row) for row in (details.get("unexpected_index_list") or [])[:SAMPLE_ROWS]
            )
            by_name[expectation_name] = Outcome(
                next(e for e in asked if e.name == expectation_name),
                bool(result.success),
                int(details.get("unexpected_count") or 0),
                int(details.get("element_count") or len(frame)),
                sample,
            )
    outcomes = [by_name[e.name] for e in suite]
    if checks_storage(name):
        outcomes.append(_storable(schema.metadata.tables[name], rows, id_columns))
    return GateResult(name, outcomes)


def _frame(
    asked: tuple[Expectation, ...], rows: list[dict[str, Any]], id_columns: list[str]
) -> pd.DataFrame:
    """The rows as the expectations asked see them: only the columns they name, and the id
    columns their samples show. Great Expectations' cost grows with the frame's width (a month
    of invoice lines validates three times faster on the 6 columns its suite reads than on all
    19), and no expectation looks at a column it does not name. Built column by column when
    every row has the same keys (rows.py's always do), which gives pandas' own result for a
    list of dicts (same columns, order, dtypes and values) in a fraction of the time."""
    named = columns_read(asked)
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


def _pandas_safe_values(values: list[Any]) -> list[Any]:
    """`_pandas_safe` for one column's values: escaping a row's every text value, as it does,
    leaves the ones that encode unchanged, so only the ones that do not are touched."""
    if all(not isinstance(v, str) or v.isascii() for v in values):
        return values
    return [
        v.encode("utf-8", "backslashreplace").decode()
        if isinstance(v, str) and not v.isascii() and not storable.encodes(v)
        else v
        for v in values
    ]


def _pandas_safe(row: dict[str, Any]) -> dict[str, Any]:
    """The row as pandas can hash it: text holding an unpaired UTF-16 surrogate (which Xero's
    JSON can carry, and which is not text) is shown with the surrogate escaped. The storage
    check sees the original and stops the row; this only keeps the suite's own checks running."""
    if all(not isinstance(v, str) or v.isascii() or storable.encodes(v) for v in row.values()):
        return row
    return {
        k: v.encode("utf-8", "backslashreplace").decode() if isinstance(v, str) else v
        for k, v in row.items()
    }


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


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _shown(v) for k, v in row.items()}


def _shown(value: Any) -> str | None:
    """A sample value as text a person can read in the UI: NaN as empty, long values cut."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
