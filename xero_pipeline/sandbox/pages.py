"""Rendered pages of paged reads, with the next page rendered ahead in the background.

A client paging through a month reads page 1, processes it, asks for page 2. Xero renders on many
servers; the sandbox renders page N+1 on a worker thread while the client works on page N, so a
sandbox in its own process keeps up with a client instead of making it wait.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor


class PageCache:
    def __init__(self, capacity: int = 8) -> None:
        self._capacity = capacity
        self._pages: OrderedDict[Hashable, Future[bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-prefetch")

    def get(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        """The page, rendered now unless it is ready (or being rendered) already."""
        with self._lock:
            future = self._pages.pop(key, None)
        if future is not None:
            return future.result()
        return render()

    def prefetch(self, key: Hashable, render: Callable[[], bytes]) -> None:
        with self._lock:
            if key in self._pages:
                return
            self._pages[key] = self._worker.submit(render)
            while len(self._pages) > self._capacity:
                self._pages.popitem(last=False)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
