"""The governor's minute handed from one run (process) to the next: on fake clocks, then through
its ledger file, then over HTTP against the sandbox's real fixed windows."""

from __future__ import annotations

import json

import pytest

from xero_pipeline.sandbox.generator import OrgSpec
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline.xero.client import XeroClient
from xero_pipeline.xero.governor import Governors, Limits, TenantGovernor

LIMITS = Limits(per_minute=60, minute_seconds=60.0)
WALL = 1_800_000_000.0  # when the first run's window opened, wall clock


class Clock:
    """A monotonic clock that moves only when told to, or when slept on."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FixedWindows:
    """Xero's count: fixed minutes, opened by the first call after the last one closed."""

    def __init__(self) -> None:
        self.opened, self.count = None, 0

    def answer(self, wall: float) -> dict[str, str]:
        if self.opened is None or wall >= self.opened + LIMITS.minute_seconds:
            self.opened, self.count = wall, 0
        self.count += 1
        return {"X-MinLimit-Remaining": str(LIMITS.per_minute - self.count)}


def spend(
    governor: TenantGovernor, clock: Clock, xero: FixedWindows, calls: int, wall0: float
) -> list[float]:
    """`calls` calls, 0.2 s apart unless the governor holds one back; each one's wall time.
    `wall0` is the wall time at the clock's start."""
    start, began = clock.now, []
    for _ in range(calls):
        with governor.call():
            began.append(wall0 + clock.now - start)
        governor.observe(xero.answer(began[-1]))
        clock.now += 0.2
    return began


def second_run(state: dict | None, xero: FixedWindows, starts_at: float) -> float:
    """A run starting at wall time `starts_at` makes 40 calls: when its 31st began."""
    clock = Clock(9_000.0)  # another process: another monotonic clock
    governor = TenantGovernor("t", LIMITS, clock=clock, sleep=clock.sleep)
    if state is not None:
        governor.take_over(state, wall_now=starts_at)
    return spend(governor, clock, xero, 40, starts_at)[30]


def first_run(xero: FixedWindows) -> dict:
    clock = Clock(500.0)
    governor = TenantGovernor("t", LIMITS, clock=clock, sleep=clock.sleep)
    spend(governor, clock, xero, 30, WALL)
    handed = governor.handover(wall_now=WALL + clock.now - 500.0)
    assert handed is not None
    return handed


def test_a_run_waits_only_until_the_window_the_run_before_it_saw_rolls_over():
    xero = FixedWindows()
    state = first_run(xero)
    assert state["remaining"] == 30 and state["window_seen"] == WALL
    thirty_first = second_run(state, xero, starts_at=WALL + 10.0)
    # 30 calls left in the first run's window, then the rest in the next one: it waited until
    # that window (first seen at WALL) had surely rolled over, and no longer.
    assert thirty_first == pytest.approx(WALL + LIMITS.span, abs=0.05)


def test_without_the_handover_it_waits_a_minute_from_its_own_first_answer():
    xero = FixedWindows()
    first_run(xero)
    starts_at = WALL + 10.0
    thirty_first = second_run(None, xero, starts_at=starts_at)
    # A minute from its own first answer: the ten seconds more are what the handover saves.
    assert thirty_first == pytest.approx(starts_at + LIMITS.span, abs=0.05)


def test_a_window_already_over_is_not_taken_over():
    xero = FixedWindows()
    state = first_run(xero)
    clock = Clock(0.0)
    governor = TenantGovernor("t", LIMITS, clock=clock, sleep=clock.sleep)
    governor.take_over(state, wall_now=WALL + LIMITS.span + 30.0)
    assert governor.handover() is None  # nothing learned: that minute is long gone


def test_the_ledger_carries_each_tenant_between_processes(tmp_path):
    ledger = tmp_path / "minutes.json"
    first = Governors(LIMITS, ledger=ledger)
    first["a"].observe({"X-MinLimit-Remaining": "12"})
    first["b"]  # a tenant Xero said nothing about: nothing to hand over
    first.save()
    saved = json.loads(ledger.read_text())
    assert set(saved) == {"a"} and saved["a"]["remaining"] == 12
    later = Governors(LIMITS, ledger=ledger)["a"].handover()
    assert later is not None and later["remaining"] == 12
    ledger.write_text("{torn")
    assert Governors(LIMITS, ledger=ledger)["a"].handover() is None  # a torn file is no word


def test_the_next_client_does_not_overspend_a_window_the_last_one_filled(
    make_sandbox, connect_client, tmp_path
):
    """Over HTTP: a client spends the tenant's whole minute and hands it over; the next client
    (as the next run would) waits for the window instead of meeting a 429."""
    limits = LimitConfig(per_minute=5, minute_seconds=2.0)
    orgs = (OrgSpec(name="Windows Ltd", contacts=5, invoices=0, credit_notes=0),)
    sandbox = make_sandbox(orgs=orgs, limits=limits)
    ledger = tmp_path / "minutes.json"
    client = connect_client(sandbox, limits=Limits(per_minute=5, minute_seconds=2.0))
    tenant = client.tenants()[0].tenant_id
    first = Governors(client.governors.limits, ledger=ledger)
    one = XeroClient(client.settings, client.tokens, governors=first)
    one.tenants()
    for _ in range(5):
        one.get(tenant, "Organisation")
    first.save()
    then = Governors(client.governors.limits, ledger=ledger)
    other = XeroClient(client.settings, client.tokens, governors=then)
    other.tenants()
    other.get(tenant, "Organisation")
    assert sandbox.limiter.rejections == {}  # it waited for the next window
    assert then[tenant].waited_seconds > 0
