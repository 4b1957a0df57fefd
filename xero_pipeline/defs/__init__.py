"""The pipeline's Dagster definitions, one folder per domain, each wiring itself: reference data,
sales history (backfill, sync, reconciliation), sales by account code, the customer merge and
notifications. `xero_pipeline.definitions` loads them all with one call and binds the resources.

Nothing here imports its submodules: Dagster's loader walks the folder."""
