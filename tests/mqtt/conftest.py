"""Fixtures for lab-mqtt: the machine's Mosquitto (127.0.0.1:1883), throwaway brokers, helpers."""

from __future__ import annotations

import uuid

import pytest

from services import machine_mosquitto, throwaway_mosquitto


@pytest.fixture
def broker():
    """(host, port) of the machine's Mosquitto."""
    return machine_mosquitto()


@pytest.fixture
def prefix():
    """A topic prefix of this test alone (the machine's broker is shared)."""
    return f"labtest/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def own_broker(tmp_path):
    """A throwaway mosquitto of this test (persistent sessions, unlimited queues), on a free port."""
    server = throwaway_mosquitto(tmp_path / "mosquitto")
    yield server
    server.stop(kill=True)


@pytest.fixture
def closing():
    """``closing(plugin)`` opens nothing, but closes the reader/writer after the test."""
    made = []
    yield lambda plugin: made.append(plugin) or plugin
    for plugin in made:
        plugin.close()

