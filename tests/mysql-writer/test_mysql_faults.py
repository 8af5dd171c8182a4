"""Faults while points flow: connections killed, the server stopped and restarted, lost COMMIT answers.

Every point must arrive exactly once. The machine's shared MariaDB is only
used for KILL; stopping a server is done on a throwaway one.
"""

from __future__ import annotations

import collections
import random
import threading
import time

import pymysql
import pytest
from mysql_helpers import LEGACY_DESCRIPTIONS, connect, execute, legacy_table, query

from lab_core import MemorySpool, Sample
from lab_core.delivery import Backoff, Delivery
from lab_mysql.writer import MySQLWriter

T0 = 1_700_000_000.0


def setup_tables(settings: dict, legacy: bool) -> dict:
    """Tables for codenames a, b, c; returns the writer options."""
    if legacy:
        execute(settings, LEGACY_DESCRIPTIONS, legacy_table("dateplots_flow"),
                "INSERT INTO dateplots_descriptions VALUES (1, 'a', NULL), (2, 'b', NULL), (3, 'c', NULL)")
        return {"setup": "flow", "codenames": ["a", "b", "c"]}
    return {"setup": "flow", "codenames": ["a", "b", "c"], "create_tables": True, "register_codenames": True}


def points(n: int) -> list[Sample]:
    """n points with unique values (so duplicates show even in a 1-second table)."""
    return [Sample("abc"[i % 3], T0 + i * 0.001, float(i)) for i in range(n)]


def check_exactly_once(settings: dict, n: int) -> None:
    values = [r[0] for r in query(settings, "SELECT value FROM dateplots_flow")]
    counts = collections.Counter(values)
    doubled = {v: c for v, c in counts.items() if c > 1}
    missing = sorted(set(map(float, range(n))) - set(counts))
    assert not doubled, f"{len(doubled)} point(s) stored more than once, e.g. {list(doubled.items())[:5]}"
    assert not missing, f"{len(missing)} point(s) missing, e.g. {missing[:5]}"
    assert len(values) == n


def feed(spool: MemorySpool, samples: list[Sample], chunk: int, pause: float) -> None:
    for i in range(0, len(samples), chunk):
        spool.put(samples[i:i + chunk])
        time.sleep(pause)


@pytest.mark.parametrize("legacy", [False, True], ids=["unique-key", "legacy-table"])
def test_killed_connections_lose_and_double_nothing(mariadb, legacy):
    options = setup_tables(mariadb, legacy)
    writer = MySQLWriter(**mariadb, **options, max_batch=300)
    spool = MemorySpool()
    delivery = Delivery("flow", writer, spool, Backoff(initial=0.01, cap=0.05))
    delivery.start()
    n = 12_000
    producer = threading.Thread(target=feed, args=(spool, points(n), 40, 0.002))
    producer.start()
    kills = 0
    admin = connect(mariadb)
    rng = random.Random(1)
    try:
        with admin.cursor() as cursor:
            while producer.is_alive() or (len(spool) and kills < 200):
                cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
                               (mariadb["database"],))
                for (conn_id,) in cursor.fetchall():
                    try:
                        cursor.execute(f"KILL {int(conn_id)}")
                        kills += 1
                    except pymysql.err.OperationalError:  # it ended on its own meanwhile
                        pass
                time.sleep(rng.uniform(0.005, 0.05))
    finally:
        admin.close()
        producer.join()
    assert delivery.flush(60), f"{len(spool)} point(s) still waiting: {delivery.stats.last_error}"
    assert delivery.stop(10) == 0
    assert kills > 5 and delivery.stats.failures > 0  # the faults did happen
    check_exactly_once(mariadb, n)


class LostCommitAnswer:
    """Wraps a connection: its next COMMIT is carried out (or not), then the answer is 'lost'.

    A network that drops exactly the COMMIT's reply cannot be produced on demand,
    so this one step is simulated; the server and everything else are real.
    """

    def __init__(self, writer: MySQLWriter, really_commit: bool):
        self.writer, self.really_commit = writer, really_commit
        self.armed = True

    def install(self) -> None:
        conn = self.writer._connection()
        real_commit = conn.commit

        def commit():
            if not self.armed:
                return real_commit()
            self.armed = False
            if self.really_commit:
                real_commit()
            conn._force_close()
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")

        conn.commit = commit


@pytest.mark.parametrize("really_commit", [True, False], ids=["stored", "not-stored"])
@pytest.mark.parametrize("legacy", [False, True], ids=["unique-key", "legacy-table"])
def test_lost_commit_answer(mariadb, legacy, really_commit):
    writer = MySQLWriter(**mariadb, **setup_tables(mariadb, legacy))
    writer.open()
    batch = points(100)
    LostCommitAnswer(writer, really_commit).install()
    stored = query(mariadb, "SELECT count(*) FROM dateplots_flow")
    try:
        writer.write(batch)  # checks at once on a new connection
        outcome = "accepted"
    except pymysql.err.OperationalError:
        outcome = "retry"
        writer.write(batch)  # what the delivery worker does next
    writer.close()
    assert stored == [(0,)]
    check_exactly_once(mariadb, 100)
    if legacy:  # without a unique key, a stored batch is recognised and not sent again
        assert outcome == ("accepted" if really_commit else "retry")


def test_lost_commit_answer_checked_after_reconnect(mariadb):
    """The check cannot be made at once (server unreachable): it is made before the next send."""
    writer = MySQLWriter(**mariadb, **setup_tables(mariadb, legacy=True))
    writer.open()
    batch = points(50)
    LostCommitAnswer(writer, really_commit=True).install()
    real = writer.settings

    class FailsOnce:  # the server is unreachable for the first reconnect
        calls = 0

        def __getattr__(self, name):
            return getattr(real, name)

        def connect(self):
            self.calls += 1
            if self.calls == 1:
                raise pymysql.err.OperationalError(2003, "Can't connect (simulated)")
            return real.connect()

    writer.settings = FailsOnce()
    with pytest.raises(pymysql.err.OperationalError):
        writer.write(batch)
    writer.write(batch + points(60)[50:])  # the same head comes back, with more behind it
    writer.close()
    check_exactly_once(mariadb, 60)


@pytest.mark.parametrize("how", ["stop", "crash"])
def test_server_restarts_lose_and_double_nothing(throwaway_mariadb, how):
    settings = throwaway_mariadb.new_database(f"restart_{how}")
    options = setup_tables(settings, legacy=False)
    writer = MySQLWriter(**settings, **options, max_batch=500, connect_timeout=1)
    spool = MemorySpool()
    delivery = Delivery("flow", writer, spool, Backoff(initial=0.05, cap=0.3))
    delivery.start()
    n = 9_000
    producer = threading.Thread(target=feed, args=(spool, points(n), 30, 0.003))
    producer.start()
    restarts = 0
    try:
        while producer.is_alive() and restarts < 3:
            time.sleep(0.3)
            throwaway_mariadb.stop(kill=how == "crash")
            time.sleep(0.3)
            throwaway_mariadb.start()
            restarts += 1
    finally:
        producer.join()
        if not throwaway_mariadb.running:
            throwaway_mariadb.start()
    assert delivery.flush(60), f"{len(spool)} point(s) still waiting: {delivery.stats.last_error}"
    assert delivery.stop(10) == 0
    assert restarts >= 1 and delivery.stats.failures > 0
    check_exactly_once(settings, n)
