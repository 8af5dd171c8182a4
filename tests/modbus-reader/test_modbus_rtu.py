"""Modbus RTU: over a virtual serial pair (socat), and RTU framing over TCP."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from modbus_helpers import variables

from lab_modbus.reader import ModbusReader
from lab_modbus.simulator import Simulator

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} (CI=true: a missing tool is a failure)")
    pytest.skip(what)


@pytest.fixture
def serial_pair(tmp_path):
    """Two connected pseudo-terminals made by socat: (device side, client side)."""
    socat = shutil.which("socat") or ("/usr/bin/socat" if os.path.exists("/usr/bin/socat") else None)
    if socat is None:
        missing("socat is not installed (apt-get install socat)")
    device, client = tmp_path / "device", tmp_path / "client"
    proc = subprocess.Popen([socat, "-d", "-d", f"pty,raw,echo=0,link={device}", f"pty,raw,echo=0,link={client}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not (device.exists() and client.exists()):
            if proc.poll() is not None or time.monotonic() > deadline:
                missing(f"socat could not make a pty pair: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.02)
        yield str(device), str(client)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.fixture
def rtu_sim(serial_pair):
    device, client = serial_pair
    sim = Simulator(protocol="rtu", serial=device, baudrate=115200, live=False).start()
    yield sim, client
    sim.stop()


def test_rtu_over_a_serial_pair(rtu_sim):
    sim, port = rtu_sim
    sim.set("hr:10:float32:badc", 2.25)
    sim.set("hr:12:int32:cdab", -7)
    sim.set("ir:3:uint64:dcba", 2**40 + 5)
    sim.set_raw("co", 4, [True])
    reader = ModbusReader(serial=port, baudrate=115200, timeout=0.5, unit=3)
    reader.open()
    try:
        vs = variables("hr:10:float32:badc", "hr:12:int32:cdab", "ir:3:uint64:dcba", "co:4", "co:5")
        for _ in range(3):
            samples = reader.read(vs)
            assert [s.value for s in samples] == [2.25, -7, 2**40 + 5, True, False], samples
        assert reader.stats.requests == 9  # hr, ir, co per scan
        assert sim.request_count() == 9
    finally:
        reader.close()


def test_rtu_bad_address_split(rtu_sim):
    sim, port = rtu_sim
    sim.add_hole("hr", 21)
    reader = ModbusReader(serial=port, baudrate=115200, timeout=0.5)
    reader.open()
    try:
        samples = reader.read(variables("hr:20", "hr:21", "hr:22"))
        assert [s.error is None for s in samples] == [True, False, True]
        sim.reset_counts()
        reader.read(variables("hr:20", "hr:21", "hr:22"))
        assert sim.request_count() == 3 and sim.exceptions == 1
    finally:
        reader.close()


def test_rtu_device_silent_then_back(serial_pair):
    device, port = serial_pair
    reader = ModbusReader(serial=port, baudrate=115200, timeout=0.5, retries=0)
    reader.open()
    try:
        samples = reader.read(variables("hr:1"))  # nobody answers on the line
        assert samples[0].error is not None and "no answer" in samples[0].error
        with Simulator(protocol="rtu", serial=device, baudrate=115200, live=False) as sim:
            sim.set("hr:1", 9)
            samples = reader.read(variables("hr:1"))
            assert samples[0].value == 9, samples
    finally:
        reader.close()


def test_rtu_over_tcp():
    with Simulator(protocol="rtu-over-tcp", live=False) as sim:
        sim.set("hr:5:float64:cdab", 1e100)
        sim.add_hole("hr", 20)
        reader = ModbusReader("127.0.0.1", sim.port, protocol="rtu-over-tcp", timeout=0.5)
        reader.open()
        try:
            samples = reader.read(variables("hr:5:float64:cdab", "hr:20", "hr:21"))
            assert samples[0].value == 1e100
            assert [s.error is None for s in samples] == [True, False, True]
        finally:
            reader.close()
