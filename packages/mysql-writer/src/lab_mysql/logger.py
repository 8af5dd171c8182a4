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

import logging
import math
import numbers
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from lab_core import Sample, check_codename

from .errors import MySQLUnavailable
from .saver import SpooledSaver, make_spool
from .writer import MySQLWriter

log = logging.getLogger(__name__)


class StartupException(Exception):
    """The logger could not start: the database refused the connection or a codename is unknown."""


class ContinuousLogger(SpooledSaver):
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

    _codenames_later = False  # ContinuousDataSaver: codenames may be added after the start

    def __init__(self, table: str, username: str, password: str, measurement_codenames: Sequence[str],
                 dequeue_timeout: float = 1, reconnect_waittime: float = 60, dsn: str | None = None, *,
                 host: str = "servcinf-sql", port: int = 3306, database: str = "cinfdata",
                 spool_path: str | os.PathLike | None = None, stop_timeout: float = 10.0,
                 spool_capacity: int = 1_000_000, **options: Any):
        if dsn is not None:
            log.warning("ContinuousLogger: dsn=%r ignored; lab-mysql connects with host/port, not ODBC", dsn)
        if isinstance(measurement_codenames, str):
            raise StartupException("measurement_codenames must be a list of codenames, not one string")
        codenames = list(measurement_codenames or ())
        if not codenames and not self._codenames_later:
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
            raise StartupException(f"{type(self).__name__}: {exc}") from None
        self._codenames = set(codenames)
        self._offline = False
        try:
            self.writer.open()  # connect and translate the codenames now, as PyExpLabSys did
            self.writer.check_codenames()
        except MySQLUnavailable as exc:
            if spool_path is None:
                raise StartupException(f"{exc} (give spool_path to start while the database is down)") from exc
            self._offline = True
            log.warning("%s: %s; starting anyway: points are kept in %s until it answers",
                        type(self).__name__, exc, spool_path)
        except Exception as exc:
            raise StartupException(f"{type(self).__name__} cannot start: {exc}") from exc
        try:
            spool = make_spool(spool_path, spool_capacity)
        except Exception as exc:
            self.writer.close()
            raise StartupException(f"{type(self).__name__}: spool {spool_path}: {exc}") from exc
        self._deliver_with(f"{type(self).__name__}:{table}", self.writer, spool, self.reconnect_waittime,
                           grace=self.writer.settings.connect_timeout + 2.0)

    # -- PyExpLabSys's API ----------------------------------------------------------------

    def run(self) -> None:
        """PyExpLabSys's thread entry point: same as ``start``."""
        self.start()

    def enqueue_point(self, codename: str, point: Sequence[Any]) -> None:
        """Queue ``point`` = ``(unix_time, value)`` for ``codename``; it is kept until the database took it."""
        self._put([self._sample(codename, point)])

    def enqueue_point_now(self, codename: str, value: Any) -> float:
        """Queue ``value`` for ``codename`` at the current time; return that time (unix seconds)."""
        now = time.time()
        self._put([self._sample(codename, (now, value))])
        return now

    def enqueue_points(self, codename: str, points: Iterable[Sequence[Any]]) -> None:
        """Queue many ``(unix_time, value)`` points at once (one spool transaction)."""
        self._put([self._sample(codename, p) for p in points])

    # -- internals -------------------------------------------------------------------------

    def _sample(self, codename: str, point: Sequence[Any]) -> Sample:
        if codename not in self._codenames:
            raise ValueError(f"codename {codename!r} is not one of this logger's measurement_codenames "
                             f"({', '.join(sorted(self._codenames)) or 'none yet'})")
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


class ContinuousDataSaver(ContinuousLogger):
    """PyExpLabSys's ``database_saver.ContinuousDataSaver``, the saver most current scripts use::

        from lab_mysql import ContinuousDataSaver

        saver = ContinuousDataSaver("dateplots_dummy", "dummy", "dummy", ["dummy_sine_one"], host="db.lab")
        saver.start()
        saver.save_point_now("dummy_sine_one", 47.0)        # returns the unix time used
        saver.save_point("dummy_sine_one", (time.time(), 42.0))
        saver.stop()

    Arguments as in PyExpLabSys: ``continuous_data_table``, ``username``, ``password``,
    ``measurement_codenames`` (optional; more with ``add_continuous_measurement``), plus the
    keyword options of ``ContinuousLogger`` (``host``, ``port``, ``database``, ``spool_path``,
    ``stop_timeout``, ``time_zone``, connection options). Each point is committed; a point
    sent twice is stored once on a table with a unique key on (type, time) (PyExpLabSys
    retried it forever there, and ``stop()`` hung).
    """

    _codenames_later = True

    def __init__(self, continuous_data_table: str, username: str, password: str,
                 measurement_codenames: Sequence[str] | None = None, *, reconnect_waittime: float = 60,
                 **options: Any):
        super().__init__(continuous_data_table, username, password, list(measurement_codenames or ()),
                         reconnect_waittime=reconnect_waittime, **options)
        self.continuous_data_table = continuous_data_table

    def add_continuous_measurement(self, codename: str) -> None:
        """Allow points of ``codename``: translated to its id now (``UnknownCodenames`` if it has none)."""
        check_codename(codename)
        self.writer.add_codename(codename)
        self._codenames.add(codename)
        self.measurement_codenames = (*self.measurement_codenames, codename)

    def save_point(self, codename: str, point: Sequence[Any]) -> None:
        """Queue ``point`` = ``(unix_time, value)``; a ``ValueError`` naming the point unless it is a pair."""
        try:
            _, _ = point
        except (TypeError, ValueError):
            raise ValueError(f"the point {point!r} for {codename!r} must be (unix_time, value)") from None
        self.enqueue_point(codename, point)

    def save_point_now(self, codename: str, value: Any) -> float:
        """Queue ``value`` at the current time; return that unix time."""
        return self.enqueue_point_now(codename, value)
