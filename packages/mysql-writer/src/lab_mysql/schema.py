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
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from lab_core.writers.sqlite import split_time

from .errors import SchemaError, UnknownCodenames, init_command

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


def init_flags(table: str, descriptions_table: str = DESCRIPTIONS) -> list[str]:
    """The ``lab mysql init`` flags that name ``table`` (``--setup`` when it is a setup's) and its descriptions."""
    flags = ["--setup", table.removeprefix("dateplots_")] if SETUP_NAME.match(table.removeprefix("dateplots_")) \
        and table.startswith("dateplots_") else ["--table", table]
    return flags + (["--descriptions-table", descriptions_table] if descriptions_table != DESCRIPTIONS else [])


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


def _options(engine: str, comment: str) -> str:
    if engine not in ("InnoDB", "MyISAM"):
        raise ValueError(f"engine {engine!r}: use InnoDB or MyISAM")
    text = f" ENGINE={engine}"
    if comment:
        if not re.fullmatch(r"[A-Za-z0-9_:=+ .-]{1,200}", comment):
            raise ValueError(f"table comment {comment!r} has characters outside [A-Za-z0-9_:=+ .-]")
        text += f" COMMENT='{comment}'"
    return text


def zone_mark(time_type: str, local: bool) -> str:
    """The comment that tells writers a table's time convention (only DATETIME columns need one)."""
    return f"lab:time={'local' if local else 'utc'}" if time_type == "datetime" else ""


def continuous_ddl(table: str, time_type: str = "timestamp", *, unique: bool = True, engine: str = "InnoDB",
                   comment: str | None = None) -> str:
    """``unique=False, engine="MyISAM"`` make a table old PyExpLabSys writers work with (``--pyexplabsys``)."""
    comment = zone_mark(time_type, local=not unique) if comment is None else comment
    key = "UNIQUE KEY type_time (type, time), " if unique else "KEY type_time (type, time), "
    return (f"CREATE TABLE IF NOT EXISTS {quote(table)} ("
            "id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            f"time {_time_column(time_type)}, "
            "type SMALLINT UNSIGNED NOT NULL, value DOUBLE NULL, "
            f"{key}KEY time (time)){_options(engine, comment)}")


def measurements_ddl(table: str, time_type: str = "timestamp", *, engine: str = "InnoDB", comment: str = "") -> str:
    return (f"CREATE TABLE IF NOT EXISTS {quote(table)} ("
            "id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            f"time {_time_column(time_type)}, "
            "type INT NULL, timestep DOUBLE NULL, comment VARCHAR(255) NULL, label VARCHAR(255) NULL, "
            f"KEY time (time)){_options(engine, comment)} DEFAULT CHARSET=utf8mb4")


def xy_values_ddl(table: str, *, engine: str = "InnoDB") -> str:
    return (f"CREATE TABLE IF NOT EXISTS {quote(table)} ("
            "id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "measurement INT UNSIGNED NOT NULL, x DOUBLE NULL, y DOUBLE NULL, "
            f"KEY measurement (measurement)){_options(engine, '')}")


# -- times ----------------------------------------------------------------------

#: Unix time ranges each column type can hold (TIMESTAMP: MySQL / MariaDB < 11.5 on 32-bit range).
TIME_RANGE = {
    "timestamp": (1.0, 2147483648.0),
    "datetime": (-30610224000.0, 253402300800.0),  # 1000-01-01 .. 10000-01-01 UTC
}


class TimeFormatter:
    """Unix time -> ``'YYYY-MM-DD HH:MM:SS[.ffffff]'`` for a column with ``precision`` digits.

    Fractions are truncated, never rounded, exactly as the server truncates
    PyExpLabSys's ``FROM_UNIXTIME(t)`` (``split_time``), so both write the same row
    for the same point. ``offset(seconds)`` (default none: UTC) shifts to a zone's wall
    time, for ``DATETIME`` columns that hold local time.
    """

    def __init__(self, precision: int = 6, offset: Callable[[int], int] | None = None):
        if not 0 <= precision <= 6:
            raise ValueError(f"time precision must be 0-6 digits, got {precision}")
        self.precision = precision
        self.offset = offset
        self._cut = 10 ** (6 - precision)
        self._seconds: dict[int, str] = {}

    def __call__(self, t: float) -> str:
        s, us = split_time(t)
        if self.offset is not None:
            s += self.offset(s)
        prefix = self._seconds.get(s)
        if prefix is None:
            if len(self._seconds) > 100_000:
                self._seconds.clear()
            prefix = self._seconds[s] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s))
        if not self.precision:
            return prefix
        return f"{prefix}.{us // self._cut:0{self.precision}d}"

    def of_datetime(self, value: dt.datetime) -> str:
        """The same text for a (naive) datetime read back from the server."""
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        if not self.precision:
            return text
        return f"{text}.{value.microsecond // self._cut:0{self.precision}d}"


# -- time zones of DATETIME columns ---------------------------------------------------------

#: ``time_zone`` values: "auto" (follow the table), "utc", "local" (the server's default zone,
#: PyExpLabSys's convention) or an offset such as "+01:00".
TIME_ZONE = re.compile(r"^(?:auto|utc|local|[+-](?:0\d|1[0-4]):[0-5]\d)$")
#: Marks ``lab mysql init`` leaves in a table's comment so writers can tell its time convention.
ZONE_MARK = re.compile(r"lab:time=(utc|local|[+-]\d\d:\d\d)")


def check_time_zone(value: object) -> str:
    if not isinstance(value, str) or not TIME_ZONE.match(value):
        raise ValueError(f"time_zone {value!r} is unknown; use auto, utc, local or an offset like +01:00")
    return value


class ZoneOffsets:
    """Seconds to add to a UTC time for the wall time of ``zone`` on the server (``SYSTEM``, a
    name or an offset), asked once per UTC hour: ``CONVERT_TZ`` is the server's own conversion,
    the one PyExpLabSys's ``FROM_UNIXTIME`` gets."""

    SQL = ("SELECT TIMESTAMPDIFF(SECOND, FROM_UNIXTIME(%s), CONVERT_TZ(FROM_UNIXTIME(%s), '+00:00', %s)), "
           "TIMESTAMPDIFF(SECOND, FROM_UNIXTIME(%s), CONVERT_TZ(FROM_UNIXTIME(%s), '+00:00', %s))")

    def __init__(self, zone: str, connection: Callable[[], Any]):
        self.zone, self._connection = zone, connection
        self._hours: dict[int, int | None] = {}  # None: the offset changes within that hour

    def __call__(self, s: int) -> int:
        hour = s // 3600
        if hour not in self._hours:
            start, end = self._ask(hour * 3600, hour * 3600 + 3599)
            self._hours[hour] = start if start == end else None
        offset = self._hours[hour]
        return offset if offset is not None else self._ask(s, s)[0]

    def _ask(self, a: int, b: int) -> tuple[int, int]:
        with self._connection().cursor() as cursor:
            cursor.execute(self.SQL, (a, a, self.zone, b, b, self.zone))
            found = cursor.fetchone()
        if found is None or found[0] is None:
            raise SchemaError(f"the server does not know the time zone {self.zone!r}; load its time zone "
                              "tables (mariadb-tzinfo-to-sql) or set time_zone to an offset like +01:00")
        return int(found[0]), int(found[1])


def table_time_zone(cursor, info: ContinuousTable, wanted: str = "auto", doing: str = "writing") -> str:
    """The convention of ``info``'s time column: ``"utc"``, or the zone (``SYSTEM``, name, offset)
    its wall times are in. ``TIMESTAMP`` columns always take UTC text in lab's UTC sessions.

    ``auto``: the ``lab:time=…`` mark of the table's comment; else, when the server's default zone
    is not UTC now, the newest row (by id) if it is recent enough to tell; else UTC (logged,
    saying what lab is ``doing``: writing or reading).
    """
    if info.time_type == "timestamp" or wanted == "utc":
        return "utc"
    if wanted != "auto":
        return _server_zone(cursor) if wanted == "local" else wanted
    mark = ZONE_MARK.search(info.comment or "")
    if mark:
        return _server_zone(cursor) if mark[1] == "local" else ("utc" if mark[1] == "utc" else mark[1])
    zone = _server_zone(cursor)
    cursor.execute("SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', %s))",
                   (zone,))
    offset = (cursor.fetchone() or (None,))[0]
    if not offset:
        return "utc"  # the server's zone is UTC (or unknown): both conventions write the same
    cursor.execute(f"SELECT TIMESTAMPDIFF(SECOND, time, UTC_TIMESTAMP()) FROM {quote(info.name)} "
                   "ORDER BY id DESC LIMIT 1")
    row = cursor.fetchone()
    if row is not None and row[0] is not None:
        age_utc, age_local = abs(row[0]), abs(row[0] + offset)
        if min(age_utc, age_local) < abs(offset) / 2:
            found = "utc" if age_utc < age_local else zone
            log.info("table %s: its newest row is in %s wall time; %s the same (time_zone = %s)",
                     info.name, "UTC" if found == "utc" else f"the server's ({zone})", doing,
                     "utc" if found == "utc" else "local")
            return found
    log.warning("table %s: cannot tell whether its DATETIME column holds UTC or the server's local time "
                "(%s); %s UTC. Set time_zone = \"local\" for PyExpLabSys's convention", info.name, zone, doing)
    return "utc"


def _server_zone(cursor) -> str:
    cursor.execute("SELECT @@global.time_zone")
    return cursor.fetchone()[0]


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
    comment: str = ""  # the table's comment (``lab:time=…`` marks the time convention)

    @property
    def transactional(self) -> bool:
        return self.engine.lower() in ("innodb", "aria", "xtradb", "tokudb", "rocksdb", "ndbcluster")


def columns(cursor, table: str) -> set[str]:
    """The column names (lower case) of ``table`` in the current database."""
    cursor.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                   "AND TABLE_NAME = %s", (table,))
    return {name.lower() for name, in cursor.fetchall()}


def table_exists(cursor, table: str) -> bool:
    cursor.execute("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                   (table,))
    return cursor.fetchone() is not None


def _missing_table(table: str, database: str, init: Sequence[str] | None) -> SchemaError:
    """``table`` does not exist: the error, with the ``lab mysql init`` (``init``: its flags) that makes it."""
    fix = init_command(*(init if init is not None else init_flags(table) + ["--database", database]))
    return SchemaError(f"table {table} does not exist in database {database}; create it (or set "
                       f"create_tables = true) with: {fix}", fix)


def inspect_continuous(cursor, table: str, init: Sequence[str] | None = None) -> ContinuousTable:
    """Check that ``table`` can take (type, time, value) rows; describe it, with a warning for what
    risks doubling or dropping a point. ``SchemaError`` if not (``init``: the ``lab mysql init``
    flags its fix names)."""
    info = describe_continuous(cursor, table, init)
    if not info.unique:
        log.info("table %s has no unique key on (type, time): a batch whose COMMIT was lost is checked "
                 "through its id before it is sent again", table)
    if info.unique and info.precision == 0:
        log.warning("table %s has a unique key on (type, time) and 1-second times: a second point of a "
                    "codename within the same second is dropped as a duplicate", table)
    if not info.transactional:
        log.warning("table %s uses the %s engine, which has no transactions: a batch is not atomic and "
                    "a retried batch may double points; convert it to InnoDB", table, info.engine)
    return info


def describe_continuous(cursor, table: str, init: Sequence[str] | None = None) -> ContinuousTable:
    """What ``table`` is (``SchemaError`` if it has no type, time and value columns); nothing logged."""
    check_identifier(table)
    cursor.execute(
        "SELECT TABLE_NAME, ENGINE, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s", (table,))
    found = cursor.fetchone()
    if found is None:
        cursor.execute("SELECT DATABASE()")
        raise _missing_table(table, cursor.fetchone()[0], init)
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
    return ContinuousTable(table, time_type, int(precision or 0), unique, engine, auto_id, found[2] or "")


# -- codenames --------------------------------------------------------------------


def load_codenames(cursor, table: str = DESCRIPTIONS,
                   init: Sequence[str] | None = None) -> tuple[dict[str, int], set[str]]:
    """``({codename: id}, {codenames listed more than once})`` from the descriptions table
    (``init``: the ``lab mysql init`` flags that make it, for the error when it is missing)."""
    try:
        cursor.execute(f"SELECT id, codename FROM {quote(table)}")
    except Exception as exc:
        if getattr(exc, "args", (None,))[0] == 1146:
            cursor.execute("SELECT DATABASE()")
            raise _missing_table(table, cursor.fetchone()[0], init) from exc
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


def register_codename(connection, codename: str, description: str | None = None,
                      table: str = DESCRIPTIONS, unit: str | None = None) -> tuple[int, bool]:
    """Give ``codename`` an id in the descriptions table (if it has none); return ``(id, created)``.
    ``unit`` fills a ``unit`` column (not PyExpLabSys's: only for tables that have one).

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
                names, values = ["id", "codename", "description"], [new_id, codename, description]
                if unit is not None:
                    names, values = [*names, "unit"], [*values, unit]
                cursor.execute(f"INSERT INTO {q} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(values))})",
                               values)
                connection.commit()
                return new_id, True
            except Exception as exc:
                connection.rollback()
                if getattr(exc, "args", (None,))[0] in (1062, 1213) and attempt < 4:  # a concurrent registration
                    continue
                raise
    raise AssertionError("unreachable")


def fill_empty(connection, codename: str, texts: dict[str, str | None], table: str = DESCRIPTIONS) -> list[str]:
    """Set the columns of ``texts`` (``{"description": …, "unit": …}``) of ``codename``'s row where
    they are empty: an existing text is never overwritten. Returns the columns it filled."""
    filled = []
    with connection.cursor() as cursor:
        for column, text in texts.items():
            if text:
                cursor.execute(f"UPDATE {quote(table)} SET {quote(column)} = %s WHERE codename = %s "
                               f"AND ({quote(column)} IS NULL OR {quote(column)} = '')", (text, codename))
                if cursor.rowcount:
                    filled.append(column)
    connection.commit()
    return filled
