"""The fleet of examples/fleet: 20 lab machines publish through a broker that is restarted
twice; a central ``lab run`` (mqtt reader, mode "every") stores them in MariaDB. Every
sample a machine read (its local csv copy) is stored exactly once."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import services

FLEET = Path(__file__).resolve().parents[2] / "examples" / "fleet"
MACHINES = 20


def stored(settings: dict) -> list[tuple[str, float]]:
    import pymysql

    with pymysql.connect(**settings) as db, db.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute("SELECT d.codename, UNIX_TIMESTAMP(t.time) FROM dateplots_fleet t "
                       "JOIN dateplots_descriptions d ON d.id = t.type")
        return [(name, round(float(t), 6)) for name, t in cursor.fetchall()]


def count_rows(settings: dict) -> int:
    import pymysql

    try:
        with pymysql.connect(**settings) as db, db.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM dateplots_fleet")
            return cursor.fetchone()[0]
    except pymysql.err.MySQLError:  # the central collector has not made the table yet
        return 0


def _as_stored(t: float) -> float:
    """The time as the MySQL writer stores it: microseconds truncated, as PyExpLabSys's rows are."""
    from lab_core.writers.sqlite import split_time

    whole, micro = split_time(t)
    return round(whole + micro / 1e6, 6)


def machine_readings(var: Path) -> list[tuple[str, float]]:
    rows = []
    for path in var.glob("m*.csv"):
        with open(path, newline="") as f:
            rows += [(r["codename"], _as_stored(float(r["time"]))) for r in csv.DictReader(f) if not r["error"]]
    return rows


@pytest.mark.slow
def test_fleet_through_a_broker_restarted_twice_stores_every_sample_exactly_once(tmp_path, mariadb, monkeypatch):
    from lab_core.config import load

    broker = services.throwaway_mosquitto(tmp_path / "mosquitto")
    monkeypatch.chdir(tmp_path)
    env = {"LAB_BROKER": "127.0.0.1", "LAB_BROKER_PORT": str(broker.port), "LAB_DB_HOST": mariadb["host"],
           "LAB_DB_PORT": str(mariadb["port"]), "LAB_DB_USER": mariadb["user"],
           "LAB_DB_PASSWORD": mariadb["password"], "LAB_DB_NAME": mariadb["database"], "LAB_INTERVAL_MS": "200"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    central_toml = tmp_path / "central.toml"
    central_toml.write_text(subprocess.run([sys.executable, FLEET / "make_central.py", "--machines", str(MACHINES)],
                                           capture_output=True, text=True, check=True).stdout)
    central = subprocess.Popen([sys.executable, "-m", "lab_core.cli", "run", str(central_toml)],
                               env={**os.environ, **env}, stderr=subprocess.PIPE, text=True)
    machines = []
    try:
        deadline = time.monotonic() + 30  # the central session exists (subscribed) before anyone publishes
        while "mqtt reader connected" not in (log_line := central.stderr.readline()):
            assert log_line and time.monotonic() < deadline, "the central collector did not start"
        for n in range(1, MACHINES + 1):
            monkeypatch.setenv("LAB_MACHINE", f"m{n:02d}")
            setup = load(FLEET / "machine.toml")
            for context in setup.contexts:
                setup.collector.start(context)
            machines.append(setup.collector)
        for _ in range(2):
            time.sleep(3.0)
            broker.stop()  # the broker goes away under 20 publishers and the central collector...
            time.sleep(1.0)
            broker.start()  # ...and comes back on the same port, sessions and queues restored
        time.sleep(3.0)
    finally:
        left = {}
        for collector in machines:
            left.update(collector.close(timeout=20))
    assert not any(left.values()), f"samples left in machines' spools: {left}"
    readings = machine_readings(tmp_path / "var")
    assert len(readings) >= MACHINES * 2 * 40  # 2 variables every 200 ms for >= 8 s on each machine
    try:
        deadline = time.monotonic() + 30
        while count_rows(mariadb) < len(readings) and time.monotonic() < deadline:
            time.sleep(0.5)
        central.send_signal(signal.SIGINT)
        _, log = central.communicate(timeout=60)
    finally:
        central.kill()
        broker.stop(kill=True)
    rows = stored(mariadb)
    assert len(rows) == len(set(rows)), "a sample was stored twice"
    missing, extra = set(readings) - set(rows), set(rows) - set(readings)
    assert not missing and not extra, f"{len(missing)} read but not stored, {len(extra)} stored but not read\n{log}"
    assert central.returncode == 0, log
