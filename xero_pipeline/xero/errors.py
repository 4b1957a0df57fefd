"""What can go wrong talking to Xero, as exceptions a person can act on.

Messages carry Xero's own words and what to do next; never a token, a secret or a header.
"""

from __future__ import annotations

from datetime import datetime


class XeroError(Exception):
    """Base of every error the client raises."""


class ConfigError(XeroError):
    """Configuration is missing or wrong; the message names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class XeroAuthError(XeroError):
    """Xero refused our credentials or token; usually fixed by `xero-pipeline connect`."""


class XeroRequestError(XeroError):
    """Xero answered 400, 403 or 404: retrying would not help."""

    def __init__(self, status: int, path: str, message: str) -> None:
        super().__init__(f"Xero answered {status} to GET {path}: {message}")
        self.status, self.path, self.xero_message = status, path, message


class UnknownTenantError(XeroError):
    """No connection of the app covers the organisation named (`xero-pipeline disconnect`)."""


class XeroUnavailableError(XeroError):
    """Xero kept failing (5xx, timeouts, dropped connections) after every retry."""


class DayLimitReached(XeroError):
    """The tenant's daily call limit is used up. Nothing waits for hours: the run stops, and a
    relaunch after `resets_at` continues where this one stopped."""

    def __init__(self, tenant_id: str, resets_at: datetime) -> None:
        super().__init__(
            f"Xero's daily call limit for tenant {tenant_id} is used up. It resets at "
            f"{resets_at:%Y-%m-%d %H:%M} UTC; launch the run again after that and it resumes "
            "from its last committed point."
        )
        self.tenant_id, self.resets_at = tenant_id, resets_at
