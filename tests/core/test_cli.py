"""The lab command, as a user runs it."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import lab_core
from lab_core.testing import make_distribution

ROOT = Path(__file__).resolve().parents[2]
LAB = [sys.executable, "-m", "lab_core.cli"]


def run(*args, **kw):
    return subprocess.run([*LAB, *args], capture_output=True, text=True, timeout=60, **kw)


def test_version():
    result = run("--version")
    assert result.returncode == 0 and f"lab-core {lab_core.__version__} (plugin API 1.0)" in result.stdout


def test_plugins_table_and_json_show_broken_ones(tmp_path):
    make_distribution(tmp_path, "lab-broken", module="tp_broken_cli", source="raise ImportError('no driver')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    table = run("plugins", env=env)
    assert table.returncode == 0
    assert "core" in table.stdout and "reader: demo" in table.stdout and "lab-core" in table.stdout
    assert "lab-broken" in table.stdout and "failed" in table.stdout and "no driver" in table.stdout
    listed = {p["name"]: p for p in json.loads(run("plugins", "--json", env=env).stdout)}
    assert listed["core"]["provides"]["writer"] == ["csv", "sqlite", "console", "null"]
    assert listed["lab-broken"]["status"] == "failed" and "no driver" in listed["lab-broken"]["error"]


def test_run_demo_writes_sqlite_csv_and_prints_values(tmp_path):
    result = run("run", str(ROOT / "examples" / "demo.toml"), "--duration", "1.2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "demo_sine" in result.stdout  # live values on the console
    db = sqlite3.connect(tmp_path / "var" / "demo.sqlite")
    rows = db.execute("SELECT d.codename, count(*) FROM dateplots_demo t JOIN dateplots_descriptions d "
                      "ON d.id = t.type GROUP BY d.codename").fetchall()
    assert {name for name, _ in rows} == {"demo_sine", "demo_ramp", "demo_noise"}
    csv_lines = (tmp_path / "var" / "demo.csv").read_text().splitlines()
    assert csv_lines[0] == "time,iso_time,codename,value,error" and len(csv_lines) > 3
    assert "0 left" in result.stderr


def test_ctrl_c_stops_cleanly_with_nothing_lost(tmp_path):
    log = open(tmp_path / "stderr.txt", "w+")  # noqa: SIM115
    child = subprocess.Popen([*LAB, "run", str(ROOT / "examples" / "demo.toml")], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=log, text=True)
    first = child.stdout.readline()  # collecting: the first value is on the console
    assert "demo_" in first
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    out = first + child.stdout.read()  # the same reader: readline() may have buffered more
    assert child.wait(timeout=30) == 0
    err = (tmp_path / "stderr.txt").read_text()
    printed = sum(1 for line in out.splitlines() if "demo_" in line)
    db = sqlite3.connect(tmp_path / "var" / "demo.sqlite")
    assert db.execute("SELECT count(*) FROM dateplots_demo").fetchone()[0] == printed
    assert "writer db:" in err and "0 left" in err


def test_run_without_config_and_without_bundle_says_what_to_do(tmp_path):
    result = run("run", cwd=tmp_path)
    assert result.returncode == 2 and "lab run CONFIG.toml" in result.stderr
