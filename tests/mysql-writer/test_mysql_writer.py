"""The mysql writer against the machine's MariaDB: the core's writer contract, schema, values, times."""

from __future__ import annotations

import math
import time

import pytest
from mysql_helpers import LEGACY_DESCRIPTIONS, execute, legacy_table, query, read_points

from lab_core import MemorySpool, RejectedSamples, Sample
from lab_core.delivery import Backoff, Delivery
from lab_core.testing import WriterContract
from lab_core.writers.sqlite import SqliteWriter, sql_time
from lab_mysql import schema
from lab_mysql.errors import SchemaError, UnknownCodenames
from lab_mysql.writer import MySQLWriter


def make_writer(settings: dict, **options) -> MySQLWriter:
    options.setdefault("setup", "test")
    return MySQLWriter(**settings, **options)


class TestMySQLWriterContract(WriterContract):
    plugin_name = "mysql"

    @pytest.fixture
    def writer(self, mariadb):
        self.settings = mariadb
        return make_writer(mariadb, create_tables=True, register_codenames=True)

    def read_back(self, writer):
        return read_points(self.settings, writer.table)


class TestLegacyTableContract(WriterContract):
    """The same contract on PyExpLabSys's 1-second table without a unique key."""

    plugin_name = "mysql"
    time_resolution = 1.0

    @pytest.fixture
    def writer(self, mariadb):
        self.settings = mariadb
        execute(mariadb, LEGACY_DESCRIPTIONS, legacy_table("dateplots_old"))
        return make_writer(mariadb, setup="old", register_codenames=True)

    def read_back(self, writer):
        return read_points(self.settings, writer.table)


def test_rows_match_the_sqlite_writer(mariadb, tmp_path):
    """Same tables, same UTC text in the time column, same ids for the same codenames."""
    t0 = 1_700_000_000.123456
    samples = [Sample("a", t0 + i * 0.25, float(i)) for i in range(8)] + [Sample("b", t0, -1.5)]
    writer = make_writer(mariadb, create_tables=True, register_codenames=True)
    writer.open()
    writer.write(samples)
    writer.close()
    lite = SqliteWriter(tmp_path / "lab.sqlite", setup="test")
    lite.open()
    lite.write(samples)
    rows_lite = lite._db.execute("SELECT time, type, value FROM dateplots_test ORDER BY id").fetchall()
    lite.close()
    rows_my = query(mariadb, "SELECT DATE_FORMAT(time, '%Y-%m-%d %H:%i:%s.%f'), type, value "
                             "FROM dateplots_test ORDER BY id")
    assert [tuple(r) for r in rows_my] == rows_lite
    assert rows_lite[0][0] == sql_time(t0)


def test_retried_batch_is_stored_once_with_unique_key(mariadb):
    writer = make_writer(mariadb, create_tables=True, register_codenames=True)
    writer.open()
    batch = [Sample("x", 1_700_000_000 + i / 1000, float(i)) for i in range(1000)]
    writer.write(batch)
    writer.write(batch[500:] + [Sample("x", 1_800_000_000.0, 7.0)])
    writer.close()
    assert writer.info.unique
    assert query(mariadb, "SELECT count(*), count(DISTINCT type, time) FROM dateplots_test")[0] == (1001, 1001)


def test_created_tables(mariadb):
    writer = make_writer(mariadb, create_tables=True)
    writer.open()
    writer.close()
    info = writer.info
    cols = {name: (kind, precision) for name, kind, precision in query(
        mariadb, "SELECT COLUMN_NAME, DATA_TYPE, DATETIME_PRECISION FROM information_schema.COLUMNS "
                 "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dateplots_test'")}
    assert cols["time"] == ("timestamp", 6)
    assert info.unique and info.auto_id and info.precision == 6


def test_datetime_tables(mariadb):
    writer = make_writer(mariadb, create_tables=True, register_codenames=True, time_type="datetime")
    writer.open()
    writer.write([Sample("a", 1_700_000_000.5, 1.0), Sample("a", 4_000_000_000.25, 2.0)])  # after 2038
    writer.close()
    assert writer.info.time_type == "datetime"
    rows = query(mariadb, "SELECT DATE_FORMAT(time, '%Y-%m-%d %H:%i:%s.%f') FROM dateplots_test ORDER BY id")
    assert [r[0] for r in rows] == [sql_time(1_700_000_000.5), sql_time(4_000_000_000.25)]


def test_legacy_one_second_table_gets_whole_seconds(mariadb):
    execute(mariadb, LEGACY_DESCRIPTIONS, legacy_table("dateplots_old"),
            "INSERT INTO dateplots_descriptions VALUES (7, 'old_temp', 'a description')")
    writer = make_writer(mariadb, setup="old", codenames=["old_temp"])
    writer.open()
    assert not writer.info.unique and writer.info.precision == 0
    writer.write([Sample("old_temp", 1_700_000_000.9, 21.5)])
    writer.close()
    assert query(mariadb, "SELECT UNIX_TIMESTAMP(time), type, value FROM dateplots_old") == [(1_700_000_000, 7, 21.5)]


def test_unknown_codename_is_an_error_naming_it(mariadb, caplog):
    writer = make_writer(mariadb, create_tables=True, codenames=["nobody_knows_me"])
    writer.open()  # logged, not a failure to open that would be retried forever (#11 item 8)
    assert "nobody_knows_me" in caplog.text
    with pytest.raises(UnknownCodenames, match="nobody_knows_me") as info:
        writer.check_codenames()
    assert info.value.fix.startswith(f"lab mysql init --setup test --host {mariadb['host']} ")
    assert info.value.fix.endswith(f" --user {mariadb['user']} --database {mariadb['database']} "
                                   "--codename nobody_knows_me")
    assert str(info.value).endswith(f"with: {info.value.fix}")
    writer.close()


def test_unknown_configured_codename_is_set_aside_through_delivery_the_rest_flows(mariadb):
    """#11 item 8: the start-up codename check no longer blocks the spool; the sample is set aside once."""
    execute(mariadb, schema.descriptions_ddl(), schema.continuous_ddl("dateplots_test"),
            "INSERT INTO dateplots_descriptions VALUES (1, 'known', NULL)")
    writer = make_writer(mariadb, codenames=["known", "typo"])
    spool = MemorySpool()
    delivery = Delivery("db", writer, spool, Backoff(initial=0.01, cap=0.05))
    t = 1_700_000_000.0
    spool.put([Sample("known", t, 1.0), Sample("typo", t, 2.0), Sample("known", t + 1, 3.0)])
    delivery.start()
    assert delivery.flush(10)
    assert delivery.stop(5) == 0
    assert [r[2] for r in read_points(mariadb, "dateplots_test")] == [1.0, 3.0]
    assert [(s.codename, s.value) for s, _ in spool.rejected()] == [("typo", 2.0)]
    assert "lab mysql init --setup test --host" in spool.rejected()[0][1]
    assert f"--database {mariadb['database']} --codename typo" in spool.rejected()[0][1]
    assert delivery.stats.failures == 0  # set aside at once, never retried


def test_codename_listed_twice_is_an_error(mariadb):
    execute(mariadb, LEGACY_DESCRIPTIONS, legacy_table("dateplots_old"),
            "INSERT INTO dateplots_descriptions VALUES (1, 'twice', NULL), (2, 'twice', NULL)")
    with pytest.raises(UnknownCodenames, match="more than once"):
        writer = make_writer(mariadb, setup="old", codenames=["twice"])
        writer.open()
        writer.check_codenames()


def test_missing_table_says_how_to_create_it(mariadb):
    with pytest.raises(SchemaError, match="lab mysql init --setup nothere"):
        make_writer(mariadb, setup="nothere").open()


def test_codenames_are_translated_once(mariadb):
    """After open, writing does not read the descriptions table again (unless a codename is new)."""
    writer = make_writer(mariadb, create_tables=True, register_codenames=True, codenames=["a"])
    writer.open()
    execute(mariadb, "RENAME TABLE dateplots_descriptions TO moved_away")
    writer.write([Sample("a", time.time(), 1.0)])
    writer.close()
    assert query(mariadb, "SELECT count(*) FROM dateplots_test") == [(1,)]


def test_bad_values_are_rejected_not_retried(mariadb):
    writer = make_writer(mariadb, create_tables=True, register_codenames=True, codenames=["a"])
    writer.open()
    t = 1_700_000_000.0
    good = [Sample("a", t, 1), Sample("a", t + 1, True), Sample("a", t + 2, 2.5)]
    bad = [Sample("a", t + 3, math.nan), Sample("a", t + 4, -math.inf), Sample("a", t + 5, "text"),
           Sample("a", t + 6, None), Sample("a", t + 7, 10**400), Sample("a", 5e9, 1.0), Sample("a", 0.5, 1.0)]
    with pytest.raises(RejectedSamples) as info:
        writer.write(good + bad)
    assert sorted(map(id, info.value.samples)) == sorted(map(id, bad))
    assert query(mariadb, "SELECT count(*) FROM dateplots_test") == [(0,)]  # nothing of the batch went in
    writer.write(good)
    writer.close()
    assert [r[2] for r in read_points(mariadb, "dateplots_test")] == [1.0, 1.0, 2.5]


def test_error_samples_are_skipped(mariadb):
    writer = make_writer(mariadb, create_tables=True, register_codenames=True)
    writer.open()
    writer.write([Sample.failed("a", "device unplugged"), Sample("a", time.time(), 1.0)])
    writer.close()
    assert writer.skipped_errors == 1
    assert len(read_points(mariadb, "dateplots_test")) == 1


def test_unknown_codename_while_writing_is_set_aside(mariadb):
    writer = make_writer(mariadb, create_tables=True, register_codenames=False)
    writer.open()
    with pytest.raises(RejectedSamples, match="stranger") as info:
        writer.write([Sample("stranger", time.time(), 1.0)])
    assert f"lab mysql init --setup test --host {mariadb['host']}" in info.value.reason
    assert "--codename stranger" in info.value.reason
    # registered meanwhile (e.g. with `lab mysql init`): picked up without a restart
    conn = __import__("pymysql").connect(**mariadb)
    schema.register_codename(conn, "stranger")
    conn.close()
    writer.write([Sample("stranger", time.time(), 1.0)])
    writer.close()


def test_server_refusing_a_row_sets_it_aside(mariadb):
    """A row the server refuses for its data (here: a CHECK constraint) goes aside; the others are stored."""
    writer = make_writer(mariadb, create_tables=True, register_codenames=True, codenames=["a"])
    writer.open()
    execute(mariadb, "ALTER TABLE dateplots_test ADD CONSTRAINT small CHECK (value < 100)")
    t = 1_700_000_000.0
    batch = [Sample("a", t + i, float(v)) for i, v in enumerate([1, 500, 2])]
    with pytest.raises(RejectedSamples, match="refused") as info:
        writer.write(batch)
    assert list(info.value.samples) == [batch[1]]
    writer.write([batch[0], batch[2]])
    writer.close()
    assert [r[2] for r in read_points(mariadb, "dateplots_test")] == [1.0, 2.0]


def test_nan_does_not_block_the_queue(mariadb):
    """Through the core's delivery worker: NaN/inf are set aside, everything else arrives, in order."""
    writer = make_writer(mariadb, create_tables=True, register_codenames=True)
    spool = MemorySpool()
    delivery = Delivery("db", writer, spool, Backoff(initial=0.01, cap=0.05))
    delivery.start()
    t = 1_700_000_000.0
    values = [1.0, math.nan, 2.0, math.inf, 3.0]
    for i, v in enumerate(values):
        spool.put([Sample("a", t + i, v)])
    assert delivery.flush(10)
    assert delivery.stop(5) == 0
    assert [r[2] for r in read_points(mariadb, "dateplots_test")] == [1.0, 2.0, 3.0]
    rejected = [s.value for s, _ in spool.rejected()]
    assert len(rejected) == 2 and math.isnan(rejected[0]) and rejected[1] == math.inf


def test_identifiers_are_validated():
    for bad in ("x; DROP TABLE y", "a`b", "", "x" * 65, "dateplots-x", "name with space"):
        with pytest.raises(ValueError):
            MySQLWriter(database="db", table=bad)
    with pytest.raises(ValueError, match="setup"):
        MySQLWriter(database="db", setup="x" * 49)
    with pytest.raises(ValueError, match="give the setup"):
        MySQLWriter(database="db")
    with pytest.raises(ValueError, match="port"):
        MySQLWriter(database="db", setup="x", port=70000)
    with pytest.raises(TypeError, match="colour"):
        MySQLWriter(database="db", setup="x", colour="blue")


def test_tls_options_are_passed_through():
    writer = MySQLWriter(database="db", setup="x", ssl_ca="/etc/ca.pem", ssl_verify_cert=True,
                         ssl_verify_identity=True, ssl_cert="/c.pem", ssl_key="/k.pem", ssl_disabled=None)
    kwargs = writer.settings.connect_kwargs()
    assert kwargs["ssl_ca"] == "/etc/ca.pem" and kwargs["ssl_verify_cert"] is True
    assert kwargs["ssl_cert"] == "/c.pem" and kwargs["ssl_key"] == "/k.pem" and kwargs["ssl_verify_identity"]
    assert "ssl_disabled" not in kwargs
    assert "time_zone = '+00:00'" in kwargs["init_command"]


def test_password_from_environment(monkeypatch):
    monkeypatch.setenv("MY_DB_SECRET", "s3cret")
    writer = MySQLWriter(database="db", setup="x", password_env="MY_DB_SECRET")
    assert writer.settings.password == "s3cret"
    assert "s3cret" not in repr(writer) and "s3cret" not in repr(writer.settings)
    with pytest.raises(ValueError, match="NOT_SET_ANYWHERE"):
        MySQLWriter(database="db", setup="x", password_env="NOT_SET_ANYWHERE")


def test_time_formatter_matches_datetime():
    fmt = schema.TimeFormatter(6)
    import random

    rng = random.Random(4)
    for t in [0.0, 1.0, 1_700_000_000.9999996, 1_700_000_000.0000004, 2**31 - 0.5] + [
            rng.uniform(1, 4e9) for _ in range(5000)]:
        assert fmt(t) == sql_time(t), t
    assert schema.TimeFormatter(0)(1_700_000_000.99) == "2023-11-14 22:13:20"
    assert schema.TimeFormatter(3)(1_700_000_000.9996) == "2023-11-14 22:13:20.999"


@pytest.mark.parametrize("legacy", [False, True], ids=["unique-key", "legacy-table"])
def test_a_batch_is_one_statement_and_one_commit(mariadb, legacy):
    """PyMySQL rewrites the plain VALUES (%s, %s, %s) into one multi-row INSERT; one COMMIT per batch."""
    if legacy:
        execute(mariadb, LEGACY_DESCRIPTIONS, legacy_table("dateplots_test"))
    writer = make_writer(mariadb, create_tables=not legacy, register_codenames=True, codenames=["a"])
    writer.open()

    def counters():
        with writer._connection().cursor() as cursor:
            cursor.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Com_insert', 'Com_commit')")
            return {name: int(value) for name, value in cursor.fetchall()}

    before = counters()
    writer.write([Sample("a", 1_700_000_000 + i, float(i)) for i in range(2000)])
    after = counters()
    writer.close()
    assert after["Com_insert"] - before["Com_insert"] == 1
    assert after["Com_commit"] - before["Com_commit"] == 1
    assert query(mariadb, "SELECT count(*) FROM dateplots_test") == [(2000,)]


def test_a_context_with_an_unknown_codename_is_refused_at_start(mariadb):
    from lab_core import Collector, ConfigError, Context, Variable
    from lab_core.readers.demo import DemoReader

    setup = make_writer(mariadb, create_tables=True, codenames=[], register_codenames=False)
    setup.open()  # creates the tables
    schema.register_codename(setup._connection(), "known_one", table=setup.descriptions_table)
    setup.close()
    writer = make_writer(mariadb)
    with Collector({"r": DemoReader()}, {"db": writer}) as collector:
        with pytest.raises(ConfigError, match=r"writer 'db'.*'not_registered'.*lab mysql init --setup test"):
            collector.start(Context(1, [Variable(1, "known_one", "sine", "r"),
                                        Variable(2, "not_registered", "sine", "r")]))
        assert collector.start(Context(2, [Variable(1, "known_one", "sine", "r")])).state.value == "running"


def test_a_context_starts_while_the_database_is_down(tmp_path):
    from lab_core import Collector, Context, DiskSpool, Variable
    from lab_core.readers.demo import DemoReader
    from services import free_port

    writer = MySQLWriter(host="127.0.0.1", port=free_port(), user="root", password="", database="x",
                         setup="test", connect_timeout=1)
    with Collector({"r": DemoReader()}, {"db": writer}, spools={"db": DiskSpool(tmp_path / "db.spool")},
                   flush_timeout_s=0.5) as collector:
        assert collector.start(Context(1, [Variable(1, "whatever", "sine", "r")])).state.value == "running"
