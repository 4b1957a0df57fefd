"""Dagster assets: reference data from Xero (`reference.py`), more to come."""
