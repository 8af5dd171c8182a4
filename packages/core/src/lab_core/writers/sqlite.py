"""The ``sqlite`` writer: PyExpLabSys's continuous-table layout in an SQLite file.

The same tables as the MySQL writer, so the same queries work on both::

    dateplots_descriptions(id, codename UNIQUE, description)
    dateplots_<setup>(id, time, type -> descriptions.id, value, UNIQUE(type, time))

``time`` is UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (what a MySQL ``DATETIME(6)``
shows), so ordering and range queries read the same. A retried batch never
duplicates a point (``INSERT OR IGNORE`` on the unique key). Unknown codenames
are registered on first sight (``register_codenames = false`` to refuse them:
their samples are then set aside, never retried, so the rest flows on).
Samples with an error are not rows (there is no column for it): they are
counted and skipped. Booleans are stored as 1/0; other values that are not finite numbers are set aside.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ..contracts import Writer
from ..errors import RejectedSamples
from ..model import Sample
from ..spool import is_finite_number
from . import check_file_target

log = logging.getLogger(__name__)
SETUP_NAME = re.compile(r"^[A-Za-z0-9_]{1,48}$")


def sql_time(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteWriter(Writer):
    def __init__(self, path: str | os.PathLike = "lab.sqlite", setup: str = "lab", register_codenames: bool = True):
        if not SETUP_NAME.match(setup):
            raise ValueError(f"setup {setup!r} must be 1-48 letters, digits or underscores (it names a table)")
        self.path, self.setup = Path(path), setup
        self.table = f"dateplots_{setup}"
        self.register_codenames = register_codenames
        self.skipped_errors = 0
        self._db: sqlite3.Connection | None = None
        self._ids: dict[str, int] = {}

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
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(f"""
            CREATE TABLE IF NOT EXISTS dateplots_descriptions (
                id INTEGER PRIMARY KEY, codename TEXT NOT NULL UNIQUE, description TEXT);
            CREATE TABLE IF NOT EXISTS {self.table} (
                id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
                type INTEGER NOT NULL, value REAL, UNIQUE (type, time));
            CREATE INDEX IF NOT EXISTS {self.table}_time ON {self.table} (time);
        """)
        self._ids = dict(self._db.execute("SELECT codename, id FROM dateplots_descriptions"))

    def _id(self, codename: str) -> int:
        if codename not in self._ids:
            cursor = self._db.execute("INSERT INTO dateplots_descriptions (codename) VALUES (?)", (codename,))
            self._ids[codename] = cursor.lastrowid
        return self._ids[codename]

    def write(self, batch: Sequence[Sample]) -> None:
        bad = [s for s in batch if s.error is None and not (is_finite_number(s.value) or isinstance(s.value, bool))]
        if bad:
            raise RejectedSamples(bad, "value is not a finite number (the value column is a double)")
        if not self.register_codenames:
            self._refuse_unknown(batch)
        rows = []
        for s in batch:
            if s.error is not None:
                self.skipped_errors += 1
                continue
            rows.append((sql_time(s.time), self._id(s.codename), float(s.value)))
        self._db.execute("BEGIN")
        try:
            self._db.executemany(f"INSERT OR IGNORE INTO {self.table} (time, type, value) VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

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
