"""SIGHUP to a real `lab run`: a variable added and a writer changed while its disk spool holds samples."""

import collections
import csv
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

from services import free_port

LAB = [sys.executable, "-m", "lab_core.cli"]


def write_config(path, port, db_path, variables, reader_plugin="demo"):
    path.write_text(f"""
[collector]
status = "127.0.0.1:{port}"
[readers.demo]
plugin = "{reader_plugin}"
[writers.db]
plugin = "sqlite"
path = "{db_path}"
spool = "disk"
[writers.log]
plugin = "csv"
path = "{path.parent / 'all.csv'}"
spool = "disk"
[[contexts]]
id = 1
default_interval_ms = 50
""" + "".join(f"""
[[contexts.variables]]
id = {i}
codename = "{name}"
reader = "demo"
address = "ramp"
""" for i, name in enumerate(variables, 1)))


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
        return json.loads(response.read())


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def test_sighup_adds_a_variable_and_changes_a_writer_with_nothing_lost_or_duplicated(tmp_path):
    port = free_port()
    (tmp_path / "blocked").write_text("a file where the database's directory should be\n")
    config = tmp_path / "lab.toml"
    write_config(config, port, tmp_path / "blocked" / "lab.sqlite", ["alpha"])
    stderr = open(tmp_path / "stderr.txt", "w+")  # noqa: SIM115
    child = subprocess.Popen([*LAB, "run", str(config)], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        # the db writer cannot open its file: its samples wait in its disk spool
        assert wait_for(lambda: status(port)["writers"]["db"]["pending"] >= 20)
        reload_time = time.time()
        write_config(config, port, tmp_path / "good" / "lab.sqlite", ["alpha", "beta"])
        child.send_signal(signal.SIGHUP)
        assert wait_for(lambda: status(port)["reloads"]["done"] == 1)
        assert wait_for(lambda: status(port)["writers"]["db"]["delivered"] > 0)

        write_config(config, port, tmp_path / "good" / "lab.sqlite", ["alpha", "beta"], reader_plugin="nope")
        child.send_signal(signal.SIGHUP)  # a bad configuration: refused, the running one carries on
        assert wait_for(lambda: status(port)["reloads"]["refused"] == 1)
        before = status(port)["writers"]["log"]["accepted"]
        assert wait_for(lambda: status(port)["writers"]["log"]["accepted"] > before + 5)
        assert status(port)["health"]["status"] == "ok"
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(60)
    stderr.seek(0)
    log = stderr.read()
    assert child.returncode == 0, log
    assert "reload refused, the running configuration carries on" in log and "readers.demo" in log
    assert re.search(r"configuration \S+ reloaded: writers restarted db; contexts restarted 1", log), log

    db = sqlite3.connect(tmp_path / "good" / "lab.sqlite")
    stored = db.execute("SELECT d.codename, t.time FROM dateplots_lab t "
                        "JOIN dateplots_descriptions d ON d.id = t.type").fetchall()
    with open(tmp_path / "all.csv", newline="") as f:
        logged = [(row["codename"], row["time"]) for row in csv.DictReader(f)]
    accepted = {name: int(n) for name, n in re.findall(r"writer (\w+): (\d+) accepted", log)}
    assert [k for k, n in collections.Counter(logged).items() if n > 1] == []  # nothing written twice
    assert len(stored) == len(logged) == accepted["db"] == accepted["log"]  # nothing lost
    names = collections.Counter(name for name, _ in stored)
    assert names["beta"] > 0 and names["alpha"] > names["beta"]
    first_alpha = db.execute("SELECT min(t.time) FROM dateplots_lab t JOIN dateplots_descriptions d "
                             "ON d.id = t.type WHERE d.codename = 'alpha'").fetchone()[0]
    assert first_alpha < time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(reload_time))  # spooled before it
    assert "0 left" in log and "0 dropped" in log
