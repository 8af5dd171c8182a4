"""The simulated instrument: its SCPI parser without I/O, and its TCP server against hostile peers."""

from __future__ import annotations

import socket
import time

import pytest

from lab_scpi.simulator import MAX_LINE, Instrument, Simulator


@pytest.fixture
def dmm():
    return Instrument(seed=1)


def test_mnemonics_short_long_any_case(dmm):
    for message in ("MEAS:VOLT?", "measure:voltage?", "MEASure:VOLTage:DC?", ":meas:volt:dc?"):
        assert 0.7 < float(dmm.handle(message)) < 1.3, message
    assert dmm.handle("MEASU:VOLT?") is None  # neither the short nor the long form
    assert dmm.handle("SYST:ERR?") == '-113,"Undefined header"'


def test_compound_messages_and_relative_paths(dmm):
    volt, curr = dmm.handle("MEAS:VOLT?;CURR?").split(";")  # CURR? is MEAS:CURR?
    assert 0.7 < float(volt) < 1.3 and 0.01 < float(curr) < 0.015
    assert dmm.handle("OUTP ON;:OUTP?;*IDN?") == "1;LAB,SIM-DMM,0001,1.0"


def test_command_error_discards_the_rest(dmm):
    assert dmm.handle("*OPC?;:BOGUS?;:*IDN?;:SYST:ERR?") == "1"
    assert dmm.handle("SYST:ERR?;:SYST:ERR?") == '-113,"Undefined header";+0,"No error"'


def test_execution_error_skips_one_unit(dmm):
    assert dmm.handle("*OPC?;:MEAS:VOLT? 2000;:SYST:ERR?") == '1;-222,"Data out of range"'
    assert dmm.handle("OUTP;:SYST:ERR?") == '-109,"Missing parameter"'


def test_error_queue_is_bounded(dmm):
    for _ in range(100):
        dmm.handle("BOGUS")
    assert dmm.handle("SYST:ERR:COUN?") == "20"
    entries = [dmm.handle("SYST:ERR?") for _ in range(21)]
    assert entries[-2] == '-350,"Queue overflow"' and entries[-1] == '+0,"No error"'
    dmm.handle("BOGUS")
    dmm.handle("*CLS")
    assert dmm.handle("SYST:ERR?") == '+0,"No error"'


def test_range_and_overload(dmm):
    dmm.handle("VOLT:RANG 0.1")
    assert dmm.handle("MEAS:VOLT?") == "+9.90000000E+37"
    assert dmm.handle("VOLT:RANG?") == "+1.00000000E-01"
    dmm.handle("*RST")
    assert dmm.handle("VOLT:RANG?") == "AUTO"


def ask(port: int, data: bytes, timeout: float = 2.0) -> bytes:
    """What the server answers to ``data`` before it closes; b"" if it turns the connection away."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        try:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            while chunk := conn.recv(65536):
                answer += chunk
        except OSError:  # closed by the server before or while we sent
            pass
    return answer


def test_server_survives_garbage(sim):
    assert ask(sim.port, bytes(range(256)) + b"\n\n;;;\n\xff\xfe?\n") == b""
    assert ask(sim.port, b"*IDN?\r\n") == b"LAB,SIM-DMM,0001,1.0\n"


def test_an_endless_line_closes_the_connection(sim):
    assert ask(sim.port, b"A" * (2 * MAX_LINE) + b";*OPC?\n") == b""  # hung up before the end
    assert ask(sim.port, b"*OPC?\n") == b"1\n"


def test_allow_list():
    with Simulator(allow=["10.0.0.0/8"]) as closed:
        assert ask(closed.port, b"*IDN?\n") == b""
    with Simulator(allow=["127.0.0.1"]) as open_:
        assert ask(open_.port, b"*IDN?\n") == b"LAB,SIM-DMM,0001,1.0\n"


def test_client_limit_closes_the_idle_client_for_a_new_one():
    with Simulator(max_clients=1) as sim, socket.create_connection(("127.0.0.1", sim.port), timeout=2) as first:
        first.sendall(b"*OPC?\n")
        assert first.recv(10) == b"1\n"
        deadline = time.monotonic() + 5  # the reply is out just before the server marks the slot idle
        while any(slot.busy for slot in sim._server.slots.all()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ask(sim.port, b"*OPC?\n") == b"1\n"  # the idle first one made room for it
        assert first.recv(10) == b""


def test_client_limit_refuses_a_new_one_while_the_only_slot_is_busy():
    with Simulator(max_clients=1, latency_ms=1000) as sim:  # each answer takes a second
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as first:
            first.sendall(b"*OPC?\n")
            time.sleep(0.3)  # the first is being answered
            assert ask(sim.port, b"*OPC?\n") == b""  # turned away: never cut a request short
            assert first.recv(10) == b"1\n"

