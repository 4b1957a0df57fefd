"""The merge's settings from the environment, validated when the merge runs.

- CUSTOMERS_SOURCE: the existing customer list (see `source`); unset is fine with the sandbox.
- XERO_CUSTOMER_GROUP (default Datagate): the contact group that selects the Xero customers to
  merge; a tenant without an active group of that name selects every contact that is a customer.
- XERO_NEW_CUSTOMER_LIMIT (default 0.5; `50%` also works): the safety rule. The apply stops when
  new customers this run ÷ Xero customers selected this run exceeds it, unless confirmed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xero_pipeline.defs.customers.source import TABLE_PREFIX
from xero_pipeline.xero.errors import ConfigError

DEFAULT_GROUP = "Datagate"
DEFAULT_NEW_CUSTOMER_LIMIT = 0.5


@dataclass(frozen=True)
class MergeSettings:
    """CUSTOMERS_SOURCE, XERO_CUSTOMER_GROUP and XERO_NEW_CUSTOMER_LIMIT, validated."""

    source: str | None = None
    group: str = DEFAULT_GROUP
    new_customer_limit: float = DEFAULT_NEW_CUSTOMER_LIMIT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MergeSettings:
        env = os.environ if env is None else env
        source = (env.get("CUSTOMERS_SOURCE") or "").strip() or None
        if source is not None and source.startswith(TABLE_PREFIX):
            table = source.removeprefix(TABLE_PREFIX).strip()
            if not table:
                raise ConfigError("CUSTOMERS_SOURCE", "table: needs a table name, e.g. table:crm")
            if table == "customers":
                raise ConfigError(
                    "CUSTOMERS_SOURCE",
                    "cannot be table:customers, the merge's own output; name the table "
                    "that holds your existing list",
                )
        group = (env.get("XERO_CUSTOMER_GROUP") or "").strip() or DEFAULT_GROUP
        return cls(source, group, _share(env.get("XERO_NEW_CUSTOMER_LIMIT")))


def _share(raw: str | None) -> float:
    text = (raw or "").strip()
    if not text:
        return DEFAULT_NEW_CUSTOMER_LIMIT
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ConfigError(
            "XERO_NEW_CUSTOMER_LIMIT",
            f"must be a share between 0 and 1 (or a percentage such as 50%), not {text!r}",
        )
    return value
