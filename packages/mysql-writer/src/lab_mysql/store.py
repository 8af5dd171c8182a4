"""Read back what the ``mysql`` writer (or PyExpLabSys) stored, for ``lab data``.

Every layout lab-mysql writes reads back the same way: its own tables (``TIMESTAMP(6)``,
UTC), ``lab mysql init --time-type datetime`` (``DATETIME(6)`` holding UTC), and
``--pyexplabsys`` or PyExpLabSys's own tables (``TIMESTAMP`` or ``DATETIME`` in the server's
local time, 1-second or microsecond times). Times come back as UTC: for a ``DATETIME``
column in wall time the server converts (``CONVERT_TZ``) the rows and the range's bounds,
the zone found as the writer finds it (``time_zone``: auto, utc, local, +HH:MM). Rows stream
through an unbuffered cursor; each query ends its transaction, so ``--follow`` sees new rows.

An address: ``mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?setup=S&time_zone=local&…]``; the
password is better left out of it (``$LAB_MYSQL_PASSWORD``, as for ``lab mysql`` commands).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from urllib.parse import unquote, urlsplit

from lab_core.stores import (
    DESCRIPTIONS,
    Point,
    Store,
    StoreError,
    StoreUnavailable,
    choose_table,
    continuous_tables,
    data_table,
    point_query,
)

from . import schema
from .cli import PASSWORD_ENV
from .connection import TLS_OPTIONS, ConnectionSettings, is_connection_error
from .errors import MySQLUnavailable

#: What an address may say after its ``?``.
ADDRESS_KEYS = ("setup", "table", "descriptions_table", "time_zone", "socket", "connect_timeout", "read_timeout",
                *TLS_OPTIONS)
_FLAGS = ("ssl_verify_cert", "ssl_verify_identity", "ssl_disabled")
NOTE = "the mysql writer writes dateplots_<setup> (its setup option) or its table option"


class MySQLStore(Store):
    schemes = ("mysql", "mariadb")

    def __init__(self, settings: ConnectionSettings, table: str | None = None,
                 descriptions_table: str = DESCRIPTIONS, time_zone: str = "auto"):
        self.settings, self.wanted = settings, table
        self.descriptions_table = schema.check_identifier(descriptions_table)
        self.time_zone = schema.check_time_zone(time_zone)
        self.table: str | None = None
        self.zone = "utc"
        self._conn = None
        self._format = schema.TimeFormatter(6)

    @classmethod
    def from_writer(cls, writer) -> MySQLStore:
        return cls(writer.settings, writer.table, writer.descriptions_table, writer.time_zone)

    @classmethod
    def from_address(cls, address: str, *, setup: str | None = None, table: str | None = None) -> MySQLStore:
        parts = urlsplit(address)  # not parse_qsl: it reads the "+" of time_zone=+01:00 as a space
        pairs = (pair.partition("=") for pair in parts.query.split("&") if pair)
        options = {unquote(k): unquote(v) for k, _, v in pairs}
        unknown = sorted(set(options) - set(ADDRESS_KEYS))
        if unknown:
            raise StoreError(f"{_safe(address)}: unknown option(s) {', '.join(unknown)}; an address takes "
                             f"{', '.join(ADDRESS_KEYS)}")
        if setup is None and table is None:  # --setup/--table win over the address's
            setup, table = options.get("setup"), options.get("table")
        database = unquote(parts.path.lstrip("/"))
        try:
            if not database or "/" in database:
                raise ValueError("name the database: mysql://USER@HOST/DATABASE")
            settings = ConnectionSettings.from_options(
                database=database, user=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password is not None else os.environ.get(PASSWORD_ENV),
                host=parts.hostname or "localhost", port=parts.port or 3306, unix_socket=options.get("socket"),
                **{k: float(options[k]) for k in ("connect_timeout", "read_timeout") if k in options},
                **{k: (options[k].lower() in ("1", "true", "yes") if k in _FLAGS else options[k])
                   for k in TLS_OPTIONS if k in options})
            return cls(settings, data_table(setup, table), options.get("descriptions_table", DESCRIPTIONS),
                       options.get("time_zone", "auto"))
        except ValueError as exc:
            raise StoreError(f"{_safe(address)}: {exc}") from None

    def describe(self) -> str:
        return f"{self.settings.describe()}" + (f" ({self.table})" if self.table else "")

    # -- connection ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self):
        """Server errors as ``StoreUnavailable`` (cannot reach it: exit 1) or ``StoreError``."""
        import pymysql

        try:
            yield
        except MySQLUnavailable as exc:
            self._drop()
            raise StoreUnavailable(str(exc)) from None
        except pymysql.err.MySQLError as exc:
            self._drop()
            if is_connection_error(exc):
                raise StoreUnavailable(f"lost MySQL/MariaDB at {self.settings.describe()}: {exc}") from None
            raise StoreError(f"cannot read {self.settings.describe()}: {exc}") from None

    def _connection(self):
        if self._conn is None:
            self._conn = self.settings.connect()
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # also leaves an unread result unread (an export cut short)
            self._conn = None

    def close(self) -> None:
        self._drop()

    def open(self, table: bool = True) -> None:
        with self._errors():
            conn = self._connection()
            with conn.cursor() as cursor:
                cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
                names = [name for (name,) in cursor.fetchall()]
                if self.descriptions_table not in names:
                    raise StoreError(f"database {self.settings.database} has no table {self.descriptions_table}, "
                                     "where codenames are; is it the database the mysql writer writes to?")
                if not table:
                    return
                tables = continuous_tables(names)
                if self.wanted in names and self.wanted not in tables:
                    tables.append(self.wanted)
                self.table = choose_table(self.wanted, tables, f"database {self.settings.database}", None, NOTE)
                info = schema.describe_continuous(cursor, self.table)
                self.zone = schema.table_time_zone(cursor, info, self.time_zone, doing="reading")
            conn.commit()
        if self.zone != "utc":
            self._format = schema.TimeFormatter(6, schema.ZoneOffsets(self.zone, self._connection))

    # -- reading ----------------------------------------------------------------------------

    def codenames(self) -> list[tuple[int, str, str | None]]:
        with self._errors():
            conn = self._connection()
            with conn.cursor() as cursor:
                cursor.execute(f"SELECT id, codename, description FROM {schema.quote(self.descriptions_table)} "
                               "ORDER BY id")
                rows = [(int(i), (c or "").strip(), d) for i, c, d in cursor.fetchall()]
            conn.commit()
        return rows

    def last_id(self) -> int:
        with self._errors():
            conn = self._connection()
            with conn.cursor() as cursor:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {schema.quote(self.table)}")
                found = int(cursor.fetchone()[0])
            conn.commit()
        return found

    def points(self, types: Sequence[int] | None, since: float | None, until: float | None, *,
               newest: int | None = None, after_id: int | None = None,
               upto_id: int | None = None) -> Iterator[Point]:
        import pymysql

        local = self.zone != "utc"
        with self._errors():
            bounds = [None if t is None else self._format(t) for t in (since, until)]  # wall time, if local
            sql, params = point_query(schema.quote(self.table), "%s", types, *bounds, newest=newest,
                                      after_id=after_id, upto_id=upto_id,
                                      time_sql="CONVERT_TZ(time, %s, '+00:00')" if local else "time",
                                      time_params=(self.zone,) if local else ())
            conn = self._connection()
            cursor = conn.cursor(pymysql.cursors.SSCursor)
            cursor.execute(sql, params)
        finished = False
        try:
            with self._errors():
                if newest is not None:
                    yield from (Point(*row) for row in reversed(cursor.fetchall()))
                else:
                    while batch := cursor.fetchmany(2000):
                        yield from (Point(*row) for row in batch)
                cursor.close()
                conn.commit()  # ends the read's snapshot: the next query sees rows committed since
            finished = True
        finally:
            if not finished:  # cut short (an error, `| head`): drop the connection instead of reading on
                _abandon(cursor)
                self._drop()


def _abandon(cursor) -> None:
    """Let an unbuffered result go unread: PyMySQL would read it to its end when the cursor or the
    result is closed or collected (and fail noisily once the connection is gone)."""
    result = getattr(cursor, "_result", None)
    if result is not None:
        result.unbuffered_active = False
    cursor.connection = None


def _safe(address: str) -> str:
    """``address`` without its password, for messages."""
    parts = urlsplit(address)
    if parts.password is None:
        return address
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()
