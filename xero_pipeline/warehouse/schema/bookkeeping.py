"""Bookkeeping: where each incremental read starts (`sync_state`) and what each notification sink
has dealt with (`notifications_sent`)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table

from xero_pipeline.warehouse.schema.columns import metadata, tenant

notifications_sent = Table(
    # Which sales invoices each notification sink has dealt with, so none is announced twice,
    # even after a restart: 'sent', 'baseline' (there before notifications began) or
    # 'skipped_old' (first seen dated outside the lookback window, e.g. by a later backfill).
    "notifications_sent",
    metadata,
    tenant(),
    Column("invoice_id", String(36), primary_key=True),
    Column("sink", String(32), primary_key=True),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(16), nullable=False),
)

sync_state = Table(
    "sync_state",
    metadata,
    tenant(),
    Column("resource", String(64), primary_key=True),
    Column("watermark", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
