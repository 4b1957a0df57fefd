"""One organisation's documents of a range of months, read in one sweep and handed out a month
at a time.

Reading month by month costs at least one call per month and kind, however few documents a month
holds: ten years of a small organisation is 240 calls for invoices and credit notes, most of them
for a handful of documents. A sweep reads the whole range in date order, 1,000 documents a page
(`XeroClient.sweep`), so it costs about ceil(documents / 1000) calls; a month is handed out as
soon as the read has passed it, and is gated, published and committed on its own exactly as
before. Only the pages not yet handed out are held, so memory stays at about a month plus a page.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from typing import Any

from xero_pipeline.defs.history.documents import Read
from xero_pipeline.xero.client import Tenant, XeroClient, latest_copies
from xero_pipeline.xero.parse import parse_date
from xero_pipeline.xero.rows import DocumentKind


def _date(record: dict[str, Any]) -> date | None:
    try:
        return parse_date(record.get("Date"), record.get("DateString"))
    except ValueError:
        return None  # hostile data: handed out with the month being read, for the gate to judge


class Page:
    """A page read and not yet wholly handed out: its number in the sweep (the latest copy of a
    record wins), Xero's clock when it was answered, and the records still to hand out."""

    def __init__(self, number: int, read_at: datetime | None, records: list[dict]) -> None:
        self.number, self.read_at, self.records = number, read_at, records


class Sweep:
    """`kind`'s documents of one tenant dated in [start, end), a month at a time, in order."""

    def __init__(
        self,
        client: XeroClient,
        kind: DocumentKind,
        tenant: Tenant,
        short_code: str | None,
        start: date,
        end: date,
    ) -> None:
        self.client, self.kind, self.tenant, self.short_code = client, kind, tenant, short_code
        self._pages = client.sweep(tenant.tenant_id, kind.path, kind.path, start, end)
        self._held: list[Page] = []
        self._read = 0
        self._finished = False

    def month(self, start: date, end: date, stop: threading.Event | None = None) -> Read:
        """The documents dated in [start, end): pages are read until one reaches past `end` or
        the sweep ends. `started` is Xero's clock at the oldest page that may hold the month
        (changes after it may or may not be in the month). Months must be asked for in order.
        Once `stop` is set it reads no further (what it returns then is discarded)."""
        while not self._finished and not self._passed(end):
            if stop is not None and stop.is_set():
                return Read()
            try:
                records = next(self._pages)
            except StopIteration:
                self._finished = True
                break
            self._held.append(
                Page(self._read, self.client.server_time.get(self.tenant.tenant_id), records)
            )
            self._read += 1
        started = self._held[0].read_at if self._held else None
        docs = [
            doc
            for doc in latest_copies(self._numbered(), self.kind.path)
            if (day := _date(doc)) is None or day < end
        ]
        self._hand_out(end, {doc.get(self.kind.id_field) for doc in docs} - {None})
        found = Read(started=started)
        found.add(
            self.kind,
            self.tenant.tenant_id,
            [doc for doc in docs if (day := _date(doc)) is None or day >= start],
            self.short_code,
        )
        return found

    def _passed(self, end: date) -> bool:
        """Whether the read has reached a document dated at or after `end` (the sweep is in date
        order, so every document before it has been read)."""
        for page in reversed(self._held):
            days = [d for d in map(_date, page.records) if d is not None]
            if days:
                return max(days) >= end
        return False

    def _numbered(self) -> list[list[dict]]:
        """The held pages as `latest_copies` numbers them: empty lists where none are held."""
        pages: list[list[dict]] = [[] for _ in range(self._read)]
        for page in self._held:
            pages[page.number] = page.records
        return pages

    def _hand_out(self, end: date, handed: set[Any]) -> None:
        """Drop what has been handed out, older copies of it included; keep the records of
        later months (and the page that reached past `end`, whose clock starts the next
        month)."""
        for page in self._held:
            page.records = [
                r
                for r in page.records
                if (d := _date(r)) is not None
                and d >= end
                and r.get(self.kind.id_field) not in handed
            ]
        last = self._held[-1:] if self._held else []
        self._held = [p for p in self._held[:-1] if p.records] + last
