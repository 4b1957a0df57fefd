"""The sandbox's `where` language: what Xero accepts selects the right records, what Xero rejects
fails at compile time with a QueryParseException-style message, and evaluation never raises."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xero_pipeline.sandbox.where import (
    FIELD_TYPES,
    WhereParseError,
    compile_where,
    escape_string,
)

ACME_ID = "3f1c2a9e-5b7d-4c1e-9a0b-1c2d3e4f5a6b"
OTHER_ID = "0d6e1f2a-3b4c-4d5e-8f60-718293a4b5c6"

INVOICES: list[dict[str, Any]] = [
    {
        "InvoiceID": "11111111-1111-4111-8111-111111111111",
        "InvoiceNumber": "INV-1",
        "Type": "ACCREC",
        "Status": "PAID",
        "Total": Decimal("100.00"),
        "AmountDue": Decimal("0.00"),
        "CurrencyRate": Decimal("1.000000"),
        "Date": date(2024, 1, 1),
        "Reference": "Rent January",
        "SentToContact": True,
        "UpdatedDateUTC": datetime(2024, 3, 1, 11, 59, 59, tzinfo=UTC),
        "Contact": {"ContactID": ACME_ID, "Name": "Acme Ltd"},
    },
    {
        "InvoiceID": "22222222-2222-4222-8222-222222222222",
        "InvoiceNumber": "INV-2",
        "Type": "ACCREC",
        "Status": "AUTHORISED",
        "Total": Decimal("250.50"),
        "AmountDue": Decimal("250.50"),
        "CurrencyRate": Decimal("0.590000"),
        "Date": date(2024, 1, 31),
        "Reference": None,
        "SentToContact": False,
        "UpdatedDateUTC": datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC),
        "Contact": {"ContactID": OTHER_ID, "Name": "Bolt & Nut"},
    },
    {
        "InvoiceID": "33333333-3333-4333-8333-333333333333",
        "InvoiceNumber": "INV-3",
        "Type": "ACCPAY",
        "Status": "DRAFT",
        "Total": Decimal("99.99"),
        "AmountDue": Decimal("99.99"),
        "CurrencyRate": Decimal("1.5"),
        "Date": date(2024, 2, 1),
        "Reference": "rent february",
        "SentToContact": False,
        "UpdatedDateUTC": datetime(2024, 3, 1, 12, 0, 1, tzinfo=UTC),
        "Contact": {"ContactID": ACME_ID, "Name": "Acme Ltd"},
    },
    {
        "InvoiceID": "44444444-4444-4444-8444-444444444444",
        "InvoiceNumber": "INV-4",
        "Type": "ACCPAY",
        "Status": "PAID",
        "Total": Decimal("-5"),
        "AmountDue": Decimal("0"),
        "CurrencyRate": Decimal("2"),
        "Date": date(2023, 12, 31),
        "SentToContact": True,
        "UpdatedDateUTC": datetime(2024, 2, 29, 23, 0, 0, tzinfo=UTC),
        "Contact": {"ContactID": OTHER_ID, "Name": "Bolt & Nut"},
    },
]


def numbers(where: str, records: Sequence[Mapping[str, Any]] = INVOICES) -> list[str]:
    """The InvoiceNumbers an Invoice `where` selects, in order."""
    predicate = compile_where(where, "Invoice")
    return [r["InvoiceNumber"] for r in records if predicate(r)]


def matches(where: str, record: Mapping[str, Any], resource: str = "Contact") -> bool:
    return compile_where(where, resource)(record)


def parse_error(where: str, resource: str = "Invoice") -> WhereParseError:
    with pytest.raises(WhereParseError) as caught:
        compile_where(where, resource)
    return caught.value


# --- Operators ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('Status=="PAID"', ["INV-1", "INV-4"]),
        ('Status="PAID"', ["INV-1", "INV-4"]),
        ('Status!="PAID"', ["INV-2", "INV-3"]),
        ('Status<>"PAID"', ["INV-2", "INV-3"]),
        ("Total>100", ["INV-2"]),
        ("Total>=100", ["INV-1", "INV-2"]),
        ("Total<100", ["INV-3", "INV-4"]),
        ("Total<=100", ["INV-1", "INV-3", "INV-4"]),
        ("Total==100", ["INV-1"]),
        ("Total!=100", ["INV-2", "INV-3", "INV-4"]),
    ],
)
def test_each_comparison_operator(where: str, expected: list[str]) -> None:
    assert numbers(where) == expected


def test_constant_on_the_left_mirrors_the_operator() -> None:
    assert numbers("100<Total") == numbers("Total>100") == ["INV-2"]
    assert numbers("100>=Total") == ["INV-1", "INV-3", "INV-4"]
    assert numbers('"DRAFT"==Status') == ["INV-3"]


def test_whitespace_and_newlines_between_tokens() -> None:
    assert numbers('  Status\n==\t"PAID"\r\n  AND   Total  >  0 ') == ["INV-1"]
    assert numbers('Status=="PAID"&&Total>0') == ["INV-1"]


def test_field_comparisons_between_two_fields() -> None:
    assert numbers("AmountDue==Total") == ["INV-2", "INV-3"]
    assert numbers("AmountDue<Total") == ["INV-1"]


# --- Boolean logic ------------------------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    # As (Status=="PAID") OR (Type=="ACCPAY" AND Total>50): INV-1, INV-3, INV-4.
    assert numbers('Status=="PAID" OR Type=="ACCPAY" AND Total>50') == ["INV-1", "INV-3", "INV-4"]
    # Parentheses change it: PAID or ACCPAY, and Total>50: INV-1, INV-3.
    assert numbers('(Status=="PAID" OR Type=="ACCPAY") AND Total>50') == ["INV-1", "INV-3"]
    assert numbers('Type=="ACCPAY" AND Total>50 OR Status=="PAID"') == ["INV-1", "INV-3", "INV-4"]


@pytest.mark.parametrize(
    "where",
    [
        'Status=="PAID" and Total>0 or Status=="DRAFT"',
        'Status=="PAID" AND Total>0 OR Status=="DRAFT"',
        'Status=="PAID" aNd Total>0 Or Status=="DRAFT"',
        'Status=="PAID" && Total>0 || Status=="DRAFT"',
        '((Status=="PAID") && (Total>0)) || (Status=="DRAFT")',
    ],
)
def test_logical_operator_spellings(where: str) -> None:
    assert numbers(where) == ["INV-1", "INV-3"]


def test_not_and_bang() -> None:
    assert numbers('NOT (Status=="PAID")') == ["INV-2", "INV-3"]
    assert numbers('not(Status=="PAID")') == ["INV-2", "INV-3"]
    assert numbers('!(Status=="PAID")') == ["INV-2", "INV-3"]
    assert numbers("!SentToContact") == ["INV-2", "INV-3"]
    assert numbers("NOT NOT SentToContact") == ["INV-1", "INV-4"]
    assert numbers('NOT Reference.Contains("ent")') == ["INV-2", "INV-4"]
    # NOT binds tighter than AND, as in C#.
    assert numbers('NOT SentToContact AND Type=="ACCPAY"') == ["INV-3"]


def test_constant_expressions() -> None:
    assert numbers("true") == ["INV-1", "INV-2", "INV-3", "INV-4"]
    assert numbers("FALSE") == []
    assert numbers("1==1 AND SentToContact") == ["INV-1", "INV-4"]
    assert numbers("false OR SentToContact") == ["INV-1", "INV-4"]
    assert numbers("null==null") == ["INV-1", "INV-2", "INV-3", "INV-4"]


@dataclass(frozen=True)
class Node:
    """A random boolean expression: an atom name, or an operator over children."""

    op: str  # "atom", "not", "and", "or"
    children: tuple[Node, ...] = ()
    atom: str = ""


ATOMS = {
    "SentToContact": lambda r: r["SentToContact"],
    'Status=="PAID"': lambda r: r["Status"] == "PAID",
    "Total>=100": lambda r: r["Total"] >= 100,
    'Type!="ACCREC"': lambda r: r["Type"] != "ACCREC",
}
PRECEDENCE = {"or": 1, "and": 2, "comparison": 3, "not": 4, "field": 5}


def level(node: Node) -> int:
    """As in C#, NOT binds tighter than a comparison: `NOT Total>5` is `(NOT Total)>5`."""
    if node.op == "atom":
        return PRECEDENCE["field" if node.atom.isidentifier() else "comparison"]
    return PRECEDENCE[node.op]


nodes = st.recursive(
    st.sampled_from(sorted(ATOMS)).map(lambda a: Node("atom", atom=a)),
    lambda inner: st.one_of(
        inner.map(lambda n: Node("not", (n,))),
        st.tuples(st.sampled_from(["and", "or"]), inner, inner).map(
            lambda t: Node(t[0], (t[1], t[2]))
        ),
    ),
    max_leaves=12,
)


def render(node: Node, spelling: dict[str, str]) -> str:
    """Text with parentheses only where precedence needs them (left-associative binaries)."""
    if node.op == "atom":
        return node.atom
    if node.op == "not":
        child = render(node.children[0], spelling)
        needs = level(node.children[0]) < PRECEDENCE["not"]
        return f"{spelling['not']}({child})" if needs else f"{spelling['not']} {child}"
    left, right = node.children
    left_text = render(left, spelling)
    right_text = render(right, spelling)
    if level(left) < level(node):
        left_text = f"({left_text})"
    if level(right) <= level(node):
        right_text = f"({right_text})"
    return f"{left_text} {spelling[node.op]} {right_text}"


def evaluate(node: Node, record: Mapping[str, Any]) -> bool:
    if node.op == "atom":
        return bool(ATOMS[node.atom](record))
    if node.op == "not":
        return not evaluate(node.children[0], record)
    results = [evaluate(c, record) for c in node.children]
    return all(results) if node.op == "and" else any(results)


@given(
    node=nodes,
    spelling=st.sampled_from(
        [{"and": "AND", "or": "OR", "not": "NOT"}, {"and": "&&", "or": "||", "not": "!"}]
    ),
)
def test_random_boolean_expressions_agree_with_python(node: Node, spelling: dict[str, str]) -> None:
    predicate = compile_where(render(node, spelling), "Invoice")
    for record in INVOICES:
        assert predicate(record) is evaluate(node, record)


# --- Strings ------------------------------------------------------------------------------------

AWKWARD_NAME = 'O\'Brien "Ltd" \\ Co'
CONTACTS = [
    {"Name": AWKWARD_NAME, "ContactID": ACME_ID},
    {"Name": "O'Brien Ltd Co", "ContactID": OTHER_ID},
    {"Name": 'O\'Brien "Ltd" \\\\ Co', "ContactID": OTHER_ID},
]


def test_escape_string_rule() -> None:
    assert escape_string('O\'Brien "Ltd"') == '"O\'Brien \\"Ltd\\""'
    assert escape_string("a\\b") == '"a\\\\b"'
    assert escape_string('\\"') == '"\\\\\\""'
    assert escape_string("") == '""'


def test_name_with_quotes_and_backslash_is_found_exactly() -> None:
    predicate = compile_where("Name==" + escape_string(AWKWARD_NAME), "Contact")
    assert [c["Name"] for c in CONTACTS if predicate(c)] == [AWKWARD_NAME]
    # The same literal written by hand.
    assert matches('Name=="O\'Brien \\"Ltd\\" \\\\ Co"', CONTACTS[0])
    assert not matches('Name=="O\'Brien \\"Ltd\\" \\\\ Co"', CONTACTS[2])


HOSTILE = [
    "",
    '"',
    "\\",
    '\\"',
    '"\\',
    'x" OR Name!="',
    'x\\" OR true OR \\"',
    "a AND b",
    ") || (",
    'Name=="x" || true',
    "\\\\\\",
    "ünïcödé Zürich",
    "日本語の会社",
    "🦄 Unicorn 🏳️‍🌈",
    "tab\there\nnewline\r\n",
    "DateTime(2024,1,1)",
    'Guid("00000000-0000-0000-0000-000000000000")',
]


@pytest.mark.parametrize("name", HOSTILE)
def test_escape_string_round_trips_hostile_strings(name: str) -> None:
    literal = escape_string(name)
    assert matches(f"Name=={literal}", {"Name": name})
    assert not matches(f"Name=={literal}", {"Name": name + "x"})
    assert not matches(f"Name!={literal}", {"Name": name})
    assert matches(f"Name=={literal} AND IsCustomer", {"Name": name, "IsCustomer": True})
    assert not matches(f"Name=={literal} AND IsCustomer", {"Name": name, "IsCustomer": False})
    assert matches(f"Name.Contains({literal})", {"Name": f"<<{name}>>"})


@given(name=st.text(), other=st.text())
def test_escape_string_round_trip_property(name: str, other: str) -> None:
    predicate = compile_where(f"Name=={escape_string(name)}", "Contact")
    assert predicate({"Name": name})
    assert predicate({"Name": other}) is (other == name)
    assert compile_where(f"Name.StartsWith({escape_string(name)})", "Contact")(
        {"Name": name + other}
    )


def test_string_comparison_is_case_sensitive() -> None:
    assert numbers('Status=="paid"') == []
    assert numbers('Reference=="Rent January"') == ["INV-1"]
    assert numbers('Reference=="rent january"') == []


def test_contains_startswith_endswith() -> None:
    assert numbers('Reference.Contains("ent")') == ["INV-1", "INV-3"]
    assert numbers('Reference.Contains("Rent")') == ["INV-1"]
    assert numbers('Reference.StartsWith("rent")') == ["INV-3"]
    assert numbers('Reference.EndsWith("January")') == ["INV-1"]
    assert numbers('Reference.Contains("")') == ["INV-1", "INV-3"]  # not the null References
    assert numbers('Contact.Name.Contains("&")') == ["INV-2", "INV-4"]


def test_tolower_and_toupper() -> None:
    assert numbers('Reference.ToLower().StartsWith("rent")') == ["INV-1", "INV-3"]
    assert numbers('Reference.ToLower()=="rent january"') == ["INV-1"]
    assert numbers('Reference.ToUpper().Contains("FEB")') == ["INV-3"]
    assert numbers('Status.ToLower()=="paid"') == ["INV-1", "INV-4"]
    assert numbers('"PAID".ToLower()==Status.ToLower() AND Total>0') == ["INV-1"]


def test_method_and_field_names_are_case_insensitive_like_dynamic_linq() -> None:
    assert numbers('reference.contains("ent")') == ["INV-1", "INV-3"]
    assert numbers('STATUS=="PAID" and contact.name.TOLOWER().startswith("acme")') == ["INV-1"]


def test_method_on_null_is_false_and_never_raises() -> None:
    assert numbers('Reference.Contains("x")', [{"InvoiceNumber": "N", "Reference": None}]) == []
    assert numbers('NOT Reference.Contains("x")', [{"InvoiceNumber": "N"}]) == ["N"]
    assert numbers("Reference.ToLower()==null", [{"InvoiceNumber": "N"}]) == ["N"]


# --- Dates and timestamps -----------------------------------------------------------------------


def test_date_window_on_a_date_field_includes_start_and_excludes_end() -> None:
    window = "Date>=DateTime(2024,01,01) AND Date<DateTime(2024,02,01)"
    # 2023-12-31 out, 2024-01-01 in (lower bound), 2024-01-31 in, 2024-02-01 out (upper bound).
    assert numbers(window) == ["INV-1", "INV-2"]
    assert numbers("Date<=DateTime(2024,02,01)") == ["INV-1", "INV-2", "INV-3", "INV-4"]
    assert numbers("Date>DateTime(2024,1,31)") == ["INV-3"]


def test_date_equals_midnight_datetime() -> None:
    assert numbers("Date==DateTime(2024,1,31)") == ["INV-2"]
    assert numbers("Date==DateTime(2024,1,31,0,0,0)") == ["INV-2"]
    assert numbers("Date==DateTime(2024,1,31,0,0,1)") == []
    assert numbers("Date<DateTime(2024,1,31,0,0,1) AND Date>DateTime(2024,1,1,12,0,0)") == ["INV-2"]


def test_timestamp_field_with_time_of_day() -> None:
    assert numbers("UpdatedDateUTC>DateTime(2024,3,1,12,0,0)") == ["INV-3"]
    assert numbers("UpdatedDateUTC>=DateTime(2024,3,1,12,0,0)") == ["INV-2", "INV-3"]
    assert numbers("UpdatedDateUTC<DateTime(2024,3,1,12,0,0)") == ["INV-1", "INV-4"]
    assert numbers("UpdatedDateUTC==DateTime(2024,03,01,12,00,00)") == ["INV-2"]
    assert numbers("UpdatedDateUTC>=DateTime(2024,3,1)") == ["INV-1", "INV-2", "INV-3"]


def test_timestamps_compare_as_instants_whatever_their_zone() -> None:
    auckland = timezone(timedelta(hours=13))
    record = {"UpdatedDateUTC": datetime(2024, 3, 2, 1, 0, 0, tzinfo=auckland)}  # 12:00 UTC
    assert matches("UpdatedDateUTC==DateTime(2024,3,1,12,0,0)", record)
    assert not matches("UpdatedDateUTC>DateTime(2024,3,1,12,0,0)", record)
    naive = {"UpdatedDateUTC": datetime(2024, 3, 1, 12, 0, 0)}  # taken as UTC
    assert matches("UpdatedDateUTC==DateTime(2024,3,1,12,0,0)", naive)


# --- Guids --------------------------------------------------------------------------------------


def test_guid_equality_is_case_insensitive() -> None:
    assert matches(f'ContactID==Guid("{ACME_ID.upper()}")', {"ContactID": ACME_ID})
    assert matches(f'ContactID==Guid("{ACME_ID}")', {"ContactID": ACME_ID.upper()})
    assert matches(f'ContactID==guid("{{{ACME_ID}}}")', {"ContactID": ACME_ID})
    assert matches(f'ContactID==Guid("{ACME_ID.replace("-", "")}")', {"ContactID": ACME_ID})
    assert not matches(f'ContactID!=Guid("{ACME_ID.upper()}")', {"ContactID": ACME_ID})
    assert not matches(f'ContactID==Guid("{OTHER_ID}")', {"ContactID": ACME_ID})


def test_dotted_contact_id() -> None:
    assert numbers(f'Contact.ContactID==Guid("{ACME_ID}")') == ["INV-1", "INV-3"]
    assert numbers(f'Contact.ContactID!=Guid("{ACME_ID}") AND Status=="PAID"') == ["INV-4"]
    odd = [
        {"InvoiceNumber": "no contact"},
        {"InvoiceNumber": "null contact", "Contact": None},
        {"InvoiceNumber": "contact not a mapping", "Contact": "Acme"},
        {"InvoiceNumber": "no id", "Contact": {"Name": "Acme"}},
    ]
    assert numbers(f'Contact.ContactID==Guid("{ACME_ID}")', odd) == []
    assert numbers("Contact.ContactID==null", odd) == [r["InvoiceNumber"] for r in odd]


# --- Booleans, null, numbers --------------------------------------------------------------------


def test_booleans() -> None:
    assert numbers("SentToContact") == ["INV-1", "INV-4"]
    assert numbers("SentToContact==true") == ["INV-1", "INV-4"]
    assert numbers("SentToContact == False") == ["INV-2", "INV-3"]
    assert numbers("SentToContact!=TRUE") == ["INV-2", "INV-3"]
    assert matches("IsSupplier AND IsCustomer", {"IsSupplier": True, "IsCustomer": True})
    assert not matches("IsSupplier AND IsCustomer", {"IsSupplier": True, "IsCustomer": False})
    assert matches("IsSupplier OR IsCustomer", {"IsSupplier": False, "IsCustomer": True})


def test_missing_boolean_is_null_not_false() -> None:
    missing: dict[str, Any] = {}
    assert not matches("IsCustomer", missing)
    assert not matches("NOT IsCustomer", missing)  # C#: !null is null, which selects nothing
    assert matches("IsCustomer==null", missing)
    assert matches("IsCustomer!=true", missing)
    assert matches("IsCustomer OR IsSupplier", {"IsSupplier": True})
    assert not matches("IsCustomer AND IsSupplier", {"IsSupplier": True})
    assert matches("NOT (IsCustomer AND IsSupplier)", {"IsSupplier": False})


def test_null() -> None:
    assert numbers("Reference==null") == ["INV-2", "INV-4"]  # None and missing alike
    assert numbers("Reference!=NULL") == ["INV-1", "INV-3"]
    assert numbers("null==Reference") == ["INV-2", "INV-4"]
    records = [{"InvoiceNumber": "N", "Total": None}, {"InvoiceNumber": "M"}]
    for where in ("Total>0", "Total<0", "Total>=0", "Total<=0", "Total==0"):
        assert numbers(where, records) == [], where
    assert numbers("Total!=0", records) == ["N", "M"]


def test_numbers_against_decimal_fields() -> None:
    assert numbers("CurrencyRate==1.5") == ["INV-3"]
    assert numbers("CurrencyRate==1.50000") == ["INV-3"]
    assert numbers("CurrencyRate==1") == ["INV-1"]  # Decimal("1.000000")
    assert numbers("Total==250.5") == ["INV-2"]
    assert numbers("Total==250.50m") == ["INV-2"]
    assert numbers("Total<0") == ["INV-4"]
    assert numbers("Total==-5") == ["INV-4"]
    assert numbers("Total>=-5.00 AND Total<-4.99") == ["INV-4"]
    assert numbers("-Total>0") == ["INV-4"]
    assert numbers("Total>99.989") == ["INV-1", "INV-2", "INV-3"]


@given(
    value=st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=-(10**6), max_value=10**6
    ),
    bound=st.decimals(
        allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6
    ),
)
def test_decimal_ordering_property(value: Decimal, bound: Decimal) -> None:
    record = {"Total": value}
    assert matches(f"Total>{bound}", record, "Invoice") is (value > bound)
    assert matches(f"Total<={bound}", record, "Invoice") is (value <= bound)
    assert matches(f"Total=={bound}", record, "Invoice") is (value == bound)


def test_evaluation_never_raises_on_odd_values() -> None:
    odd: list[dict[str, Any]] = [
        {"Total": Decimal("NaN"), "Date": "not a date", "Status": 7, "InvoiceID": 12},
        {"Total": Decimal("sNaN"), "Date": 20240101, "Contact": ["x"], "SentToContact": "yes"},
        {"Total": "12.50", "Date": "2024-01-15", "UpdatedDateUTC": "2024-03-01T12:00:00Z"},
        {"Total": 12.5, "Date": datetime(2024, 1, 15, 8, 0), "InvoiceID": ACME_ID.upper()},
        {"Total": True, "Reference": 5, "Contact": {"Name": None}},
    ]
    wheres = [
        "Total>0",
        "Total==12.5",
        "Total!=1",
        "Date>=DateTime(2024,1,1)",
        'Status=="7"',
        f'InvoiceID==Guid("{ACME_ID}")',
        'Contact.Name.ToLower().Contains("a")',
        "SentToContact",
        "NOT SentToContact",
        'Reference.StartsWith("5")',
        "UpdatedDateUTC==DateTime(2024,3,1,12,0,0)",
    ]
    results = {w: [compile_where(w, "Invoice")(r) for r in odd] for w in wheres}
    assert all(isinstance(v, bool) for vs in results.values() for v in vs)
    # Parseable text in a typed field still compares by value.
    assert results["Total==12.5"] == [False, False, True, True, False]
    assert results["UpdatedDateUTC==DateTime(2024,3,1,12,0,0)"] == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert results[f'InvoiceID==Guid("{ACME_ID}")'] == [False, False, False, True, False]


def test_compiles_for_every_resource_and_field() -> None:
    samples = {
        "String": '"x"',
        "Guid": 'Guid("00000000-0000-0000-0000-000000000000")',
        "DateTime": "DateTime(2024,1,1)",
        "Decimal": "1.5",
        "Int32": "1",
        "Boolean": "true",
    }
    for resource, fields in FIELD_TYPES.items():
        for field, type_name in fields.items():
            predicate = compile_where(f"{field}=={samples[type_name]}", resource)
            assert predicate({}) is False, (resource, field)
            assert compile_where(f"{field}==null", resource)({}) is True


def test_field_types_cover_the_brief() -> None:
    assert set(FIELD_TYPES) == {"Contact", "ContactGroup", "Account", "Invoice", "CreditNote"}
    assert FIELD_TYPES["Invoice"]["Contact.ContactID"] == "Guid"
    assert FIELD_TYPES["Invoice"]["Date"] == "DateTime"
    assert FIELD_TYPES["Invoice"]["AmountCredited"] == "Decimal"
    assert FIELD_TYPES["CreditNote"]["RemainingCredit"] == "Decimal"
    assert FIELD_TYPES["Contact"]["IsCustomer"] == "Boolean"
    assert FIELD_TYPES["Account"]["EnablePaymentsToAccount"] == "Boolean"
    assert FIELD_TYPES["ContactGroup"] == {
        "ContactGroupID": "Guid",
        "Name": "String",
        "Status": "String",
    }
    allowed = {"String", "Guid", "DateTime", "Decimal", "Int32", "Boolean"}
    assert {t for fields in FIELD_TYPES.values() for t in fields.values()} <= allowed


def test_unknown_resource_is_a_programming_error_not_a_400() -> None:
    with pytest.raises(KeyError):
        compile_where('Name=="x"', "Invoices")


# --- Errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ('Foo=="x"', "No property or field 'Foo' exists in type 'Invoice'"),
        ("IsCustomer", "No property or field 'IsCustomer' exists in type 'Invoice'"),
        ("Contact.Foo==null", "No property or field 'Foo' exists in type 'Contact'"),
        ("Status.Length>1", "No property or field 'Length' exists in type 'String'"),
        ('InvoiceID=="abc"', "Operator '==' incompatible with operand types 'Guid' and 'String'"),
        (
            'Date>="2024-01-01"',
            "Operator '>=' incompatible with operand types 'DateTime' and 'String'",
        ),
        ("SentToContact==1", "Operator '==' incompatible with operand types 'Boolean' and 'Int32'"),
        ('Total=="5"', "Operator '==' incompatible with operand types 'Decimal' and 'String'"),
        ("Total==true", "Operator '==' incompatible with operand types 'Decimal' and 'Boolean'"),
        ('Status<"M"', "Operator '<' incompatible with operand types 'String' and 'String'"),
        (
            "Reference>=Status",
            "Operator '>=' incompatible with operand types 'String' and 'String'",
        ),
        (
            f'InvoiceID>Guid("{ACME_ID}")',
            "Operator '>' incompatible with operand types 'Guid' and 'Guid'",
        ),
        (
            "SentToContact<true",
            "Operator '<' incompatible with operand types 'Boolean' and 'Boolean'",
        ),
        ("Total>null", "Operator '>' incompatible with operand types 'Decimal' and 'Object'"),
        (
            'Status="PAID" AND Total',
            "Operator 'AND' incompatible with operand types 'Boolean' and 'Decimal'",
        ),
        (
            "Reference || SentToContact",
            "Operator '||' incompatible with operand types 'String' and 'Boolean'",
        ),
        ("NOT Total>5", "Operator 'NOT' incompatible with operand type 'Decimal'"),
        ('-Status=="x"', "Operator '-' incompatible with operand type 'String'"),
        ("Total", "Expression of type 'Boolean' expected"),
        ("Reference.ToLower()", "Expression of type 'Boolean' expected"),
        ("null", "Expression of type 'Boolean' expected"),
        ('Total.Contains("1")', "No applicable method 'Contains' exists in type 'Decimal'"),
        ('Reference.Foo("x")', "No applicable method 'Foo' exists in type 'String'"),
        ("Reference.Contains(5)", "Contains takes one String argument"),
        ("Reference.Contains()", "Contains takes one String argument"),
        ("Reference.Contains(null)", "Contains takes one String argument"),
        ('Reference.ToLower("x")=="y"', "ToLower takes no arguments"),
        ("Contact==null", "'Contact' is an object"),
    ],
)
def test_type_errors(where: str, message: str) -> None:
    assert message in str(parse_error(where))


def test_type_error_messages_are_exactly_xeros() -> None:
    assert str(parse_error('Foo=="x"')) == "No property or field 'Foo' exists in type 'Invoice'"
    assert str(parse_error('InvoiceID=="abc"')) == (
        "Operator '==' incompatible with operand types 'Guid' and 'String'"
    )
    assert str(parse_error('Foo=="x"', "Contact")) == (
        "No property or field 'Foo' exists in type 'Contact'"
    )


@pytest.mark.parametrize(
    ("where", "message", "position"),
    [
        ('Name=="abc', "Unterminated string literal", 6),
        ('Name=="abc\\', "Unterminated string literal", 6),
        ('Name=="abc\\"', "Unterminated string literal", 6),
        ('Name=="a\\nb"', "Unrecognized escape sequence '\\n'", 8),
        ('Name=="a\\\'b"', "Unrecognized escape sequence '\\''", 8),
        ('(Name=="x"', "')' or operator expected", 10),
        ('((Name=="x") AND IsCustomer', "')' or operator expected", 27),
        ('Name.Contains("x"', "')' or ',' expected", 17),
        ('Name.Contains("x" "y")', "')' or ',' expected", 18),
        ('Name=="x")', "operator or end of expression expected (found ')')", 9),
        ('Name=="x" IsCustomer', "operator or end of expression expected (found 'IsCustomer')", 10),
        ('Name=="x" "y"', 'operator or end of expression expected (found string literal "y")', 10),
        ("", "Expression expected", 0),
        ("   ", "Expression expected", 3),
        ("\n\t", "Expression expected", 2),
        ("Name==", "Expression expected", 6),
        ('Name=="x" AND', "Expression expected", 13),
        ('Name=="x" AND (', "Expression expected", 15),
        ('AND Name=="x"', "Expression expected (found 'AND')", 0),
        ("==5", "Expression expected (found '==')", 0),
        ("()", "Expression expected (found ')')", 1),
        ('Name=="x" & IsCustomer', "Invalid character '&' (use '&&' or AND)", 10),
        ('Name=="x" | IsCustomer', "Invalid character '|' (use '||' or OR)", 10),
        ("Name=='x'", "Invalid character '''", 6),
        ('Name=="x"; DROP', "Invalid character ';'", 9),
        ("Name.", "identifier expected after '.'", 5),
        ("IsCustomer==5x", "Invalid numeric literal '5x'", 12),
        ("IsCustomer==1e5", "Invalid numeric literal '1e5'", 12),
    ],
)
def test_syntax_errors_say_what_and_where(where: str, message: str, position: int) -> None:
    error = parse_error(where, "Contact")
    assert str(error).startswith(f"Syntax error at position {position}: ")
    assert message in str(error)
    assert error.position == position


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ('InvoiceID==Guid("not-a-guid")', 'Invalid Guid "not-a-guid"'),
        ('InvoiceID==Guid("3f1c2a9e-5b7d-4c1e-9a0b-1c2d3e4f5a6")', "32 digits with 4 dashes"),
        ('InvoiceID==Guid("{3f1c2a9e-5b7d-4c1e-9a0b-1c2d3e4f5a6b)")', "Invalid Guid"),
        ("InvoiceID==Guid()", "No matching constructor in type 'Guid'"),
        (f'InvoiceID==Guid("{ACME_ID}", "x")', "No matching constructor in type 'Guid'"),
        ("InvoiceID==Guid(5)", "No matching constructor in type 'Guid'"),
        ("Date>DateTime(2024,1)", "No matching constructor in type 'DateTime'"),
        ("Date>DateTime(2024,1,1,0)", "No matching constructor in type 'DateTime'"),
        ("Date>DateTime(2024,1,1,0,0)", "No matching constructor in type 'DateTime'"),
        ("Date>DateTime(2024,1,1,0,0,0,0)", "No matching constructor in type 'DateTime'"),
        ("Date>DateTime()", "No matching constructor in type 'DateTime'"),
        ("Date>DateTime(2024,1,1.5)", "No matching constructor in type 'DateTime'"),
        ('Date>DateTime("2024-01-01")', "No matching constructor in type 'DateTime'"),
        ("Date>DateTime(2024,2,30)", "Invalid DateTime(2024,2,30)"),
        ("Date>DateTime(2024,13,1)", "month must be in 1..12"),
        ("Date>DateTime(2024,1,1,24,0,0)", "Invalid DateTime(2024,1,1,24,0,0)"),
        ("Date>DateTime(-1,1,1)", "Invalid DateTime(-1,1,1)"),
        ("Total>99999999999999999999", "Invalid integer literal"),
    ],
)
def test_constructor_and_literal_errors(where: str, message: str) -> None:
    assert message in str(parse_error(where))


def test_where_parse_error_is_a_value_error_with_a_position() -> None:
    error = parse_error('Status=="PAID" AND Colour=="red"')
    assert isinstance(error, ValueError)
    assert error.position == 19
    assert "Colour" in error.message
