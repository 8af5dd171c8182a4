"""The spool's promises: FIFO, bounded memory with a counted policy, disk that survives kill -9."""

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from lab_core import DiskSpool, MemorySpool, Sample, make_spool


def samples(n, start=0, codename="s"):
    return [Sample(codename, float(i), float(i)) for i in range(start, start + n)]


@pytest.fixture(params=["memory", "disk"])
def spool(request, tmp_path):
    spool = MemorySpool() if request.param == "memory" else DiskSpool(tmp_path / "s.spool")
    yield spool
    spool.close()


def test_fifo_peek_ack(spool):
    spool.put(samples(5))
    first = spool.peek(3)
    assert [s.value for _, s in first] == [0.0, 1.0, 2.0]
    assert spool.peek(3) == first  # peek leaves them
    spool.ack(first)
    assert [s.value for _, s in spool.peek(10)] == [3.0, 4.0]
    stats = spool.stats()
    assert (stats.accepted, stats.delivered, stats.pending) == (5, 3, 2)


def test_values_keep_their_types(spool):
    spool.put([Sample("a", 1.0, True), Sample("a", 2.0, 3), Sample("a", 3.0, "txt"),
               Sample("a", 4.0, None, "err"), Sample("a", 5.0, math.inf)])
    values = [s.value for _, s in spool.peek(10)]
    assert values == [True, 3, "txt", None, math.inf] and type(values[1]) is int
    assert spool.peek(10)[3][1].error == "err"


def test_set_aside_removes_from_the_middle_and_keeps_the_reason(spool):
    spool.put(samples(4))
    entries = spool.peek(4)
    spool.set_aside([entries[1]], "refused")
    assert [s.value for _, s in spool.peek(10)] == [0.0, 2.0, 3.0]
    assert spool.rejected() == [(entries[1][1], "refused")]
    assert spool.stats().set_aside == 1


def test_take_waits_for_samples(spool):
    started = time.monotonic()
    assert spool.take(10, timeout=0.1) == []
    assert time.monotonic() - started >= 0.09
    spool.put(samples(1))
    assert len(spool.take(10, timeout=5)) == 1


def test_memory_spool_full_drop_oldest_is_counted(caplog):
    spool = MemorySpool(capacity=3)
    spool.put(samples(5))
    assert [s.value for _, s in spool.peek(10)] == [2.0, 3.0, 4.0]
    assert spool.stats().dropped == 2
    assert "memory spool full" in caplog.text


def test_memory_spool_full_drop_newest_is_counted():
    spool = MemorySpool(capacity=3, policy="drop_newest")
    spool.put(samples(2))
    spool.put(samples(3, start=2))
    assert [s.value for _, s in spool.peek(10)] == [0.0, 1.0, 2.0]
    assert spool.stats().dropped == 2


def test_disk_spool_capacity(tmp_path):
    spool = DiskSpool(tmp_path / "c.spool", capacity=2)
    spool.put(samples(3))
    assert [s.value for _, s in spool.peek(10)] == [1.0, 2.0] and spool.stats().dropped == 1


def test_disk_spool_survives_reopening_and_is_owned_by_one_process(tmp_path):
    path = tmp_path / "o.spool"
    spool = DiskSpool(path)
    spool.put(samples(3))
    with pytest.raises(RuntimeError, match="in use by another process"):
        DiskSpool(path)
    spool.ack(spool.peek(1))
    spool.close()
    again = DiskSpool(path)
    assert [s.value for _, s in again.peek(10)] == [1.0, 2.0]
    again.close()


ODD_VALUES = [True, False, 3, 2**70, -7, "txt", "", None, math.inf, -math.inf, 1.5]


def test_disk_spool_values_keep_their_types_through_the_file(tmp_path):
    """The in-memory head and the file (after a reopen) give back the same values and types."""
    path = tmp_path / "t.spool"
    put = [Sample("a", float(i), v) for i, v in enumerate(ODD_VALUES)] + [Sample("a", 99.0, None, "err"),
                                                                          Sample("a", 100.0, math.nan)]
    spool = DiskSpool(path)
    spool.put(put)
    from_memory = [s for _, s in spool.peek(100)]
    spool.close()
    spool = DiskSpool(path)
    from_file = [s for _, s in spool.peek(100)]
    spool.close()
    for got in (from_memory, from_file):
        assert [(type(s.value), s.value) for s in got[:-1]] == [(type(s.value), s.value) for s in put[:-1]]
        assert math.isnan(got[-1].value) and got[-2].error == "err"


def test_disk_spool_keeps_only_its_oldest_entries_in_memory(tmp_path):
    spool = DiskSpool(tmp_path / "m.spool", cache=10)
    for start in range(0, 100, 7):
        spool.put(samples(min(7, 100 - start), start))
    assert len(spool._head) <= 10
    got = []
    while len(spool):
        entries = spool.peek(4)
        assert len(spool._head) <= 10
        if len(got) == 8:
            spool.set_aside(entries[1:2], "refused")
            entries = entries[:1] + entries[2:]
        spool.ack(entries)
        got += [s.value for _, s in entries]
    assert got == [float(i) for i in range(100) if i != 9]
    spool.put(samples(1, 500))  # the seq goes on after the set-aside one: nothing is overwritten
    assert [s.value for _, s in spool.peek(5)] == [500.0]
    assert [s.value for s, _ in spool.rejected()] == [9.0]
    spool.close()


def test_a_disk_spool_of_lab_core_1_0_is_upgraded_and_delivered(tmp_path):
    """1.0 kept values as JSON text; its pending samples are delivered after the upgrade."""
    path = tmp_path / "old.spool"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, codename TEXT NOT NULL,
                              time REAL NOT NULL, value TEXT, error TEXT);
        CREATE TABLE rejected (seq INTEGER PRIMARY KEY, codename TEXT NOT NULL, time REAL NOT NULL,
                               value TEXT, error TEXT, reason TEXT NOT NULL, rejected_at REAL NOT NULL);
        INSERT INTO pending (codename, time, value, error) VALUES
            ('a', 1.0, '1.5', NULL), ('a', 2.0, 'true', NULL), ('a', 3.0, '"x"', NULL),
            ('a', 4.0, 'NaN', NULL), ('a', 5.0, 'null', 'broken'), ('a', 6.0, '7', NULL);
    """)
    db.commit()
    db.close()
    spool = DiskSpool(path)
    values = [s.value for _, s in spool.peek(10)]
    assert values[:3] == [1.5, True, "x"] and math.isnan(values[3]) and values[4:] == [None, 7]
    assert type(values[5]) is int and spool.peek(10)[4][1].error == "broken"
    spool.ack(spool.peek(2))
    spool.put(samples(1, 10))
    spool.close()
    again = DiskSpool(path)
    assert [s.value for _, s in again.peek(10)][-2:] == [7, 10.0] and len(again) == 5
    again.close()


def test_bad_settings_are_clear():
    with pytest.raises(ValueError, match="policy"):
        MemorySpool(policy="drop_everything")
    with pytest.raises(ValueError, match="needs a path"):
        make_spool({"kind": "disk"})
    with pytest.raises(ValueError, match="'memory' or 'disk'"):
        make_spool("cloud")


PRODUCER = textwrap.dedent("""
    import sys
    from lab_core import DiskSpool, Sample
    spool = DiskSpool(sys.argv[1])
    i = 0
    while True:
        spool.put([Sample("k", float(i), float(i)), Sample("k2", float(i), -float(i))])
        print(i, flush=True)  # printed only after put() returned: accepted
        i += 1
""")


def test_every_accepted_sample_survives_kill_9(tmp_path):
    path = tmp_path / "crash.spool"
    child = subprocess.Popen([sys.executable, "-c", PRODUCER, str(path)], stdout=subprocess.PIPE, text=True)
    accepted = []
    for line in child.stdout:
        accepted.append(int(line))
        if len(accepted) >= 300:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    accepted += [int(line) for line in child.stdout.read().split()]  # printed before the kill
    spool = DiskSpool(path)  # the lock died with the process
    stored = {(s.codename, s.time) for _, s in spool.peek(10**9)}
    missing = [i for i in accepted if ("k", float(i)) not in stored or ("k2", float(i)) not in stored]
    assert not missing, f"accepted but lost: {missing[:10]}"
    spool.close()


def test_lab_run_killed_with_sigkill_while_the_writer_is_down_loses_nothing(tmp_path):
    # the writer is down: another process holds the database's exclusive lock
    holder = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    config = textwrap.dedent("""
        [collector]
        spool_dir = "{dir}/spool"
        [readers.demo]
        [writers.db]
        plugin = "sqlite"
        path = "{db}"
        setup = "crash"
        spool = "disk"
        [[contexts]]
        id = 1
        default_interval_ms = 20
        min_interval_ms = 10
          [[contexts.variables]]
          id = 1
          codename = "crash_sine"
          reader = "demo"
          address = "sine"
    """)
    down = tmp_path / "down.toml"
    down.write_text(config.format(dir=tmp_path, db=tmp_path / "db.sqlite"))
    lab = [sys.executable, "-m", "lab_core.cli", "run"]
    child = subprocess.Popen([*lab, str(down)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    spool_file = tmp_path / "spool" / "db.spool"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if spool_file.exists() and sqlite3.connect(spool_file).execute(
                "SELECT count(*) FROM pending").fetchone()[0] >= 20:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    spooled = set(sqlite3.connect(spool_file).execute("SELECT time FROM pending").fetchall())
    assert len(spooled) >= 20

    holder.execute("ROLLBACK")  # the writer is back
    holder.close()
    subprocess.run([*lab, str(down), "--duration", "0.5"], cwd=tmp_path, check=True, capture_output=True)
    import datetime as dt
    stored = {dt.datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()
              for (t,) in sqlite3.connect(tmp_path / "db.sqlite").execute("SELECT time FROM dateplots_crash")}
    lost = [t for (t,) in spooled if not any(abs(t - s) < 2e-6 for s in stored)]
    assert not lost, f"{len(lost)} accepted samples lost"
    assert sqlite3.connect(spool_file).execute("SELECT count(*) FROM pending").fetchone()[0] == 0
