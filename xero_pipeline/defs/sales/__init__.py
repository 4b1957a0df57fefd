"""Sales by account code: the fact, the monthly rollup, the account-code dimension, invoiced
contacts and the chart (`assets.py`), their SQL in `sql/`, kept fresh by declarative automation
(`automation.py`)."""
