"""What ``ContinuousLogger``, ``ContinuousDataSaver`` and ``DataSetSaver`` share: a spool, the core's
delivery worker (through its public life cycle) and one ``start``/``stop``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from typing import Any

from lab_core import DiskSpool, MemorySpool, Sample, Spool, Writer
from lab_core.delivery import Backoff, Delivery

log = logging.getLogger(__name__)


def make_spool(spool_path: str | os.PathLike | None, capacity: int) -> Spool:
    return DiskSpool(spool_path) if spool_path else MemorySpool(capacity=capacity)


class SpooledSaver:
    """Points wait in ``self.spool`` until ``self.writer`` (delivered by a ``Delivery``) has committed them.

    Subclasses call ``_deliver_with(...)`` once their writer and spool exist.
    """

    kind = "saver"
    writer: Writer
    spool: Spool
    stop_timeout: float = 10.0

    def _deliver_with(self, name: str, writer: Writer, spool: Spool, reconnect_waittime: float,
                      grace: float) -> None:
        self.writer, self.spool = writer, spool
        self._delivery = Delivery(name, writer, spool,
                                  Backoff(initial=min(0.5, reconnect_waittime), cap=reconnect_waittime))
        self._delivery.grace = grace  # a call blocked in the network is interrupted, then gets this long
        self._state_lock = threading.Lock()
        self._started = self._stopped = False
        atexit.register(_stop_at_exit, weakref.ref(self))

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start delivering points (points queued before are kept and delivered)."""
        with self._state_lock:
            if self._stopped:
                raise RuntimeError(f"this {type(self).__name__} was stopped; make a new one")
            if self._started:
                return
            self._started = True
        self._delivery.start()

    def stop(self, timeout: float | None = None) -> int:
        """Deliver what can be delivered within ``timeout`` s (default ``stop_timeout``), then stop.

        Returns how many points were not delivered (0 = everything is in the database).
        Never hangs on a database that is down: at most ``timeout`` plus a few seconds.
        Points left in a disk spool are delivered by the next saver using the same ``spool_path``.
        """
        timeout = self.stop_timeout if timeout is None else float(timeout)
        with self._state_lock:
            if self._stopped:
                return len(self.spool)
            self._stopped = True
        if self._delivery.started:
            left = self._delivery.stop(timeout)
            finished = not self._delivery.running
        else:
            left, finished = len(self.spool), True
            self.writer.close()
        if finished:
            self.spool.close()
        self._after_stop()
        return left

    def _after_stop(self) -> None:  # noqa: B027 - optional
        """Release what the subclass holds besides the writer (called once by ``stop``)."""

    def is_alive(self) -> bool:
        return self._started and not self._stopped and self._delivery.running

    def join(self, timeout: float | None = None) -> None:
        """Wait until the delivery worker ended (after ``stop``), as with PyExpLabSys's threads."""
        if self._delivery.started:
            self._delivery.join(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every point queued so far is in the database (True) or ``timeout`` s passed (False)."""
        return self._delivery.flush(timeout)

    def pending(self) -> int:
        """Points queued and not yet in the database."""
        return len(self.spool)

    def rejected(self) -> list[tuple[Sample, str]]:
        """Points the database can never take (NaN, ±inf, unknown codenames…), set aside with the reason."""
        return self.spool.rejected()

    def stats(self) -> dict[str, Any]:
        delivery = self._delivery.stats
        spool = self.spool.stats()
        return {"accepted": spool.accepted, "delivered": spool.delivered, "pending": spool.pending,
                "set_aside": spool.set_aside, "dropped": spool.dropped, "batches": delivery.batches,
                "failures": delivery.failures, "last_error": delivery.last_error}

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _put(self, samples: list[Sample]) -> None:
        if self._stopped:
            raise RuntimeError(f"this {type(self).__name__} was stopped; points can no longer be queued")
        self.spool.put(samples)


def _stop_at_exit(ref: weakref.ReferenceType) -> None:
    saver = ref()
    if saver is not None and saver._started and not saver._stopped:
        saver.stop()
