"""The gate's two passes (`quality/gate.py`): a verdict for every expectation, then the full
result only where it says something. On good rows and bad, the outcome is what one full pass of
Great Expectations gives: the same verdicts, counts and offending rows."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from xero_pipeline.quality.gate import CLOCK_SKEW, _validator
from xero_pipeline.quality.suites import Expectation, load_suite
from xero_pipeline_tests.test_in_warehouse_gate import FACT_IDS, fact_rows

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def one_full_pass(name: str, expectations: tuple[Expectation, ...], frame, ids) -> list[Any]:
    """Great Expectations' full result for every expectation, in one validation, with the
    same "now" the gate gives it."""
    validator = _validator()
    batch = validator.batches.get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(
        validator._suite(name, expectations),
        expectation_parameters={"now": NOW + CLOCK_SKEW},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ids},
    ).results


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """The row with NaN as None (NaN is not equal to itself)."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def summary(results: list[Any]) -> dict[str, tuple]:
    return {
        r.expectation_config.meta["name"]: (
            bool(r.success),
            (r.result or {}).get("unexpected_count", 0),
            [plain(row) for row in (r.result or {}).get("unexpected_index_list") or []],
        )
        for r in results
    }


@pytest.mark.parametrize("seed", range(4))
def test_two_passes_say_what_one_full_pass_says(seed):
    rows = fact_rows(random.Random(seed), bad=seed > 0)
    frame = pd.DataFrame(rows)
    suite = load_suite("fct_sales_lines")
    ours = _validator().run("fct_sales_lines", suite, frame, FACT_IDS, NOW)
    assert [r.expectation_config.meta["name"] for r in ours] == [e.name for e in suite]
    assert summary(ours) == summary(one_full_pass("fct_sales_lines", suite, frame, FACT_IDS))
    failed = [r for r in ours if not r.success]
    assert bool(failed) == (seed > 0)
    assert all(r.result["unexpected_index_list"] for r in failed)  # the offending rows


def test_a_passing_expectation_with_mostly_still_counts_its_unexpected_rows():
    frame = pd.DataFrame({"id": range(10), "status": ["PAID"] * 8 + ["DRAFT", "VOIDED"]})
    suite = (
        Expectation(
            "mostly_paid",
            "expect_column_values_to_be_in_set",
            {"column": "status", "value_set": ["PAID"], "mostly": 0.7},
            blocking=False,
        ),
        Expectation(
            "ids_present", "expect_column_values_to_not_be_null", {"column": "id"}, blocking=True
        ),
    )
    (mostly, present) = _validator().run("mostly_test", suite, frame, ["id"], NOW)
    assert mostly.success and mostly.result["unexpected_count"] == 2
    assert [row["id"] for row in mostly.result["unexpected_index_list"]] == [8, 9]
    assert present.success and not present.result  # the verdict alone


@pytest.mark.parametrize("seed", range(1, 3))
def test_expectations_known_to_fail_get_great_expectations_full_result(seed):
    """The expectations the gate's own verdict failed (`failing`) skip GE's verdict pass, and
    the outcome is still one full pass's. A name in `failing` that Great Expectations finds
    passing is reported passing: its full result has the last word."""
    rows = fact_rows(random.Random(seed), bad=True)
    frame = pd.DataFrame(rows)
    suite = load_suite("fct_sales_lines")
    truth = summary(one_full_pass("fct_sales_lines", suite, frame, FACT_IDS))
    failed = frozenset(name for name, (success, _, _) in truth.items() if not success)
    passing = next(name for name, (success, _, _) in truth.items() if success)
    assert failed
    for failing in (failed, failed | {passing}):
        ours = _validator().run("fct_sales_lines", suite, frame, FACT_IDS, NOW, failing)
        assert [r.expectation_config.meta["name"] for r in ours] == [e.name for e in suite]
        assert summary(ours) == truth
