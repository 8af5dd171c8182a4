"""ContinuousLogger: PyExpLabSys's API on the core's spool and delivery worker."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pymysql
import pytest
from mysql_helpers import free_port, query, read_points

from lab_mysql import ContinuousLogger, StartupException, schema

HERE = Path(__file__).resolve().parent


def make_tables(settings: dict, setup: str = "dummy", codenames=("dummy_sine_one", "dummy_cos")) -> None:
    conn = pymysql.connect(**settings)
    try:
        with conn.cursor() as cursor:
            cursor.execute(schema.descriptions_ddl())
            cursor.execute(schema.continuous_ddl(f"dateplots_{setup}"))
        conn.commit()
        for codename in codenames:
            schema.register_codename(conn, codename)
    finally:
        conn.close()


def logger_options(settings: dict, **extra) -> dict:
    return {"host": settings["host"], "port": settings["port"], "database": settings["database"], **extra}


def test_the_reference_usage(mariadb):
    make_tables(mariadb)
    db_logger = ContinuousLogger(table="dateplots_dummy", username=mariadb["user"], password=mariadb["password"],
                                 measurement_codenames=["dummy_sine_one", "dummy_cos"],
                                 **logger_options(mariadb))
    db_logger.start()
    before = time.time()
    used = db_logger.enqueue_point_now("dummy_sine_one", 0.5)
    assert before <= used <= time.time()
    db_logger.enqueue_point("dummy_cos", (1_700_000_000.25, -1))
    db_logger.enqueue_point("dummy_cos", [1_700_000_001.5, 2.5])
    assert db_logger.stop() == 0
    stored = read_points(mariadb, "dateplots_dummy")
    assert stored[0][0] == "dummy_sine_one" and abs(stored[0][1] - used) < 1e-6 and stored[0][2] == 0.5
    assert stored[1:] == [("dummy_cos", 1_700_000_000.25, -1.0), ("dummy_cos", 1_700_000_001.5, 2.5)]


def test_positional_arguments_as_in_pyexplabsys(mariadb):
    make_tables(mariadb)
    db_logger = ContinuousLogger("dateplots_dummy", mariadb["user"], mariadb["password"], ["dummy_cos"], 1, 60,
                                 None, **logger_options(mariadb))
    with db_logger:
        db_logger.enqueue_point_now("dummy_cos", 1.0)
    assert len(read_points(mariadb, "dateplots_dummy")) == 1


def test_unknown_codename_is_a_startup_error_naming_it(mariadb):
    make_tables(mariadb)
    with pytest.raises(StartupException, match="dummy_typo"):
        ContinuousLogger("dateplots_dummy", mariadb["user"], "", ["dummy_cos", "dummy_typo"],
                         **logger_options(mariadb))


def test_wrong_password_is_a_startup_error_even_with_a_spool(mariadb, tmp_path):
    with pytest.raises(StartupException, match="Access denied"):
        ContinuousLogger("dateplots_dummy", "no_such_user_here", "wrong", ["dummy_cos"],
                         spool_path=tmp_path / "spool", **logger_options(mariadb))


def test_bad_points_are_refused_at_once(mariadb):
    make_tables(mariadb)
    db_logger = ContinuousLogger("dateplots_dummy", mariadb["user"], "", ["dummy_cos"], **logger_options(mariadb))
    with pytest.raises(ValueError, match="not one of this logger's"):
        db_logger.enqueue_point_now("dummy_sine_one", 1.0)
    with pytest.raises(ValueError, match="unix_time, value"):
        db_logger.enqueue_point("dummy_cos", (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="must be a number"):
        db_logger.enqueue_point_now("dummy_cos", "hot")
    with pytest.raises(ValueError, match="finite"):
        db_logger.enqueue_point("dummy_cos", (math.nan, 1.0))
    assert db_logger.stop() == 0


def test_nan_is_set_aside_and_the_rest_flows(mariadb):
    make_tables(mariadb)
    db_logger = ContinuousLogger("dateplots_dummy", mariadb["user"], "", ["dummy_cos"], **logger_options(mariadb))
    db_logger.start()
    for i, value in enumerate([1.0, math.nan, 2.0, -math.inf, 3.0]):
        db_logger.enqueue_point("dummy_cos", (1_700_000_000 + i, value))
    assert db_logger.flush(10)
    assert db_logger.stop() == 0
    assert [v for _, _, v in read_points(mariadb, "dateplots_dummy")] == [1.0, 2.0, 3.0]
    assert len(db_logger.rejected()) == 2 and db_logger.stats()["set_aside"] == 2


def test_unreachable_database_without_spool_is_a_startup_error():
    with pytest.raises(StartupException, match="cannot reach"):
        ContinuousLogger("dateplots_dummy", "root", "", ["dummy_cos"], host="127.0.0.1", port=free_port(),
                         database="x", connect_timeout=1)


def test_disk_spool_starts_offline_and_the_next_logger_delivers(mariadb, tmp_path):
    """Database unreachable: points wait on disk, stop() returns at once; a later logger delivers them."""
    make_tables(mariadb)
    spool = tmp_path / "logger.spool"
    offline = ContinuousLogger("dateplots_dummy", mariadb["user"], "", ["dummy_cos"], host="127.0.0.1",
                               port=free_port(), database=mariadb["database"], spool_path=spool,
                               reconnect_waittime=0.2, connect_timeout=1)
    offline.start()
    for i in range(20):
        offline.enqueue_point("dummy_cos", (1_700_000_000 + i, float(i)))
    assert stop_in_thread(offline, 0.5) == 20
    online = ContinuousLogger("dateplots_dummy", mariadb["user"], "", ["dummy_cos"], spool_path=spool,
                              **logger_options(mariadb))
    online.start()
    assert online.stop(20) == 0
    assert [v for _, _, v in read_points(mariadb, "dateplots_dummy")] == [float(i) for i in range(20)]


def stop_in_thread(logger: ContinuousLogger, timeout: float) -> int:
    """``logger.stop(timeout)``; fails the test if it has not returned within a minute (it must never hang)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(logger.stop(timeout)), daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "stop() hangs"
    return result[0]


def test_stop_returns_while_the_server_is_down(throwaway_mariadb):
    settings = throwaway_mariadb.new_database("stop_while_down")
    make_tables(settings)
    db_logger = ContinuousLogger("dateplots_dummy", "root", "", ["dummy_cos"], reconnect_waittime=0.2,
                                 connect_timeout=1, **logger_options(settings))
    db_logger.start()
    db_logger.enqueue_point("dummy_cos", (1_700_000_000, 1.0))
    assert db_logger.flush(10)
    throwaway_mariadb.stop()
    for i in range(1, 11):
        db_logger.enqueue_point("dummy_cos", (1_700_000_000 + i, float(i)))
    assert stop_in_thread(db_logger, 1.0) == 10


class Child:
    """logger_child.py in a process of its own."""

    def __init__(self, options: dict, log: Path):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.stderr = open(log, "a")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen([sys.executable, str(HERE / "logger_child.py"), json.dumps(options)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, env=env)
        self.expect("started")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix: str) -> str:
        line = self.proc.stdout.readline()
        assert line.startswith(prefix), f"child said {line!r}; see {self.stderr.name}"
        return line.strip()

    def put(self, start: int, end: int) -> None:
        self.send(f"put {start} {end}")
        self.expect(f"ok {end}")  # from here on, these points are accepted

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.wait()

    def wait(self) -> None:
        self.proc.wait(60)
        self.stderr.close()


def test_sigkill_while_the_database_is_down_loses_nothing(throwaway_mariadb, tmp_path):
    settings = throwaway_mariadb.new_database("sigkill")
    make_tables(settings, setup="kill", codenames=["c"])
    options = {"table": "dateplots_kill", "username": "root", "password": "", "measurement_codenames": ["c"],
               "host": "127.0.0.1", "port": throwaway_mariadb.port, "database": "sigkill",
               "spool_path": str(tmp_path / "kill.spool"), "reconnect_waittime": 0.3, "connect_timeout": 1}
    log = tmp_path / "child.log"
    first = Child(options, log)
    first.put(0, 300)  # delivered (or on their way) while the server runs
    throwaway_mariadb.stop()
    first.put(300, 1000)  # accepted while the server is down: only on disk
    first.kill()
    assert query_down_count(throwaway_mariadb) is None
    second = Child(options, log)  # starts while the server is still down
    second.put(1000, 1200)
    throwaway_mariadb.start()
    second.send("stop 30")
    assert second.expect("left") == "left 0"
    second.wait()
    values = [r[0] for r in query({**throwaway_mariadb.settings, "database": "sigkill"},
                                  "SELECT value FROM dateplots_kill ORDER BY value")]
    assert values == [float(i) for i in range(1200)], f"see {log}"


def query_down_count(server) -> int | None:
    try:
        return query({**server.settings, "database": "sigkill"}, "SELECT count(*) FROM dateplots_kill")[0][0]
    except pymysql.err.OperationalError:
        return None
