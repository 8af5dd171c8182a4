"""Fixtures for lab-scpi: the simulated instrument on 127.0.0.1 (a free port), readers for it,
a simulator in its own process (to kill or freeze), and a socat pty pair with a simulated gauge."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab_core import Variable
from services import SocatPair

LAB = str(Path(sys.executable).with_name("lab"))


def variables(*addresses: str, value_type: str = "float") -> list[Variable]:
    """One variable per address, codenames v0, v1, …; an address may end with ' as TYPE'."""
    made = []
    for i, text in enumerate(addresses):
        address, _, kind = text.partition(" as ")
        made.append(Variable(i, f"v{i}", address, reader="dmm", value_type=kind or value_type))
    return made


@pytest.fixture
def sim():
    from lab_scpi.simulator import Simulator

    simulator = Simulator(seed=7).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def make_reader(sim):
    """``make_reader(**options)``: a ScpiReader for ``sim`` (or ``resource=``), opened; closed after the test."""
    from lab_scpi.reader import ScpiReader

    readers = []

    def make(resource=None, **options):
        options.setdefault("timeout_s", 1.0)
        reader = ScpiReader(resource or sim.resource, **options)
        readers.append(reader)
        reader.open()
        reader.read([])  # connects (asks nothing): the tests count the round trips of scans only
        return reader

    yield make
    for reader in readers:
        reader.close()


class SimProcess:
    """``lab scpi simulate`` in its own process: kill it, start it again on the same port, SIGSTOP it."""

    def __init__(self, port: int = 0):
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self) -> SimProcess:
        self.proc = subprocess.Popen([LAB, "scpi", "simulate", "--port", str(self.port)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 20
        for line in self.proc.stdout:
            if line.startswith("port "):
                self.port = int(line.split()[1])
                return self
            if time.monotonic() > deadline:
                break
        raise RuntimeError("lab scpi simulate did not start")

    @property
    def resource(self) -> str:
        return f"TCPIP0::127.0.0.1::{self.port}::SOCKET"

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None


@pytest.fixture
def sim_process():
    made = []

    def make(port: int = 0) -> SimProcess:
        process = SimProcess(port).start()
        made.append(process)
        return process

    yield make
    for process in made:
        if process.proc is not None:
            process.proc.send_signal(signal.SIGCONT)  # in case a test froze it
        process.kill()


@pytest.fixture
def serial_pair(tmp_path):
    pair = SocatPair(tmp_path).start()
    yield pair
    pair.stop()


@pytest.fixture
def gauge(serial_pair):
    """A TPG-like gauge on the device end of a pty pair; the tests use ``serial_pair.client``."""
    from lab_scpi.simulator import SerialGauge

    device = SerialGauge(serial_pair.device).start()
    yield device
    device.stop()
