"""Helpers for lab-mysql's tests: queries, PyExpLabSys's legacy tables, a throwaway MariaDB server.

The machine's shared MariaDB is never stopped: tests that stop a server start
their own ``mariadbd`` (``services.ThrowawayMariaDB``) and throw it away.
"""

from __future__ import annotations

from services import free_port  # noqa: F401 - the tests take it from here


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
