"""The sandbox's clock: real time from a chosen start, moved on demand by tests.

Records carry timestamps from this clock, so incremental sync can be tested by editing a record
and advancing time instead of sleeping. Token expiry uses it too, so expiry is testable.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SandboxClock:
    def __init__(self, start: datetime, *, frozen: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("the sandbox clock needs a timezone-aware start")
        self._start = start.astimezone(UTC)
        self._t0 = time.monotonic()
        self._offset = timedelta(0)
        self._frozen = frozen
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (
                timedelta(0) if self._frozen else timedelta(seconds=time.monotonic() - self._t0)
            )
            return self._start + elapsed + self._offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or restart) the clock at its current reading."""
        with self._lock:
            current = self._start + self._offset
            if not self._frozen:
                current += timedelta(seconds=time.monotonic() - self._t0)
            self._start, self._offset, self._t0 = current, timedelta(0), time.monotonic()
            self._frozen = frozen
