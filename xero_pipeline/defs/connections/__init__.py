"""Organisations as units: the ledger of connected organisations (`xero_connections`), kept from
Xero's /connections (`assets.py`); each organisation its own unit of work inside every step that
reads Xero (`work.py`); and a newly connected organisation's reference data and whole history
loaded by itself (`sensors.py`)."""
