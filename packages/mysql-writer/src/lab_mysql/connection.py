"""Connection settings and the one place where PyMySQL connections are made.

Every session is set to UTC (``time_zone = '+00:00'``) so ``TIMESTAMP`` and
``DATETIME`` columns read and write the same UTC wall-clock text as the core's
sqlite writer, and to strict mode so a bad value is an error, never a silent
zero. PyMySQL is imported here, on first connect, never by the plugin module.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from typing import Any

import attrs

from .errors import MySQLUnavailable

log = logging.getLogger(__name__)

#: Where ``lab mysql`` commands take the password from when none is given.
PASSWORD_ENV = "LAB_MYSQL_PASSWORD"

#: TLS options passed through to ``pymysql.connect`` unchanged.
TLS_OPTIONS = ("ssl_ca", "ssl_cert", "ssl_key", "ssl_key_password", "ssl_verify_cert",
               "ssl_verify_identity", "ssl_disabled")

INIT_COMMAND = ("SET time_zone = '+00:00', "
                "sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_TRANS_TABLES')")

#: Server error numbers that mean "the connection or the server is gone or busy: try again".
CONNECTION_ERRNOS = frozenset({
    1040,  # too many connections
    1053,  # server shutdown in progress
    1077,  # normal shutdown
    1079,  # shutdown complete
    1152, 1153, 1154, 1155, 1156, 1157, 1158, 1159, 1160, 1161,  # aborted / net errors
    1205,  # lock wait timeout
    1213,  # deadlock
    1927,  # connection killed (MariaDB)
    2002, 2003, 2005, 2006, 2013, 2014, 2026, 2055,  # client: cannot connect, gone away, lost, SSL
    4031,  # disconnected for inactivity (MySQL 8)
})

#: Server error numbers caused by the data of a row (the row can never be stored as it is).
DATA_ERRNOS = frozenset({
    1048,  # column cannot be null
    1062,  # duplicate entry (a unique key other than (type, time))
    1264,  # out of range
    1265,  # data truncated
    1292,  # incorrect datetime value
    1366,  # incorrect value for column
    1367,  # illegal value
    1406,  # data too long
    1441,  # datetime function overflow
    1452,  # foreign key
    1690,  # value out of range
    3819, 4025,  # check constraint
})


def errno(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` says the link to the server is broken or the server is unavailable."""
    import pymysql

    if isinstance(exc, (OSError, socket.timeout, MySQLUnavailable)):
        return True
    if isinstance(exc, pymysql.err.InterfaceError):  # "(0, '')": the connection is closed
        return True
    return isinstance(exc, pymysql.err.MySQLError) and errno(exc) in CONNECTION_ERRNOS


def is_data_error(exc: BaseException) -> bool:
    import pymysql

    return isinstance(exc, pymysql.err.MySQLError) and errno(exc) in DATA_ERRNOS


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"port must be a TCP port number (1-65535), got {value!r}")
    return value


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"timeouts must be positive numbers of seconds (or none), got {value!r}")
    return float(value)


@attrs.frozen
class ConnectionSettings:
    """Where and how to connect. ``password_env`` names an environment variable holding the password."""

    database: str = attrs.field(validator=attrs.validators.instance_of(str))
    user: str | None = None
    password: str = attrs.field(default="", repr=False)
    host: str = "localhost"
    port: int = attrs.field(default=3306, converter=_port)
    unix_socket: str | None = None
    connect_timeout: float = attrs.field(default=5.0, converter=_timeout)
    read_timeout: float | None = attrs.field(default=30.0, converter=_timeout)
    write_timeout: float | None = attrs.field(default=30.0, converter=_timeout)
    charset: str = "utf8mb4"
    tls: dict[str, Any] = attrs.field(factory=dict)
    password_env: str | None = None  # the environment variable the password came from, if any

    def __attrs_post_init__(self) -> None:
        if not self.database:
            raise ValueError("database must name the MySQL/MariaDB database to write to (e.g. 'cinfdata')")
        unknown = sorted(set(self.tls) - set(TLS_OPTIONS))
        if unknown:
            raise ValueError(f"unknown TLS option(s) {', '.join(unknown)}; TLS options are {', '.join(TLS_OPTIONS)}")

    @classmethod
    def from_options(cls, *, database: str, user: str | None = None, password: str | None = None,
                     password_env: str | None = None, **options: Any) -> ConnectionSettings:
        """Build from writer/CLI style options: TLS options (``ssl_*``) are collected into ``tls``."""
        from_env = password is None and bool(password_env)
        if from_env:
            if password_env not in os.environ:
                raise ValueError(f"password_env names {password_env!r}, but that environment variable is not set")
            password = os.environ[password_env]
        tls = {k: options.pop(k) for k in list(options) if k in TLS_OPTIONS and options[k] is not None}
        for key in [k for k in options if k in TLS_OPTIONS]:
            options.pop(key)
        unknown = sorted(k for k in options if k not in attrs.fields_dict(cls))
        if unknown:
            raise ValueError(f"unknown connection option(s) {', '.join(unknown)}")
        return cls(database=database, user=user, password=password or "", tls=tls,
                   password_env=password_env if from_env else None, **options)

    def connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(
            host=self.host, port=self.port, user=self.user, password=self.password, database=self.database,
            charset=self.charset, autocommit=False, init_command=INIT_COMMAND,
            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout, write_timeout=self.write_timeout,
        )
        if self.unix_socket:
            kwargs["unix_socket"] = self.unix_socket
        kwargs.update(self.tls)
        return kwargs

    def command_flags(self) -> list[str]:
        """``lab mysql`` flags that connect as these settings do (never the password itself: ``-p``
        asks for it, ``--password-env`` names its variable, ``$LAB_MYSQL_PASSWORD`` is read anyway)."""
        flags = ["--socket", self.unix_socket] if self.unix_socket else ["--host", self.host]
        if self.port != 3306 and not self.unix_socket:
            flags += ["--port", str(self.port)]
        if self.user:
            flags += ["--user", self.user]
        if self.password_env:
            flags += ["--password-env", self.password_env]
        elif self.password and self.password != os.environ.get(PASSWORD_ENV):
            flags.append("-p")
        for key, value in self.tls.items():
            flag = "--" + key.replace("_", "-")
            flags += [flag] if value is True else [] if value is False else [flag, str(value)]
        return [*flags, "--database", self.database]

    def describe(self) -> str:
        where = self.unix_socket or f"{self.host}:{self.port}"
        return f"{self.user or '(login user)'}@{where}/{self.database}"

    def connect(self):
        """A new PyMySQL connection (autocommit off, UTC, strict); ``MySQLUnavailable`` if unreachable."""
        try:
            return connection_class()(**self.connect_kwargs())
        except Exception as exc:
            if is_connection_error(exc):
                raise MySQLUnavailable(f"cannot reach MySQL/MariaDB at {self.describe()}: {exc}") from exc
            raise


@functools.cache
def connection_class():
    """PyMySQL's connection, except that its "TLS if the server offers it" default (no TLS option
    given) uses one TLS context per process: PyMySQL makes one per connection, loading the system's
    CA certificates each time (tens of ms of CPU per connection). It is the context PyMySQL would
    make (that mode checks no certificate); TLS options still get a context of their own."""
    import pymysql

    class Connection(pymysql.connections.Connection):
        preferred_context = None

        def _create_ssl_ctx(self, sslp):
            if sslp != {}:
                return super()._create_ssl_ctx(sslp)
            if Connection.preferred_context is None:  # two threads may both make one: harmless
                Connection.preferred_context = super()._create_ssl_ctx(sslp)
            return Connection.preferred_context

    return Connection
