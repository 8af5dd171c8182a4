"""#17: a mixed fleet on one database. PyExpLabSys-style writers (written here from the SQL they issue,
as documented in shared/reference/pyexplabsys-observed.md) and lab's writers into the same tables; rows
compared. Real MariaDB throughout."""

from __future__ import annotations

import time

import pymysql
import pytest
from mysql_helpers import query

from lab_core import MemorySpool, Sample
from lab_core.cli import main
from lab_core.delivery import Backoff, Delivery
from lab_core.writers.sqlite import split_time
from lab_mysql import ContinuousDataSaver, ContinuousLogger, CustomColumn, DataSetSaver, MySQLWriter

#: Times at the edge of a second and past the sixth digit: rounding and truncation differ on each.
EDGY = [1_700_000_000.9999996, 1_700_000_001.1234567, 1_700_000_002.0000004, 1_700_000_003.5, 1_700_000_004.999999]


class PyExpLabSysWriter:
    """What PyExpLabSys's writers send (observed): a session in the server's own time zone, autocommit
    off (the MySQL driver's default), the id by ``SELECT id FROM dateplots_descriptions WHERE codename=…``,
    and per point ``INSERT INTO <table> (type, time, value) VALUES (id, FROM_UNIXTIME(t), value)``.
    ``commits``: ContinuousDataSaver commits each point; the old ContinuousLogger never does."""

    def __init__(self, settings: dict, table: str, commits: bool):
        self.conn = pymysql.connect(**settings, autocommit=False)  # no time_zone set: the server's default
        self.table, self.commits = table, commits

    def codename_id(self, codename: str) -> int:
        with self.conn.cursor() as cursor:
            cursor.execute("SELECT id FROM dateplots_descriptions WHERE codename=%s", (codename,))
            rows = cursor.fetchall()
        assert len(rows) == 1, f"exactly one id for {codename}"
        return rows[0][0]

    def save_point(self, codename: str, point: tuple[float, float]) -> None:
        with self.conn.cursor() as cursor:
            cursor.execute(f"INSERT INTO {self.table} (type, time, value) VALUES (%s, FROM_UNIXTIME(%s), %s)",
                           (self.codename_id(codename), point[0], point[1]))
        if self.commits:
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()  # the old logger's uncommitted rows go with it on InnoDB


def init(settings: dict, setup: str, *flags: str, codenames=("pyx", "lab", "lab_logger", "lab_saver")) -> None:
    args = ["mysql", "init", "--host", settings["host"], "--port", str(settings["port"]), "--user", settings["user"],
            "--password", settings["password"], "--database", settings["database"], "--setup", setup, *flags]
    for codename in codenames:
        args += ["--codename", codename]
    assert main(args) == 0


def rows_by_codename(settings: dict, table: str) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for codename, text, unix, value in query(
            settings, f"SELECT d.codename, DATE_FORMAT(t.time, '%Y-%m-%d %H:%i:%s.%f'), UNIX_TIMESTAMP(t.time), "
                      f"t.value FROM {table} t JOIN dateplots_descriptions d ON d.id = t.type ORDER BY t.id"):
        found.setdefault(codename, []).append((text, float(unix), value))
    return found


def lab_collector_writes(settings: dict, table: str, codename: str, points, **options) -> MySQLWriter:
    writer = MySQLWriter(**settings, table=table, **options)
    spool = MemorySpool()
    delivery = Delivery("db", writer, spool, Backoff(initial=0.05, cap=0.2))
    delivery.start()
    spool.put([Sample(codename, t, v) for t, v in points])
    assert delivery.stop(10) == 0
    return writer


def test_mixed_fleet_on_pyexplabsys_tables_rows_agree(mariadb):
    """`lab mysql init --pyexplabsys`: the old never-committing ContinuousLogger, ContinuousDataSaver (a point
    sent twice), lab's collector writer, ContinuousLogger and ContinuousDataSaver: the same rows."""
    init(mariadb, "fleet", "--pyexplabsys")
    table = "dateplots_fleet"
    info = query(mariadb, "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                          "AND TABLE_NAME = %s", (table,))
    assert info == [("MyISAM",)]
    points = [(t, float(i) + 0.25) for i, t in enumerate(EDGY)]

    old_logger = PyExpLabSysWriter(mariadb, table, commits=False)
    for point in points:
        old_logger.save_point("pyx", point)  # never committed: kept because the table is MyISAM
    old_logger.close()
    saver = PyExpLabSysWriter(mariadb, table, commits=True)
    saver.save_point("pyx", points[0])  # the same point twice: no unique key, so no retry forever
    saver.close()

    lab_collector_writes(mariadb, table, "lab", points)
    options = dict(host=mariadb["host"], port=mariadb["port"], database=mariadb["database"])
    with ContinuousLogger(table, mariadb["user"], mariadb["password"], ["lab_logger"], **options) as logger:
        for point in points:
            logger.enqueue_point("lab_logger", point)
        assert logger.flush(10)
    cds = ContinuousDataSaver(table, mariadb["user"], mariadb["password"], **options)
    cds.add_continuous_measurement("lab_saver")
    cds.start()
    for point in points:
        cds.save_point("lab_saver", point)
    cds.save_point("lab_saver", points[0])  # a duplicate: stored, stop() does not hang
    assert cds.stop(10) == 0

    rows = rows_by_codename(mariadb, table)
    reference = rows["pyx"][:len(points)]
    assert rows["pyx"][len(points)] == reference[0]
    for codename in ("lab", "lab_logger", "lab_saver"):
        assert rows[codename][:len(points)] == reference, codename  # same text, instant and value per point
    # truncation, not rounding: .9999996 stays in its second, .1234567 is .123456
    assert reference[0][0] == "2023-11-14 22:13:20.999999" and reference[1][0] == "2023-11-14 22:13:21.123456"
    assert [split_time(t) for t, _ in points[:2]] == [(1_700_000_000, 999_999), (1_700_000_001, 123_456)]


def test_times_are_cut_as_the_server_cuts_from_unixtime(mariadb):
    """What PyExpLabSys sends is a double; the server cuts its exact binary value at the microsecond.
    lab's writers must store the same microsecond for every time (repr's digits are wrong for ~1 in 5)."""
    import random

    rng = random.Random(17)
    times = [1_796_000_000 + rng.random() * 1e5 for _ in range(1000)] + [round(t, 6) for t in EDGY]
    rows = query(mariadb, "SELECT " + ", ".join(["UNIX_TIMESTAMP(FROM_UNIXTIME(%s)) DIV 1, "
                                                 "MICROSECOND(FROM_UNIXTIME(%s))"] * len(times)),
                 [t for t in times for _ in range(2)])[0]
    server = list(zip(rows[::2], rows[1::2]))
    assert [split_time(t) for t in times] == [(int(s), us) for s, us in server]


def test_old_logger_stores_nothing_on_lab_innodb_tables(mariadb):
    """Why --pyexplabsys exists: PyExpLabSys's old ContinuousLogger never commits."""
    init(mariadb, "plain")
    old_logger = PyExpLabSysWriter(mariadb, "dateplots_plain", commits=False)
    old_logger.save_point("pyx", (EDGY[0], 1.0))
    old_logger.close()
    assert query(mariadb, "SELECT count(*) FROM dateplots_plain") == [(0,)]


def test_old_dataset_saver_and_lab_dataset_saver_on_pyexplabsys_tables(mariadb):
    """PyExpLabSys's DataSetSaver (never commits) next to lab's, in --pyexplabsys --datasets tables."""
    init(mariadb, "ds", "--pyexplabsys", "--datasets", codenames=())
    conn = pymysql.connect(**mariadb, autocommit=False)
    with conn.cursor() as cursor:
        cursor.execute("INSERT INTO measurements_ds (time, type, comment) VALUES (FROM_UNIXTIME(%s), %s, %s)",
                       (EDGY[1], 5, "old saver"))
        old_id = cursor.lastrowid
        for x, y in [(1.0, 2.0), (3.0, 4.0)]:
            cursor.execute("INSERT INTO xy_values_ds (measurement, x, y) VALUES (%s, %s, %s)", (old_id, x, y))
    conn.close()  # no COMMIT, as the old DataSetSaver
    saver = DataSetSaver("measurements_ds", "xy_values_ds", mariadb["user"], mariadb["password"],
                         host=mariadb["host"], port=mariadb["port"], database=mariadb["database"])
    new_id = saver.save_dataset({"time": CustomColumn(EDGY[1], "FROM_UNIXTIME(%s)"),
                                 "type": 5, "comment": "lab saver"}, [1.0, 3.0], [2.0, 4.0])
    saver.stop()
    rows = query(mariadb, "SELECT id, DATE_FORMAT(time, '%H:%i:%s.%f'), type FROM measurements_ds ORDER BY id")
    assert [r[1:] for r in rows] == [("22:13:21.123456", 5), ("22:13:21.123456", 5)]
    for measurement in (old_id, new_id):
        assert query(mariadb, "SELECT x, y FROM xy_values_ds WHERE measurement = %s ORDER BY id",
                     (measurement,)) == [(1.0, 2.0), (3.0, 4.0)]


def test_datetime_columns_in_local_time_with_an_explicit_zone(mariadb):
    """A DATETIME table a PyExpLabSys writer fills in +02:00 wall time: lab writes the same text with
    time_zone = "+02:00"; with "utc" it would be two hours apart (the reported difference)."""
    init(mariadb, "dt", "--time-type", "datetime", codenames=("pyx", "lab", "lab_utc"))
    query(mariadb, "ALTER TABLE dateplots_dt DROP INDEX type_time")  # a PyExpLabSys table: no unique key
    old = PyExpLabSysWriter(mariadb, "dateplots_dt", commits=True)
    with old.conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+02:00'")  # a server whose own zone is +02:00
    points = [(t, 1.0) for t in EDGY]
    for point in points:
        old.save_point("pyx", point)
    old.close()
    lab_collector_writes(mariadb, "dateplots_dt", "lab", points, time_zone="+02:00")
    lab_collector_writes(mariadb, "dateplots_dt", "lab_utc", points, time_zone="utc")
    rows = rows_by_codename(mariadb, "dateplots_dt")
    assert [r[0] for r in rows["lab"]] == [r[0] for r in rows["pyx"]]
    assert rows["pyx"][0][0] == "2023-11-15 00:13:20.999999"
    assert rows["lab_utc"][0][0] == "2023-11-14 22:13:20.999999"
    with pytest.raises(ValueError, match="time_zone 'Mars' is unknown"):
        MySQLWriter(**mariadb, setup="dt", time_zone="Mars")


@pytest.mark.slow
def test_time_convention_follows_the_table_on_a_server_in_local_time(throwaway_mariadb, tmp_path):
    """A server whose default zone is +02:00: a --pyexplabsys DATETIME table is marked local, and an
    unmarked DATETIME table is told from its newest row; lab's rows equal PyExpLabSys's in both."""
    throwaway_mariadb.stop()
    throwaway_mariadb.start("--default-time-zone=+02:00")
    try:
        settings = throwaway_mariadb.new_database(f"tz_{int(time.time() * 1000)}")
        init(settings, "marked", "--pyexplabsys", "--time-type", "datetime", codenames=("pyx", "lab"))
        comment = query(settings, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                                  "DATABASE() AND TABLE_NAME = 'dateplots_marked'")
        assert comment == [("lab:time=local",)]
        # an unmarked table, as PyExpLabSys's own DDL with a DATETIME column would make it
        conn = pymysql.connect(**settings, autocommit=True)
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE dateplots_unmarked (id int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, "
                           "time datetime(6) NOT NULL, type smallint unsigned NOT NULL, value double NULL, "
                           "KEY (time))")
        conn.close()
        now = time.time()
        points = [(now - 5 + i + 0.1234567, float(i)) for i in range(3)]
        for table in ("dateplots_marked", "dateplots_unmarked"):
            old = PyExpLabSysWriter(settings, table, commits=True)
            for point in points:
                old.save_point("pyx", point)
            old.close()
            writer = lab_collector_writes(settings, table, "lab", points)  # time_zone = "auto"
            assert writer.zone == "+02:00", table
            rows = rows_by_codename(settings, table)
            assert [r[0] for r in rows["lab"]] == [r[0] for r in rows["pyx"]], table
            assert [r[1] for r in rows["lab"]] == [r[1] for r in rows["pyx"]]
    finally:
        throwaway_mariadb.stop()
        throwaway_mariadb.start()


def test_the_migration_guide_check_query_finds_exactly_the_rows_that_differ(mariadb):
    """docs/lab-admins.md's check query, as printed, on rows of both kinds of writer."""
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "lab-admins.md").read_text()
    check_sql = guide.split("<!-- check-rows -->\n```sql\n", 1)[1].split("```", 1)[0]
    init(mariadb, "surface", "--pyexplabsys", codenames=("surface_temp", "surface_temp_lab"))
    now = time.time()
    points = [(now - 60 + i + 0.1234567, 20.0 + i / 3) for i in range(5)]
    old = PyExpLabSysWriter(mariadb, "dateplots_surface", commits=False)
    for point in points:
        old.save_point("surface_temp", point)
    old.close()
    lab_collector_writes(mariadb, "dateplots_surface", "surface_temp_lab", points[:4])
    differ = query(mariadb, check_sql)
    assert len(differ) == 1 and differ[0][2] is None  # the one point lab did not write
    lab_collector_writes(mariadb, "dateplots_surface", "surface_temp_lab", points[4:])
    assert query(mariadb, check_sql) == []
