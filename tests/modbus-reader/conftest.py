"""Fixtures for lab-modbus: a real pymodbus server (the simulator) on 127.0.0.1, a free port."""

from __future__ import annotations

import pytest


@pytest.fixture
def sim():
    """A running simulated device (Modbus TCP) without live values, so tests own every register."""
    from lab_modbus.simulator import Simulator

    simulator = Simulator(live=False).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def live_sim():
    """A running simulated device with its live values (sine, counters, toggling coils)."""
    from lab_modbus.simulator import Simulator

    simulator = Simulator().start()
    yield simulator
    simulator.stop()


@pytest.fixture
def make_reader(sim):
    """``make_reader(**options)``: a ModbusReader for ``sim``, closed after the test."""
    from lab_modbus.reader import ModbusReader

    readers = []

    def make(target=None, **options):
        target = target or sim
        options.setdefault("timeout", 1.0)
        reader = ModbusReader("127.0.0.1", target.port, **options)
        readers.append(reader)
        reader.open()
        return reader

    yield make
    for reader in readers:
        reader.close()
