"""Bookkeeping the pipeline keeps for itself: where each incremental read starts (`sync_state`),
which months of history each organisation has loaded (`history_months`), the sales invoices the
sync saw being raised (`invoices_raised`, the notifications' outbox) and what each notification
sink has done with them (`notifications_sent`), each connected organisation's state
(`xero_connections`), and the Xero refresh tokens when the warehouse keeps them (`xero_tokens`,
XERO_TOKEN_STORE=warehouse)."""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Integer, String, Table, Text

from xero_pipeline.warehouse.schema.columns import metadata, tenant

history_months = Table(
    # One row per organisation, document kind and month of history loaded (by a backfill or the
    # reconciliation), written with the month's rows. An organisation's history is complete when
    # every month from the sales start to the month its incremental sync starts in is here.
    "history_months",
    metadata,
    tenant(),
    Column("resource", String(64), primary_key=True),  # invoices, credit_notes
    Column("month", Date, primary_key=True),
    Column("documents", Integer, nullable=False),
    Column("row_hash", String(32), nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

invoices_raised = Table(
    # Each sales invoice the incremental sync saw being raised (new, or moving to AUTHORISED or
    # PAID), once, written in the sync's own transaction: what notifications announce. History
    # loads never write here, so loading history floods nobody.
    "invoices_raised",
    metadata,
    tenant(),
    Column("invoice_id", String(36), primary_key=True),
    Column("raised_at", DateTime(timezone=True), nullable=False),  # Xero's clock, as the sync read
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

notifications_sent = Table(
    # What each notification sink did with each raised invoice, so none is announced twice, even
    # after a restart: 'sent'; 'failed' (the receiver refused it for good, e.g. a 4xx, with its
    # answer in `detail`); 'skipped_old' (raised longer ago than the lookback when the sink
    # first saw it: a sink configured later does not receive months of old announcements).
    "notifications_sent",
    metadata,
    tenant(),
    Column("invoice_id", String(36), primary_key=True),
    Column("sink", String(32), primary_key=True),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),
)

sync_state = Table(
    "sync_state",
    metadata,
    tenant(),
    Column("resource", String(64), primary_key=True),
    Column("watermark", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

xero_connections = Table(
    # One row per organisation the app has been connected to, kept by every run that asks
    # /connections and by every unit of work done for the organisation (`defs/connections/`).
    # status: 'connected'; 'failing' (its last work failed: `last_error` says why, and it is
    # left alone until `next_attempt_at`, backing off); 'disconnected' (gone from /connections,
    # or Xero answered 403: no longer called; its rows stay, marked in the marts).
    "xero_connections",
    metadata,
    tenant(),
    Column("tenant_name", Text),
    Column("connection_id", String(36)),  # Xero's id of the connection (DELETE /connections/…)
    Column("token_key", String(64)),  # the stored consent whose refresh token reads it
    Column("connected_at", DateTime(timezone=True)),  # when the pipeline first saw it connected
    Column("status", String(16), nullable=False),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("failures", Integer, nullable=False),  # in a row, since the last success
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("failed_in_run", String(64)),  # the run of the last failure: its later steps
    Column("updated_at", DateTime(timezone=True), nullable=False),  # do not clear it
)

xero_tokens = Table(
    # One row per connection (one consent of the app): its refresh token, Fernet-encrypted under
    # XERO_TOKEN_KEY (never stored here). Each refresh rewrites its row under a row lock.
    "xero_tokens",
    metadata,
    Column("client_id", String(255), primary_key=True),
    Column("connection_key", String(64), primary_key=True),
    Column("refresh_token", Text, nullable=False),  # Fernet token: ciphertext, never plaintext
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)
