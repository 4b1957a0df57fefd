"""Notifications on newly raised sales invoices: which invoices the sync saw being raised (the
outbox, `outbox.py`), where messages go (`sinks.py`), how each is announced once per sink
(`invoices.py`), the sensor that decides when to send (`sensor.py`) and the job that sends
(`jobs.py`)."""
