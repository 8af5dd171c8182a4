"""Fixtures for lab-modbus: a real pymodbus server (the simulator) on 127.0.0.1, a free port."""

from __future__ import annotations

import pytest
from lab_core import Variable


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


def variables(*addresses: str, value_type: str = "float") -> list[Variable]:
    """Variables v0, v1, … for ``addresses`` (a "TYPE|address" entry sets the value type)."""
    result = []
    for i, address in enumerate(addresses):
        kind, _, text = address.rpartition("|")
        result.append(Variable(i + 1, f"v{i}", text, reader="plc", value_type=kind or value_type))
    return result
