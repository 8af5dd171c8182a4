"""Read back what the ``sqlite`` writer stored: ``dateplots_<setup>`` (``dateplots_lab`` by default).

Opened read-only, in autocommit, so a collector can write the file meanwhile and every
query (``--follow``) sees what it committed.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..writers.sqlite import sql_time
from . import (
    DESCRIPTIONS,
    Point,
    Store,
    StoreError,
    choose_table,
    continuous_tables,
    data_table,
    point_query,
    quote_sqlite,
)

MAGIC = b"SQLite format 3\x00"
#: What the sqlite writer writes when its configuration names no table.
DEFAULT_TABLE = "dateplots_lab"
NOTE = 'the sqlite writer writes dateplots_<setup>; its default is setup = "lab": dateplots_lab'


class SqliteStore(Store):
    def __init__(self, path: str | Path, table: str | None = None):
        self.path, self.wanted = Path(path), table
        self.table: str | None = None
        self._db: sqlite3.Connection | None = None

    @classmethod
    def from_writer(cls, writer) -> SqliteStore:
        return cls(writer.path, writer.table)

    @classmethod
    def from_address(cls, address: str, *, setup: str | None = None, table: str | None = None) -> SqliteStore:
        return cls(address, data_table(setup, table))

    @classmethod
    def opens_path(cls, path: Path) -> bool:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC

    def describe(self) -> str:
        return str(self.path)

    def open(self, table: bool = True) -> None:
        if not self.path.is_file():
            raise StoreError(f"no file {self.path}: the sqlite writer makes it when it first writes "
                             f"(has the collector run yet?)")
        try:
            self._db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None,
                                       timeout=30)
            names = [n for (n,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path} cannot be read as an SQLite database ({exc})") from None
        if DESCRIPTIONS not in names:
            raise StoreError(f"{self.path} has no table {DESCRIPTIONS}: it was not written by the sqlite writer")
        if not table:
            return
        tables = continuous_tables(names)
        if self.wanted in names and self.wanted not in tables:
            tables.append(self.wanted)  # a table named outright need not look like dateplots_*
        self.table = choose_table(self.wanted, tables, str(self.path), DEFAULT_TABLE, NOTE)

    def codenames(self) -> list[tuple[int, str, str | None]]:
        return list(self._db.execute(f"SELECT id, codename, description FROM {DESCRIPTIONS} ORDER BY id"))

    def points(self, types: Sequence[int] | None, since: float | None, until: float | None, *,
               newest: int | None = None, after_id: int | None = None,
               upto_id: int | None = None) -> Iterator[Point]:
        bounds = [None if t is None else sql_time(t) for t in (since, until)]  # the column's own text
        sql, params = point_query(quote_sqlite(self.table), "?", types, *bounds, newest=newest, after_id=after_id,
                                  upto_id=upto_id)
        rows = self._db.execute(sql, params)
        if newest is not None:
            rows = reversed(rows.fetchall())
        parse = dt.datetime.fromisoformat
        yield from (Point(row_id, parse(text), type_id, value) for row_id, text, type_id, value in rows)

    def last_id(self) -> int:
        return self._db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {quote_sqlite(self.table)}").fetchone()[0]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
