"""Shared test helpers: real services, free ports, throwaway distributions.

In CI (``CI=true``) a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MARIADB = {
    "host": os.environ.get("LAB_TEST_MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("LAB_TEST_MYSQL_PORT", "3306")),
    "user": os.environ.get("LAB_TEST_MYSQL_USER", "root"),
    "password": os.environ.get("LAB_TEST_MYSQL_PASSWORD", ""),
}


def service_missing(what: str) -> None:
    """Fail in CI, skip on a developer's machine."""
    message = f"{what} is not reachable"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free right now on 127.0.0.1 (prefer binding to port 0 where the API allows)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mariadb_server():
    """Connection settings of the machine's MariaDB (no database chosen)."""
    import pymysql

    try:
        pymysql.connect(**MARIADB, connect_timeout=3).close()
    except pymysql.err.OperationalError as exc:
        service_missing(f"MariaDB at {MARIADB['host']}:{MARIADB['port']} ({exc})")
    return dict(MARIADB)


@pytest.fixture
def mariadb(mariadb_server):
    """A fresh, empty database for one test (dropped afterwards): settings incl. ``database``."""
    import pymysql

    name = f"labtest_{uuid.uuid4().hex[:12]}"
    admin = pymysql.connect(**mariadb_server, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        yield {**mariadb_server, "database": name}
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
