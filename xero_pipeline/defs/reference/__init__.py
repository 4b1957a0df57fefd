"""Reference data: the organisation, contacts, contact groups and members, the chart of accounts
and suppliers (`assets.py`), refreshed daily (`schedules.py`)."""
