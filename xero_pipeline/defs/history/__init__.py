"""Sales history: invoices and credit notes with their lines, by month of their date
(`assets.py`, `loading.py`), kept fresh by the incremental sync (`sync.py`) and the nightly
reconciliation (`schedules.py`); `backfill.py` runs a range of months from the command line."""
