"""The hot paths' column-at-a-time versions (bench/ shows why they exist) against the plain
per-row code they replace: the same storage problems, the same COPY text, the same frame for
the gate, on rows of any shape hypothesis can think of."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from xero_pipeline.quality import gate, storable, suites
from xero_pipeline.warehouse.schema import key_columns, metadata
from xero_pipeline.warehouse.staging import _csv_text, _csv_value

TABLES = ("xero_invoices", "xero_invoice_lines", "xero_contacts", "xero_accounts")

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.decimals(min_value=-(10**15), max_value=10**15, places=4),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="ascii"), max_size=70),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def rows_of(table: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    columns = [c.name for c in metadata.tables[table].columns]
    return st.lists(st.fixed_dictionaries({c: values for c in columns}), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), name=st.sampled_from(TABLES))
def test_the_storage_check_finds_what_the_per_row_check_finds(data, name):
    table = metadata.tables[name]
    rows = data.draw(rows_of(name))
    expected = {i: p for i, row in enumerate(rows) if (p := storable.row_problems(table, row))}
    assert storable.problems_by_row(table, rows) == expected


@settings(max_examples=150, deadline=None)
@given(data=st.data(), name=st.sampled_from(TABLES))
def test_the_copy_text_is_the_per_value_text(data, name):
    table = metadata.tables[name]
    rows = data.draw(rows_of(name))
    columns = [c.name for c in table.columns]
    loaded_at = datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)
    hashes = [f"h{i}" for i in range(len(rows))]
    expected = "".join(
        ",".join(
            _csv_value({**row, "row_hash": digest, "loaded_at": loaded_at}.get(c)) for c in columns
        )
        + "\n"
        for row, digest in zip(rows, hashes, strict=True)
    )
    assert _csv_text(rows, columns, hashes, loaded_at) == expected


gate_values = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.sampled_from(["ACCREC", "PAID", "Inclusive", "\ud800 surrogate", "é"]),
    st.decimals(min_value=-1000, max_value=1000, places=2),
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=0, max_value=50),
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    st.datetimes(timezones=st.just(UTC)),
)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), name=st.sampled_from(("xero_invoices", "xero_invoice_lines")))
def test_the_gate_sees_the_frame_pandas_builds_from_the_rows(data, name):
    columns = [c.name for c in metadata.tables[name].columns]
    extra = ["subtotal_gap", "total_gap", "account_status"]
    chosen = data.draw(st.lists(st.sampled_from(columns + extra), min_size=1, unique=True))
    rows = data.draw(
        st.lists(st.fixed_dictionaries({c: gate_values for c in chosen}), min_size=1, max_size=6)
    )
    ids = key_columns(metadata.tables[name])
    frame = gate._frame(suites.load_suite(name), rows, ids)
    everything = pd.DataFrame([gate._pandas_safe(row) for row in rows])
    named = suites.columns_read(suites.load_suite(name))
    kept = [c for c in everything.columns if named is None or c in named or c in ids]
    assert list(frame.columns) == kept
    # (check_column_type: an empty column list is an empty Index of either kind)
    pd.testing.assert_frame_equal(frame, everything[kept], check_column_type=bool(kept))


def test_rows_of_different_shapes_still_make_pandas_frame():
    rows = [{"invoice_id": "a", "status": "PAID"}, {"invoice_id": "b", "total": Decimal(1)}]
    frame = gate._frame(suites.load_suite("xero_invoices"), rows, ["tenant_id", "invoice_id"])
    assert list(frame.columns) == ["invoice_id", "status", "total"]
