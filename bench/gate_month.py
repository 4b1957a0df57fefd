"""The gate on one month of invoice lines where a warning fails: what `quality.gate.validate`
costs for 20,000 lines of 2,000 invoices, 5% of them coded to an archived account (as the
sandbox's older months are, so `account_code_is_active` warns and Great Expectations is asked
for that expectation's count and rows).

Run: `.venv/bin/python bench/gate_month.py` (seconds). Prints the median of 7 validations after
one that warms Great Expectations. Not part of `make bench`: it explains a part of the history's
per-month work, it does not measure one against a target.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from xero_pipeline.quality.gate import validate

IDS = ["tenant_id", "invoice_id", "line_number"]
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def month_of_lines(invoices: int = 2000, lines: int = 10, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(invoices):
        invoice_id = str(uuid.UUID(int=rng.getrandbits(128)))
        for number in range(1, lines + 1):
            archived = rng.random() < 0.05
            rows.append(
                {
                    "tenant_id": "tenant",
                    "invoice_id": invoice_id,
                    "line_number": number,
                    "line_amount": Decimal("10.00"),
                    "account_code": "210" if archived else "200",
                    "account_status": "ARCHIVED" if archived else "ACTIVE",
                    "description": "Flat white beans 1kg",
                    "quantity": Decimal(1),
                    "unit_amount": Decimal("10.00"),
                    "item_code": "BEANS-1KG",
                }
            )
    return rows


def main() -> None:
    rows = month_of_lines()
    validate("xero_invoice_lines", rows, IDS, NOW)  # Great Expectations imported and warmed
    seconds = []
    for _ in range(7):
        started = time.perf_counter()
        result = validate("xero_invoice_lines", rows, IDS, NOW)
        seconds.append(time.perf_counter() - started)
    warned = {w.expectation.name: w.unexpected_count for w in result.warnings}
    print(
        json.dumps({"lines": len(rows), "median_s": statistics.median(seconds), "warned": warned})
    )


if __name__ == "__main__":
    main()
