"""The ``mysql`` writer: PyExpLabSys "new style" continuous tables in MySQL/MariaDB.

One batch is one multi-row ``INSERT`` and one ``COMMIT``. The statement's text
is made as the rows are checked (ids, time text and float literals, the way
PyMySQL writes them, without its per-value escaping). The guarantees the
core's delivery worker builds on:

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

import logging
import math
import numbers
from collections.abc import Sequence
from typing import Annotated, Literal

from lab_core import RejectedSamples, Sample, Writer
from lab_core.options import Example

from . import schema
from .connection import ConnectionSettings
from .errors import MySQLSetupError, MySQLUnavailable, UnknownCodenames
from .inserter import BatchInserter

log = logging.getLogger(__name__)

Row = tuple[int, str, float]


class MySQLWriter(BatchInserter, Writer):
    """Writes samples to ``dateplots_<setup>`` (or ``table``) through the descriptions table's ids.

    Options (all keyword): ``database``, ``user``, ``password`` (or ``password_env``),
    ``host``, ``port``, ``unix_socket``, ``setup`` or ``table``, ``codenames`` (checked
    when the writer opens: an unknown one is logged as an error naming it, its samples
    are set aside and the others flow on; ``check_codenames()`` raises it instead),
    ``register_codenames`` (give unknown codenames an id instead of refusing them),
    ``create_tables`` (``CREATE TABLE IF NOT EXISTS`` on open), ``time_type``
    (for created tables), ``time_zone`` (what a ``DATETIME`` column's wall times are:
    ``auto`` follows the table, ``utc``, ``local`` = the server's default zone as
    PyExpLabSys writes, or ``+HH:MM``), ``descriptions_table``, ``connect_timeout``,
    ``read_timeout``, ``write_timeout``, ``max_batch`` and the TLS options
    ``ssl_ca``, ``ssl_cert``, ``ssl_key``, ``ssl_key_password``, ``ssl_verify_cert``,
    ``ssl_verify_identity``, ``ssl_disabled`` (passed to PyMySQL as they are).
    """

    max_batch = 5000

    def __init__(
        self,
        *,
        database: Annotated[str, "database name", Example("cinfdata")],
        user: Annotated[str | None, "login name (default: the login user's)"] = None,
        password: Annotated[str | None, "password (better: password_env)"] = None,
        password_env: Annotated[str | None, "environment variable that holds the password"] = None,
        host: Annotated[str, "server host name or address"] = "localhost",
        port: Annotated[int, "server TCP port"] = 3306,
        unix_socket: Annotated[str | None, "server socket file, instead of host and port"] = None,
        setup: Annotated[str | None, "writes dateplots_<setup> (give setup or table)", Example("lab")] = None,
        table: Annotated[str | None, "any table with type, time and value columns (instead of setup)"] = None,
        codenames: Annotated[Sequence[str], "codenames checked when the writer opens: an unknown one is logged "
                             "and its samples set aside (every context's codenames are checked when it starts)"] = (),
        register_codenames: Annotated[bool, "give unknown codenames an id instead of setting their samples "
                                      "aside"] = False,
        create_tables: Annotated[bool, "CREATE TABLE IF NOT EXISTS the descriptions and data tables on open"] = False,
        time_type: Annotated[Literal["timestamp", "datetime"], "time column type of tables it creates "
                             "(both with microseconds)"] = "timestamp",
        descriptions_table: Annotated[str, "codename to id table"] = schema.DESCRIPTIONS,
        max_batch: Annotated[int | None, "most samples per INSERT and COMMIT (default 5000)"] = None,
        time_zone: Annotated[str, "wall times of a DATETIME column: auto "
                             "(follow the table), utc, local (the server's zone, PyExpLabSys's) or +HH:MM"] = "auto",
        connect_timeout: Annotated[float, "seconds to wait for a connection"] = 5.0,
        read_timeout: Annotated[float | None, "seconds to wait for an answer"] = 30.0,
        write_timeout: Annotated[float | None, "seconds to wait for a send"] = 30.0,
        ssl_ca: Annotated[str | None, "TLS: CA certificate file (passed to PyMySQL)"] = None,
        ssl_cert: Annotated[str | None, "TLS: client certificate file"] = None,
        ssl_key: Annotated[str | None, "TLS: client key file"] = None,
        ssl_key_password: Annotated[str | None, "TLS: password of the client key"] = None,
        ssl_verify_cert: Annotated[bool | None, "TLS: verify the server's certificate"] = None,
        ssl_verify_identity: Annotated[bool | None, "TLS: check the server's host name against its "
                                       "certificate"] = None,
        ssl_disabled: Annotated[bool | None, "TLS: never use TLS"] = None,
    ):
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
        self._descriptions: dict[str, str] = {}  # codename -> description, for codenames it registers
        self.create_tables = bool(create_tables)
        if time_type not in schema.TIME_TYPES:
            raise ValueError(f"time_type {time_type!r} is unknown; use one of {', '.join(schema.TIME_TYPES)}")
        self.time_type = time_type
        self.time_zone = schema.check_time_zone(time_zone)
        self.zone = "utc"  # the convention found on open: "utc" or the zone of the table's wall times
        if max_batch is not None:
            if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
                raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
            self.max_batch = max_batch
        self.settings = ConnectionSettings.from_options(
            database=database, user=user, password=password, password_env=password_env, host=host, port=port,
            unix_socket=unix_socket, connect_timeout=connect_timeout, read_timeout=read_timeout,
            write_timeout=write_timeout, ssl_ca=ssl_ca, ssl_cert=ssl_cert, ssl_key=ssl_key,
            ssl_key_password=ssl_key_password, ssl_verify_cert=ssl_verify_cert,
            ssl_verify_identity=ssl_verify_identity, ssl_disabled=ssl_disabled)
        # the `lab mysql init` flags that fix an unknown codename of this writer
        self.init_flags = [*schema.init_flags(self.table, self.descriptions_table), *self.settings.command_flags()]
        BatchInserter.__init__(self)
        self.label = f"mysql writer {self.table}"
        self.skipped_errors = 0
        self.info: schema.ContinuousTable | None = None  # the table, as found on open
        self._ready = False
        self._ids: dict[str, int] = {}
        self._ambiguous: set[str] = set()
        self._format = schema.TimeFormatter(6)
        self._range = schema.TIME_RANGE["timestamp"]

    def __repr__(self) -> str:
        return f"MySQLWriter({self.settings.describe()}, table={self.table})"

    # -- life cycle -----------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._ready

    def open(self) -> None:
        """Connect, check the table and translate the codenames (once). Calling it again is harmless."""
        if self._ready:
            return
        conn = self._connection()
        try:
            with conn.cursor() as cursor:
                if self.create_tables:
                    cursor.execute(schema.descriptions_ddl(self.descriptions_table))
                    cursor.execute(schema.continuous_ddl(self.table, self.time_type))
                info = schema.inspect_continuous(cursor, self.table, self.init_flags)
                zone = schema.table_time_zone(cursor, info, self.time_zone)
                ids, ambiguous = schema.load_codenames(cursor, self.descriptions_table, self.init_flags)
            conn.commit()
            self._ids, self._ambiguous = ids, ambiguous
            missing = [c for c in self.codenames if c not in ids]
            if missing and self.register_codenames:
                for codename in missing:
                    self._register(codename)
        except Exception as exc:
            self._drop_connection(exc)
            raise
        self._use(info, zone)
        problem = self.codename_problem()
        if problem is not None:  # their samples are set aside when they come, the others flow on
            log.error("%s: %s; samples of these codenames are set aside until they are registered",
                      self.label, problem)
        log.info("mysql writer open: %s, %s, %d codename(s) known, times in %s", self.settings.describe(), info,
                 len(self._ids), "UTC" if zone == "utc" else f"{zone} wall time")

    def codename_problem(self) -> UnknownCodenames | None:
        """The configured ``codenames`` the descriptions table lacks (or lists twice), as an error; else None."""
        missing = [c for c in self.codenames if c not in self._ids]
        if not missing:
            return None
        return UnknownCodenames([c for c in missing if c not in self._ambiguous], self.descriptions_table,
                                self.init_flags, [c for c in missing if c in self._ambiguous])

    def check_codenames(self) -> None:
        """Raise ``UnknownCodenames`` for configured codenames without exactly one id (after ``open``)."""
        problem = self.codename_problem()
        if problem is not None:
            raise problem

    def add_codename(self, codename: str) -> int:
        """Translate one more codename (from any thread, on a connection of its own); return its id.

        ``UnknownCodenames`` when the descriptions table lacks it (or lists it twice), unless
        ``register_codenames``; ``MySQLUnavailable`` when the server cannot be reached.
        """
        if codename not in self._ids:
            conn = self.settings.connect()
            try:
                if self.register_codenames:
                    new_id, _ = schema.register_codename(conn, codename, table=self.descriptions_table)
                    self._ids[codename] = new_id
                else:
                    with conn.cursor() as cursor:
                        ids, ambiguous = schema.load_codenames(cursor, self.descriptions_table, self.init_flags)
                    if codename not in ids:
                        raise UnknownCodenames([] if codename in ambiguous else [codename], self.descriptions_table,
                                               self.init_flags, [codename] if codename in ambiguous else [])
                    self._ids[codename] = ids[codename]
            finally:
                conn.close()
        if codename not in self.codenames:
            self.codenames = (*self.codenames, codename)
        return self._ids[codename]

    def check_context(self, context) -> None:
        """Refuse a context whose codenames the descriptions table lacks (a start-up error naming
        them); quiet when the database cannot be reached now (the samples wait in the spool).
        With ``register_codenames``, remember the variables' descriptions for the new rows."""
        if self.register_codenames:
            self._descriptions.update({v.codename: v.description for v in context.variables
                                       if getattr(v, "description", None)})
            return
        try:
            conn = self.settings.connect()
        except MySQLUnavailable:
            return
        try:
            with conn.cursor() as cursor:
                ids, ambiguous = schema.load_codenames(cursor, self.descriptions_table, self.init_flags)
        except Exception as exc:  # no descriptions table yet: open() will say so, with the fix
            log.debug("%s: cannot check codenames now: %s", self.label, exc)
            return
        finally:
            conn.close()
        missing = [v.codename for v in context.variables if v.codename not in ids]
        if missing:
            raise UnknownCodenames([c for c in missing if c not in ambiguous], self.descriptions_table,
                                   self.init_flags, [c for c in missing if c in ambiguous])

    def _use(self, info: schema.ContinuousTable, zone: str = "utc") -> None:
        q = schema.quote(self.table)
        sql = f"INSERT INTO {q} (type, time, value) VALUES (%s, %s, %s)"
        if info.unique:
            sql += " ON DUPLICATE KEY UPDATE type = type"
        self.insert_sql = sql
        self.keyed = info.unique
        self.check_sql = f"SELECT type, time, value FROM {q} WHERE id = %s" if info.auto_id else ""
        self.zone = zone
        offset = None if zone == "utc" else schema.ZoneOffsets(zone, self._connection)
        self._format = schema.TimeFormatter(info.precision, offset)
        self._range = schema.TIME_RANGE[info.time_type]
        self.info = info
        self._ready = True

    def close(self) -> None:
        self._drop_connection()
        self._ready = False

    def _register(self, codename: str) -> None:
        new_id, created = schema.register_codename(self._connection(), codename, self._descriptions.get(codename),
                                                   table=self.descriptions_table)
        self._ids[codename] = new_id
        if created:
            log.info("registered codename %r as id %d in %s", codename, new_id, self.descriptions_table)

    # -- writing ----------------------------------------------------------------------------

    def write(self, batch: Sequence[Sample]) -> None:
        if not self._ready:
            self.open()
        rows, samples, texts = self._rows(batch)
        self.send(rows, samples, texts)
        self.skipped_errors += sum(1 for s in batch if s.error is not None)

    def _rows(self, batch: Sequence[Sample]) -> tuple[list[Row], list[Sample], list[str] | None]:
        """Rows to insert, their samples and (common case) their SQL text, or ``RejectedSamples``
        for those that can never be rows."""
        # The common case first: finite floats, known codenames, times in range, no error samples.
        ids, fmt = self._ids, self._format
        low, high = self._range
        rows: list[Row] = []
        texts: list[str] = []
        append, append_text = rows.append, texts.append
        last_t, text = None, ""
        for s in batch:
            value, t = s.value, s.time
            if s.error is not None or type(value) is not float or value - value != 0.0 or not low <= t < high:
                break
            type_id = ids.get(s.codename)
            if type_id is None:
                break
            if t != last_t:  # points read together share their time: format it once
                last_t, text = t, fmt(t)
            append((type_id, text, value))
            # float_literal's text, inline (the value is finite); ids are ints and the time text
            # is digits and separators: nothing in the row needs escaping
            number = repr(value)
            append_text(f"({type_id},'{text}',{number})" if "e" in number else f"({type_id},'{text}',{number}e0)")
        else:
            return rows, list(batch), texts
        return (*self._checked_rows(batch), None)

    def _checked_rows(self, batch: Sequence[Sample], looked_again: bool = False) -> tuple[list[Row], list[Sample]]:
        """``_rows`` for a batch with something unusual in it: convert what can be, refuse the rest."""
        ids, fmt = self._ids, self._format
        low, high = self._range
        rows: list[Row] = []
        samples: list[Sample] = []
        bad: dict[str, list[Sample]] = {}
        unknown: list[Sample] = []
        for s in batch:
            if s.error is not None:
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
                return self._checked_rows(batch, looked_again=True)
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
                    ids, ambiguous = schema.load_codenames(cursor, self.descriptions_table, self.init_flags)
                conn.commit()
                self._ids.update(ids)
                self._ambiguous = ambiguous
        except Exception as exc:
            self._drop_connection(exc)
            raise

    def _unknown_error(self, samples: list[Sample]) -> UnknownCodenames:
        names = list(dict.fromkeys(s.codename for s in samples))
        return UnknownCodenames([n for n in names if n not in self._ambiguous], self.descriptions_table,
                                self.init_flags, [n for n in names if n in self._ambiguous])

    def stored_row(self, found):
        return (found[0], self._format.of_datetime(found[1]), found[2])

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
