"""Calls at deadlines, from one thread (the job server's deferred ``waitJob`` replies)."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Deadlines:
    """``add(deadline, fn)`` calls ``fn()`` at ``deadline`` (``time.monotonic()``); ``close()`` stops.

    The thread starts with the first deadline; calls still pending at ``close`` are dropped."""

    def __init__(self, name: str = "lab-dahu-deadlines") -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._name = name

    def add(self, deadline: float, fn: Callable[[], None]) -> None:
        with self._condition:
            if self._closed:
                return
            heapq.heappush(self._heap, (deadline, next(self._counter), fn))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._heap.clear()
            self._condition.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._condition.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                if self._closed:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:
                log.exception("a deferred call failed")
