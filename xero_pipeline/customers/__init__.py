"""The customer merge: Xero customers joined to the business's own customer list by name.

Pure logic here (names, the matching ladder, the plan, reading the list); the Dagster assets that
run it are in `xero_pipeline.assets.customers`.
"""
