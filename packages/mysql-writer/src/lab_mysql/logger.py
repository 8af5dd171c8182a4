"""``ContinuousLogger``: PyExpLabSys's logger API on the core's spool and delivery worker.

::

    from lab_mysql import ContinuousLogger

    db_logger = ContinuousLogger(table="dateplots_dummy", username="dummy", password="dummy",
                                 measurement_codenames=["dummy_sine_one"], host="db.example.org")
    db_logger.start()
    while True:
        db_logger.enqueue_point_now("dummy_sine_one", driver.get_value())

Differences from PyExpLabSys (all on the safe side): a point leaves the queue
only after the database committed it (no reordering, no duplicates, nothing
dropped on ``stop``); NaN/inf are set aside instead of blocking the queue;
``stop()`` delivers what it can within a timeout and returns how many points
are left; with ``spool_path`` the queue is a file that survives a crash.
"""

from __future__ import annotations

import atexit
import logging
import math
import numbers
import os
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from lab_core import DiskSpool, MemorySpool, Sample, Spool, check_codename
from lab_core.delivery import Backoff, Delivery

from .errors import MySQLUnavailable
from .writer import MySQLWriter

log = logging.getLogger(__name__)


class StartupException(Exception):
    """The logger could not start: the database refused the connection or a codename is unknown."""


class ContinuousLogger:
    """Logs (time, value) points of ``measurement_codenames`` to the continuous table ``table``.

    Arguments as in PyExpLabSys: ``table`` (e.g. ``"dateplots_dummy"``), ``username``,
    ``password``, ``measurement_codenames``, ``dequeue_timeout`` (kept for
    compatibility: the worker wakes as soon as a point arrives), ``reconnect_waittime``
    (the longest wait between two attempts to reach the database), ``dsn`` (ODBC,
    not supported: ignored with a warning). Added: ``host``, ``port``, ``database``
    (defaults are PyExpLabSys's: ``servcinf-sql``, 3306, ``cinfdata``), ``spool_path``
    (keep the queue in this file, so it survives a crash), ``stop_timeout`` (how long
    ``stop()`` tries to deliver), and any ``MySQLWriter`` connection option
    (``unix_socket``, ``ssl_ca`` …, ``connect_timeout``, ``read_timeout``, ``write_timeout``).

    Raises ``StartupException`` when the database cannot be used or a codename is
    not in ``dateplots_descriptions``. With ``spool_path``, an *unreachable*
    database is not an error: points are kept on disk and delivered (and the
    codenames checked) once it answers.
    """

    def __init__(self, table: str, username: str, password: str, measurement_codenames: Sequence[str],
                 dequeue_timeout: float = 1, reconnect_waittime: float = 60, dsn: str | None = None, *,
                 host: str = "servcinf-sql", port: int = 3306, database: str = "cinfdata",
                 spool_path: str | os.PathLike | None = None, stop_timeout: float = 10.0,
                 spool_capacity: int = 1_000_000, **options: Any):
        if dsn is not None:
            log.warning("ContinuousLogger: dsn=%r ignored; lab-mysql connects with host/port, not ODBC", dsn)
        if isinstance(measurement_codenames, str):
            raise StartupException("measurement_codenames must be a list of codenames, not one string")
        codenames = list(measurement_codenames)
        if not codenames:
            raise StartupException("measurement_codenames is empty: name the codenames this logger writes")
        for codename in codenames:
            try:
                check_codename(codename)
            except ValueError as exc:
                raise StartupException(str(exc)) from None
        if not (isinstance(reconnect_waittime, (int, float)) and reconnect_waittime > 0):
            raise StartupException(f"reconnect_waittime must be a positive number of seconds, got "
                                   f"{reconnect_waittime!r}")
        self.table = table
        self.username = username
        self.measurement_codenames = tuple(codenames)
        self.dequeue_timeout = dequeue_timeout
        self.reconnect_waittime = float(reconnect_waittime)
        self.stop_timeout = float(stop_timeout)
        self.host, self.port, self.database = host, port, database
        self.daemon = True  # PyExpLabSys's logger was a Thread; scripts set this. The worker is always a daemon.
        try:
            self.writer = MySQLWriter(database=database, user=username, password=password, host=host, port=port,
                                      table=table, codenames=codenames, **options)
        except (TypeError, ValueError) as exc:
            raise StartupException(f"ContinuousLogger: {exc}") from None
        self._codenames = frozenset(codenames)
        self._offline = False
        try:
            self.writer.open()  # connect and translate the codenames now, as PyExpLabSys did
            self.writer.check_codenames()
        except MySQLUnavailable as exc:
            if spool_path is None:
                raise StartupException(f"{exc} (give spool_path to start while the database is down)") from exc
            self._offline = True
            log.warning("ContinuousLogger: %s; starting anyway: points are kept in %s until it answers",
                        exc, spool_path)
        except Exception as exc:
            raise StartupException(f"ContinuousLogger cannot start: {exc}") from exc
        try:
            self.spool: Spool = DiskSpool(spool_path) if spool_path else MemorySpool(capacity=spool_capacity)
        except Exception as exc:
            self.writer.close()
            raise StartupException(f"ContinuousLogger: spool {spool_path}: {exc}") from exc
        backoff = Backoff(initial=min(0.5, self.reconnect_waittime), cap=self.reconnect_waittime)
        self._delivery = Delivery(f"ContinuousLogger:{table}", self.writer, self.spool, backoff)
        self._state_lock = threading.Lock()
        self._started = self._stopped = False
        atexit.register(_stop_at_exit, weakref.ref(self))

    # -- PyExpLabSys's API ----------------------------------------------------------------

    def start(self) -> None:
        """Start delivering points (points enqueued before are kept and delivered)."""
        with self._state_lock:
            if self._stopped:
                raise RuntimeError("this ContinuousLogger was stopped; make a new one")
            if self._started:
                return
            self._started = True
        self._delivery.start()

    def run(self) -> None:
        """PyExpLabSys's thread entry point: same as ``start``."""
        self.start()

    def enqueue_point(self, codename: str, point: Sequence[Any]) -> None:
        """Queue ``point`` = ``(unix_time, value)`` for ``codename``; it is kept until the database took it."""
        self._put(self._sample(codename, point))

    def enqueue_point_now(self, codename: str, value: Any) -> float:
        """Queue ``value`` for ``codename`` at the current time; return that time (unix seconds)."""
        now = time.time()
        self._put(self._sample(codename, (now, value)))
        return now

    def enqueue_points(self, codename: str, points: Iterable[Sequence[Any]]) -> None:
        """Queue many ``(unix_time, value)`` points at once (one spool transaction)."""
        self._put(*[self._sample(codename, p) for p in points])

    def stop(self, timeout: float | None = None) -> int:
        """Deliver what can be delivered within ``timeout`` s (default ``stop_timeout``), then stop.

        Returns how many points were not delivered (0 = everything is in the
        database). Never hangs on a database that is down: at most ``timeout``
        plus a few seconds. Left-over points stay in the disk spool, if any, and
        are delivered by the next logger using the same ``spool_path``.
        """
        timeout = self.stop_timeout if timeout is None else float(timeout)
        with self._state_lock:
            if self._stopped:
                return len(self.spool) if self.spool is not None else 0
            self._stopped = True
            started = self._started
        if started:
            # Drain with the worker still running normally: the core's delivery worker, once asked
            # to stop, gives up at once if its writer is not open (e.g. the database just came back).
            deadline = time.monotonic() + timeout
            self.spool.wait_empty(timeout)
            self._delivery.request_stop(max(0.0, deadline - time.monotonic()))
            thread = self._delivery._thread
            thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
            if thread.is_alive():  # blocked in the network: break the call, it ends at once
                self.writer.interrupt()
                thread.join(self.writer.settings.connect_timeout + 2.0)
            left = len(self.spool)
            finished = not thread.is_alive()
        else:
            left, finished = len(self.spool), True
            self.writer.close()
        if left:
            where = (f"kept in {self.spool.path} for the next start" if isinstance(self.spool, DiskSpool)
                     else "lost with the memory queue")
            log.warning("ContinuousLogger %s stopped with %d point(s) not delivered (%s)", self.table, left, where)
        if finished:
            self.spool.close()
        return left

    # -- extras ---------------------------------------------------------------------------------

    def is_alive(self) -> bool:
        return self._started and not self._stopped and self._delivery._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._started:
            self._delivery._thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every point queued so far is in the database (True) or ``timeout`` s passed (False)."""
        return self.spool.wait_empty(timeout)

    def pending(self) -> int:
        """Points queued and not yet in the database."""
        return len(self.spool)

    def rejected(self) -> list[tuple[Sample, str]]:
        """Points the database can never take (NaN, ±inf…), set aside with the reason."""
        return self.spool.rejected()

    def stats(self) -> dict[str, Any]:
        delivery = self._delivery.stats
        spool = self.spool.stats()
        return {"accepted": spool.accepted, "delivered": spool.delivered, "pending": spool.pending,
                "set_aside": spool.set_aside, "dropped": spool.dropped, "batches": delivery.batches,
                "failures": delivery.failures, "last_error": delivery.last_error}

    def __enter__(self) -> ContinuousLogger:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------

    def _sample(self, codename: str, point: Sequence[Any]) -> Sample:
        if codename not in self._codenames:
            raise ValueError(f"codename {codename!r} is not one of this logger's measurement_codenames "
                             f"({', '.join(self.measurement_codenames)})")
        try:
            when, value = point
        except (TypeError, ValueError):
            raise ValueError(f"point must be (unix_time, value), got {point!r}") from None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"value for {codename!r} must be a number, got {value!r}")
        if type(value) not in (int, float):
            value = float(value)  # numpy and friends: stored as a plain float
        try:
            when = float(when)
        except (TypeError, ValueError):
            raise ValueError(f"time of a point for {codename!r} must be a unix time, got {when!r}") from None
        if not math.isfinite(when):
            raise ValueError(f"time of a point for {codename!r} must be finite, got {when!r}")
        return Sample(codename, when, value)

    def _put(self, *samples: Sample) -> None:
        if self._stopped:
            raise RuntimeError("this ContinuousLogger was stopped; points can no longer be queued")
        self.spool.put(samples)


def _stop_at_exit(ref: weakref.ReferenceType) -> None:
    logger = ref()
    if logger is not None and logger._started and not logger._stopped:
        logger.stop()
