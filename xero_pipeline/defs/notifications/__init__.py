"""Notifications on newly raised sales invoices: where they go (`sinks.py`), which invoices are
new and how each is announced exactly once (`invoices.py`), the sensor that decides when to send
(`sensor.py`) and the job that sends (`jobs.py`)."""
