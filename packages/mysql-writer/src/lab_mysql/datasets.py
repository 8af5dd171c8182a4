"""Data sets: ``DataSetSaver`` (PyExpLabSys's API) for ``measurements_<setup>`` + ``xy_values_<setup>``.

A data set is one row of metadata in the measurements table (its id is the
data set's id) and many ``(measurement, x, y)`` rows in the xy-values table::

    from lab_mysql import DataSetSaver, CustomColumn

    saver = DataSetSaver("measurements_dummy", "xy_values_dummy", "dummy", "dummy", host="db")
    saver.start()
    saver.add_measurement("scan", {"type": 5, "comment": "first run",
                                   "time": CustomColumn(time.time(), "FROM_UNIXTIME(%s)")})
    saver.save_points_batch("scan", xs, ys)        # queued, sent in large batches
    saver.stop()

    # or all at once, in one transaction (the data set is stored whole or not at all):
    measurement_id = saver.save_dataset({"type": 5, "comment": "run 2"}, xs, ys)

Points go through the core's spool and delivery worker like continuous samples
(each travels as ``Sample("m<measurement id>", time=x, value=y)``), so they are
batched into multi-row inserts, retried with a capped backoff, exactly once
(a lost ``COMMIT`` answer is checked through the rows' ids), kept on disk with
``spool_path``, and NaN/inf ``y`` values are set aside instead of blocking the rest.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import re
import threading
import time
from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lab_core import RejectedSamples, Sample, Writer

from . import schema
from .connection import ConnectionSettings, errno, is_connection_error
from .errors import MySQLUnavailable, SchemaError, init_command
from .inserter import BatchInserter, row_stored
from .logger import StartupException
from .saver import SpooledSaver, make_spool

log = logging.getLogger(__name__)

#: A metadata value that needs SQL around it: ``CustomColumn(t, "FROM_UNIXTIME(%s)")``.
CustomColumn = namedtuple("CustomColumn", ["value", "format_string"])

COLUMN_NAME = re.compile(r"^[0-9A-Za-z$_]{1,64}$")
#: What a CustomColumn may wrap its value in: one SQL function (no other SQL text is accepted).
FORMAT_STRING = re.compile(r"^(?:%s|([A-Za-z_][A-Za-z0-9_]*)\(%s\))$")
#: The SQL functions a CustomColumn (or ``get_unique_values_from_measurements``) may use: conversions
#: of one value, nothing that reads files, sleeps, locks or reaches other tables (LOAD_FILE, SLEEP…).
ALLOWED_FUNCTIONS = frozenset({
    "FROM_UNIXTIME", "UNIX_TIMESTAMP", "TIMESTAMP", "DATE", "TIME", "YEAR", "MONTH", "DAY", "HOUR",
    "SEC_TO_TIME", "TIME_TO_SEC", "UPPER", "LOWER", "TRIM", "LENGTH", "ROUND", "FLOOR", "CEILING", "ABS",
})


def check_function(name: str, where: str) -> str:
    """``name`` upper-cased if it is in ``ALLOWED_FUNCTIONS``; else a ValueError saying what is allowed."""
    if name.upper() not in ALLOWED_FUNCTIONS:
        raise ValueError(f"{where} uses the SQL function {name.upper()}, which is not allowed; use one of "
                         f"{', '.join(sorted(ALLOWED_FUNCTIONS))} (or no function: '%s')")
    return name.upper()
COLUMN_SPEC = re.compile(r"^(?:([A-Za-z_][A-Za-z0-9_]*)\(\s*([0-9A-Za-z$_]{1,64})\s*\)|([0-9A-Za-z$_]{1,64}))$")


def _point_sample(measurement_id: int, x: Any, y: Any) -> Sample:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"x must be a number, got {x!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"x must be finite, got {x!r}")
    if not isinstance(y, (int, float)) and isinstance(y, numbers.Real):
        y = float(y)  # numpy scalars and friends
    return Sample(f"m{measurement_id}", x, y)


class XYWriter(BatchInserter, Writer):
    """Writes queued data-set points to an xy-values table (used by ``DataSetSaver``)."""

    max_batch = 10_000

    def __init__(self, settings: ConnectionSettings, table: str):
        BatchInserter.__init__(self)
        self.settings = settings
        self.table = schema.check_identifier(table)
        self.label = f"data-set writer {table}"
        q = schema.quote(table)
        self.insert_sql = f"INSERT INTO {q} (measurement, x, y) VALUES (%s, %s, %s)"
        self.check_sql = f"SELECT measurement, x, y FROM {q} WHERE id = %s"
        self._ready = False

    def open(self) -> None:
        if self._ready:
            return
        conn = self._connection()
        try:
            with conn.cursor() as cursor:
                columns = _columns(cursor, self.table, self.settings)
            conn.commit()
        except Exception as exc:
            self._drop_connection(exc)
            raise
        missing = [c for c in ("measurement", "x", "y") if c not in columns]
        if missing:
            raise SchemaError(f"table {self.table} has no column(s) {', '.join(missing)}")
        if "auto_increment" not in columns.get("id", ""):
            self.check_sql = ""  # a lost COMMIT answer cannot be checked: sent again
        self._ready = True

    def write(self, batch: Sequence[Sample]) -> None:
        if not self._ready:
            self.open()
        rows, samples, bad = [], [], []
        for s in batch:
            y = s.value
            if type(y) is not float:
                y = float(y) if isinstance(y, numbers.Real) else math.nan
            if not math.isfinite(y):
                bad.append(s)
                continue
            rows.append((int(s.codename[1:]), s.time, y))
            samples.append(s)
        if bad:
            raise RejectedSamples(bad, "y is NaN, infinite or not a number (MySQL/MariaDB refuse it)")
        self.send(rows, samples)

    def close(self) -> None:
        self._drop_connection()
        self._ready = False


def _columns(cursor, table: str, settings: ConnectionSettings) -> dict[str, str]:
    """``{column name (lower case): extra}`` of ``table``; ``SchemaError`` (with the ``lab mysql init``
    that makes it on the server of ``settings``) if it does not exist."""
    cursor.execute("SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS "
                   "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (table,))
    columns = {name.lower(): (extra or "").lower() for name, extra in cursor.fetchall()}
    if not columns:
        setup = table.split("_", 1)[-1] if "_" in table else table
        fix = init_command("--setup", setup.removeprefix("values_"), "--datasets", *settings.command_flags())
        raise SchemaError(f"table {table} does not exist; create it with: {fix}", fix)
    return columns


class DataSetSaver(SpooledSaver):
    """Saves data sets: a row of metadata in ``measurements_table``, points in ``xy_values_table``.

    Arguments as in PyExpLabSys: ``measurements_table``, ``xy_values_table``,
    ``username``, ``password``, ``measurement_specs`` (``[(codename, metadata), …]``
    added at once). Added: ``host``, ``port``, ``database`` (PyExpLabSys's defaults),
    ``spool_path`` (queue the points in this file: they survive a crash),
    ``stop_timeout``, ``reconnect_waittime`` and the connection options of the writer.
    """

    def __init__(self, measurements_table: str, xy_values_table: str, username: str, password: str,
                 measurement_specs: Iterable[tuple[str, Mapping[str, Any]]] | None = None, *,
                 host: str = "servcinf-sql", port: int = 3306, database: str = "cinfdata",
                 spool_path: str | os.PathLike | None = None, stop_timeout: float = 10.0,
                 reconnect_waittime: float = 30.0, spool_capacity: int = 10_000_000, **options: Any):
        try:
            self.measurements_table = schema.check_identifier(measurements_table)
            self.xy_values_table = schema.check_identifier(xy_values_table)
            self.settings = ConnectionSettings.from_options(database=database, user=username, password=password,
                                                            host=host, port=port, **options)
        except (TypeError, ValueError) as exc:
            raise StartupException(f"DataSetSaver: {exc}") from None
        self.stop_timeout = float(stop_timeout)
        self.measurement_ids: dict[str, int] = {}
        self._conn = None
        self._lock = threading.Lock()  # one measurement insert at a time on the shared connection
        try:
            conn = self._connection()
            with conn.cursor() as cursor:
                self._measurement_columns = _columns(cursor, self.measurements_table, self.settings)
            conn.commit()
            self.writer = XYWriter(self.settings, self.xy_values_table)
            self.writer.open()
        except Exception as exc:
            self._drop()
            raise StartupException(f"DataSetSaver cannot start: {exc}") from exc
        self._deliver_with(f"DataSetSaver:{xy_values_table}", self.writer, make_spool(spool_path, spool_capacity),
                           reconnect_waittime, grace=self.settings.connect_timeout + 2.0)
        for codename, metadata in measurement_specs or ():
            self.add_measurement(codename, metadata)

    # -- PyExpLabSys's API ----------------------------------------------------------------

    def add_measurement(self, codename: str, metadata: Mapping[str, Any]) -> int:
        """Insert a row of ``metadata`` (column -> value or ``CustomColumn``); remember its id as ``codename``.

        Synchronous (the id is needed for the points); returns the new id.
        """
        columns, marks, values = self._metadata(metadata)
        sql = f"INSERT INTO {schema.quote(self.measurements_table)} ({columns}) VALUES ({marks})"
        new_id = self._insert_measurement(sql, values, ())
        self.measurement_ids[codename] = new_id
        log.info("measurement %r added to %s as id %d", codename, self.measurements_table, new_id)
        return new_id

    def save_point(self, codename: str, point: Sequence[Any]) -> None:
        """Queue one ``(x, y)`` point of measurement ``codename``."""
        try:
            x, y = point
        except (TypeError, ValueError):
            raise ValueError(f"point must be (x, y), got {point!r}") from None
        self._put([_point_sample(self._id(codename), x, y)])

    def save_points_batch(self, codename: str, x_values: Sequence[Any], y_values: Sequence[Any],
                          batchsize: int = 1000) -> None:
        """Queue many points of measurement ``codename`` at once.

        ``batchsize`` is accepted for compatibility; the delivery worker makes
        batches as large as it can (up to ``XYWriter.max_batch`` points per statement).
        """
        if len(x_values) != len(y_values):
            raise ValueError(f"number of x and y values must be the same, got {len(x_values)} and {len(y_values)}")
        measurement_id = self._id(codename)
        self._put([_point_sample(measurement_id, x, y) for x, y in zip(x_values, y_values, strict=True)])

    def get_unique_values_from_measurements(self, column: str) -> set:
        """The distinct values of ``column`` (a column name, or ``FUNCTION(column)``) in the measurements table."""
        match = COLUMN_SPEC.match(column.strip()) if isinstance(column, str) else None
        if not match:
            raise ValueError(f"column {column!r} must be a column name or FUNCTION(column_name)")
        function, inner, plain = match.groups()
        spec = f"{check_function(function, f'column {column!r}')}(`{inner}`)" if function else f"`{plain}`"
        rows = self._query(f"SELECT DISTINCT {spec} FROM {schema.quote(self.measurements_table)}")
        return {row[0] for row in rows}

    def wait_for_queue_to_empty(self, timeout: float | None = None) -> bool:
        """Block until every queued point is stored (True), or ``timeout`` s passed (False)."""
        if timeout is not None:
            return self.spool.wait_empty(timeout)
        while not self.spool.wait_empty(3600):
            pass
        return True

    def _after_stop(self) -> None:
        self._drop()

    # -- data sets in one go ------------------------------------------------------------------

    def save_dataset(self, metadata: Mapping[str, Any], x_values: Sequence[Any], y_values: Sequence[Any]) -> int:
        """Store a whole data set in one transaction: its measurement row and all its points.

        Returns the new measurement id. Either all of it is stored or nothing
        (an exception says why); a lost ``COMMIT`` answer is checked, never
        stored twice. NaN/inf values are refused (``ValueError``) before anything is sent.
        """
        if len(x_values) != len(y_values):
            raise ValueError(f"number of x and y values must be the same, got {len(x_values)} and {len(y_values)}")
        points = []
        for x, y in zip(x_values, y_values, strict=True):
            sample = _point_sample(0, x, y)
            y = sample.value
            if isinstance(y, bool) or not isinstance(y, (int, float)) or not math.isfinite(y):
                raise ValueError(f"y must be a finite number, got {y!r} (at x = {sample.time})")
            points.append((sample.time, float(y)))
        columns, marks, values = self._metadata(metadata)
        sql = f"INSERT INTO {schema.quote(self.measurements_table)} ({columns}) VALUES ({marks})"
        return self._insert_measurement(sql, values, points)

    # -- internals ------------------------------------------------------------------------------

    def _metadata(self, metadata: Mapping[str, Any]) -> tuple[str, str, list[Any]]:
        if not metadata:
            raise ValueError("metadata must name at least one column of the measurements table")
        columns, marks, values = [], [], []
        for name, value in metadata.items():
            if not isinstance(name, str) or not COLUMN_NAME.match(name):
                raise ValueError(f"invalid column name {name!r}: use letters, digits, '_' and '$'")
            if name.lower() not in self._measurement_columns:
                raise ValueError(f"{self.measurements_table} has no column {name!r}; its columns are "
                                 f"{', '.join(sorted(self._measurement_columns))}")
            mark = "%s"
            if isinstance(value, CustomColumn):
                value, mark = value
                found = FORMAT_STRING.match(mark.strip()) if isinstance(mark, str) else None
                if not found:
                    raise ValueError(f"CustomColumn format {mark!r} for {name!r} must be '%s' or one SQL "
                                     f"function around it, e.g. 'FROM_UNIXTIME(%s)'")
                mark = "%s" if found[1] is None else \
                    f"{check_function(found[1], f'CustomColumn format {mark!r} for {name!r}')}(%s)"
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"metadata {name!r} is {value!r}; MySQL/MariaDB cannot store NaN or infinity")
            columns.append(f"`{name}`")
            marks.append(mark)
            values.append(value)
        return ", ".join(columns), ", ".join(marks), values

    def _id(self, codename: str) -> int:
        try:
            return self.measurement_ids[codename]
        except KeyError:
            raise ValueError(f"no measurement {codename!r}: add it first with add_measurement "
                             f"(known: {', '.join(self.measurement_ids) or 'none'})") from None

    def _connection(self):
        if self._conn is None:
            self._conn = self.settings.connect()
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                conn._force_close()

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            for attempt in range(2):
                try:
                    conn = self._connection()
                    with conn.cursor() as cursor:
                        cursor.execute(sql, args)
                        rows = list(cursor.fetchall())
                    conn.commit()
                    return rows
                except Exception as exc:
                    self._drop()
                    if attempt or not is_connection_error(exc):
                        raise
        raise AssertionError("unreachable")

    def _insert_measurement(self, sql: str, values: list[Any], points: list[tuple[float, float]]) -> int:
        """One transaction: the measurement row (and ``points``); retried on a broken link, exactly once."""
        q = schema.quote(self.measurements_table)
        xy_sql = f"INSERT INTO {schema.quote(self.xy_values_table)} (measurement, x, y) VALUES (%s, %s, %s)"
        last: BaseException | None = None
        unanswered = 0  # id of a transaction whose COMMIT got no answer: checked before trying again
        with self._lock:
            for attempt in range(4):
                if attempt:
                    time.sleep(0.5 * attempt)
                try:
                    conn = self._connection()
                    with conn.cursor() as cursor:
                        if unanswered:  # the lost-COMMIT check the continuous writers use
                            if row_stored(conn, f"SELECT id FROM {q} WHERE id = %s", unanswered):
                                return unanswered
                            unanswered = 0
                        cursor.execute(sql, values)
                        new_id = cursor.lastrowid
                        if points:
                            cursor.executemany(xy_sql, [(new_id, x, y) for x, y in points])
                except Exception as exc:
                    self._drop()
                    if errno(exc) == 1054:
                        raise ValueError(f"{self.measurements_table}: {exc.args[1]}") from exc
                    if not is_connection_error(exc):
                        raise
                    last = exc
                    continue
                try:
                    conn.commit()
                    return new_id
                except Exception as exc:
                    self._drop()
                    if not is_connection_error(exc):
                        raise
                    last, unanswered = exc, new_id
        state = f"it may have been stored as id {unanswered}" if unanswered else "nothing was stored"
        raise MySQLUnavailable(f"could not store the measurement in {self.measurements_table} "
                               f"({self.settings.describe()}; {state}): {last}")
