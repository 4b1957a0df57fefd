"""A sweep hands out a range's documents a month at a time (`defs/history/sweep.py`): pure tests
with a stand-in client that serves pages and counts them; the sweep against the sandbox, its
calls and its keyset under churn, are in test_history.py and test_paging_churn.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from xero_pipeline.defs.history.sweep import Sweep
from xero_pipeline.xero.client import Tenant
from xero_pipeline.xero.rows import INVOICES

TENANT = Tenant("t-1", "Sweep Ltd")
CLOCK = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def invoice(number: int, day: date, reference: str = "") -> dict:
    return {
        "InvoiceID": f"00000000-0000-0000-0000-{number:012d}",
        "InvoiceNumber": f"INV-{number}",
        "Type": "ACCREC",
        "Status": "AUTHORISED",
        "Date": day.isoformat(),
        "Reference": reference,
        "UpdatedDateUTC": "2026-11-01T00:00:00",
        "LineItems": [],
    }


class PagesClient:
    """Serves fixed pages to `sweep`, one a call, moving Xero's clock a minute a page."""

    def __init__(self, pages: list[list[dict]]) -> None:
        self.pages, self.served = pages, 0
        self.server_time: dict[str, datetime] = {}

    def sweep(self, tenant_id: str, *_: object) -> Iterator[list[dict]]:
        for page in self.pages:
            self.server_time[tenant_id] = CLOCK + timedelta(minutes=self.served)
            self.served += 1
            yield page


def numbers(found) -> list[str]:
    return sorted(h["invoice_number"] for h in found.headers)


def test_months_come_out_in_order_and_each_reads_only_as_far_as_it_needs():
    pages = [
        [invoice(1, date(2026, 1, 5)), invoice(2, date(2026, 1, 31))],
        [invoice(3, date(2026, 1, 31)), invoice(4, date(2026, 3, 2))],
        [invoice(5, date(2026, 3, 9))],
    ]
    client = PagesClient(pages)
    sweep = Sweep(client, INVOICES, TENANT, None, date(2026, 1, 1), date(2026, 4, 1))  # type: ignore[arg-type]
    january = sweep.month(date(2026, 1, 1), date(2026, 2, 1))
    assert numbers(january) == ["INV-1", "INV-2", "INV-3"]
    assert client.served == 2  # January ends where page 2 reaches March: page 3 not read yet
    assert january.started == CLOCK  # the oldest page that could hold it
    february = sweep.month(date(2026, 2, 1), date(2026, 3, 1))
    assert numbers(february) == [] and client.served == 2  # passed already: no call
    assert february.started == CLOCK + timedelta(minutes=1)  # the page that passed January
    march = sweep.month(date(2026, 3, 1), date(2026, 4, 1))
    assert numbers(march) == ["INV-4", "INV-5"] and client.served == 3


def test_a_document_read_twice_is_handed_out_once_as_its_latest_copy():
    """The keyset re-reads its boundary second, and a document edited during the read comes
    again further on: the month gets its last copy, and no later month gets an older one."""
    pages = [
        [invoice(1, date(2026, 1, 10), "first"), invoice(2, date(2026, 1, 20))],
        [invoice(2, date(2026, 1, 20)), invoice(1, date(2026, 1, 10), "edited")],
        [invoice(3, date(2026, 2, 1))],
    ]
    sweep = Sweep(PagesClient(pages), INVOICES, TENANT, None, date(2026, 1, 1), date(2026, 3, 1))  # type: ignore[arg-type]
    january = sweep.month(date(2026, 1, 1), date(2026, 2, 1))
    assert numbers(january) == ["INV-1", "INV-2"]
    assert {h["invoice_number"]: h["reference"] for h in january.headers}["INV-1"] == "edited"
    assert numbers(sweep.month(date(2026, 2, 1), date(2026, 3, 1))) == ["INV-3"]


def test_an_empty_range_costs_its_one_call_and_every_month_is_empty():
    client = PagesClient([[]])
    sweep = Sweep(client, INVOICES, TENANT, None, date(2026, 1, 1), date(2026, 3, 1))  # type: ignore[arg-type]
    assert numbers(sweep.month(date(2026, 1, 1), date(2026, 2, 1))) == []
    assert numbers(sweep.month(date(2026, 2, 1), date(2026, 3, 1))) == []
    assert client.served == 1


def test_a_document_without_a_readable_date_goes_to_the_month_being_read_for_the_gate():
    pages = [[invoice(1, date(2026, 1, 3)), {**invoice(2, date(2026, 1, 4)), "Date": "garbage"}]]
    sweep = Sweep(PagesClient(pages), INVOICES, TENANT, None, date(2026, 1, 1), date(2026, 2, 1))  # type: ignore[arg-type]
    january = sweep.month(date(2026, 1, 1), date(2026, 2, 1))
    assert numbers(january) == ["INV-1", "INV-2"]
    assert [h["date"] for h in january.headers if h["invoice_number"] == "INV-2"] == [None]
