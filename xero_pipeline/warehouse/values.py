"""How rows look to the warehouse: their content fingerprint (`row_hash`, so a publish rewrites
only what changed), the strict JSON of `raw` and `tracking` columns, and timestamps in UTC."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

BOOKKEEPING = ("row_hash", "loaded_at")


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def to_json(value: Any) -> str:
    """JSON for the warehouse's `raw` and `tracking` columns. Amounts stay numbers where a float
    holds them exactly (the typed columns are exact in any case). Strict JSON: an infinite or
    NaN number (which Python's parser lets through from a hostile body) raises ValueError, and
    the gate's storage check stops the row, rather than PostgreSQL refusing it mid-publish."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, allow_nan=False)


def row_hash(row: Mapping[str, Any]) -> str:
    """md5 of the row's content (bookkeeping left out) as sorted-key JSON, values made canonical
    by `_canonical`. Only datetimes are converted here: a date or Decimal reaches `default=str`,
    which writes the same text `_canonical` would, without a Python call per value."""
    content = dict(row)
    for name in BOOKKEEPING:
        content.pop(name, None)
    for name in [k for k, v in content.items() if isinstance(v, datetime)]:
        content[name] = _canonical(content[name])
    return hashlib.md5(
        json.dumps(content, sort_keys=True, default=str).encode(), usedforsecurity=False
    ).hexdigest()


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything the warehouse stores is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
