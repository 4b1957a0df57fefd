"""The verdicts the gate works out itself (`quality/verdicts.py`) are Great Expectations' verdicts.

Every suite in `data_checks/` is run both ways on generated rows: values from its own sets and
bounds and just outside them, nulls, NaN, text where numbers belong, naive and aware datetimes
around "now", strings matching its patterns and not, repeated keys. Wherever the gate decides an
expectation itself, its verdict must equal Great Expectations' on the same rows; and across the
examples each expectation must be decided both ways, so the comparison says something. Then the
gate itself: passing rows never reach Great Expectations; a failure does, and shows its rows.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xero_pipeline.quality import gate as gate_module
from xero_pipeline.quality import suites
from xero_pipeline.quality.gate import CLOCK_SKEW, _frame, _validator, validate
from xero_pipeline.quality.suites import DATA_CHECKS, Expectation, load_suite
from xero_pipeline.quality.verdicts import verdicts

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
AHEAD = timezone(timedelta(hours=13))  # an offset other than UTC's
SUITES = sorted(p.stem for p in DATA_CHECKS.glob("*.json"))


def great_expectations_verdicts(name: str, rows: list[dict[str, Any]]) -> dict[str, bool]:
    """GE's own verdict on each expectation, on the frame the gate would give it."""
    suite = load_suite(name)
    validator = _validator()
    batch = validator.batches.get_batch(batch_parameters={"dataframe": _frame(suite, rows, [])})
    results = batch.validate(
        validator._suite(name, suite),
        expectation_parameters={"now": NOW + CLOCK_SKEW},
        result_format="BOOLEAN_ONLY",
    ).results
    return {r.expectation_config.meta["name"]: bool(r.success) for r in results}


def columns_of(suite: tuple[Expectation, ...]) -> dict[str, list[Expectation]]:
    """Each column the suite names (row conditions' included), with the expectations on it."""
    found: dict[str, list[Expectation]] = defaultdict(list)
    for expectation in suite:
        kwargs = expectation.kwargs
        for column in [kwargs.get("column"), *kwargs.get("column_list", [])]:
            if column:
                found[column].append(expectation)
        condition = kwargs.get("row_condition") or ""
        for word in condition.replace("(", " ").replace(")", " ").replace(".", " ").split():
            if word.isidentifier() and word not in ("and", "in", "notnull"):
                found.setdefault(word, [])
    return found


def candidates(
    expectations: list[Expectation], literals: list[str]
) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """Values for one column: those of its own kind (what its expectations accept and just
    outside, the texts the suite's row conditions name, None), and trouble (other types, NaN,
    naive datetimes, dates against datetimes)."""
    typed: list[Any] = [None, *literals]
    trouble: list[Any] = [float("nan"), Decimal("NaN"), "text", 7, True, False]
    trouble += [NOW.replace(tzinfo=None), date(2026, 11, 1), NOW.astimezone(AHEAD)]
    trouble += ["N\udc80Z", Decimal("sNaN"), 2**53, 2**53 + 1]
    patterns = []
    for expectation in expectations:
        kwargs = expectation.kwargs
        typed += list(kwargs.get("value_set", []))
        for bound in ("min_value", "max_value"):
            value = kwargs.get(bound)
            if isinstance(value, dict):  # "now"
                moment = NOW + CLOCK_SKEW
                typed += [moment, moment + timedelta(seconds=1), NOW - timedelta(days=3)]
            elif value is not None and expectation.type.endswith("lengths_to_be_between"):
                typed += ["x" * max(int(value) - 1, 0), "x" * int(value), "x" * (int(value) + 1)]
            elif value is not None:
                typed += [value, value + 1, value - 1, float(value) / 2]
                typed += [Decimal(str(value)) + Decimal("0.001"), Decimal(str(value))]
        if "regex" in kwargs:
            patterns.append(st.from_regex(kwargs["regex"], fullmatch=True))
            typed += ["no at sign", "two@@signs", " spaced @x"]
        if expectation.type.endswith("_be_unique") or "column_list" in kwargs:
            typed += ["k1", "k2", 1, 2]
            trouble += [1.0]
        allowed = kwargs.get("value_set", [])
        if allowed and all(isinstance(v, bool) for v in allowed):
            typed += [not v for v in allowed]
        elif expectation.type == "expect_column_values_to_be_in_set":
            typed += ["not in the set", 0, 1]
    if all(v is None or v in literals for v in typed) and not patterns:
        typed += ["a value", 3]  # a column only required to be present
    own_kind = st.one_of(st.sampled_from(typed), *patterns)
    return own_kind, st.one_of(own_kind, st.sampled_from(trouble))


@st.composite
def suite_rows(draw: st.DrawFn, name: str) -> list[dict[str, Any]]:
    suite = load_suite(name)
    literals = [
        text for e in suite for text in re.findall(r'"([^"]*)"', e.kwargs.get("row_condition", ""))
    ]
    pools = {}
    for column, found in columns_of(suite).items():
        own_kind, any_kind = candidates(found, literals)
        pools[column] = any_kind if draw(st.booleans()) else own_kind  # trouble, or not
    rows = [
        {column: draw(pool) for column, pool in pools.items()}
        for _ in range(draw(st.integers(1, 5)))
    ]
    if draw(st.booleans()):  # a repeated row: keys and unique columns see a duplicate
        rows.append(dict(rows[0]))
    return rows


@pytest.mark.parametrize("name", SUITES)
def test_the_gates_own_verdicts_are_great_expectations_verdicts(name):
    decided: dict[str, set[bool]] = defaultdict(set)

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,  # the same examples on every run
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(suite_rows(name))
    def agree(rows: list[dict[str, Any]]) -> None:
        ours = verdicts(load_suite(name), rows, NOW + CLOCK_SKEW)
        theirs = great_expectations_verdicts(name, rows)
        for expectation, verdict in ours.items():
            if verdict is not None:
                assert verdict == theirs[expectation], (expectation, rows)
                decided[expectation].add(verdict)

    agree()
    for expectation in load_suite(name):
        if "mostly" not in expectation.kwargs:
            assert decided[expectation.name] == {True, False}, expectation.name


def invoice_headers(count: int) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": "t1",
            "invoice_id": f"i{n}",
            "type": "ACCREC",
            "status": "AUTHORISED",
            "line_amount_types": "Exclusive",
            "date": date(2026, 8, 1 + n),
            "contact_id": "c1",
            "sub_total": Decimal("10.00"),
            "total_tax": Decimal("1.50"),
            "total": Decimal("11.50"),
            "updated_date_utc": NOW - timedelta(days=1),
            "subtotal_gap": 0.0,
            "total_gap": 0.0,
            "currency_code": "NZD",
        }
        for n in range(count)
    ]


def test_rows_that_pass_never_reach_great_expectations(monkeypatch):
    def refuse() -> None:
        raise AssertionError("Great Expectations was asked about rows that pass")

    monkeypatch.setattr(gate_module, "_validator", refuse)
    result = validate("xero_invoices", invoice_headers(5), ["tenant_id", "invoice_id"], NOW)
    assert result.passed
    assert all(o.element_count == 5 for o in result.outcomes)


def test_a_failure_is_judged_by_great_expectations_and_shows_its_rows(monkeypatch):
    asked: list[tuple[tuple[str, ...], frozenset[str]]] = []
    real = _validator()

    class Watching:
        def run(self, name, expectations, frame, ids, now, failing):
            asked.append((tuple(e.name for e in expectations), failing))
            return real.run(name, expectations, frame, ids, now, failing)

    monkeypatch.setattr(gate_module, "_validator", lambda: Watching())
    rows = invoice_headers(5)
    rows[3]["status"] = "PENDING"
    rows[4]["total_gap"] = math.nan  # null: not judged by its bounds
    result = validate("xero_invoices", rows, ["tenant_id", "invoice_id"], NOW)

    assert not result.passed
    (failure,) = result.blocking_failures
    assert failure.expectation.kwargs.get("column") == "status"
    assert failure.unexpected_count == 1
    assert [row["invoice_id"] for row in failure.sample] == ["i3"]
    # Only the failing expectation was asked, and as known to fail (no verdict pass for it).
    assert asked == [((failure.expectation.name,), frozenset({failure.expectation.name}))]


def test_a_suite_naming_two_expectations_alike_is_refused(tmp_path, monkeypatch):
    """Verdicts and outcomes are kept by expectation name: two alike would hide one."""
    rule = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}
    (tmp_path / "twice.json").write_text(
        json.dumps({"name": "twice", "expectations": [rule, rule]})
    )
    monkeypatch.setattr(suites, "DATA_CHECKS", tmp_path)
    load_suite.cache_clear()
    try:
        with pytest.raises(ValueError, match="two expectations are named"):
            load_suite("twice")
    finally:
        load_suite.cache_clear()
