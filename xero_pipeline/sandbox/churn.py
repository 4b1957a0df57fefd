"""Records that change between the page requests of one read, as they do in a busy organisation.

Xero does not promise that a paged list stays still while it is read (XERO_API_NOTES.md: the
order of list endpoints under concurrent edits is undocumented). When churn is on, after each
page of a paged read of Contacts, Invoices or CreditNotes that has more pages to come, the
sandbox edits one record that the read has already been served, taking turns between:
- a *touch*: the record changes (a contact's name, a document's reference), so its
  `UpdatedDateUTC` moves to now: in `UpdatedDateUTC` order it jumps behind the reader;
- a *re-date* (documents): the document's date moves a month back, out of a month's `where`
  window: every record after it in the list moves up one place.
Offset paging then skips a record that was never edited; a reader must not lose it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xero_pipeline.sandbox.store import TenantData

CHURNED = ("Contact", "Invoice", "CreditNote")


@dataclass(frozen=True)
class ChurnConfig:
    enabled: bool = False
    seed: int = 2026


class Churn:
    def __init__(self, config: ChurnConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self.edits: Counter = Counter()  # by kind: touch, redate

    def configure(self, config: ChurnConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)

    def between_pages(self, tenant: TenantData, resource: str, served: list[int]) -> bool:
        """Edit one of the records at `served` positions (already sent to the reader) if churn
        is on for this resource; whether anything changed."""
        if not self.config.enabled or resource not in CHURNED or not served:
            return False
        items = tenant.collection(resource)
        record = items.view(served[self._rng.randrange(len(served))])
        record_id = str(record[items.id_field])
        redate = resource != "Contact" and sum(self.edits.values()) % 2 == 1
        if resource == "Contact":
            tenant.update_contact(record_id, Name=f"{record['Name']} ·")
        elif redate:
            tenant.set_document_date(resource, record_id, _a_month_before(record["Date"]))
        else:
            reference = f"{record.get('Reference') or ''}·"
            tenant.set_document_reference(resource, record_id, reference)
        self.edits["redate" if redate else "touch"] += 1
        return True


def _a_month_before(day: date) -> date:
    previous = day.replace(day=1) - timedelta(days=1)
    return previous.replace(day=min(day.day, previous.day))
