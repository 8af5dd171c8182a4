"""Core's embedded plugins pass the same contract kit third parties use."""

import csv
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab_core import Sample, Variable
from lab_core.readers.demo import DemoReader, parse_address
from lab_core.testing import ReaderContract, WriterContract
from lab_core.writers.csv import HEADER, CsvWriter
from lab_core.writers.sqlite import STATEMENT_ROWS, SqliteWriter


class TestDemoReader(ReaderContract):
    plugin_name = "demo"

    @pytest.fixture
    def reader(self):
        return DemoReader()

    @pytest.fixture
    def variables(self):
        return [Variable(1, "d_sine", "sine:period=2", "demo"), Variable(2, "d_ramp", "ramp", "demo"),
                Variable(3, "d_rand", "random:low=5,high=6,seed=3", "demo")]

    @pytest.fixture
    def bad_variable(self):
        return Variable(9, "d_fail", "fail", "demo")


def test_demo_signals_have_the_asked_shape():
    reader = DemoReader()
    values = {s.codename: s.value for s in reader.read([
        Variable(1, "s", "sine:amplitude=2,offset=10", "d"), Variable(2, "r", "ramp:low=3,high=4", "d"),
        Variable(3, "n", "random:low=5,high=6", "d")])}
    assert 8 <= values["s"] <= 12 and 3 <= values["r"] <= 4 and 5 <= values["n"] <= 6


@pytest.mark.parametrize("address, message", [
    ("square", "unknown"), ("sine:period=0", "positive"), ("sine:freq=1", "not one of"),
    ("ramp:low=x", "must be a number")])
def test_demo_addresses_are_checked(address, message):
    with pytest.raises(ValueError, match=message):
        parse_address(address)
    with pytest.raises(ValueError, match="'bad_one'"):
        DemoReader().check_address(Variable(1, "bad_one", address, "d"))


class TestSqliteWriter(WriterContract):
    plugin_name = "sqlite"

    @pytest.fixture
    def writer(self, tmp_path):
        return SqliteWriter(path=tmp_path / "lab.sqlite", setup="contract")

    def read_back(self, writer):
        import datetime as dt
        db = sqlite3.connect(writer.path)
        rows = db.execute("SELECT d.codename, t.time, t.value FROM dateplots_contract t "
                          "JOIN dateplots_descriptions d ON d.id = t.type").fetchall()
        parse = lambda s: dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()
        return [(c, parse(t), v) for c, t, v in rows]


def test_sqlite_retry_does_not_duplicate_and_errors_are_skipped(tmp_path):
    writer = SqliteWriter(path=tmp_path / "x.sqlite", setup="s1")
    writer.open()
    batch = [Sample("a", 100.25, 1.0), Sample("b", 100.25, 2.0), Sample("a", 101.0, None, "broken")]
    writer.write(batch)
    writer.write(batch)
    writer.close()
    db = sqlite3.connect(tmp_path / "x.sqlite")
    assert db.execute("SELECT count(*) FROM dateplots_s1").fetchone()[0] == 2
    assert db.execute("SELECT time FROM dateplots_s1 LIMIT 1").fetchone()[0] == "1970-01-01 00:01:40.250000"
    assert writer.skipped_errors == 2


def test_sqlite_common_and_general_batches_store_the_same_rows(tmp_path):
    """A batch of plain floats takes the writer's short way; one with an error sample in it the
    general way: the rows are the same."""
    batch = [Sample(c, 1_700_000_000 + i * 0.001 + 1e-7, float(i) / 3) for i in range(300) for c in "cab"]
    stored = []
    for name, extra in [("plain", []), ("general", [Sample("a", 5.0, None, "broken")])]:
        writer = SqliteWriter(path=tmp_path / f"{name}.sqlite", setup="s")
        writer.open()
        writer.write([Sample(c, 1.0, 0.0) for c in "cab"])  # registers the codenames
        assert (writer._plain_rows(batch + extra) is None) == bool(extra)
        writer.write(batch + extra)
        writer.close()
        db = sqlite3.connect(tmp_path / f"{name}.sqlite")
        stored.append(db.execute("SELECT d.codename, t.time, t.value FROM dateplots_s t JOIN dateplots_descriptions d "
                                 "ON d.id = t.type ORDER BY t.time, d.codename").fetchall())
        db.close()
    assert stored[0] == stored[1]
    assert len(stored[0]) == len(batch) + 3


@pytest.mark.parametrize("size", [STATEMENT_ROWS - 1, STATEMENT_ROWS, 2 * STATEMENT_ROWS, 2 * STATEMENT_ROWS + 7])
def test_sqlite_batches_of_any_size_store_every_row_once(tmp_path, size):
    """Whole statements of STATEMENT_ROWS rows and the rest row by row; a retry adds nothing."""
    writer = SqliteWriter(path=tmp_path / "n.sqlite", setup="n")
    writer.open()
    batch = [Sample(f"c{i % 7}", 1_700_000_000 + i * 0.01, i * 0.5) for i in range(size)]
    writer.write(batch)
    writer.write(batch)
    writer.close()
    db = sqlite3.connect(tmp_path / "n.sqlite")
    stored = db.execute("SELECT d.codename, t.value FROM dateplots_n t JOIN dateplots_descriptions d "
                        "ON d.id = t.type ORDER BY t.value").fetchall()
    db.close()
    assert stored == [(s.codename, s.value) for s in batch]


def test_sqlite_setup_name_is_an_identifier(tmp_path):
    with pytest.raises(ValueError, match="setup"):
        SqliteWriter(path=tmp_path / "x.sqlite", setup="x; DROP TABLE y")


class TestCsvWriter(WriterContract):
    plugin_name = "csv"

    @pytest.fixture
    def writer(self, tmp_path):
        return CsvWriter(path=tmp_path / "out.csv")

    def read_back(self, writer):
        with open(writer.path, newline="") as f:
            return [(r["codename"], float(r["time"]), float(r["value"]) if r["value"] else None)
                    for r in csv.DictReader(f)]


def test_csv_header_once_quotes_escaped_and_two_writers_share_a_file(tmp_path):
    path = tmp_path / "shared.csv"
    first, second = CsvWriter(path), CsvWriter(path)
    first.open(), second.open()
    first.write([Sample("a", 1.0, 'say "hi", twice')])
    second.write([Sample("b", 2.0, None, "err, with comma")])
    first.write([Sample("c", 3.0, 3)])
    first.close(), second.close()
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(HEADER)
    assert all(len(r) == len(HEADER) for r in rows)
    assert rows[1][3] == 'say "hi", twice' and rows[2][4] == "err, with comma"
    assert [r[2] for r in rows[1:]] == ["a", "b", "c"]


def test_sqlite_stores_bools_as_numbers_and_sets_text_aside(tmp_path):
    from lab_core import RejectedSamples

    writer = SqliteWriter(path=tmp_path / "b.sqlite", setup="b")
    writer.open()
    writer.write([Sample("coil", 1.0, True), Sample("coil", 2.0, False)])
    with pytest.raises(RejectedSamples, match="finite number"):
        writer.write([Sample("label", 3.0, "text")])
    writer.close()
    stored = sqlite3.connect(tmp_path / "b.sqlite").execute("SELECT value FROM dateplots_b").fetchall()
    assert stored == [(1.0,), (0.0,)]


def test_sqlite_unknown_codename_without_registration_is_set_aside_not_retried(tmp_path):
    """#11 item 8: register_codenames = false and an unknown codename: set aside once, the rest flows."""
    import sqlite3

    from lab_core import MemorySpool, Sample
    from lab_core.delivery import Backoff, Delivery
    from lab_core.writers.sqlite import SqliteWriter

    path = tmp_path / "lab.sqlite"
    first = SqliteWriter(path)
    first.open()
    first.write([Sample("known", 1.0, 0.5)])  # registers "known"
    first.close()
    writer = SqliteWriter(path, register_codenames=False)
    spool = MemorySpool()
    spool.put([Sample("known", 2.0, 1.0), Sample("stranger", 2.0, 2.0), Sample("known", 3.0, 3.0)])
    delivery = Delivery("sqlite", writer, spool, Backoff(initial=0.01, cap=0.05))
    delivery.start()
    assert delivery.flush(10)
    assert delivery.stop(5) == 0
    assert delivery.stats.failures == 0
    rejected = spool.rejected()
    assert [(s.codename, s.value) for s, _ in rejected] == [("stranger", 2.0)]
    assert "stranger" in rejected[0][1] and "register_codenames" in rejected[0][1]
    with sqlite3.connect(path) as db:
        assert [v for (v,) in db.execute("SELECT value FROM dateplots_lab ORDER BY time")] == [0.5, 1.0, 3.0]
        assert [c for (c,) in db.execute("SELECT codename FROM dateplots_descriptions")] == ["known"]


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_sqlite_time_text_is_what_datetime_gives(t):
    """The cached formatting gives datetime's text of ``t`` cut (not rounded) to the microsecond, as
    MySQL/MariaDB cut PyExpLabSys's FROM_UNIXTIME(t) (#17): the exact binary value, cut at the microsecond."""
    import datetime as dt
    import decimal

    from lab_core.writers.sqlite import sql_time

    cut = decimal.Decimal(t).quantize(decimal.Decimal("0.000001"), rounding=decimal.ROUND_DOWN)
    whole = int(cut)
    expected = dt.datetime.fromtimestamp(whole, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    assert sql_time(t) == f"{expected}.{int((cut - whole) * 1_000_000):06d}"
