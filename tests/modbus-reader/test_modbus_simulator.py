"""The simulator's own API (the device the other tests and the demos use)."""

from __future__ import annotations

import time

import pytest

from lab_modbus.simulator import Simulator


def test_binds_a_free_port_and_refuses_a_busy_one():
    with Simulator() as first:
        assert first.port > 0 and first.running
        with pytest.raises(OSError, match=f"cannot serve on 127.0.0.1:{first.port}"):
            Simulator(port=first.port).start()
    assert not first.running


def test_memory_round_trip_and_errors(sim):
    sim.set_raw("hr", 10, [1, 2, 3])
    sim.set_raw("ir", 10, [4])
    sim.set_raw("co", 10, [True, False, True])
    sim.set_raw("di", 10, [True])
    assert sim.get_raw("hr", 10, 3) == [1, 2, 3]
    assert sim.get_raw("ir", 10, 1) == [4]
    assert sim.get_raw("co", 10, 3) == [True, False, True]
    assert sim.get_raw("di", 10, 1) == [True]
    sim.set("hr:20:bit4", True)
    sim.set("hr:20:bit0", True)
    sim.set("hr:20:bit4", False)
    assert sim.get_raw("hr", 20, 1) == [1]
    with pytest.raises(ValueError, match="cannot set"):
        sim.set_raw("hr", 5000, [1])
    with pytest.raises(ValueError, match="unknown"):
        sim.set_raw("xx", 0, [1])
    with pytest.raises(ValueError, match="register tables"):
        sim.add_hole("co", 1)
    assert sim.request_count() == 0  # the API does not count as requests


def test_live_values_move():
    with Simulator() as sim:
        first = sim.get_raw("hr", 4, 2)
        time.sleep(0.02)
        assert sim.get_raw("hr", 4, 2) != first  # milliseconds since start


def test_stop_is_idempotent_and_restart_keeps_the_port():
    sim = Simulator(live=False).start()
    port = sim.port
    sim.delay_s = 1.0  # a pending delayed answer must not hang or litter the stop
    sim.stop()
    sim.stop()
    with pytest.raises(RuntimeError, match="not running"):
        sim.get_raw("hr", 0, 1)
    sim.start()
    try:
        assert sim.port == port
    finally:
        sim.stop()


def test_bad_arguments():
    with pytest.raises(ValueError, match="protocol"):
        Simulator(protocol="udp")
    with pytest.raises(ValueError, match="needs serial"):
        Simulator(protocol="rtu")


def test_allow_list_closes_other_clients_connections():
    import contextlib
    import socket

    request = bytes.fromhex("000100000006010300000001")  # read holding register 0 of unit 1
    with Simulator(live=False, allow=["10.0.0.0/8"]) as refused, \
            socket.create_connection(("127.0.0.1", refused.port), timeout=2) as sock:
        sock.sendall(request)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(100) == b""  # closed without an answer
        assert refused.request_count() == 0 and refused.refusals.total == 1
    with Simulator(live=False, allow=["127.0.0.1"]) as allowed, \
            socket.create_connection(("127.0.0.1", allowed.port), timeout=2) as sock:
        sock.sendall(request)
        assert sock.recv(100)[7:8] == b"\x03"  # a read-holding-registers reply
