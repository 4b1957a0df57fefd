"""Xero's `where` filter language: parsed once into plain closures, then run on every record.

Xero's GET endpoints take `where=` in System.Linq.Dynamic syntax (`Status=="PAID" AND
Date>=DateTime(2024,01,01)`). The sandbox must accept what Xero accepts, reject what Xero rejects
with a QueryParseException-style message, and filter up to 100,000 records per request, so the text
is tokenised and parsed by hand (recursive descent) straight into nested closures: no AST is walked
per record and nothing is `eval`-ed. Type checking happens at compile time against `FIELD_TYPES`,
as Dynamic LINQ's does against the .NET type, so a bad query fails before any record is read.

Evaluation follows C#'s lifted-operator rules for missing values: `x == null` is true, an ordering
comparison with null is false, `x != 5` is true; a string method on null is false (C# would throw).
Evaluating a compiled predicate never raises, whatever the record holds.
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final

from xero_pipeline.xero.filters import escape_string  # one quoting rule, client and sandbox

Record = Mapping[str, Any]
Getter = Callable[[Record], Any]
Predicate = Callable[[Record], bool]

__all__ = ["FIELD_TYPES", "WhereParseError", "compile_where", "escape_string"]


class WhereParseError(ValueError):
    """message is what the sandbox puts in Xero's 400 body's Message.

    `position` is the 0-based offset into the where text that the error points at (None when the
    error is about types rather than a place in the text, as in Dynamic LINQ's own messages).
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


_S, _G, _DT, _D, _I, _B = "String", "Guid", "DateTime", "Decimal", "Int32", "Boolean"

# Resource name -> dotted field -> type name. Only scalar fields: lists (LineItems, Phones, ...)
# cannot be filtered on in Xero's where either. Dates and timestamps are both "DateTime".
FIELD_TYPES: Final[dict[str, dict[str, str]]] = {
    "Contact": {
        "ContactID": _G,
        "ContactNumber": _S,
        "AccountNumber": _S,
        "ContactStatus": _S,
        "Name": _S,
        "FirstName": _S,
        "LastName": _S,
        "CompanyNumber": _S,
        "EmailAddress": _S,
        "BankAccountDetails": _S,
        "TaxNumber": _S,
        "AccountsReceivableTaxType": _S,
        "AccountsPayableTaxType": _S,
        "DefaultCurrency": _S,
        "PurchasesDefaultAccountCode": _S,
        "SalesDefaultAccountCode": _S,
        "XeroNetworkKey": _S,
        "MergedToContactID": _G,
        "Website": _S,
        "IsSupplier": _B,
        "IsCustomer": _B,
        "HasAttachments": _B,
        "HasValidationErrors": _B,
        "UpdatedDateUTC": _DT,
    },
    "ContactGroup": {
        "ContactGroupID": _G,
        "Name": _S,
        "Status": _S,
    },
    "Account": {
        "AccountID": _G,
        "Code": _S,
        "Name": _S,
        "Type": _S,
        "Status": _S,
        "Class": _S,
        "Description": _S,
        "TaxType": _S,
        "BankAccountNumber": _S,
        "BankAccountType": _S,
        "CurrencyCode": _S,
        "EnablePaymentsToAccount": _B,
        "ShowInExpenseClaims": _B,
        "AddToWatchlist": _B,
        "HasAttachments": _B,
        "SystemAccount": _S,
        "ReportingCode": _S,
        "ReportingCodeName": _S,
        "UpdatedDateUTC": _DT,
    },
    "Invoice": {
        "InvoiceID": _G,
        "InvoiceNumber": _S,
        "Reference": _S,
        "Type": _S,
        "Status": _S,
        "LineAmountTypes": _S,
        "CurrencyCode": _S,
        "CurrencyRate": _D,
        "Date": _DT,
        "DueDate": _DT,
        "ExpectedPaymentDate": _DT,
        "PlannedPaymentDate": _DT,
        "FullyPaidOnDate": _DT,
        "UpdatedDateUTC": _DT,
        "SubTotal": _D,
        "TotalTax": _D,
        "Total": _D,
        "TotalDiscount": _D,
        "AmountDue": _D,
        "AmountPaid": _D,
        "AmountCredited": _D,
        "BrandingThemeID": _G,
        "RepeatingInvoiceID": _G,
        "Url": _S,
        "IsDiscounted": _B,
        "HasAttachments": _B,
        "HasErrors": _B,
        "SentToContact": _B,
        "Contact.ContactID": _G,
        "Contact.Name": _S,
        "Contact.ContactNumber": _S,
    },
    "CreditNote": {
        "CreditNoteID": _G,
        "CreditNoteNumber": _S,
        "Reference": _S,
        "Type": _S,
        "Status": _S,
        "LineAmountTypes": _S,
        "CurrencyCode": _S,
        "CurrencyRate": _D,
        "Date": _DT,
        "DueDate": _DT,
        "FullyPaidOnDate": _DT,
        "UpdatedDateUTC": _DT,
        "SubTotal": _D,
        "TotalTax": _D,
        "Total": _D,
        "RemainingCredit": _D,
        "AppliedAmount": _D,
        "BrandingThemeID": _G,
        "HasAttachments": _B,
        "SentToContact": _B,
        "Contact.ContactID": _G,
        "Contact.Name": _S,
        "Contact.ContactNumber": _S,
    },
}


def compile_where(text: str, resource: str) -> Predicate:
    """Parse once, return a predicate. Raises WhereParseError on any syntax or type error.

    An unknown `resource` is the caller's bug, not the user's, so it raises KeyError (not a 400).
    """
    if resource not in FIELD_TYPES:
        raise KeyError(f"unknown where resource {resource!r}")
    return _compile(text, resource)


@lru_cache(maxsize=256)
def _compile(text: str, resource: str) -> Predicate:
    """Cached: pages of one listing, and retries, send the same where text again and again."""
    expr = _Parser(text, resource).parse()
    if expr.const:
        constant = expr.value is True
        return lambda record: constant
    if expr.nullable:
        fn = expr.fn
        return lambda record: fn(record) is True
    return expr.fn


# --- Values: what a record's field becomes before it is compared -----------------------------

_GUID_TEXT = re.compile(
    r"[0-9a-f]{32}|([{(]?)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}([})]?)",
    re.IGNORECASE,
)


def _parse_guid(text: str) -> str | None:
    """The formats .NET's Guid.Parse takes (N, D, B, P), as a canonical lowercase string."""
    text = text.strip()
    match = _GUID_TEXT.fullmatch(text)
    if match is None or (match.group(1) or "") + (match.group(2) or "") not in ("", "{}", "()"):
        return None
    return str(uuid.UUID(text.strip("{}()")))


def _to_string(value: Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def _to_guid(value: Any) -> str | None:
    """Canonical lowercase text, so Guid equality is case-insensitive by plain `==`."""
    if type(value) is str:
        if len(value) == 36:
            return value.lower()
        return _parse_guid(value) or value.lower()
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    return _to_guid(str(value))


_MIDNIGHTS: dict[date, datetime] = {}  # building a datetime costs ~20x a dict hit; dates repeat


def _midnight(day: date) -> datetime:
    value = _MIDNIGHTS.get(day)
    if value is None:
        if len(_MIDNIGHTS) >= 100_000:
            _MIDNIGHTS.clear()
        value = _MIDNIGHTS[day] = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return value


def _to_datetime(value: Any) -> datetime | None:
    """Aware datetimes as they are, naive ones as UTC, dates as midnight UTC."""
    kind = type(value)
    if kind is datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if kind is date:
        return _MIDNIGHTS.get(value) or _midnight(value)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return _midnight(date(value.year, value.month, value.day))
    if isinstance(value, str):
        try:
            return _to_datetime(datetime.fromisoformat(value.strip()))
        except ValueError:
            return None
    return None


def _to_number(value: Any) -> Decimal | int | None:
    """Decimal or int (they compare exactly with each other); NaN counts as null so that an
    ordering comparison can never raise InvalidOperation."""
    kind = type(value)
    if kind is Decimal:
        return None if value.is_nan() else value
    if kind is int:
        return value
    if value is None or kind is bool:
        return None
    if isinstance(value, float):
        return None if value != value else Decimal(repr(value))
    if isinstance(value, Decimal | int | str):
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except (InvalidOperation, ValueError):
            return None
        return None if number.is_nan() else number
    return None


def _to_boolean(value: Any) -> bool | None:
    return value if type(value) is bool else None


_CONVERTERS: Final[dict[str, Callable[[Any], Any]]] = {
    _S: _to_string,
    _G: _to_guid,
    _DT: _to_datetime,
    _D: _to_number,
    _I: _to_number,
    _B: _to_boolean,
}


def _field_getter(dotted: str, convert: Callable[[Any], Any]) -> Getter:
    """A closure reading one (possibly nested) field; anything not a mapping on the way is null."""
    parts = dotted.split(".")
    if len(parts) == 1:
        name = parts[0]

        def top(record: Record) -> Any:
            return convert(record.get(name))

        return top
    if len(parts) == 2:
        outer, inner = parts

        def nested(record: Record) -> Any:
            value = record.get(outer)
            return convert(value.get(inner)) if isinstance(value, Mapping) else None

        return nested

    def deep(record: Record) -> Any:
        value: Any = record
        for part in parts:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return convert(value)

    return deep


# --- Tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "ident", "string", "number", "op" (operators and punctuation), "end"
    text: str  # source text; for a string, the decoded value
    pos: int
    is_decimal: bool = False  # numbers only: had a fraction or an `m` suffix


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_]")
_STRING_RUN = re.compile(r'[^"\\]*')
_TWO_CHAR_OPS: Final = frozenset({"==", "!=", "<>", "<=", ">=", "&&", "||"})
_ONE_CHAR_OPS: Final = frozenset("=<>!-(),.")
_HINTS: Final = {
    "&": " (use '&&' or AND)",
    "|": " (use '||' or OR)",
    "'": ' (string literals use double quotes: "...")',
}


def _syntax(pos: int, what: str) -> WhereParseError:
    return WhereParseError(f"Syntax error at position {pos}: {what}", pos)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            tokens.append(_Token("end", "", n))
            return tokens
        ch = text[i]
        if ch == '"':
            i = _read_string(text, i, tokens)
        elif "0" <= ch <= "9":
            i = _read_number(text, i, tokens)
        elif (ident := _IDENT.match(text, i)) is not None:
            tokens.append(_Token("ident", ident.group(), i))
            i = ident.end()
        elif text[i : i + 2] in _TWO_CHAR_OPS:
            tokens.append(_Token("op", text[i : i + 2], i))
            i += 2
        elif ch in _ONE_CHAR_OPS:
            tokens.append(_Token("op", ch, i))
            i += 1
        else:
            raise _syntax(i, f"Invalid character '{ch}'{_HINTS.get(ch, '')}")


def _read_string(text: str, start: int, tokens: list[_Token]) -> int:
    """A double-quoted literal; only \\" and \\\\ are escapes. Returns the index after it."""
    parts: list[str] = []
    i, n = start + 1, len(text)
    while True:
        run = _STRING_RUN.match(text, i)
        assert run is not None  # the pattern matches the empty string
        parts.append(run.group())
        i = run.end()
        if i >= n or (text[i] == "\\" and i + 1 >= n):
            raise _syntax(start, "Unterminated string literal")
        if text[i] == '"':
            tokens.append(_Token("string", "".join(parts), start))
            return i + 1
        escaped = text[i + 1]
        if escaped not in '"\\':
            raise _syntax(
                i,
                f"Unrecognized escape sequence '\\{escaped}' in string literal "
                '(only \\" and \\\\ are allowed)',
            )
        parts.append(escaped)
        i += 2


def _read_number(text: str, start: int, tokens: list[_Token]) -> int:
    match = _NUMBER.match(text, start)
    assert match is not None  # called on a digit
    end = match.end()
    is_decimal = "." in match.group()
    if end < len(text) and text[end] in "mM" and not _IDENT_CHAR.match(text, end + 1):
        is_decimal, end = True, end + 1  # C#'s decimal suffix: 100m
    if _IDENT_CHAR.match(text, end):
        tail = _IDENT.match(text, end) or _NUMBER.match(text, end)
        literal = text[start : tail.end() if tail else end + 1]
        raise _syntax(start, f"Invalid numeric literal '{literal}'")
    tokens.append(_Token("number", match.group(), start, is_decimal))
    return end


# --- Typed expressions and the closures they compile to -----------------------------------------


@dataclass(slots=True)
class _Expr:
    type: str  # a FIELD_TYPES type name, or "Object" for the null literal
    fn: Getter
    pos: int
    const: bool = False
    value: Any = None
    nullable: bool = False  # a Boolean that may be null (a bare Boolean field): three-valued logic


def _const(type_name: str, value: Any, pos: int) -> _Expr:
    return _Expr(type_name, lambda record: value, pos, const=True, value=value)


def _folded(expr: _Expr, *inputs: _Expr) -> _Expr:
    """Constant inputs make a constant: evaluate once now instead of once per record."""
    if all(i.const for i in inputs):
        value = expr.fn({})
        return _Expr(expr.type, lambda record: value, expr.pos, const=True, value=value)
    return expr


_COMPARISONS: Final = {
    "==": "==",
    "=": "==",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_ORDERINGS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MIRRORED: Final = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NUMERIC: Final = frozenset({_D, _I, "Int64"})
_ORDERED: Final = frozenset({_DT}) | _NUMERIC
_INT32_RANGE: Final = range(-(2**31), 2**31)
_INT64_RANGE: Final = range(-(2**63), 2**63)


def _comparable(op: str, left: str, right: str) -> bool:
    """Dynamic LINQ's equality/relational signatures, for the types Xero's where uses."""
    if "Object" in (left, right):
        return op in ("==", "!=")
    if left in _NUMERIC and right in _NUMERIC:
        return True
    if left != right:
        return False
    return op in ("==", "!=") or left in _ORDERED


def _compare_to_constant(op: str, get: Getter, constant: Any) -> Predicate:
    if op == "==":
        if constant is None:
            return lambda record: get(record) is None
        return lambda record: get(record) == constant
    if op == "!=":
        if constant is None:
            return lambda record: get(record) is not None
        return lambda record: get(record) != constant
    ordering = _ORDERINGS[op]

    def ordered(record: Record) -> bool:
        value = get(record)
        return value is not None and ordering(value, constant)

    return ordered


def _compare_values(op: str, left: Getter, right: Getter) -> Predicate:
    if op == "==":
        return lambda record: left(record) == right(record)
    if op == "!=":
        return lambda record: left(record) != right(record)
    ordering = _ORDERINGS[op]

    def ordered(record: Record) -> bool:
        a = left(record)
        if a is None:
            return False
        b = right(record)
        return b is not None and ordering(a, b)

    return ordered


def _and(left: _Expr, right: _Expr) -> Getter:
    a, b = left.fn, right.fn
    if not (left.nullable or right.nullable):
        return lambda record: a(record) and b(record)

    def three_valued(record: Record) -> bool | None:
        x = a(record)
        if x is False:
            return False
        y = b(record)
        if y is False:
            return False
        return None if x is None or y is None else True

    return three_valued


def _or(left: _Expr, right: _Expr) -> Getter:
    a, b = left.fn, right.fn
    if not (left.nullable or right.nullable):
        return lambda record: a(record) or b(record)

    def three_valued(record: Record) -> bool | None:
        x = a(record)
        if x is True:
            return True
        y = b(record)
        if y is True:
            return True
        return None if x is None or y is None else False

    return three_valued


def _not(operand: _Expr) -> Getter:
    f = operand.fn
    if not operand.nullable:
        return lambda record: not f(record)

    def three_valued(record: Record) -> bool | None:
        value = f(record)
        return None if value is None else not value

    return three_valued


def _negate(f: Getter) -> Getter:
    def negated(record: Record) -> Any:
        value = f(record)
        return None if value is None else -value

    return negated


def _string_test(name: str, target: Getter, argument: _Expr) -> Predicate:
    """Contains/StartsWith/EndsWith: ordinal, case-sensitive, false on null."""
    if argument.const:
        needle = argument.value
        if name == "Contains":
            return lambda record: (s := target(record)) is not None and needle in s
        if name == "StartsWith":
            return lambda record: (s := target(record)) is not None and s.startswith(needle)
        return lambda record: (s := target(record)) is not None and s.endswith(needle)

    test: Callable[[str, str], bool] = {
        "Contains": operator.contains,
        "StartsWith": str.startswith,
        "EndsWith": str.endswith,
    }[name]
    get_needle = argument.fn

    def tested(record: Record) -> bool:
        s = target(record)
        if s is None:
            return False
        n = get_needle(record)
        return n is not None and test(s, n)

    return tested


def _string_map(method: Callable[[str], str], target: Getter) -> Getter:
    return lambda record: None if (s := target(record)) is None else method(s)


# Method name (lowercase) -> canonical name, argument count. All are on String.
_STRING_METHODS: Final = {
    "contains": ("Contains", 1),
    "startswith": ("StartsWith", 1),
    "endswith": ("EndsWith", 1),
    "tolower": ("ToLower", 0),
    "toupper": ("ToUpper", 0),
    "tolowerinvariant": ("ToLowerInvariant", 0),
    "toupperinvariant": ("ToUpperInvariant", 0),
}
_DATETIME_USAGE: Final = (
    "No matching constructor in type 'DateTime' (use DateTime(year, month, day) or "
    "DateTime(year, month, day, hour, minute, second) with whole numbers)"
)
_GUID_USAGE: Final = (
    "No matching constructor in type 'Guid' (use Guid(\"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\"))"
)


# --- The parser ---------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over Dynamic LINQ's precedence, loosest first:
    OR (`||`) < AND (`&&`) < comparisons < unary (`!`, NOT, `-`) < member access and calls."""

    def __init__(self, text: str, resource: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.resource = resource
        fields = FIELD_TYPES[resource]
        self.fields = fields
        self.keys = {key.lower(): key for key in fields}
        self.prefixes: dict[str, str] = {}
        for key in fields:
            parts = key.split(".")
            for depth in range(1, len(parts)):
                prefix = ".".join(parts[:depth])
                self.prefixes[prefix.lower()] = prefix

    # Token helpers.

    @property
    def tok(self) -> _Token:
        return self.tokens[self.index]

    def _peek(self, ahead: int) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def _advance(self) -> _Token:
        tok = self.tokens[self.index]
        if tok.kind != "end":
            self.index += 1
        return tok

    def _is_op(self, text: str, tok: _Token | None = None) -> bool:
        tok = tok or self.tok
        return tok.kind == "op" and tok.text == text

    def _is_word(self, word: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.lower() == word

    def _expect_close(self, what: str) -> None:
        if not self._is_op(")"):
            raise _syntax(self.tok.pos, f"{what} expected{self._found()}")
        self._advance()

    def _found(self) -> str:
        tok = self.tok
        if tok.kind == "end":
            return " (found the end of the expression)"
        if tok.kind == "string":
            return f" (found string literal {escape_string(tok.text)})"
        return f" (found '{tok.text}')"

    # Grammar.

    def parse(self) -> _Expr:
        expr = self._or()
        if self.tok.kind != "end":
            raise _syntax(
                self.tok.pos,
                f"operator or end of expression expected{self._found()}",
            )
        if expr.type != _B:
            raise WhereParseError("Expression of type 'Boolean' expected", expr.pos)
        return expr

    def _or(self) -> _Expr:
        left = self._and()
        while self._is_op("||") or self._is_word("or"):
            op = self._advance()
            right = self._and()
            self._check_logical(op, left, right)
            left = _folded(
                _Expr(_B, _or(left, right), left.pos, nullable=left.nullable or right.nullable),
                left,
                right,
            )
        return left

    def _and(self) -> _Expr:
        left = self._comparison()
        while self._is_op("&&") or self._is_word("and"):
            op = self._advance()
            right = self._comparison()
            self._check_logical(op, left, right)
            left = _folded(
                _Expr(_B, _and(left, right), left.pos, nullable=left.nullable or right.nullable),
                left,
                right,
            )
        return left

    @staticmethod
    def _check_logical(op: _Token, left: _Expr, right: _Expr) -> None:
        if left.type != _B or right.type != _B:
            raise WhereParseError(
                f"Operator '{op.text}' incompatible with operand types "
                f"'{left.type}' and '{right.type}'",
                op.pos,
            )

    def _comparison(self) -> _Expr:
        left = self._unary()
        while self.tok.kind == "op" and self.tok.text in _COMPARISONS:
            op_tok = self._advance()
            right = self._unary()
            op = _COMPARISONS[op_tok.text]
            if not _comparable(op, left.type, right.type):
                raise WhereParseError(
                    f"Operator '{op_tok.text}' incompatible with operand types "
                    f"'{left.type}' and '{right.type}'",
                    op_tok.pos,
                )
            if right.const and not left.const:
                fn = _compare_to_constant(op, left.fn, right.value)
            elif left.const and not right.const:
                fn = _compare_to_constant(_MIRRORED[op], right.fn, left.value)
            else:
                fn = _compare_values(op, left.fn, right.fn)
            left = _folded(_Expr(_B, fn, left.pos), left, right)
        return left

    def _unary(self) -> _Expr:
        tok = self.tok
        if self._is_op("!") or self._is_word("not"):
            self._advance()
            operand = self._unary()
            if operand.type != _B:
                raise WhereParseError(
                    f"Operator '{tok.text}' incompatible with operand type '{operand.type}'",
                    tok.pos,
                )
            return _folded(_Expr(_B, _not(operand), tok.pos, nullable=operand.nullable), operand)
        if self._is_op("-"):
            self._advance()
            if self.tok.kind == "number":
                return self._number(self._advance(), negative=True, pos=tok.pos)
            operand = self._unary()
            if operand.type not in _NUMERIC:
                raise WhereParseError(
                    f"Operator '-' incompatible with operand type '{operand.type}'", tok.pos
                )
            return _folded(_Expr(operand.type, _negate(operand.fn), tok.pos), operand)
        return self._postfix()

    def _postfix(self) -> _Expr:
        expr = self._primary()
        while self._is_op("."):
            self._advance()
            name = self.tok
            if name.kind != "ident":
                raise _syntax(name.pos, f"identifier expected after '.'{self._found()}")
            self._advance()
            if not self._is_op("("):
                raise WhereParseError(
                    f"No property or field '{name.text}' exists in type '{expr.type}'", name.pos
                )
            expr = self._method(name, expr, self._arguments())
        return expr

    def _arguments(self) -> list[_Expr]:
        self._advance()  # "("
        args: list[_Expr] = []
        if self._is_op(")"):
            self._advance()
            return args
        while True:
            args.append(self._or())
            if self._is_op(","):
                self._advance()
                continue
            self._expect_close("')' or ','")
            return args

    def _primary(self) -> _Expr:
        tok = self.tok
        if tok.kind == "number":
            return self._number(self._advance(), negative=False, pos=tok.pos)
        if tok.kind == "string":
            self._advance()
            return _const(_S, tok.text, tok.pos)
        if self._is_op("("):
            self._advance()
            expr = self._or()
            self._expect_close("')' or operator")
            return expr
        if tok.kind == "ident":
            word = tok.text.lower()
            if word in ("true", "false"):
                self._advance()
                return _const(_B, word == "true", tok.pos)
            if word == "null":
                self._advance()
                return _const("Object", None, tok.pos)
            if word == "datetime" and self._is_op("(", self._peek(1)):
                self._advance()
                return self._datetime(tok, self._arguments())
            if word == "guid" and self._is_op("(", self._peek(1)):
                self._advance()
                return self._guid(tok, self._arguments())
            if word not in ("and", "or"):
                return self._field()
        raise _syntax(tok.pos, f"Expression expected{self._found()}")

    def _number(self, tok: _Token, *, negative: bool, pos: int) -> _Expr:
        text = ("-" if negative else "") + tok.text
        if tok.is_decimal:
            return _const(_D, Decimal(text), pos)
        value = int(text)
        if value in _INT32_RANGE:
            return _const(_I, Decimal(value), pos)
        if value in _INT64_RANGE:
            return _const("Int64", Decimal(value), pos)
        raise WhereParseError(f"Invalid integer literal '{text}'", pos)

    def _field(self) -> _Expr:
        """A dotted field name, resolved case-insensitively as Dynamic LINQ resolves members."""
        parts = [self._advance()]
        while (
            self._is_op(".")
            and self._peek(1).kind == "ident"
            and not self._is_op("(", self._peek(2))
        ):
            self._advance()
            parts.append(self._advance())
        path, owner = "", self.resource
        for i, part in enumerate(parts):
            candidate = f"{path}.{part.text}" if path else part.text
            key = self.keys.get(candidate.lower())
            if key is not None:
                type_name = self.fields[key]
                if i + 1 < len(parts):
                    extra = parts[i + 1]
                    raise WhereParseError(
                        f"No property or field '{extra.text}' exists in type '{type_name}'",
                        extra.pos,
                    )
                getter = _field_getter(key, _CONVERTERS[type_name])
                return _Expr(type_name, getter, parts[0].pos, nullable=type_name == _B)
            prefix = self.prefixes.get(candidate.lower())
            if prefix is None:
                raise WhereParseError(
                    f"No property or field '{part.text}' exists in type '{owner}'", part.pos
                )
            path, owner = prefix, prefix.rsplit(".", 1)[-1]
        if self._is_op(".") and self._peek(1).kind == "ident":
            method = self._peek(1)
            raise WhereParseError(
                f"No applicable method '{method.text}' exists in type '{owner}'", method.pos
            )
        example = next(k for k in self.fields if k.lower().startswith(path.lower() + "."))
        raise WhereParseError(
            f"'{path}' is an object and cannot be compared; use one of its fields, "
            f"such as '{example}'",
            parts[0].pos,
        )

    def _method(self, name: _Token, target: _Expr, args: list[_Expr]) -> _Expr:
        spec = _STRING_METHODS.get(name.text.lower())
        if target.type != _S or spec is None:
            raise WhereParseError(
                f"No applicable method '{name.text}' exists in type '{target.type}'", name.pos
            )
        canonical, arity = spec
        if len(args) != arity or any(arg.type != _S for arg in args):
            usage = "one String argument" if arity else "no arguments"
            raise WhereParseError(
                f"No applicable method '{name.text}' exists in type 'String' "
                f"({canonical} takes {usage})",
                name.pos,
            )
        if arity == 0:
            method = str.lower if canonical.startswith("ToLower") else str.upper
            return _folded(_Expr(_S, _string_map(method, target.fn), target.pos), target)
        fn = _string_test(canonical, target.fn, args[0])
        return _folded(_Expr(_B, fn, target.pos), target, args[0])

    def _datetime(self, tok: _Token, args: list[_Expr]) -> _Expr:
        """DateTime(y,m,d) or DateTime(y,m,d,h,mi,s), UTC, whole-number literals only."""
        if len(args) not in (3, 6) or any(not a.const or a.type != _I for a in args):
            raise WhereParseError(_DATETIME_USAGE, tok.pos)
        numbers = [int(a.value) for a in args]
        try:
            value = datetime(*numbers, tzinfo=UTC)
        except (ValueError, OverflowError) as exc:
            shown = ",".join(str(n) for n in numbers)
            raise WhereParseError(
                f"Invalid DateTime({shown}) at position {tok.pos}: {exc}", tok.pos
            ) from None
        return _const(_DT, value, tok.pos)

    def _guid(self, tok: _Token, args: list[_Expr]) -> _Expr:
        if len(args) != 1 or not args[0].const or args[0].type != _S:
            raise WhereParseError(_GUID_USAGE, tok.pos)
        value = _parse_guid(args[0].value)
        if value is None:
            raise WhereParseError(
                f"Invalid Guid {escape_string(args[0].value)} at position {tok.pos}: Guid should "
                "contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                tok.pos,
            )
        return _const(_G, value, tok.pos)
