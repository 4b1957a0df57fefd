"""Read the next unit of work from Xero while the current one is checked and published.

A backfill walks months: read a month (HTTP, paced by the governor), then gate and publish it
(Python and SQL). Done strictly one after the other, the run waits on Xero while nothing is
processed and processes while no call is made; at Xero's 60 calls a minute a month of a large
organisation is worth about three seconds of calls, about what processing it takes, so one after
the other takes twice as long as either. Reading one month ahead on a worker thread overlaps
them: the network wait (and the governor's) releases the GIL, so the main thread's gate and
publish run meanwhile.

What stays as it was: units are handed over in order, each exactly once; an error in a read
(a day-limit stop, Xero failing) is raised when the caller asks for that unit, i.e. after every
earlier unit was processed, as before. At most one read runs ahead, so at most two units are in
memory. When the caller stops early (a gate failure, an exception), the read under way is told to
stop at its next page and is waited for: no thread outlives the run, and it spends at most the
call it was making.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Unit = TypeVar("Unit")
Read = TypeVar("Read")


def read_ahead(
    units: Sequence[Unit], read: Callable[[Unit, threading.Event], Read]
) -> Iterator[tuple[Unit, Read]]:
    """`(unit, read(unit, stop))` for each unit in order, the next read already under way on a
    worker thread while the caller works on the current one. `read` should return early once
    `stop` is set (what it returns then is discarded)."""
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xero-read-ahead") as worker:
        pending: Future[Read] | None = worker.submit(read, units[0], stop) if units else None
        try:
            for index, unit in enumerate(units):
                assert pending is not None
                value = pending.result()
                following = index + 1
                pending = (
                    worker.submit(read, units[following], stop) if following < len(units) else None
                )
                yield unit, value
        finally:
            stop.set()  # leaving the `with` waits for the read under way, which stops early
