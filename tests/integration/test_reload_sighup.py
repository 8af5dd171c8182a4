"""SIGHUP to a real `lab run`: a variable added and the MySQL writer changed (from a closed port to the
real MariaDB) while its disk spool holds samples; rows counted in MariaDB and in an unchanged csv writer."""

import collections
import csv
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pymysql

from services import free_port

LAB = [sys.executable, "-m", "lab_core.cli"]


def write_config(path, port, db, variables, reader_plugin="demo"):
    path.write_text(f"""
[collector]
status = "127.0.0.1:{port}"
flush_timeout_s = 5
[readers.demo]
plugin = "{reader_plugin}"
[writers.db]
plugin = "mysql"
host = "{db['host']}"
port = {db['port']}
user = "{db['user']}"
password = "{db['password']}"
database = "{db['database']}"
setup = "lab"
create_tables = true
register_codenames = true
connect_timeout = 2
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


def test_sighup_adds_a_variable_and_changes_a_writer_with_nothing_lost_or_duplicated(tmp_path, mariadb):
    port = free_port()
    config = tmp_path / "lab.toml"
    write_config(config, port, {**mariadb, "port": free_port()}, ["alpha"])  # nothing listens there
    stderr = open(tmp_path / "stderr.txt", "w+")  # noqa: SIM115
    child = subprocess.Popen([*LAB, "run", str(config)], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        # the db writer cannot connect: its samples wait in its disk spool
        assert wait_for(lambda: status(port)["writers"]["db"]["pending"] >= 20)
        reload_time = time.time()
        write_config(config, port, mariadb, ["alpha", "beta"])
        child.send_signal(signal.SIGHUP)
        assert wait_for(lambda: status(port)["reloads"]["done"] == 1)
        assert wait_for(lambda: status(port)["writers"]["db"]["delivered"] > 0)

        write_config(config, port, mariadb, ["alpha", "beta"], reader_plugin="nope")
        child.send_signal(signal.SIGHUP)  # a bad configuration: refused, the running one carries on
        assert wait_for(lambda: status(port)["reloads"]["refused"] == 1)
        before = status(port)["writers"]["log"]["accepted"]
        assert wait_for(lambda: status(port)["writers"]["log"]["accepted"] > before + 5)
        health = status(port)["health"]  # on a loaded machine a reader may skip instants: degraded, no more
        assert health["status"] != "failing" and not any("writer" in r for r in health["reasons"]), health
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(60)
    stderr.seek(0)
    log = stderr.read()
    assert child.returncode == 0, log
    assert "reload refused, the running configuration carries on" in log and "readers.demo" in log
    assert re.search(r"reconfigured: writers restarted db; contexts restarted 1", log), log

    with pymysql.connect(**mariadb) as db, db.cursor() as cursor:
        cursor.execute("SELECT d.codename, t.time FROM dateplots_lab t "
                       "JOIN dateplots_descriptions d ON d.id = t.type")
        stored = cursor.fetchall()
    with open(tmp_path / "all.csv", newline="") as f:
        logged = [(row["codename"], row["time"]) for row in csv.DictReader(f)]
    accepted = {name: int(n) for name, n in re.findall(r"writer (\w+): (\d+) accepted", log)}
    assert [k for k, n in collections.Counter(logged).items() if n > 1] == []  # nothing written twice
    assert len(stored) == len(logged) == accepted["db"] == accepted["log"]  # nothing lost
    names = collections.Counter(name for name, _ in stored)
    assert names["beta"] > 0 and names["alpha"] > names["beta"]
    first_alpha = min(float(t) for name, t in logged if name == "alpha")
    assert first_alpha < reload_time - 0.5  # spooled before the reload, delivered after it
    assert "0 left" in log and "0 dropped" in log
