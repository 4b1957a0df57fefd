"""Xero's JSON dialect, written by the sandbox.

The sandbox keeps records with Python values (dates, tz-aware datetimes, Decimals) so that
filters compare real types; this module turns them into exactly what Xero sends:
`"/Date(1518652800000+0000)/"` timestamps, a `DateString` beside each date, numbers for money.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

# Date fields that Xero pairs with a "<Field>String" carrying the organisation's local date.
DATE_STRING_FIELDS = frozenset({"Date", "DueDate"})


def ms_since_epoch(value: date | datetime) -> int:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0), tzinfo=UTC)
    return int(value.timestamp() * 1000)


def ms_date(value: date | datetime, offset: str = "+0000") -> str:
    """Xero's `/Date(ms+0000)/` form (the JSON encoder does not escape the slashes)."""
    return f"/Date({ms_since_epoch(value)}{offset})/"


def envelope_date(value: datetime) -> str:
    """The envelope's DateTimeUTC carries no offset: `/Date(1551399323399)/`."""
    return f"/Date({ms_since_epoch(value)})/"


def iso_utc(value: datetime) -> str:
    """`UpdatedDateUTCString`: ISO 8601 in UTC to the second, as Xero's example
    (`2019-11-14T18:10:38Z`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_string(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{value.isoformat()}T00:00:00"


def to_xero(value: Any) -> Any:
    """Convert one record (recursively) to Xero's JSON values.

    Dispatches on the exact type first: this runs for every field of every record served.
    """
    kind = type(value)
    if kind is str or kind is bool or kind is int or value is None:
        return value
    if kind is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue  # Xero omits null fields rather than sending null
            if key in DATE_STRING_FIELDS and isinstance(item, date):
                out[f"{key}String"] = date_string(item)
            out[key] = to_xero(item)
        return out
    if kind is list:
        return [to_xero(item) for item in value]
    if kind is Decimal:
        # Amounts of up to four places and 15 digits survive float's shortest repr exactly.
        return float(value)
    if isinstance(value, datetime | date):
        return ms_date(value)
    return value


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def connection_timestamp(value: datetime) -> str:
    """/connections timestamps: .NET's seven-digit fraction, as in Xero's example, plus the `Z` the
    schema's `date-time` format requires (Xero's own example omits it; clients must accept both)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
