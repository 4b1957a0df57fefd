"""Staying inside Xero's limits instead of bumping into them.

Per tenant, shared by every stream of that tenant in the process:
- at most `concurrent` calls in flight (Xero: 5);
- at most `per_minute` call starts in any span of a minute plus a small margin. Xero's windows
  are fixed; a bound on every sliding span implies the bound on every fixed window, and it lets a
  short run spend its whole minute at once instead of trickling one call a second;
- `X-MinLimit-Remaining` narrows that further when someone else (another process, another app,
  an earlier run in this process) is spending the same tenant's budget, until the window it
  describes has surely rolled over. A fixed window lasts a minute, so the window an answer
  belongs to is over within a minute of the *first* answer seen in it; a rise in the count marks
  a new window. While the count also falls by calls we did not make, a rise could hide behind
  them, so then the narrowing lasts a minute from the *latest* answer instead. (Waiting a
  minute from the latest answer always, as this did before, cost the full-history backfill at
  the real limit about a third more than its calls need: every minute, the time the run took to
  spend its budget was waited again.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    concurrent: int = 5
    per_minute: int = 60
    minute_seconds: float = 60.0
    margin: float = 0.03  # share of a minute added to the span, for network jitter

    @property
    def span(self) -> float:
        return self.minute_seconds * (1 + self.margin) + 0.05


class TenantGovernor:
    def __init__(
        self,
        tenant_id: str,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.tenant_id, self.limits = tenant_id, limits
        self._clock, self._sleep = clock, sleep
        self._slots = threading.BoundedSemaphore(limits.concurrent)
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()
        self._server_remaining: int | None = None  # None: no narrowing in force
        self._last_remaining: int | None = None  # the latest count, kept after it expires
        self._server_seen_at = 0.0  # the latest answer
        self._window_seen_at = 0.0  # the first answer seen in the server's current window
        self._shared = False  # the count fell by calls we did not make, in this window
        self._started_since_seen = 0
        self.day_remaining: int | None = None
        self.waited_seconds = 0.0

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        """Hold a concurrency slot and a place in the minute's budget for one call."""
        with self._slots:
            self._wait_for_budget()
            yield

    def _server_expiry(self) -> float:
        """When the window the server's count describes has surely rolled over."""
        seen = self._server_seen_at if self._shared else self._window_seen_at
        return seen + self.limits.span

    def _wait_for_budget(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.limits.span:
                    self._starts.popleft()
                own_full = len(self._starts) >= self.limits.per_minute
                server_full = False
                if self._server_remaining is not None:
                    if now > self._server_expiry():
                        self._server_remaining = None  # that window has rolled over
                    else:
                        server_full = self._server_remaining - self._started_since_seen <= 0
                if not (own_full or server_full):
                    self._starts.append(now)
                    self._started_since_seen += 1
                    return
                wait = max(
                    self._starts[0] + self.limits.span - now if own_full else 0.0,
                    self._server_expiry() - now if server_full else 0.0,
                )
            wait = max(wait, 0.01)
            self.waited_seconds += wait
            self._sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn what Xero says is left, from any response's headers."""
        minute, day = headers.get("X-MinLimit-Remaining"), headers.get("X-DayLimit-Remaining")
        with self._lock:
            if minute is not None and minute.isdigit():
                remaining, now = int(minute), self._clock()
                last = self._last_remaining
                expected = None if last is None else last - self._started_since_seen
                if (
                    expected is None
                    or remaining > expected  # the count rose: a new window
                    or now - self._window_seen_at > self.limits.span  # the old one is over
                ):
                    self._window_seen_at, self._shared = now, False
                elif remaining < expected:  # calls we did not make
                    self._shared = True
                self._server_remaining = self._last_remaining = remaining
                self._server_seen_at = now
                self._started_since_seen = 0
            if day is not None and day.isdigit():
                self.day_remaining = int(day)


class Governors:
    """One governor per tenant, created on first use."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._by_tenant: dict[str, TenantGovernor] = {}
        self._lock = threading.Lock()

    def __getitem__(self, tenant_id: str) -> TenantGovernor:
        with self._lock:
            governor = self._by_tenant.get(tenant_id)
            if governor is None:
                governor = self._by_tenant[tenant_id] = TenantGovernor(tenant_id, self.limits)
            return governor
