"""DataSetSaver: measurements_<setup> + xy_values_<setup>, batched, exactly once."""

from __future__ import annotations

import collections
import math
import random
import threading
import time

import pymysql
import pytest
from mysql_helpers import connect, query

from lab_mysql import CustomColumn, DataSetSaver, StartupException, schema


def make_tables(settings: dict, setup: str = "dummy") -> None:
    measurements, xy_values = schema.dataset_tables(setup)
    conn = pymysql.connect(**settings)
    with conn.cursor() as cursor:
        cursor.execute(schema.measurements_ddl(measurements))
        cursor.execute(schema.xy_values_ddl(xy_values))
    conn.close()


def make_saver(settings: dict, **options) -> DataSetSaver:
    make_tables(settings)
    return DataSetSaver("measurements_dummy", "xy_values_dummy", settings["user"], settings["password"],
                        host=settings["host"], port=settings["port"], database=settings["database"], **options)


def test_measurement_with_points(mariadb):
    saver = make_saver(mariadb, measurement_specs=[("M2", {"type": 5, "timestep": 0.1, "label": "M2M"})])
    saver.start()
    t = 1_700_000_000.5
    m28 = saver.add_measurement("M28", {"type": 5, "comment": "first run",
                                        "time": CustomColumn(t, "FROM_UNIXTIME(%s)")})
    saver.save_point("M2", (0.0, 1.5))
    saver.save_points_batch("M28", [float(i) for i in range(2000)], [i * 2.0 for i in range(2000)])
    saver.save_point("M2", (1.0, 2.5))
    assert saver.wait_for_queue_to_empty(10)
    assert saver.stop() == 0
    rows = query(mariadb, "SELECT id, UNIX_TIMESTAMP(time), type, timestep, comment, label FROM measurements_dummy "
                          "ORDER BY id")
    assert rows[1][0] == m28 and float(rows[1][1]) == t and rows[1][4] == "first run"
    assert rows[0][2:] == (5, 0.1, None, "M2M")
    m2 = saver.measurement_ids["M2"]
    assert query(mariadb, "SELECT x, y FROM xy_values_dummy WHERE measurement = %s ORDER BY id", (m2,)) == [
        (0.0, 1.5), (1.0, 2.5)]
    points = query(mariadb, "SELECT x, y FROM xy_values_dummy WHERE measurement = %s ORDER BY id", (m28,))
    assert points == [(float(i), i * 2.0) for i in range(2000)]
    assert saver.get_unique_values_from_measurements("type") == {5}
    assert saver.get_unique_values_from_measurements("UNIX_TIMESTAMP(time)") >= {t}


def test_save_dataset_in_one_transaction(mariadb):
    saver = make_saver(mariadb)
    xs = [i * 0.5 for i in range(5000)]
    new_id = saver.save_dataset({"type": 3, "comment": "scan"}, xs, [math.sin(x) for x in xs])
    assert query(mariadb, "SELECT count(*) FROM xy_values_dummy WHERE measurement = %s", (new_id,)) == [(5000,)]
    with pytest.raises(ValueError, match="finite"):
        saver.save_dataset({"type": 3}, [1.0, 2.0], [1.0, math.nan])
    assert query(mariadb, "SELECT count(*) FROM measurements_dummy") == [(1,)]  # nothing of the refused one
    assert saver.stop() == 0


@pytest.mark.parametrize("really_commit", [True, False], ids=["stored", "not-stored"])
def test_save_dataset_lost_commit_answer(mariadb, really_commit):
    """The COMMIT's answer is lost (simulated: the server and everything else are real): stored once."""
    saver = make_saver(mariadb)
    conn = saver._connection()
    real_commit = conn.commit

    def commit():
        conn.commit = real_commit
        if really_commit:
            real_commit()
        conn._force_close()
        raise pymysql.err.OperationalError(2013, "Lost connection to server during query")

    conn.commit = commit
    new_id = saver.save_dataset({"type": 1}, [1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert query(mariadb, "SELECT id FROM measurements_dummy") == [(new_id,)]
    assert query(mariadb, "SELECT x, y FROM xy_values_dummy ORDER BY id") == [(1.0, 4.0), (2.0, 5.0), (3.0, 6.0)]
    saver.stop()


def test_nan_points_are_set_aside(mariadb):
    saver = make_saver(mariadb)
    saver.add_measurement("m", {"type": 1})
    saver.start()
    saver.save_points_batch("m", [1.0, 2.0, 3.0, 4.0], [1.0, math.nan, 3.0, math.inf])
    assert saver.wait_for_queue_to_empty(10)
    assert saver.stop() == 0
    assert query(mariadb, "SELECT x, y FROM xy_values_dummy ORDER BY id") == [(1.0, 1.0), (3.0, 3.0)]
    assert len(saver.spool.rejected()) == 2


def test_bad_input_is_refused_before_anything_is_sent(mariadb):
    saver = make_saver(mariadb)
    with pytest.raises(ValueError, match="invalid column name"):
        saver.add_measurement("m", {"type`; DROP TABLE x; --": 1})
    with pytest.raises(ValueError, match="has no column 'colour'"):
        saver.add_measurement("m", {"colour": "blue"})
    with pytest.raises(ValueError, match="CustomColumn format"):
        saver.add_measurement("m", {"time": CustomColumn(1, "FROM_UNIXTIME(%s)); DROP TABLE x; --")})
    with pytest.raises(ValueError, match="no measurement 'm'"):
        saver.save_point("m", (1.0, 2.0))
    saver.add_measurement("m", {"type": 1})
    with pytest.raises(ValueError, match="x must be finite"):
        saver.save_point("m", (math.nan, 2.0))
    with pytest.raises(ValueError, match="same"):
        saver.save_points_batch("m", [1.0], [1.0, 2.0])
    for bad in ("type FROM x; --", "SLEEP(1) OR type", "a b"):
        with pytest.raises(ValueError, match="column"):
            saver.get_unique_values_from_measurements(bad)
    assert saver.stop() == 0


def test_missing_tables_are_a_startup_error(mariadb):
    with pytest.raises(StartupException, match="lab mysql init --setup nothing --datasets"):
        DataSetSaver("measurements_nothing", "xy_values_nothing", mariadb["user"], "", host=mariadb["host"],
                     port=mariadb["port"], database=mariadb["database"])


def test_killed_connections_lose_and_double_no_point(mariadb):
    saver = make_saver(mariadb, reconnect_waittime=0.05)
    saver.writer.max_batch = 400
    measurement = saver.add_measurement("scan", {"type": 1})
    saver.start()
    n = 15_000

    def produce():
        for i in range(0, n, 50):
            saver.save_points_batch("scan", [float(j) for j in range(i, i + 50)], [1.0] * 50)
            time.sleep(0.002)

    producer = threading.Thread(target=produce)
    producer.start()
    kills, rng = 0, random.Random(2)
    admin = connect(mariadb)
    with admin.cursor() as cursor:
        while producer.is_alive():
            cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
                           (mariadb["database"],))
            for (conn_id,) in cursor.fetchall():
                try:
                    cursor.execute(f"KILL {int(conn_id)}")
                    kills += 1
                except pymysql.err.OperationalError:
                    pass
            time.sleep(rng.uniform(0.005, 0.05))
    admin.close()
    producer.join()
    assert saver.wait_for_queue_to_empty(60)
    assert saver.stop() == 0
    xs = [r[0] for r in query(mariadb, "SELECT x FROM xy_values_dummy WHERE measurement = %s", (measurement,))]
    doubled = [x for x, c in collections.Counter(xs).items() if c > 1]
    assert not doubled and sorted(xs) == [float(i) for i in range(n)]
    assert kills > 5


@pytest.mark.parametrize("function", ["LOAD_FILE", "SLEEP", "load_file", "BENCHMARK", "USER", "GET_LOCK"])
def test_custom_column_functions_outside_the_allow_list_are_refused(mariadb, function):
    """#11 item 11: only conversions of one value; LOAD_FILE, SLEEP… refused before anything is sent."""
    saver = make_saver(mariadb)
    with pytest.raises(ValueError, match=f"SQL function {function.upper()}, which is not allowed; use one of "
                                         r".*FROM_UNIXTIME"):
        saver.add_measurement("m", {"comment": CustomColumn("/etc/passwd", f"{function}(%s)")})
    with pytest.raises(ValueError, match="not allowed"):
        saver.get_unique_values_from_measurements(f"{function}(comment)")
    assert query(mariadb, "SELECT count(*) FROM measurements_dummy") == [(0,)]
    saver.stop()


def test_custom_column_allowed_functions_work(mariadb):
    saver = make_saver(mariadb)
    new_id = saver.add_measurement("m", {"time": CustomColumn(1_700_000_000, "from_unixtime(%s)"),
                                         "comment": CustomColumn("Moon", "UPPER(%s)")})
    assert query(mariadb, "SELECT UNIX_TIMESTAMP(time), comment FROM measurements_dummy WHERE id = %s",
                 (new_id,)) == [(1_700_000_000, "MOON")]
    assert saver.get_unique_values_from_measurements("LOWER(comment)") == {"moon"}
    saver.stop()
