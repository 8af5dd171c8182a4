"""The ``sqlite`` writer: PyExpLabSys's continuous-table layout in an SQLite file.

The same tables as the MySQL writer, so the same queries work on both::

    dateplots_descriptions(id, codename UNIQUE, description)
    dateplots_<setup>(id, time, type -> descriptions.id, value, UNIQUE(type, time))

``time`` is UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (what a MySQL ``DATETIME(6)``
shows; sub-microsecond digits are cut, as MySQL/MariaDB cut PyExpLabSys's
``FROM_UNIXTIME``), so ordering and range queries read the same. A retried batch never
duplicates a point (``INSERT OR IGNORE`` on the unique key). Unknown codenames
are registered on first sight (``register_codenames = false`` to refuse them:
their samples are then set aside, never retried, so the rest flows on).
Samples with an error are not rows (there is no column for it): they are
counted and skipped. A variable's ``description`` fills the descriptions row when
the codename is registered, or when its description is still empty (an existing
description is never overwritten). PyExpLabSys's table has no unit column, so
units are not stored. Booleans are stored as 1/0; other values that are not finite numbers are set aside.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from ..contracts import Writer
from ..errors import RejectedSamples
from ..model import Sample
from ..spool import is_finite_number
from . import check_file_target

log = logging.getLogger(__name__)
#: Rows per multi-row INSERT (750 parameters: under SQLite's limit of 999 in any version)
STATEMENT_ROWS = 250
SETUP_NAME = re.compile(r"^[A-Za-z0-9_]{1,48}$")


def split_time(t: float) -> tuple[int, int]:
    """Unix time -> ``(whole seconds, microseconds)``, truncated as MySQL/MariaDB truncate
    ``FROM_UNIXTIME(t)`` of the double PyExpLabSys sends: the exact binary value of ``t`` is cut
    at the microsecond, never rounded (``repr(t)``'s digits may round up: 0.603318 is 0.60331797…)."""
    numerator, denominator = float(t).as_integer_ratio()
    return divmod(numerator * 1_000_000 // denominator, 1_000_000)


@functools.lru_cache(maxsize=4096)
def _second(whole: int) -> str:
    return dt.datetime.fromtimestamp(whole, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def sql_time(t: float) -> str:
    """``t`` as UTC text to the microsecond, truncated like PyExpLabSys's rows (see ``split_time``).

    The seconds' text is cached: a collector writes many samples in the same second.
    """
    s, us = split_time(t)
    return f"{_second(s)}.{us:06d}"


class SqliteWriter(Writer):
    """Stores samples in an SQLite file, in the MySQL writer's tables (dateplots_descriptions, dateplots_<setup>)."""

    def __init__(self, path: Annotated[str | os.PathLike, "SQLite database file (made if missing)"] = "lab.sqlite",
                 setup: Annotated[str, "table name suffix: values go to dateplots_<setup>"] = "lab",
                 register_codenames: Annotated[bool, "give unknown codenames an id (false: set them aside)"] = True):
        if not SETUP_NAME.match(setup):
            raise ValueError(f"setup {setup!r} must be 1-48 letters, digits or underscores (it names a table)")
        self.path, self.setup = Path(path), setup
        self.table = f"dateplots_{setup}"
        self.register_codenames = register_codenames
        self.skipped_errors = 0
        self._db: sqlite3.Connection | None = None
        columns = f"INSERT OR IGNORE INTO {self.table} (type, time, value) VALUES "
        self._insert_one, self._insert_many = columns + "(?, ?, ?)", columns + ",".join(["(?, ?, ?)"] * STATEMENT_ROWS)
        self._ids: dict[str, int] = {}
        self._descriptions: dict[str, str] = {}  # codename -> description from the contexts

    def check_context(self, context) -> None:
        self._descriptions.update({v.codename: v.description for v in context.variables if v.description})
        if self._db is not None:
            self._describe()

    def check(self) -> None:
        """The file can be made, or is an SQLite database this process can write."""
        check_file_target(self.path, "lab.sqlite")
        if not self.path.exists():
            return
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None, timeout=0)
            try:
                db.execute("BEGIN IMMEDIATE")  # takes the write lock: fails on a read-only or foreign file
                db.execute("ROLLBACK")
            finally:
                db.close()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return  # another process writes now: open() waits its turn
            raise ValueError(f"path {self.path} cannot be written ({exc}); fix its permissions "
                             f"or choose another path") from None
        except sqlite3.Error as exc:
            raise ValueError(f"path {self.path} is not an SQLite database this process can write ({exc}); "
                             f"move it away or choose another path") from None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30)  # self._db once the tables exist:
        db.execute("PRAGMA journal_mode=WAL")                                # check_context may run meanwhile
        # 16 MiB of page cache (default 2): each batch touches one leaf of the (type, time) index per
        # codename; past a few hundred codenames those no longer fit. Durability is unchanged.
        db.execute("PRAGMA cache_size=-16384")
        db.executescript(f"""
            CREATE TABLE IF NOT EXISTS dateplots_descriptions (
                id INTEGER PRIMARY KEY, codename TEXT NOT NULL UNIQUE, description TEXT);
            CREATE TABLE IF NOT EXISTS {self.table} (
                id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
                type INTEGER NOT NULL, value REAL, UNIQUE (type, time));
            CREATE INDEX IF NOT EXISTS {self.table}_time ON {self.table} (time);
        """)
        self._ids = dict(db.execute("SELECT codename, id FROM dateplots_descriptions"))
        self._db = db
        self._describe()

    def _describe(self) -> None:
        """Fill empty descriptions of known codenames (another thread may call: a short own connection)."""
        if not self._descriptions:
            return
        with sqlite3.connect(self.path, isolation_level=None, timeout=30) as db:
            db.executemany("UPDATE dateplots_descriptions SET description = ? WHERE codename = ? "
                           "AND (description IS NULL OR description = '')",
                           [(d, c) for c, d in self._descriptions.items()])
        db.close()

    def _register(self, codenames: Sequence[str]) -> None:
        """Give new codenames an id, all in one transaction (one sync to disk, not one each)."""
        new = [c for c in dict.fromkeys(codenames) if c not in self._ids]
        if not new:
            return
        ids = {}
        self._db.execute("BEGIN")
        try:
            for codename in new:
                cursor = self._db.execute("INSERT INTO dateplots_descriptions (codename, description) VALUES (?, ?)",
                                          (codename, self._descriptions.get(codename)))
                ids[codename] = cursor.lastrowid
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._ids.update(ids)

    def write(self, batch: Sequence[Sample]) -> None:
        rows = self._plain_rows(batch)
        if rows is None:
            rows = self._checked_rows(batch)
        rows.sort()  # (type, time): the unique index's order, fewer B-tree pages touched per batch
        self._db.execute("BEGIN")
        try:
            self._insert(rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _insert(self, rows: list[tuple[int, str, float]]) -> None:
        """``STATEMENT_ROWS`` rows per INSERT (one SQLite step: the GIL is released once for them all,
        where ``executemany`` drops and takes it per row, against the reader threads), the rest by
        ``executemany``."""
        whole = len(rows) - len(rows) % STATEMENT_ROWS
        for start in range(0, whole, STATEMENT_ROWS):
            self._db.execute(self._insert_many, [v for row in rows[start:start + STATEMENT_ROWS] for v in row])
        if whole < len(rows):
            self._db.executemany(self._insert_one, rows[whole:])

    def _plain_rows(self, batch: Sequence[Sample]) -> list[tuple[int, str, float]] | None:
        """Rows of the common batch (finite floats, known codenames, no errors); None if it is not one."""
        ids = self._ids
        rows = []
        append = rows.append
        last_t, text = None, ""
        for s in batch:
            value = s.value
            if s.error is not None or type(value) is not float or value - value != 0.0:
                return None
            type_id = ids.get(s.codename)
            if type_id is None:
                return None
            if s.time != last_t:  # points read together share their time: its text is made once
                last_t = s.time
                text = sql_time(last_t)
            append((type_id, text, value))
        return rows

    def _checked_rows(self, batch: Sequence[Sample]) -> list[tuple[int, str, float]]:
        """Rows of any batch: error samples skipped, new codenames registered (or refused), bad values refused."""
        bad = [s for s in batch if s.error is None and not (is_finite_number(s.value) or isinstance(s.value, bool))]
        if bad:
            raise RejectedSamples(bad, "value is not a finite number (the value column is a double)")
        if not self.register_codenames:
            self._refuse_unknown(batch)
        values = [s for s in batch if s.error is None]
        self.skipped_errors += len(batch) - len(values)
        self._register([s.codename for s in values])
        ids = self._ids
        return [(ids[s.codename], sql_time(s.time), float(s.value)) for s in values]

    def _refuse_unknown(self, batch: Sequence[Sample]) -> None:
        unknown = [s for s in batch if s.error is None and s.codename not in self._ids]
        if unknown:  # someone may have registered them meanwhile: look once more before refusing
            self._ids = dict(self._db.execute("SELECT codename, id FROM dateplots_descriptions"))
            unknown = [s for s in unknown if s.codename not in self._ids]
        if unknown:
            names = ", ".join(sorted({s.codename for s in unknown}))
            raise RejectedSamples(unknown, f"codename(s) {names} not in dateplots_descriptions of {self.path} "
                                           "(register_codenames = false)")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
