"""Xero's JSON into Python values: exact decimals, UTC timestamps, organisation-local dates.

- Money is parsed as `Decimal` straight from the JSON text (`parse_float=Decimal`): no float ever
  touches an amount.
- `/Date(1518685950940+1300)/` (slashes escaped or not): milliseconds since the epoch in UTC; the
  offset says where the organisation is, not when.
- A document's date is the organisation's local date: `DateString` when present, which is what
  Xero shows, else the `/Date(…)/` value moved by its offset.
- `UpdatedDateUTC`, else Xero's 2026 `UpdatedDateUTCString` (ISO 8601), says when a record changed.
- Unknown fields are left alone: callers keep the raw record beside the columns they type.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

_MS_DATE = re.compile(r"^\\?/Date\((-?\d+)([+-])?(\d{2})?(\d{2})?\)\\?/$")


class XeroParseError(ValueError):
    """A value did not have the shape Xero documents; the message shows it."""


def decode(body: bytes | str) -> Any:
    return json.loads(body, parse_float=Decimal)


def _ms_parts(value: str) -> tuple[int, timedelta]:
    match = _MS_DATE.match(value.strip())
    if not match:
        raise XeroParseError(f"not a Xero /Date(…)/ value: {value[:60]!r}")
    ms, sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
    return int(ms), -offset if sign == "-" else offset


def parse_timestamp(value: Any) -> datetime | None:
    """A UTC instant from `/Date(ms±hhmm)/` or an ISO 8601 string (zone-less means UTC)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise XeroParseError(f"not a timestamp: {value!r}")
    if "Date(" in value:
        ms, _ = _ms_parts(value)
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        except OverflowError:
            raise XeroParseError(f"timestamp out of range: {value[:60]!r}") from None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise XeroParseError(f"not a timestamp: {value[:60]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def updated_stamp(record: dict[str, Any]) -> Any:
    """When Xero last changed a record, as sent: `UpdatedDateUTC` (`/Date(…)/`, to the
    millisecond) when present, else the ISO 8601 `UpdatedDateUTCString` that Xero's 2026 schema
    adds beside it on invoices, credit notes and payments. Parse it with `parse_timestamp`."""
    value = record.get("UpdatedDateUTC")
    if value is None or value == "":
        return record.get("UpdatedDateUTCString")
    return value


def parse_date(value: Any, date_string: Any = None) -> date | None:
    """The organisation-local date of a document field (`Date`, `DueDate`, ...)."""
    if isinstance(date_string, str) and date_string:
        try:
            return date.fromisoformat(date_string[:10])
        except ValueError:
            raise XeroParseError(f"not a DateString: {date_string[:60]!r}") from None
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise XeroParseError(f"not a date: {value!r}")
    if "Date(" in value:
        ms, offset = _ms_parts(value)
        try:
            return (datetime(1970, 1, 1) + timedelta(milliseconds=ms) + offset).date()
        except OverflowError:
            raise XeroParseError(f"date out of range: {value[:60]!r}") from None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise XeroParseError(f"not a date: {value[:60]!r}") from None


def to_decimal(value: Any) -> Decimal | None:
    """An exact amount from what `decode` produced (Decimal, int) or a numeric string."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise XeroParseError(f"not an amount: {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise XeroParseError(f"not an amount: {str(value)[:60]!r}") from None
    else:
        raise XeroParseError(f"not an amount: {value!r}")
    if not result.is_finite():
        raise XeroParseError(f"not a finite amount: {value!r}")
    return result
