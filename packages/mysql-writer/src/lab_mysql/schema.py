"""PyExpLabSys "new style" tables: names, DDL, inspection and codename registration.

Continuous data (one table per setup)::

    dateplots_descriptions(id smallint unsigned PRIMARY KEY, codename, description)
    dateplots_<setup>(id AUTO_INCREMENT PRIMARY KEY, time, type -> descriptions.id, value double)

Data sets::

    measurements_<setup>(id AUTO_INCREMENT PRIMARY KEY, time, type, timestep, comment, label, …)
    xy_values_<setup>(id AUTO_INCREMENT PRIMARY KEY, measurement -> measurements.id, x double, y double)

Tables made here keep microseconds (``TIMESTAMP(6)`` by default, ``DATETIME(6)``
on request) and have a unique key on ``(type, time)`` so a retried batch never
doubles a point. Every statement is ``CREATE TABLE IF NOT EXISTS``: an existing
PyExpLabSys database is never altered, and its 1-second tables are written as
they are. Identifiers are checked against a strict pattern and back-quoted;
values are always parameters.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
from collections.abc import Iterable

import attrs

from .errors import SchemaError, UnknownCodenames

log = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")
SETUP_NAME = re.compile(r"^[A-Za-z0-9_]{1,48}$")
DESCRIPTIONS = "dateplots_descriptions"
TIME_TYPES = ("timestamp", "datetime")


def check_identifier(name: object, what: str = "table name") -> str:
    """Return ``name`` if it is a safe SQL identifier (letters, digits, underscore; ≤ 64); else ValueError."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise ValueError(f"{what} {name!r} must be 1-64 letters, digits or underscores")
    return name


def check_setup(name: object) -> str:
    if not isinstance(name, str) or not SETUP_NAME.match(name):
        raise ValueError(f"setup {name!r} must be 1-48 letters, digits or underscores (it names tables)")
    return name


def quote(name: str) -> str:
    return f"`{check_identifier(name)}`"


def continuous_table(setup: str) -> str:
    return f"dateplots_{check_setup(setup)}"


def dataset_tables(setup: str) -> tuple[str, str]:
    check_setup(setup)
    return f"measurements_{setup}", f"xy_values_{setup}"


def _time_column(time_type: str) -> str:
    if time_type not in TIME_TYPES:
        raise ValueError(f"time type {time_type!r} is unknown; use one of {', '.join(TIME_TYPES)}")
    return f"{time_type.upper()}(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"


def descriptions_ddl(table: str = DESCRIPTIONS) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {quote(table)} ("
            "id SMALLINT UNSIGNED NOT NULL PRIMARY KEY, "
            "codename CHAR(255) NOT NULL, description CHAR(255) NULL, "
            "UNIQUE KEY codename (codename)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")


def continuous_ddl(table: str, time_type: str = "timestamp") -> str:
    return (f"CREATE TABLE IF NOT EXISTS {quote(table)} ("
            "id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            f"time {_time_column(time_type)}, "
            "type SMALLINT UNSIGNED NOT NULL, value DOUBLE NULL, "
            "UNIQUE KEY type_time (type, time), KEY time (time)) ENGINE=InnoDB")


def measurements_ddl(table: str, time_type: str = "timestamp") -> str:
    return (f"CREATE TABLE IF NOT EXISTS {quote(table)} ("
            "id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            f"time {_time_column(time_type)}, "
            "type INT NULL, timestep DOUBLE NULL, comment VARCHAR(255) NULL, label VARCHAR(255) NULL, "
            "KEY time (time)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")


def xy_values_ddl(table: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {quote(table)} ("
            "id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "measurement INT UNSIGNED NOT NULL, x DOUBLE NULL, y DOUBLE NULL, "
            "KEY measurement (measurement)) ENGINE=InnoDB")


# -- times ----------------------------------------------------------------------

#: Unix time ranges each column type can hold (TIMESTAMP: MySQL / MariaDB < 11.5 on 32-bit range).
TIME_RANGE = {
    "timestamp": (1.0, 2147483648.0),
    "datetime": (-30610224000.0, 253402300800.0),  # 1000-01-01 .. 10000-01-01 UTC
}


class TimeFormatter:
    """Unix time -> UTC ``'YYYY-MM-DD HH:MM:SS[.ffffff]'`` for a column with ``precision`` digits.

    Microseconds are rounded as ``datetime.fromtimestamp`` rounds them (the
    sqlite writer's text); fewer digits are truncated, as MariaDB does, so a
    1-second table gets the whole second the point was taken in.
    """

    def __init__(self, precision: int = 6):
        if not 0 <= precision <= 6:
            raise ValueError(f"time precision must be 0-6 digits, got {precision}")
        self.precision = precision
        self._cut = 10 ** (6 - precision)
        self._seconds: dict[int, str] = {}

    def __call__(self, t: float) -> str:
        s = math.floor(t)
        us = round((t - s) * 1e6)
        if us >= 1_000_000:
            s, us = s + 1, us - 1_000_000
        prefix = self._seconds.get(s)
        if prefix is None:
            if len(self._seconds) > 100_000:
                self._seconds.clear()
            prefix = self._seconds[s] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s))
        if not self.precision:
            return prefix
        return f"{prefix}.{us // self._cut:0{self.precision}d}"

    def of_datetime(self, value: dt.datetime) -> str:
        """The same text for a (naive, UTC) datetime read back from the server."""
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        if not self.precision:
            return text
        return f"{text}.{value.microsecond // self._cut:0{self.precision}d}"


# -- inspection -------------------------------------------------------------------


@attrs.frozen
class ContinuousTable:
    """What lab-mysql needs to know about an existing ``dateplots_<setup>`` table."""

    name: str
    time_type: str  # "timestamp" or "datetime"
    precision: int  # fractional-second digits of the time column (0 on PyExpLabSys tables)
    unique: bool  # a unique key on exactly (type, time)
    engine: str
    auto_id: bool  # an AUTO_INCREMENT id column (lets a lost COMMIT be checked)

    @property
    def transactional(self) -> bool:
        return self.engine.lower() in ("innodb", "aria", "xtradb", "tokudb", "rocksdb", "ndbcluster")


def table_exists(cursor, table: str) -> bool:
    cursor.execute("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                   (table,))
    return cursor.fetchone() is not None


def inspect_continuous(cursor, table: str) -> ContinuousTable:
    """Check that ``table`` can take (type, time, value) rows; describe it. ``SchemaError`` if not."""
    check_identifier(table)
    cursor.execute(
        "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s", (table,))
    found = cursor.fetchone()
    if found is None:
        cursor.execute("SELECT DATABASE()")
        database = cursor.fetchone()[0]
        setup = table.removeprefix("dateplots_")
        raise SchemaError(f"table {table} does not exist in database {database}; create it with "
                          f"`lab mysql init --setup {setup} --codename …` (or set create_tables = true)")
    engine = found[1] or "?"
    cursor.execute(
        "SELECT COLUMN_NAME, DATA_TYPE, DATETIME_PRECISION, EXTRA FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (table,))
    columns = {name.lower(): (kind.lower(), precision, extra or "") for name, kind, precision, extra in cursor}
    missing = [c for c in ("type", "time", "value") if c not in columns]
    if missing:
        raise SchemaError(f"table {table} has no column(s) {', '.join(missing)}; it is not a PyExpLabSys "
                          f"continuous table (columns: {', '.join(sorted(columns))})")
    time_type, precision, _ = columns["time"]
    if time_type not in TIME_TYPES:
        raise SchemaError(f"column {table}.time is a {time_type}; lab-mysql writes timestamp or datetime columns")
    cursor.execute(
        "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s AND NON_UNIQUE = 0", (table,))
    unique_keys: dict[str, set[str]] = {}
    for index, column in cursor:
        unique_keys.setdefault(index, set()).add(column.lower())
    unique = any(cols == {"type", "time"} for cols in unique_keys.values())
    auto_id = "id" in columns and "auto_increment" in columns["id"][2].lower()
    info = ContinuousTable(table, time_type, int(precision or 0), unique, engine, auto_id)
    if not info.unique:
        log.info("table %s has no unique key on (type, time): a batch whose COMMIT was lost is checked "
                 "through its id before it is sent again", table)
    if info.unique and info.precision == 0:
        log.warning("table %s has a unique key on (type, time) and 1-second times: a second point of a "
                    "codename within the same second is dropped as a duplicate", table)
    if not info.transactional:
        log.warning("table %s uses the %s engine, which has no transactions: a batch is not atomic and "
                    "a retried batch may double points; convert it to InnoDB", table, engine)
    return info


# -- codenames --------------------------------------------------------------------


def load_codenames(cursor, table: str = DESCRIPTIONS) -> tuple[dict[str, int], set[str]]:
    """``({codename: id}, {codenames listed more than once})`` from the descriptions table."""
    try:
        cursor.execute(f"SELECT id, codename FROM {quote(table)}")
    except Exception as exc:
        if getattr(exc, "args", (None,))[0] == 1146:
            raise SchemaError(f"table {table} does not exist; create it with "
                              f"`lab mysql init --setup SETUP --codename …`") from exc
        raise
    ids: dict[str, int] = {}
    ambiguous: set[str] = set()
    for row_id, codename in cursor:
        codename = (codename or "").strip()
        if codename in ids and ids[codename] != row_id:
            ambiguous.add(codename)
        ids[codename] = int(row_id)
    for codename in ambiguous:
        del ids[codename]
    return ids, ambiguous


def translate(cursor, codenames: Iterable[str], table: str = DESCRIPTIONS, setup_hint: str = "") -> dict[str, int]:
    """``{codename: id}`` for exactly ``codenames``; ``UnknownCodenames`` naming any missing or doubled."""
    ids, ambiguous = load_codenames(cursor, table)
    wanted = list(dict.fromkeys(codenames))
    missing = [c for c in wanted if c not in ids and c not in ambiguous]
    doubled = [c for c in wanted if c in ambiguous]
    if missing or doubled:
        raise UnknownCodenames(missing, table, setup_hint, doubled)
    return {c: ids[c] for c in wanted}


def register_codename(connection, codename: str, description: str | None = None,
                      table: str = DESCRIPTIONS) -> tuple[int, bool]:
    """Give ``codename`` an id in the descriptions table (if it has none); return ``(id, created)``.

    Works on PyExpLabSys's table too, whose ``id`` is not AUTO_INCREMENT: the
    next id is ``max(id) + 1``, taken under a lock, retried on a race.
    """
    q = quote(table)
    for attempt in range(5):
        with connection.cursor() as cursor:
            try:
                cursor.execute(f"SELECT id FROM {q} WHERE codename = %s FOR UPDATE", (codename,))
                rows = cursor.fetchall()
                if len(rows) > 1:
                    raise UnknownCodenames([], table, ambiguous=[codename])
                if rows:
                    connection.commit()
                    return int(rows[0][0]), False
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {q} FOR UPDATE")
                new_id = int(cursor.fetchone()[0])
                if new_id > 65535:
                    raise SchemaError(f"{table} is full: ids are smallint unsigned (at most 65535)")
                cursor.execute(f"INSERT INTO {q} (id, codename, description) VALUES (%s, %s, %s)",
                               (new_id, codename, description))
                connection.commit()
                return new_id, True
            except Exception as exc:
                connection.rollback()
                if getattr(exc, "args", (None,))[0] in (1062, 1213) and attempt < 4:  # a concurrent registration
                    continue
                raise
    raise AssertionError("unreachable")
