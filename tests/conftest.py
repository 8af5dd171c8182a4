"""Shared fixtures: the machine's MariaDB (helpers live in services.py).

In CI (``CI=true``) a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid

import pytest

from services import IN_CI, free_port, service_missing  # noqa: F401 - shared with every test

MARIADB = {
    "host": os.environ.get("LAB_TEST_MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("LAB_TEST_MYSQL_PORT", "3306")),
    "user": os.environ.get("LAB_TEST_MYSQL_USER", "root"),
    "password": os.environ.get("LAB_TEST_MYSQL_PASSWORD", ""),
}


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
