"""Xero's rate limits, enforced per tenant as Xero does: fixed windows, not sliding.

Per tenant: 5 calls in flight, 60 a minute, 5,000 a day; per app: 10,000 a minute. The length of a
"minute" and a "day" is configurable so that tests can exercise the limits in seconds.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LimitConfig:
    enabled: bool = True
    concurrent: int = 5
    per_minute: int = 60
    per_day: int = 5000
    app_per_minute: int = 10_000
    minute_seconds: float = 60.0
    day_seconds: float = 86_400.0


@dataclass
class Verdict:
    """Whether a call may proceed, and the headers every response carries."""

    allowed: bool
    headers: dict[str, str]
    problem: str | None = None
    retry_after: int = 0


@dataclass
class _Window:
    start: float = 0.0
    count: int = 0

    def roll(self, now: float, length: float) -> None:
        start = math.floor(now / length) * length
        if start != self.start:
            self.start, self.count = start, 0

    def reset_in(self, now: float, length: float) -> float:
        return self.start + length - now


@dataclass
class _TenantState:
    minute: _Window = field(default_factory=_Window)
    day: _Window = field(default_factory=_Window)
    in_flight: int = 0


class RateLimiter:
    """Counts calls per tenant. Rejected calls do not count against any window."""

    def __init__(self, config: LimitConfig) -> None:
        self.config = config
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._tenants: dict[str, _TenantState] = {}
        self._app_minute = _Window()
        self.rejections: dict[str, int] = {}

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def acquire(self, tenant_id: str) -> Verdict:
        """Admit a call (and count it as in flight) or say which limit it hit."""
        cfg = self.config
        if not cfg.enabled:
            return Verdict(True, {})  # limits off: nothing counted, no limit headers
        with self._lock:
            now = self._now()
            state = self._tenants.setdefault(tenant_id, _TenantState())
            state.minute.roll(now, cfg.minute_seconds)
            state.day.roll(now, cfg.day_seconds)
            self._app_minute.roll(now, cfg.minute_seconds)
            problem, retry = None, 0.0
            if state.in_flight >= cfg.concurrent:
                problem, retry = "concurrent", 1
            elif state.day.count >= cfg.per_day:
                problem, retry = "day", state.day.reset_in(now, cfg.day_seconds)
            elif state.minute.count >= cfg.per_minute:
                problem, retry = "minute", state.minute.reset_in(now, cfg.minute_seconds)
            elif self._app_minute.count >= cfg.app_per_minute:
                problem, retry = "appminute", self._app_minute.reset_in(now, cfg.minute_seconds)
            if problem is None:
                state.in_flight += 1
                state.minute.count += 1
                state.day.count += 1
                self._app_minute.count += 1
            else:
                self.rejections[problem] = self.rejections.get(problem, 0) + 1
            headers = {
                "X-DayLimit-Remaining": str(max(cfg.per_day - state.day.count, 0)),
                "X-MinLimit-Remaining": str(max(cfg.per_minute - state.minute.count, 0)),
                "X-AppMinLimit-Remaining": str(max(cfg.app_per_minute - self._app_minute.count, 0)),
            }
            if problem is None:
                return Verdict(True, headers)
            retry_after = max(1, math.ceil(retry))
            headers["Retry-After"] = str(retry_after)
            headers["X-Rate-Limit-Problem"] = problem
            return Verdict(False, headers, problem, retry_after)

    def release(self, tenant_id: str) -> None:
        with self._lock:
            state = self._tenants.get(tenant_id)
            if state is not None and state.in_flight > 0:
                state.in_flight -= 1

    def calls_today(self, tenant_id: str) -> int:
        with self._lock:
            state = self._tenants.get(tenant_id)
            return state.day.count if state else 0
