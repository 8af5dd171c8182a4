"""Helpers for lab-mysql's tests: queries, PyExpLabSys's legacy tables, a throwaway MariaDB server.

The machine's shared MariaDB is never stopped: tests that stop a server start
their own ``mariadbd`` (own datadir, free port, own socket) and throw it away.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

# The same rules as tests/conftest.py (whose module cannot be imported by name from here).
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_missing(what: str) -> None:
    """Fail in CI, skip on a developer's machine."""
    if IN_CI:
        pytest.fail(f"{what} is not reachable (CI=true: a missing service is a failure)")
    pytest.skip(f"{what} is not reachable")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

MARIADBD = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
INSTALL_DB = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")


def connect(settings: dict, **extra):
    import pymysql

    return pymysql.connect(**settings, autocommit=True, init_command="SET time_zone = '+00:00'", **extra)


def query(settings: dict, sql: str, args=None) -> list[tuple]:
    conn = connect(settings)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())
    finally:
        conn.close()


def execute(settings: dict, *statements: str) -> None:
    conn = connect(settings)
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        conn.close()


def read_points(settings: dict, table: str, descriptions: str = "dateplots_descriptions") -> list[tuple]:
    """``[(codename, unix time, value), …]`` stored in ``table``, ordered by id."""
    rows = query(settings, f"SELECT d.codename, UNIX_TIMESTAMP(t.time), t.value FROM `{table}` t "
                           f"JOIN `{descriptions}` d ON d.id = t.type ORDER BY t.id")
    return [(c, float(t), v) for c, t, v in rows]


#: PyExpLabSys's own continuous layout (1-second timestamps, no unique key, id not AUTO_INCREMENT).
LEGACY_DESCRIPTIONS = ("CREATE TABLE dateplots_descriptions (id smallint unsigned NOT NULL PRIMARY KEY, "
                       "codename char(255) NOT NULL, description char(255))")


def legacy_table(name: str) -> str:
    return (f"CREATE TABLE {name} (id int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "time timestamp NOT NULL DEFAULT current_timestamp(), type smallint unsigned NOT NULL, "
            "value double NULL, KEY (time))")


class ThrowawayMariaDB:
    """A private mariadbd: own datadir, socket and free port; stopped and started at will."""

    def __init__(self, base: Path):
        self.base = base
        self.datadir = base / "data"
        self.socket = base / "mysqld.sock"
        self.tmpdir = base / "tmp"
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def settings(self) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "user": "root", "password": ""}

    def install(self) -> None:
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([INSTALL_DB, "--no-defaults", f"--datadir={self.datadir}", f"--tmpdir={self.tmpdir}",
                               "--auth-root-authentication-method=normal", "--user=root", "--skip-test-db"],
                              capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"mariadb-install-db failed ({done.returncode}): {done.stdout[-2000:]} "
                               f"{done.stderr[-2000:]}")

    def start(self, *extra: str) -> None:
        for _ in range(3):  # a port taken between choosing and binding: choose another
            self.port = self.port or free_port(socket.SOCK_STREAM)
            self.proc = subprocess.Popen(
                [MARIADBD, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
                 "--bind-address=127.0.0.1", f"--socket={self.socket}", f"--pid-file={self.base / 'mysqld.pid'}",
                 # Its own tmpdir, always: a starting mariadbd deletes every #sql* file in its tmpdir,
                 # which would pull temporary tables from under the machine's shared server in /tmp.
                 f"--tmpdir={self.tmpdir}",
                 "--user=root", "--skip-grant-tables", "--innodb-buffer-pool-size=32M", "--skip-log-bin",
                 f"--log-error={self.base / 'error.log'}", *extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready(30.0):
                return
            self.stop(kill=True)
            self.port = 0
        raise RuntimeError(f"throwaway mariadbd did not start; see {self.base / 'error.log'}")

    def _wait_ready(self, timeout: float) -> bool:
        import pymysql

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                pymysql.connect(**self.settings, connect_timeout=1).close()
                return True
            except pymysql.err.OperationalError:
                time.sleep(0.05)
        return False

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def new_database(self, name: str) -> dict:
        execute(self.settings, f"CREATE DATABASE IF NOT EXISTS `{name}`")
        return {**self.settings, "database": name}


