"""Fixtures for lab-scpi: the simulated instrument on 127.0.0.1 (a free port), readers for it,
a simulator in its own process (to kill or freeze), and a socat pty pair with a simulated gauge."""

from __future__ import annotations

import signal

import pytest
from scpi_helpers import SimProcess

from services import SocatPair


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
