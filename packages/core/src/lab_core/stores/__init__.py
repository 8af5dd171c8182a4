"""Reading stored samples back (``lab data``): the contract a writer's distribution implements.

A *store* is what a writer filled, opened for reading. A distribution provides one through
the ``lab_stores`` hook, keyed by the writer plugin whose data it reads::

    @lab_core.hookimpl
    def lab_stores():
        return {"mysql": "lab_mysql.store:MySQLStore"}

``lab data CONFIG`` makes the configured writer (nothing is opened) and asks its store
class for ``from_writer(writer)``; ``lab data STORE`` hands a file path to the classes whose
``opens_path`` says yes, and an address ``SCHEME://…`` to the class whose ``schemes``
has that scheme (``from_address``). Both layouts lab writes, the sqlite writer's and
PyExpLabSys's continuous tables, share the SQL built here (``point_query``): rows
``(id, time, type, value)`` of ``dateplots_<setup>``, codenames in ``dateplots_descriptions``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import LabError

#: The descriptions table (codename -> id) of every continuous layout lab writes.
DESCRIPTIONS = "dateplots_descriptions"
_DATA_TABLE = re.compile(r"^dateplots_[A-Za-z0-9_]{1,48}$")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class StoreError(LabError):
    """The store is there but lacks what was asked (a table, a codename), or cannot be read."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now (a database server down): ``lab data`` exits 1."""


class NoSuchTable(StoreError):
    """The data table asked for (or the default one) is not in the store."""

    def __init__(self, wanted: str | None, where: str, found: Sequence[str], note: str):
        self.wanted, self.found = wanted, list(found)
        tables = ", ".join(self.found) if self.found else "none"
        first = f"no table {wanted} in {where}" if wanted else f"{where} has several data tables"
        super().__init__(f"{first} ({note}); its data tables: {tables}")


class Point(NamedTuple):
    """One stored value: the row's id, its time (naive, UTC), the codename's id, the value."""

    row_id: int
    time: Any  # datetime.datetime, naive UTC
    type: int
    value: float | None


class Store:
    """Reads back what one writer stored. Subclasses implement the methods that raise here."""

    #: URL schemes of addresses this class opens (``("mysql",)`` for ``mysql://…``).
    schemes: tuple[str, ...] = ()

    @classmethod
    def from_writer(cls, writer: Any) -> Store:
        """The store that ``writer`` (made from a configuration, not opened) writes to."""
        raise NotImplementedError

    @classmethod
    def from_address(cls, address: str, *, setup: str | None = None, table: str | None = None) -> Store:
        """The store at ``address`` (a path, or ``SCHEME://…``); ``setup``/``table`` pick the data table."""
        raise NotImplementedError

    @classmethod
    def opens_path(cls, path: Path) -> bool:
        """Whether the existing file ``path`` is a store of this class (look at its first bytes)."""
        return False

    def describe(self) -> str:
        raise NotImplementedError

    def open(self, table: bool = True) -> None:
        """Connect and find the data table (``table=False``: only codenames will be asked for);
        ``NoSuchTable``, ``StoreError`` or ``StoreUnavailable`` if not."""
        raise NotImplementedError

    def codenames(self) -> list[tuple[int, str, str | None]]:
        """``(id, codename, description)`` of every registered codename."""
        raise NotImplementedError

    def points(self, types: Sequence[int] | None, since: float | None, until: float | None, *,
               newest: int | None = None, after_id: int | None = None,
               upto_id: int | None = None) -> Iterator[Point]:
        """Points of codename ids ``types`` (None: all) with ``since <= time < until`` (unix times),
        oldest first; ``newest=N``: the last N of them (still oldest first). ``after_id``/``upto_id``
        bound the row ids (``--follow``). Streams: never holds the whole result in memory."""
        raise NotImplementedError

    def last_id(self) -> int:
        """The highest row id in the data table (0 when empty)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection; harmless when not open."""

    def __enter__(self) -> Store:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- what the continuous layouts share -----------------------------------------------


def data_table(setup: str | None, table: str | None) -> str | None:
    """The data table that ``setup`` (``dateplots_<setup>``) or ``table`` names; None for neither."""
    if setup is not None and table is not None:
        raise StoreError(f"give the setup ({setup}) or the table ({table}), not both")
    name = table if table is not None else (f"dateplots_{setup}" if setup is not None else None)
    if name is not None and not _IDENTIFIER.match(name):
        raise StoreError(f"table name {name!r} must be 1-64 letters, digits or underscores")
    return name


def continuous_tables(names: Sequence[str]) -> list[str]:
    """The names among ``names`` that look like continuous data tables (``dateplots_*`` but descriptions)."""
    return sorted(n for n in names if _DATA_TABLE.match(n) and n != DESCRIPTIONS)


def choose_table(wanted: str | None, tables: Sequence[str], where: str, default: str | None, note: str) -> str:
    """``wanted`` if it is in ``tables``; with none wanted the ``default``, else the only table there is."""
    if wanted is not None:
        if wanted in tables:
            return wanted
        raise NoSuchTable(wanted, where, tables, note)
    if default is not None and default in tables:
        return default
    if len(tables) == 1:
        return tables[0]
    raise NoSuchTable(default, where, tables, note)


def point_query(table_sql: str, mark: str, types: Sequence[int] | None, since: Any, until: Any, *,
                newest: int | None = None, after_id: int | None = None, upto_id: int | None = None,
                time_sql: str = "time", time_params: Sequence[Any] = ()) -> tuple[str, list[Any]]:
    """``SELECT id, time, type, value`` of a continuous table: the SQL (``mark`` is the driver's
    placeholder) and its parameters. ``table_sql`` is the quoted table name; ``since``/``until`` are
    bounds in the column's own terms (text), ``time_sql`` what is selected as the time."""
    where: list[str] = []
    params: list[Any] = list(time_params)
    if types is not None:
        where.append(f"type IN ({', '.join([mark] * len(types))})" if types else "1 = 0")
        params += list(types)
    for condition, value in (("time >=", since), ("time <", until), ("id >", after_id), ("id <=", upto_id)):
        if value is not None:
            where.append(f"{condition} {mark}")
            params.append(value)
    sql = f"SELECT id, {time_sql}, type, value FROM {table_sql}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if newest is not None:
        return f"{sql} ORDER BY time DESC, id DESC LIMIT {int(newest)}", params
    return sql + (" ORDER BY id" if after_id is not None else " ORDER BY time, id"), params


def quote_sqlite(name: str) -> str:
    """An SQLite identifier, checked (letters, digits, underscore) and double-quoted."""
    if not _IDENTIFIER.match(name):
        raise StoreError(f"table name {name!r} must be 1-64 letters, digits or underscores")
    return f'"{name}"'


__all__ = ["DESCRIPTIONS", "NoSuchTable", "Point", "Store", "StoreError", "StoreUnavailable", "choose_table",
           "continuous_tables", "data_table", "point_query", "quote_sqlite"]
