"""The customer merge: Xero customers joined to the business's own customer list by name.

The logic is plain Python — names (`names.py`), the matching ladder (`matching.py`), the plan
(`plan.py`), the list and its settings (`source.py`, `settings.py`), what it reads and writes in
the warehouse (`store.py`); `merge.py` computes a plan, `assets.py` previews and applies it,
`schedules.py` runs it, `commands.py` is `xero-pipeline merge` and `review`.
"""
