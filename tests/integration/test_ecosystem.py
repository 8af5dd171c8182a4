"""The ecosystem from a user's seat: wheels into a fresh virtual environment, a bundle's
configuration run end to end, a database outage, and broken third-party plugins.

Modbus simulator -> collector (from the example bundle's config) -> MariaDB + socket + csv.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import services
from lab_core.testing import make_distribution
from lab_core.writers.sqlite import split_time

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = ["packages/core", "packages/sockets", "packages/mysql-writer", "packages/modbus-reader",
                 "examples/lab-thermo", "examples/lab-demolab-bundle"]


def run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtual environment with wheels of the repository's packages, the example plugin and bundle."""
    base = tmp_path_factory.mktemp("eco")
    wheels = base / "wheels"
    for dist in DISTRIBUTIONS:
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT / dist)])
    run([sys.executable, "-m", "venv", str(base / "venv")])
    python = base / "venv" / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", *map(str, sorted(wheels.glob("*.whl")))])
    return base / "venv"


def pull_json_wn(port: int) -> dict:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(b"json_wn", ("127.0.0.1", port))
        return json.loads(s.recvfrom(65535)[0])


def stored_points(settings: dict) -> list[tuple[str, tuple[int, int]]]:
    """``(codename, (whole seconds, microseconds))`` of every row (from the exact decimal the server gives)."""
    import pymysql

    with pymysql.connect(**settings) as db, db.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute("SELECT d.codename, UNIX_TIMESTAMP(t.time) FROM dateplots_demolab t "
                       "JOIN dateplots_descriptions d ON d.id = t.type")
        return [(name, (int(t), int(t % 1 * 1_000_000))) for name, t in cursor.fetchall()]


def test_bundle_from_wheels_logs_every_sample_exactly_once_through_a_database_outage(venv, tmp_path):
    from lab_modbus.simulator import Simulator

    lab = str(venv / "bin" / "lab")
    database = services.throwaway_mariadb(tmp_path / "mariadb")
    socket_port = services.free_port(socket.SOCK_DGRAM)
    try:
        db_settings = database.new_database("lab_eco")
        with Simulator() as plc:
            env = {**os.environ, "LAB_PLC_PORT": str(plc.port), "LAB_DB_PORT": str(database.port),
                   "LAB_DB_NAME": "lab_eco", "LAB_SOCKET_HOST": "127.0.0.1", "LAB_SOCKET_PORT": str(socket_port)}
            env.pop("LAB_DISABLE_PLUGINS", None)
            doctor = subprocess.run([lab, "doctor"], cwd=tmp_path, env=env, capture_output=True, text=True)
            assert doctor.returncode == 0 and "no problems found" in doctor.stdout, doctor.stdout + doctor.stderr

            collector = subprocess.Popen([lab, "run"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
            time.sleep(3.0)
            served = pull_json_wn(socket_port)  # visible on the network, PyExpLabSys style
            assert set(served) == {"demolab_sine", "demolab_seconds", "demolab_temperature"}
            assert -10.5 <= served["demolab_sine"][1] <= 10.5

            database.stop()  # the lab's database goes away for a while...
            time.sleep(3.0)
            database.start()  # ...and comes back on the same port
            time.sleep(4.0)
            collector.send_signal(signal.SIGINT)
            _, log = collector.communicate(timeout=60)
            assert collector.returncode == 0, log

        with open(tmp_path / "var" / "demolab.csv", newline="") as f:
            # microseconds truncated, as the mysql writer (and PyExpLabSys's FROM_UNIXTIME) stores them
            read = [(r["codename"], split_time(float(r["time"]))) for r in csv.DictReader(f) if not r["error"]]
        stored = stored_points(db_settings)
        assert len(read) >= 3 * 40  # 3 variables every 200 ms for ~10 s
        assert len(stored) == len(set(stored)), "a sample was stored twice"
        assert sorted(stored) == sorted(read), (
            f"{len(set(read) - set(stored))} read but not stored, {len(set(stored) - set(read))} stored but not read")
        summary = re.search(r"writer db: (\d+) accepted[^;\n]*;? (\d+) delivered, (\d+) left", log)
        assert summary and summary.group(3) == "0" and summary.group(1) == summary.group(2), log
    finally:
        database.stop()


def test_broken_third_party_plugins_leave_the_rest_working_and_doctor_names_them(venv, tmp_path):
    site = Path(run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
                .stdout.strip())
    clash = ('import lab_core\n@lab_core.hookimpl\ndef lab_readers():\n'
             '    return {"thermo": "lab_core.readers.demo:DemoReader"}\n')
    make_distribution(site, "lab-eco-broken", module="eco_broken", source="import missing_vendor_driver\n")
    make_distribution(site, "lab-eco-future", module="eco_future", source="", requires=("lab-core>=3",))
    make_distribution(site, "lab-eco-clash", module="eco_clash", source=clash)
    lab = str(venv / "bin" / "lab")
    env = {k: v for k, v in os.environ.items() if k != "LAB_DISABLE_PLUGINS"}

    listed = {p["name"]: p for p in json.loads(run([lab, "plugins", "--json"], env=env).stdout)}
    assert listed["lab-eco-broken"]["status"] == "failed"
    assert listed["lab-eco-future"]["status"] == "incompatible"
    assert listed["modbus"]["status"] == "loaded" and listed["modbus"]["bundle"] == "lab-demolab-bundle"
    assert listed["thermo"]["provides"] == {"reader": ["thermo"]}

    doctor = subprocess.run([lab, "doctor", str(ROOT / "examples" / "demo.toml")], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert doctor.returncode == 1
    assert "missing_vendor_driver" in doctor.stdout
    assert "lab-eco-future" in doctor.stdout and "needs lab-core >=3" in doctor.stdout
    assert "reader 'thermo'" in doctor.stdout and "lab-eco-clash" in doctor.stdout and "lab-thermo" in doctor.stdout

    # every other plugin keeps working: the core's demo configuration runs
    result = run([lab, "run", str(ROOT / "examples" / "demo.toml"), "--duration", "1"], cwd=tmp_path, env=env)
    assert "demo_sine" in result.stdout
    # and a disabled plugin is left out before it is imported
    quiet = run([lab, "--disable", "lab-eco-broken", "plugins", "--json"], env=env)
    assert {p["name"]: p for p in json.loads(quiet.stdout)}["lab-eco-broken"]["status"] == "disabled"
