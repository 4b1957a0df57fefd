"""Notifications on newly raised sales invoices: where they go (`sinks.py`), which invoices are
new and how each is announced exactly once (`invoices.py`), and the Dagster sensor that does it
every minute (`sensor.py`)."""
