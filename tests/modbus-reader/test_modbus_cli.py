"""``lab modbus read`` and ``lab modbus simulate``."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from lab_core.cli import main


def test_read_prints_values(sim, capsys):
    sim.set("hr:10:float32", 1.5)
    sim.set_raw("co", 3, [True])
    code = main(["modbus", "read", f"127.0.0.1:{sim.port}", "hr:10:float32", "40011", "co:3", "--stats"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["hr:10:float32", "1.5"]
    assert lines[1].split() == ["40011", "16320"]  # 0x3FC0, the high word of 1.5
    assert lines[2].split() == ["co:3", "True"]
    assert "1 read(s), 2 request(s)" in err


def test_read_json_and_errors(sim, capsys):
    sim.add_hole("hr", 7)
    code = main(["modbus", "read", f"127.0.0.1:{sim.port}", "hr:6", "hr:7", "--json", "--count", "2",
                 "--interval", "0.01"])
    out, _ = capsys.readouterr()
    assert code == 1  # an address failed
    reads = [json.loads(line) for line in out.splitlines()]
    assert len(reads) == 2
    assert reads[0]["values"] == {"hr:6": 0}
    assert "illegal data address" in reads[0]["errors"]["hr:7"]


def test_read_bad_address_and_unreachable_device(capsys):
    assert main(["modbus", "read", "127.0.0.1:1", "hr:1:flaot"]) == 2
    assert "unknown type 'flaot'" in capsys.readouterr().err
    assert main(["modbus", "read", "127.0.0.1:1", "hr:1", "--timeout", "0.2"]) == 1
    assert "cannot connect" in capsys.readouterr().out


def test_simulate_prints_its_port_and_serves():
    proc = subprocess.Popen([sys.executable, "-m", "lab_core.cli", "modbus", "simulate", "--port", "0",
                             "--duration", "30", "--hole", "hr:50"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("port "):
                port = int(line.split()[1])
        assert port, "the simulator did not print its port"
        result = subprocess.run([sys.executable, "-m", "lab_core.cli", "modbus", "read", f"127.0.0.1:{port}",
                                 "hr:3", "hr:50", "--json"], capture_output=True, text=True, timeout=30)
        answer = json.loads(result.stdout)
        assert isinstance(answer["values"]["hr:3"], int)
        assert "illegal data address" in answer["errors"]["hr:50"]
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
    assert proc.returncode == 0
