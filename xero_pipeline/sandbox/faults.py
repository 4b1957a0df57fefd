"""Faults on demand: Xero failing the way it fails in production.

By rate (a seeded share of accounting calls fails, mixed kinds) or by script (the next N calls
matching a path fail with a given kind; a script whose path names `connections` hits
`GET /connections` too). Kinds: `500`, `503` (organisation offline), `429` (a minute limit hit
from elsewhere), `slow` (the response is delayed), `drop` (the connection closes half-way
through the body).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

KINDS = ("500", "503", "429", "slow", "drop")


@dataclass(frozen=True)
class FaultConfig:
    rate: float = 0.0
    kinds: tuple[str, ...] = KINDS
    slow_seconds: float = 2.0
    seed: int = 0


@dataclass
class ScriptedFault:
    kind: str
    count: int = 1
    path_contains: str = ""
    tenant_id: str | None = None


@dataclass
class FaultInjector:
    config: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        for kind in self.config.kinds:
            _check_kind(kind)
        self._rng = random.Random(self.config.seed)
        self._script: list[ScriptedFault] = []
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}

    def script(self, fault: ScriptedFault) -> None:
        _check_kind(fault.kind)
        with self._lock:
            self._script.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._script.clear()

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self.config = FaultConfig(
                rate=rate,
                kinds=self.config.kinds,
                slow_seconds=self.config.slow_seconds,
                seed=self.config.seed,
            )

    def next_fault(
        self, path: str, tenant_id: str | None, *, scripted_only: bool = False
    ) -> str | None:
        """The fault to inject into this call, if any. `scripted_only` (/connections): only
        scripted faults whose `path_contains` names the path, never the rate's nor a catch-all
        script's, so that weather aimed at the Accounting API stays there."""
        with self._lock:
            for fault in self._script:
                if scripted_only and not fault.path_contains:
                    continue
                if fault.path_contains.lower() in path.lower() and fault.tenant_id in (
                    None,
                    tenant_id,
                ):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._script.remove(fault)
                    return self._count(fault.kind)
            if not scripted_only and self.config.rate and self._rng.random() < self.config.rate:
                return self._count(self._rng.choice(self.config.kinds))
            return None

    def _count(self, kind: str) -> str:
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; choose from {', '.join(KINDS)}")
