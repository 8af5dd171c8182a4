"""Exactly-once batched inserts: the part the continuous writer and the data-set writer share.

A batch is one multi-row ``INSERT`` (several only past ``MAX_STATEMENT``
characters, as PyMySQL's ``executemany`` splits) and one ``COMMIT``. The
statement is built here rather than by ``executemany``: the same literals,
but ints and floats are written without PyMySQL's per-value dispatch, and a
writer may hand its rows' text ready-made (``send(…, texts)``). Anything else
is escaped by PyMySQL itself (``Connection.escape``). What can go wrong, and
what happens:

* the connection breaks before ``COMMIT`` was sent: the server rolls the
  transaction back; the batch is simply sent again later;
* ``COMMIT`` was sent but no answer came: the batch may or may not be stored.
  With a unique key that makes a resend harmless (``keyed``), it is sent
  again. Otherwise the row that got the statement's AUTO_INCREMENT id is looked
  up (at once on a new connection, else before anything else is sent): found
  and equal to one of the batch's rows means the batch is stored and is not
  sent again;
* the server refuses a row for its data: the rows are tried one by one in a
  transaction that is rolled back, and those refused are raised as
  ``RejectedSamples`` (set aside by the core) so the rest can go.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import re
import socket
from collections.abc import Callable, Container, Hashable, Sequence
from typing import Any

from lab_core import RejectedSamples, Sample

from .connection import ConnectionSettings, is_connection_error, is_data_error

log = logging.getLogger(__name__)

Row = tuple[Any, ...]

#: Longest INSERT text sent at once (PyMySQL's ``executemany`` limit; servers accept at least 4 MB).
MAX_STATEMENT = 1_024_000
_VALUES = re.compile(r"^(.+?\bVALUES\s*)\(\s*%s(?:\s*,\s*%s)*\s*\)(.*)$", re.IGNORECASE | re.DOTALL)


def split_insert(sql: str) -> tuple[str, str]:
    """``INSERT … VALUES (%s, …) [tail]`` -> (``INSERT … VALUES ``, `` [tail]``), to put row texts between."""
    match = _VALUES.match(sql)
    if match is None:
        raise ValueError(f"insert_sql must be INSERT ... VALUES (%s, ...) [...], got {sql!r}")
    return match.group(1), match.group(2)


def float_literal(value: float) -> str:
    """A float as PyMySQL writes it (``escape_float``): its repr, with ``e0`` so the server reads a double."""
    text = repr(value)
    if "e" in text:
        return text
    if value - value != 0.0:  # NaN, ±inf: refused as PyMySQL refuses them
        import pymysql

        raise pymysql.err.ProgrammingError(f"{text} can not be used with MySQL")
    return text + "e0"


def row_literal(row: Sequence[Any], escape: Callable[[Any], str]) -> str:
    """``(v1,v2,…)``: the literals ``cursor.mogrify("(%s, …)", row)`` writes (``escape``: the connection's)."""
    parts = []
    for value in row:
        kind = type(value)
        if kind is float:
            parts.append(float_literal(value))
        elif kind is int:  # not bool (PyMySQL writes True as 1 too, via its own encoder)
            parts.append(str(value))
        else:
            parts.append(escape(value))
    return f"({','.join(parts)})"


def insert_statements(head: str, tail: str, texts: Sequence[str], limit: int = MAX_STATEMENT) -> list[str]:
    """``head`` + row texts joined by commas + ``tail``, in as few statements as stay within ``limit``."""
    whole = f"{head}{','.join(texts)}{tail}"
    if len(whole) <= limit and whole.isascii():  # the common case: one statement, no per-row count
        return [whole]
    statements, start, size = [], 0, len(head) + len(tail)
    for i, text in enumerate(texts):
        length = len(text) if text.isascii() else len(text.encode())
        if size + length + 1 > limit and i > start:
            statements.append(f"{head}{','.join(texts[start:i])}{tail}")
            start, size = i, len(head) + len(tail)
        size += length + 1
    statements.append(f"{head}{','.join(texts[start:])}{tail}")
    return statements


def row_stored(conn, check_sql: str, row_id: int, expected: Container[Hashable] | None = None,
               shape: Callable[[Sequence[Any]], Hashable] = tuple) -> bool:
    """The lost-COMMIT check: is the row that got AUTO_INCREMENT id ``row_id`` stored (and, unless
    ``expected`` is None, equal to one of ``expected`` once read back by ``check_sql`` and ``shape``d)?"""
    with conn.cursor() as cursor:
        cursor.execute(check_sql, (row_id,))
        found = cursor.fetchone()
    conn.commit()
    return found is not None and (expected is None or shape(found) in expected)


class _Uncertain:
    """A batch whose COMMIT got no answer: the id its last statement's first row got, and its rows."""

    def __init__(self, last_id: int, rows: list[Row], samples: list[Sample]):
        self.last_id, self.rows, self.samples = last_id, set(rows), samples


class BatchInserter:
    """Connection handling and exactly-once batch inserts; subclasses set the SQL and row shapes."""

    settings: ConnectionSettings
    #: ``INSERT INTO t (…) VALUES (%s, …) [ON DUPLICATE KEY …]``: the row texts go in place of ``(%s, …)``
    insert_sql: str = ""
    #: ``SELECT <the inserted columns> FROM t WHERE id = %s`` or "" when there is no AUTO_INCREMENT id
    check_sql: str = ""
    #: True when a unique key makes sending a stored row again harmless
    keyed: bool = False
    label: str = "mysql"

    def __init__(self) -> None:
        self._conn = None
        self._uncertain: _Uncertain | None = None

    # -- connection --------------------------------------------------------------------

    def _connection(self):
        if self._conn is None:
            self._conn = self.settings.connect()
        return self._conn

    def _drop_connection(self, exc: BaseException | None = None) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if exc is not None:
            log.debug("%s: dropping the connection after %s: %s", self.label, type(exc).__name__, exc)
        try:
            conn.close()
        except Exception:  # already broken: make sure the socket is released
            with contextlib.suppress(Exception):
                conn._force_close()

    def interrupt(self) -> None:
        """Break a call blocked on the network (from another thread): it fails at once and is retried."""
        sock = getattr(self._conn, "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- hooks ---------------------------------------------------------------------------------

    def stored_row(self, found: Sequence[Any]) -> Hashable:
        """A row read back by ``check_sql``, in the shape of the rows given to ``send``."""
        return tuple(found)

    # -- sending ------------------------------------------------------------------------------

    def send(self, rows: list[Row], samples: list[Sample], texts: list[str] | None = None) -> None:
        """Store ``rows`` (made from ``samples``, one each) in one transaction, exactly once, or raise.

        ``texts``, if given, are the rows as SQL, one each (what ``row_literal`` makes of them).
        """
        if not rows:
            return
        conn = self._connection()
        if self._uncertain is not None:
            left, samples = self._resolve(conn, rows, samples)
            if len(left) != len(rows):
                texts = None  # some were stored: the texts no longer match
            rows = left
            if not rows:
                return
        if texts is None:
            texts = [row_literal(row, conn.escape) for row in rows]
        head, tail = split_insert(self.insert_sql)
        cursor = conn.cursor()
        try:
            for statement in insert_statements(head, tail, texts):
                cursor.execute(statement)
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
            if self.keyed or not (self.check_sql and last_id):
                raise  # sending again is harmless (unique key) or cannot be checked (no id)
            self._uncertain = _Uncertain(last_id, rows, samples)
            log.warning("%s: COMMIT of %d row(s) got no answer (%s); checking whether they were stored",
                        self.label, len(rows), exc)
            try:
                left, _ = self._resolve(self._connection(), rows, samples)
            except Exception as again:
                self._drop_connection(again)
                raise exc from None  # checked before the next send
            if left:
                raise

    def _resolve(self, conn, rows: list[Row], samples: list[Sample]) -> tuple[list[Row], list[Sample]]:
        """After a lost COMMIT: was that batch stored? Return what of ``rows`` still has to be sent."""
        uncertain = self._uncertain
        try:
            stored = row_stored(conn, self.check_sql, uncertain.last_id, uncertain.rows, self.stored_row)
        except Exception as exc:
            self._drop_connection(exc)
            raise
        self._uncertain = None
        if not stored:
            log.info("%s: the unanswered batch was not stored; sending it again", self.label)
            return rows, samples
        log.info("%s: the unanswered batch of %d row(s) was stored; not sending it again",
                 self.label, len(uncertain.samples))
        done = collections.Counter(uncertain.samples)
        keep_rows, keep_samples = [], []
        for row, sample in zip(rows, samples, strict=True):
            if done[sample] > 0:
                done[sample] -= 1
                continue
            keep_rows.append(row)
            keep_samples.append(sample)
        return keep_rows, keep_samples

    def _find_refused(self, conn, rows: list[Row], samples: list[Sample], exc: BaseException) -> None:
        """The server refused the batch for its data: try the rows one by one, reject those it refuses."""
        refused: list[Sample] = []
        try:
            conn.rollback()
            with conn.cursor() as cursor:
                for row, sample in zip(rows, samples, strict=True):
                    try:
                        cursor.execute(self.insert_sql, row)
                    except Exception as row_exc:
                        if not is_data_error(row_exc):
                            raise
                        refused.append(sample)
            conn.rollback()
        except Exception as other:
            if is_connection_error(other):
                return  # the caller drops the connection; the batch is sent again later
            raise
        if refused:
            raise RejectedSamples(refused, f"the server refused the row(s): {exc}") from exc
