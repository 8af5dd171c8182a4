"""`lab doctor` reads every variable once through the real Modbus reader: a dead PLC is found."""

import json
import subprocess
import sys
import textwrap

from lab_core.exitcodes import ExitCode
from services import free_port

LAB = [sys.executable, "-m", "lab_core.cli"]


def config_for(tmp_path, live_port: int, dead_port: int):
    path = tmp_path / "lab.toml"
    path.write_text(textwrap.dedent(f"""
        [readers.plc]
        plugin = "modbus"
        host = "127.0.0.1"
        port = {live_port}
        timeout = 1
        [readers.dead]
        plugin = "modbus"
        host = "127.0.0.1"
        port = {dead_port}          # nothing listens there
        timeout = 1
        [writers.csv]
        path = "out.csv"
        [[contexts]]
        id = 1
          [[contexts.variables]]
          id = 1
          codename = "plc_ok"
          reader = "plc"
          address = "hr:10:float32"
          [[contexts.variables]]
          id = 2
          codename = "plc_hole"
          reader = "plc"
          address = "hr:7"
          [[contexts.variables]]
          id = 3
          codename = "dead_a"
          reader = "dead"
          address = "hr:0"
          [[contexts.variables]]
          id = 4
          codename = "dead_b"
          reader = "dead"
          address = "hr:1"
        """))
    return path


def test_doctor_finds_a_dead_plc_and_a_refused_address_one_finding_per_variable(sim, tmp_path):
    sim.set("hr:10:float32", 1.5)
    sim.add_hole("hr", 7)
    config = config_for(tmp_path, sim.port, free_port())
    result = subprocess.run([*LAB, "doctor", str(config)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == ExitCode.FAILED, result.stdout + result.stderr
    out = result.stdout
    assert f"checked configuration {config}: 2 readers, 4 variables (one trial read each), 1 writer" in out
    errors = [line for line in out.splitlines() if line.startswith("ERROR: variable")]
    assert len(errors) == 3, out
    assert any("dead_a (reader dead, address hr:0)" in e and "cannot connect to 127.0.0.1" in e for e in errors)
    assert any("dead_b (reader dead, address hr:1)" in e for e in errors)
    assert any("plc_hole (reader plc, address hr:7)" in e for e in errors)
    assert "plc_ok" not in out
    csv = tmp_path / "out.csv"  # opened as `lab run` would, no sample written
    assert not csv.exists() or csv.read_text() == ""

    as_json = subprocess.run([*LAB, "doctor", str(config), "--json"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    report = json.loads(as_json.stdout)
    assert as_json.returncode == ExitCode.FAILED
    assert sorted(f["subject"].split()[1] for f in report["findings"]) == ["dead_a", "dead_b", "plc_hole"]


def test_doctor_passes_a_live_plc(sim, tmp_path):
    config = config_for(tmp_path, sim.port, sim.port)
    result = subprocess.run([*LAB, "doctor", str(config)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    # hr:7 is plain memory when no hole is added: every variable reads
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert "no problems found" in result.stdout
