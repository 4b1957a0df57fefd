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

Across processes: every Dagster run is a process of its own. A run that starts while the run
before it spent part of the minute learns from its first `X-MinLimit-Remaining` how much is
left, but not when that minute began, so once the rest is spent it waited a whole minute from its
own first answer. `Governors(ledger=path)` hands the window over instead: at the end of a run
(`save`) each tenant's latest count and when that window was first seen, in wall-clock time, go
to a small JSON file beside the token store, and a governor created later for the tenant
(`__getitem__`) takes them over, so it waits only until that window has really rolled over. Only
what Xero said is handed over (a Xero that sends no counts, such as the sandbox with its limits
off, hands nothing over); a run that crashed hands nothing over, and the next one learns from
the headers as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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

    def handover(self, wall_now: float | None = None) -> dict[str, Any] | None:
        """The window Xero last described to this governor, in wall-clock seconds, for a
        governor in another process (None: Xero has said nothing)."""
        wall_now = time.time() if wall_now is None else wall_now
        with self._lock:
            if self._last_remaining is None:
                return None
            offset = wall_now - self._clock()  # monotonic -> wall clock
            return {
                "remaining": self._last_remaining - self._started_since_seen,
                "window_seen": self._window_seen_at + offset,
                "seen": self._server_seen_at + offset,
                "shared": self._shared,
            }

    def take_over(self, state: Mapping[str, Any], wall_now: float | None = None) -> None:
        """Carry on from another process's `handover`, if the window it describes may still be
        open: its count, and when it was first seen."""
        wall_now = time.time() if wall_now is None else wall_now
        remaining, seen = state.get("remaining"), state.get("seen")
        if not isinstance(remaining, int) or not isinstance(seen, int | float):
            return
        if wall_now - seen > self.limits.span:
            return  # that window is over
        with self._lock:
            offset = self._clock() - wall_now  # wall clock -> monotonic
            self._server_remaining = self._last_remaining = remaining
            self._window_seen_at = float(state.get("window_seen", seen)) + offset
            self._server_seen_at = float(seen) + offset
            self._shared = bool(state.get("shared"))
            self._started_since_seen = 0

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
    """One governor per tenant, created on first use; with a `ledger`, each taking over the
    minute an earlier process handed over for its tenant, and handing its own over on `save`."""

    def __init__(self, limits: Limits | None = None, ledger: Path | None = None) -> None:
        self.limits = limits or Limits()
        self.ledger = ledger
        self._by_tenant: dict[str, TenantGovernor] = {}
        self._lock = threading.Lock()

    def __getitem__(self, tenant_id: str) -> TenantGovernor:
        with self._lock:
            governor = self._by_tenant.get(tenant_id)
            if governor is None:
                governor = self._by_tenant[tenant_id] = TenantGovernor(tenant_id, self.limits)
                state = self._read().get(tenant_id)
                if isinstance(state, dict):
                    governor.take_over(state)
            return governor

    def save(self) -> None:
        """Hand every tenant's minute over to the next process (merged into the ledger under a
        lock: runs of other tenants, or of the same one, may be saving at the same time)."""
        if self.ledger is None or not self._by_tenant:
            return
        with self._lock:
            handed = {t: g.handover() for t, g in self._by_tenant.items()}
        mine = {t: state for t, state in handed.items() if state is not None}
        if not mine:
            return
        self.ledger.parent.mkdir(parents=True, exist_ok=True)
        with open(self.ledger.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            ledger = self._read()
            for tenant_id, state in mine.items():  # of two runs of a tenant, the later word
                theirs = ledger.get(tenant_id)
                seen = theirs.get("seen") if isinstance(theirs, dict) else None
                if not isinstance(seen, int | float) or seen <= state["seen"]:
                    ledger[tenant_id] = state
            recent = time.time() - self.limits.span
            kept = {
                t: s
                for t, s in ledger.items()
                if isinstance(s, dict)
                and isinstance(s.get("seen"), int | float)
                and s["seen"] > recent
            }
            partial = self.ledger.with_suffix(".partial")
            partial.write_text(json.dumps(kept))
            os.replace(partial, self.ledger)

    def _read(self) -> dict[str, Any]:
        """The ledger as the last process left it (nothing when there is none, or it is torn)."""
        if self.ledger is None:
            return {}
        try:
            found = json.loads(self.ledger.read_text())
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}
