"""History loads meeting Xero as it is in 2026: unit prices to four decimal places, Xero's clock
rather than ours, and the ISO 8601 `UpdatedDateUTCString`."""

from __future__ import annotations

from decimal import Decimal

from xero_pipeline.sandbox import Sandbox
from xero_pipeline_tests.test_history import load_reference, query, run

FOUR_PLACES = Decimal("0.0001")
MONTH = ("2026-10-01", "2026-10-01")


def unit_prices_in_october(sandbox: Sandbox, resource: str) -> dict[tuple, Decimal]:
    """(tenant, document, line number) -> UnitAmount as the organisation entered it."""
    prices = {}
    for tenant in sandbox.tenants.values():
        docs = tenant.collection(resource)
        for pos in range(len(docs)):
            doc = docs.record(pos, with_lines=True)
            if (doc["Date"].year, doc["Date"].month) != (2026, 10):
                continue
            for number, line in enumerate(doc["LineItems"], start=1):
                key = (tenant.tenant_id, doc[f"{resource}ID"], number)
                prices[key] = line["UnitAmount"]
    return prices


def test_unit_prices_to_four_places_arrive_as_entered(history_sandbox, warehouse_url):
    load_reference(warehouse_url)
    assert run(warehouse_url, *MONTH).success
    for resource, table, id_column in (
        ("Invoice", "xero_invoice_lines", "invoice_id"),
        ("CreditNote", "xero_credit_note_lines", "credit_note_id"),
    ):
        entered = unit_prices_in_october(history_sandbox, resource)
        if resource == "Invoice":
            assert any(p != p.quantize(Decimal("0.01")) for p in entered.values())
        loaded = query(
            warehouse_url,
            f"SELECT tenant_id, {id_column}, line_number, unit_amount FROM {table}",
        )
        assert {
            (t, i, n): Decimal(str(u)).quantize(FOUR_PLACES) for t, i, n, u in loaded
        } == entered, resource
