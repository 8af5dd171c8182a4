"""The INSERT text lab-mysql builds itself, against PyMySQL's own escaping and a real server."""

from __future__ import annotations

import datetime as dt
import decimal
import math

import pymysql
import pytest
from mysql_helpers import connect

from lab_core import Sample
from lab_mysql.inserter import MAX_STATEMENT, insert_statements, row_literal, split_insert
from lab_mysql.writer import MySQLWriter

T0 = 1_700_000_000.0

FLOATS = [0.0, -0.0, 1.0, -1.5, 0.1, 1 / 3, 1e16, 1e-5, 123456.789, 5e-324, 2.2250738585072014e-308,
          1.7976931348623157e308, -1.7976931348623157e308, 1e22, 9007199254740993.0]
TRICKY = [
    *FLOATS, 0, -1, 2**63 - 1, -(2**63), 10**30, True, False, None,
    "", "plain", "o'hara", 'say "hi"', "back\\slash", "nul\x00byte", "line\nbreak\r\ttab", "\x1a",
    "ünïcødé ☃", "😀 emoji", "%s %d %%", b"bytes\x00\xff", dt.datetime(2024, 2, 29, 12, 30, 1, 5),
    dt.date(2024, 1, 1), decimal.Decimal("1.25"),
]


@pytest.fixture
def conn(mariadb):
    conn = connect(mariadb, charset="utf8mb4")
    yield conn
    conn.close()


def mogrified(conn, row) -> str:
    """What PyMySQL's executemany writes for ``row`` (with its "(%s, %s)" spacing removed)."""
    with conn.cursor() as cursor:
        return cursor.mogrify("(" + ",".join(["%s"] * len(row)) + ")", row)


@pytest.mark.parametrize("value", TRICKY, ids=repr)
def test_each_literal_is_what_pymysql_writes(conn, value):
    row = (value, 7, value)
    assert row_literal(row, conn.escape) == mogrified(conn, row)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_as_pymysql_refuses_them(conn, value):
    with pytest.raises(pymysql.err.ProgrammingError) as ours:
        row_literal((1, value), conn.escape)
    with pytest.raises(pymysql.err.ProgrammingError) as theirs:
        mogrified(conn, (1, value))
    assert str(ours.value) == str(theirs.value)


def test_tricky_values_read_back_as_executemany_stores_them(conn):
    """The server stores the same thing from our text as from PyMySQL's executemany."""
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, via VARCHAR(8), d DOUBLE, "
                       "n DECIMAL(40, 0), s TEXT CHARACTER SET utf8mb4, b BLOB)")
        strings = [v for v in TRICKY if isinstance(v, str)]
        ints = [0, -1, 2**63 - 1, -(2**63), 10**30, True, False, None]
        rows = [(FLOATS[i % len(FLOATS)], ints[i % len(ints)], strings[i % len(strings)], b"\x00\xff'\\")
                for i in range(max(len(FLOATS), len(ints), len(strings)))]
        sql = "INSERT INTO t (via, d, n, s, b) VALUES (%s, %s, %s, %s, %s)"
        for statement in insert_statements(*split_insert(sql), [row_literal(("ours", *r), conn.escape)
                                                                  for r in rows]):
            cursor.execute(statement)
        cursor.executemany(sql, [("pymysql", *r) for r in rows])
        cursor.execute("SELECT d, n, s, b FROM t WHERE via = 'ours' ORDER BY id")
        ours = cursor.fetchall()
        cursor.execute("SELECT d, n, s, b FROM t WHERE via = 'pymysql' ORDER BY id")
        theirs = cursor.fetchall()
    assert ours == theirs
    assert [r[0] for r in ours] == [r[0] for r in rows]  # every double back bit for bit
    assert [r[2] for r in ours] == [r[2] for r in rows]


def test_split_insert():
    assert split_insert("INSERT INTO `t` (a, b) VALUES (%s, %s) ON DUPLICATE KEY UPDATE a = a") == \
        ("INSERT INTO `t` (a, b) VALUES ", " ON DUPLICATE KEY UPDATE a = a")
    assert split_insert("insert into t (a) values(%s)") == ("insert into t (a) values", "")
    with pytest.raises(ValueError, match="insert_sql must be INSERT"):
        split_insert("INSERT INTO t (a) SELECT 1")


def test_long_batches_are_split_like_executemany():
    texts = [f"({i},'é{i}')" for i in range(1000)]
    statements = insert_statements("INSERT INTO t VALUES ", " ;", texts, limit=2000)
    assert len(statements) > 5
    assert all(len(s.encode()) <= 2000 for s in statements)
    rows = [r for s in statements for r in s.removeprefix("INSERT INTO t VALUES ").removesuffix(" ;").split(",(")]
    assert len(rows) == 1000
    assert insert_statements("I ", "", ["(1)", "(2)"]) == ["I (1),(2)"]
    assert len(insert_statements("I ", "", ["(1)"] * 10, limit=1)) == 10  # one row too long still goes
    assert MAX_STATEMENT == 1_024_000


def test_the_writers_own_row_text_is_row_literal(mariadb, conn):
    """The continuous writer's inline float text (its fast path) equals the general builder's."""
    writer = MySQLWriter(**mariadb, setup="lit", create_tables=True, register_codenames=True,
                         codenames=["a", "b"])
    writer.open()
    batch = [Sample("ab"[i % 2], T0 + i * 0.000_001 + 0.5, v) for i, v in enumerate(FLOATS)]
    rows, samples, texts = writer._rows(batch)
    writer.close()
    assert samples == batch
    assert texts == [row_literal(r, conn.escape) for r in rows]


def test_a_batch_with_unusual_values_is_written_the_same(mariadb):
    """Ints, bools and numpy-like reals go the general way; the stored rows are the same."""
    writer = MySQLWriter(**mariadb, setup="mix", create_tables=True, register_codenames=True, codenames=["a"])
    writer.write([Sample("a", T0 + i, float(i)) for i in range(3)])
    writer.write([Sample("a", T0 + 3, 3), Sample("a", T0 + 4, True), Sample("a", T0 + 5, 10**20)])
    writer.close()
    with connect(mariadb) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT UNIX_TIMESTAMP(time), value FROM dateplots_mix ORDER BY time")
        stored = [(float(t), v) for t, v in cursor.fetchall()]
    assert stored == [(T0 + i, v) for i, v in enumerate([0.0, 1.0, 2.0, 3.0, 1.0, 1e20])]


def test_connections_share_one_tls_context(mariadb):
    """PyMySQL's "TLS if offered" default gets one context per process, not one per connection."""
    from lab_mysql.connection import ConnectionSettings

    settings = ConnectionSettings.from_options(**mariadb)
    first, second = settings.connect(), settings.connect()
    try:
        assert first.ctx is second.ctx
        with second.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    finally:
        first.close()
        second.close()
