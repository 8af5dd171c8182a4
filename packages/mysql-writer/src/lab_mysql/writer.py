"""The ``mysql`` writer: PyExpLabSys "new style" continuous tables in MySQL/MariaDB.

One batch is one multi-row ``INSERT`` (PyMySQL's ``executemany`` rewrites the
plain ``VALUES (%s, %s, %s)`` into one statement) and one ``COMMIT``. The
guarantees the core's delivery worker builds on:

* ``write`` hands the whole batch off or raises; a connection lost at any
  point is re-made on the next ``write`` (the delivery worker waits with a
  capped backoff in between).
* No duplicates on retry. On a table with a unique key on ``(type, time)``
  (every table ``lab mysql init`` makes) the insert is ``ON DUPLICATE KEY
  UPDATE`` a no-op, so a batch sent twice stores each point once. On a
  PyExpLabSys table without that key, a batch whose ``COMMIT`` got no answer
  is looked up by the id the server gave its rows before anything is sent
  again (see the README for the one window that remains: the process dying
  between the server's commit and the spool's acknowledgement).
* Samples that can never be stored (NaN/inf, text, times out of the column's
  range, unknown codenames, rows the server refuses for their data) are
  raised as ``RejectedSamples`` so the core sets them aside and the rest flows.
* Samples that carry an ``error`` are not rows (there is no column for it):
  they are counted in ``skipped_errors`` and skipped, as the sqlite writer does.
"""

from __future__ import annotations

import collections
import logging
import math
import numbers
import socket
from collections.abc import Sequence
from typing import Any

from lab_core import RejectedSamples, Sample, Writer

from . import schema
from .connection import ConnectionSettings, is_connection_error, is_data_error
from .errors import MySQLSetupError, UnknownCodenames

log = logging.getLogger(__name__)

Row = tuple[int, str, float]


class _Uncertain:
    """A batch whose COMMIT got no answer: its first row id and its rows, to look up later."""

    def __init__(self, last_id: int, rows: list[Row], samples: list[Sample]):
        self.last_id, self.rows, self.samples = last_id, set(rows), samples


class MySQLWriter(Writer):
    """Writes samples to ``dateplots_<setup>`` (or ``table``) through the descriptions table's ids.

    Options (all keyword): ``database``, ``user``, ``password`` (or ``password_env``),
    ``host``, ``port``, ``unix_socket``, ``setup`` or ``table``, ``codenames`` (checked
    when the writer opens: an unknown one is an error naming it),
    ``register_codenames`` (give unknown codenames an id instead of refusing them),
    ``create_tables`` (``CREATE TABLE IF NOT EXISTS`` on open), ``time_type``
    (for created tables), ``descriptions_table``, ``connect_timeout``,
    ``read_timeout``, ``write_timeout``, ``max_batch`` and the TLS options
    ``ssl_ca``, ``ssl_cert``, ``ssl_key``, ``ssl_key_password``, ``ssl_verify_cert``,
    ``ssl_verify_identity``, ``ssl_disabled`` (passed to PyMySQL as they are).
    """

    max_batch = 5000

    def __init__(self, *, database: str, user: str | None = None, password: str | None = None,
                 setup: str | None = None, table: str | None = None, codenames: Sequence[str] = (),
                 register_codenames: bool = False, create_tables: bool = False, time_type: str = "timestamp",
                 descriptions_table: str = schema.DESCRIPTIONS, max_batch: int | None = None,
                 **connection: Any):
        if table is None and setup is None:
            raise ValueError("give the setup (writes dateplots_<setup>) or the table to write to")
        if table is None:
            table = schema.continuous_table(setup)
        self.table = schema.check_identifier(table)
        self.setup = setup if setup is not None else table.removeprefix("dateplots_")
        self.descriptions_table = schema.check_identifier(descriptions_table)
        if isinstance(codenames, str):
            codenames = [codenames]
        self.codenames = tuple(codenames)
        self.register_codenames = bool(register_codenames)
        self.create_tables = bool(create_tables)
        if time_type not in schema.TIME_TYPES:
            raise ValueError(f"time_type {time_type!r} is unknown; use one of {', '.join(schema.TIME_TYPES)}")
        self.time_type = time_type
        if max_batch is not None:
            if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
                raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
            self.max_batch = max_batch
        self.settings = ConnectionSettings.from_options(database=database, user=user, password=password,
                                                        **connection)
        self.skipped_errors = 0
        self.info: schema.ContinuousTable | None = None
        self._ids: dict[str, int] = {}
        self._ambiguous: set[str] = set()
        self._conn = None
        self._sql = ""
        self._format = schema.TimeFormatter(6)
        self._range = schema.TIME_RANGE["timestamp"]
        self._uncertain: _Uncertain | None = None

    def __repr__(self) -> str:
        return f"MySQLWriter({self.settings.describe()}, table={self.table})"

    # -- life cycle -----------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.info is not None

    def open(self) -> None:
        """Connect, check the table and translate the codenames (once). Calling it again is harmless."""
        if self.info is not None:
            return
        conn = self._connection()
        try:
            with conn.cursor() as cursor:
                if self.create_tables:
                    cursor.execute(schema.descriptions_ddl(self.descriptions_table))
                    cursor.execute(schema.continuous_ddl(self.table, self.time_type))
                info = schema.inspect_continuous(cursor, self.table)
                ids, ambiguous = schema.load_codenames(cursor, self.descriptions_table)
            conn.commit()
            self._ids, self._ambiguous = ids, ambiguous
            missing = [c for c in self.codenames if c not in ids]
            if missing and self.register_codenames:
                for codename in missing:
                    self._register(codename)
                missing = [c for c in missing if c not in self._ids]
            if missing:
                raise UnknownCodenames([c for c in missing if c not in ambiguous], self.descriptions_table,
                                       self.setup, [c for c in missing if c in ambiguous])
        except Exception as exc:
            self._drop_connection(exc)
            raise
        self._use(info)
        log.info("mysql writer open: %s, %s, %d codename(s) known", self.settings.describe(), info,
                 len(self._ids))

    def _use(self, info: schema.ContinuousTable) -> None:
        q = schema.quote(self.table)
        sql = f"INSERT INTO {q} (type, time, value) VALUES (%s, %s, %s)"
        if info.unique:
            sql += " ON DUPLICATE KEY UPDATE type = type"
        self._sql = sql
        self._format = schema.TimeFormatter(info.precision)
        self._range = schema.TIME_RANGE[info.time_type]
        self.info = info

    def close(self) -> None:
        self._drop_connection()
        self.info = None

    def interrupt(self) -> None:
        """Break a call blocked on the network (from another thread): it fails at once and is retried."""
        conn = self._conn
        sock = getattr(conn, "_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- connection -------------------------------------------------------------------

    def _connection(self):
        if self._conn is None:
            self._conn = self.settings.connect()
        return self._conn

    def _drop_connection(self, exc: BaseException | None = None) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if exc is not None:
            log.debug("mysql writer: dropping the connection after %s: %s", type(exc).__name__, exc)
        try:
            conn.close()
        except Exception:  # already broken; the socket is released either way
            try:
                conn._force_close()
            except Exception:
                pass

    def _register(self, codename: str) -> None:
        new_id, created = schema.register_codename(self._connection(), codename, table=self.descriptions_table)
        self._ids[codename] = new_id
        if created:
            log.info("registered codename %r as id %d in %s", codename, new_id, self.descriptions_table)

    # -- writing ----------------------------------------------------------------------------

    def write(self, batch: Sequence[Sample]) -> None:
        if self.info is None:
            self.open()
        rows, samples = self._rows(batch)
        if not rows:
            return
        conn = self._connection()
        if self._uncertain is not None:
            rows, samples = self._resolve(conn, rows, samples)
            if not rows:
                return
        self._insert(conn, rows, samples)

    def _rows(self, batch: Sequence[Sample], looked_again: bool = False) -> tuple[list[Row], list[Sample]]:
        """Rows to insert and their samples, or ``RejectedSamples`` for those that can never be rows."""
        ids, fmt = self._ids, self._format
        low, high = self._range
        rows: list[Row] = []
        samples: list[Sample] = []
        bad: dict[str, list[Sample]] = {}
        unknown: list[Sample] = []
        for s in batch:
            if s.error is not None:
                self.skipped_errors += 1
                continue
            value = s.value
            if type(value) is not float:
                value = _number(value)
                if value is None:
                    bad.setdefault("value is not a number (the value column is a double)", []).append(s)
                    continue
            if value - value != 0.0:  # NaN or ±inf
                bad.setdefault("value is NaN or infinite (MySQL/MariaDB refuse it)", []).append(s)
                continue
            type_id = ids.get(s.codename)
            if type_id is None:
                unknown.append(s)
                continue
            t = s.time
            if not low <= t < high:
                bad.setdefault(f"time {t!r} is outside what {self.table}.time ({self.info.time_type}) can hold",
                               []).append(s)
                continue
            rows.append((type_id, fmt(t), value))
            samples.append(s)
        if unknown:
            if not looked_again:
                self._look_again(unknown)
                return self._rows(batch, looked_again=True)
            bad[str(self._unknown_error(unknown))] = unknown
        if bad:
            refused = [s for group in bad.values() for s in group]
            raise RejectedSamples(refused, "; ".join(f"{reason} ({len(group)})" for reason, group in bad.items()))
        return rows, samples

    def _look_again(self, samples: list[Sample]) -> None:
        """Codenames without an id: register them, or read the descriptions again (someone may have)."""
        names = list(dict.fromkeys(s.codename for s in samples))
        conn = self._connection()
        try:
            if self.register_codenames:
                for name in names:
                    if name not in self._ambiguous:
                        self._register(name)
            else:
                with conn.cursor() as cursor:
                    ids, ambiguous = schema.load_codenames(cursor, self.descriptions_table)
                conn.commit()
                self._ids.update(ids)
                self._ambiguous = ambiguous
        except Exception as exc:
            self._drop_connection(exc)
            raise

    def _unknown_error(self, samples: list[Sample]) -> UnknownCodenames:
        names = list(dict.fromkeys(s.codename for s in samples))
        return UnknownCodenames([n for n in names if n not in self._ambiguous], self.descriptions_table,
                                self.setup, [n for n in names if n in self._ambiguous])

    def _insert(self, conn, rows: list[Row], samples: list[Sample]) -> None:
        cursor = conn.cursor()
        try:
            cursor.executemany(self._sql, rows)
            last_id = cursor.lastrowid or 0
        except Exception as exc:
            if is_data_error(exc):
                self._find_refused(conn, rows, samples, exc)
            self._drop_connection(exc)
            raise
        try:
            conn.commit()
        except Exception as exc:
            self._drop_connection(exc)
            if self.info.unique or not (self.info.auto_id and last_id):
                raise  # a retry is harmless (unique key) or cannot be checked (no id)
            self._uncertain = _Uncertain(last_id, rows, samples)
            log.warning("mysql writer: COMMIT of %d row(s) got no answer (%s); checking before a retry",
                        len(rows), exc)
            try:
                rows, samples = self._resolve(self._connection(), rows, samples)
            except Exception as again:
                self._drop_connection(again)
                raise exc from None
            if rows:
                raise  # not stored: the delivery worker sends the batch again

    def _resolve(self, conn, rows: list[Row], samples: list[Sample]) -> tuple[list[Row], list[Sample]]:
        """After a lost COMMIT: did the batch get stored? Return what of ``rows`` still has to be sent."""
        uncertain = self._uncertain
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"SELECT type, time, value FROM {schema.quote(self.table)} WHERE id = %s",
                               (uncertain.last_id,))
                found = cursor.fetchone()
            conn.commit()
        except Exception as exc:
            self._drop_connection(exc)
            raise
        self._uncertain = None
        stored = found is not None and (found[0], self._format.of_datetime(found[1]), found[2]) in uncertain.rows
        if not stored:
            log.info("mysql writer: the unanswered batch was not stored; sending it again")
            return rows, samples
        log.info("mysql writer: the unanswered batch of %d row(s) was stored; not sending it again",
                 len(uncertain.samples))
        done = collections.Counter(uncertain.samples)
        keep_rows, keep_samples = [], []
        for row, sample in zip(rows, samples):
            if done[sample] > 0:
                done[sample] -= 1
                continue
            keep_rows.append(row)
            keep_samples.append(sample)
        return keep_rows, keep_samples

    def _find_refused(self, conn, rows: list[Row], samples: list[Sample], exc: BaseException) -> None:
        """The server refused the batch for its data: find the rows it refuses, one by one, and reject them."""
        refused: list[Sample] = []
        try:
            conn.rollback()
            single = self._sql
            with conn.cursor() as cursor:
                for row, sample in zip(rows, samples):
                    try:
                        cursor.execute(single, row)
                    except Exception as row_exc:
                        if not is_data_error(row_exc):
                            raise
                        refused.append(sample)
            conn.rollback()
        except Exception as other:
            if is_connection_error(other):
                return  # the caller drops the connection and the batch is retried
            raise
        if refused:
            raise RejectedSamples(refused, f"the server refused the row(s): {exc}") from exc

    # -- helpers for tools and tests -------------------------------------------------------

    def codename_ids(self) -> dict[str, int]:
        return dict(self._ids)


def _number(value: object) -> float | None:
    """``value`` as a float when it is a real number (bools are 0/1, numpy scalars welcome), else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except (OverflowError, ValueError, TypeError):
            return math.inf  # an int too large for a double: refused as not finite
    return None


__all__ = ["MySQLSetupError", "MySQLWriter", "UnknownCodenames"]
