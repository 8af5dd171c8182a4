"""The reader against a real Modbus TCP server on loopback (the pymodbus-based simulator)."""

from __future__ import annotations

import math
import random
import socket
import time

import pytest
from modbus_helpers import variables

from lab_core import Variable
from lab_core.testing import ReaderContract
from lab_modbus.address import NUMERIC, ORDERS, parse_address
from lab_modbus.planner import plan
from lab_modbus.reader import ModbusReader
from lab_modbus.simulator import Simulator

SAMPLE_VALUES = {
    "int16": -12345, "uint16": 54321, "int32": -1234567890, "uint32": 3_000_000_123,
    "int64": -1234567890123456789, "uint64": 18_000_000_000_000_000_123,
    "float16": -2.5, "float32": 1234.5, "float64": -math.pi,
}


def values(samples):
    errors = [s for s in samples if s.error is not None]
    assert not errors, errors
    return [s.value for s in samples]


# -- values --------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["hr", "ir"])
def test_every_type_and_order_round_trips(sim, make_reader, table):
    """Write each type in each byte order into the server's memory, read them all back in one scan."""
    addresses, expected = [], []
    slot = 100
    for kind in NUMERIC:
        for order in ORDERS:
            address = f"{table}:{slot}:{kind}:{order.lower()}"
            sim.set(address, SAMPLE_VALUES[kind])
            addresses.append(address)
            expected.append(SAMPLE_VALUES[kind])
            slot += 4
    for address, value in (("string6", "hello world"), ("string4:badc", "swapped"),
                           ("int16*0.1+3", 2.0), ("uint32:cdab*0.001-5", 123.456),
                           ("float32:dcba*2+1", 5.0)):
        address = f"{table}:{slot}:{address}"
        sim.set(address, value)
        addresses.append(address)
        expected.append(value)
        slot += 8
    reader = make_reader()
    samples = reader.read(variables(*(f"{'str' if 'string' in a else 'float'}|{a}" for a in addresses)))
    got = values(samples)
    for address, value, want in zip(addresses, got, expected, strict=True):
        assert value == (want if isinstance(want, str) else pytest.approx(want, rel=1e-12)), address
    # neighbours merge: 36 numbers + 5 more over ~190 registers take 2 requests
    assert reader.stats.requests == len(plan([parse_address(a) for a in addresses]))
    assert reader.stats.requests == 2


def test_bits_of_registers_coils_and_discrete_inputs(sim, make_reader):
    sim.set_raw("hr", 40, [0b1000_0000_0000_0101])
    sim.set_raw("co", 0, [True, False, True, True] + [False] * 12 + [True])
    sim.set_raw("di", 100, [False, True])
    reader = make_reader()
    addresses = ["hr:40:bit0", "hr:40:bit1", "hr:40:bit2", "hr:40:bit15", "co:0", "co:1", "co:2", "co:3",
                 "co:16", "00017", "di:100", "di:101", "10102"]
    samples = reader.read(variables(*addresses, value_type="bool"))
    assert values(samples) == [True, False, True, True, True, False, True, True, True, True, False, True, True]
    assert reader.stats.requests == 3  # hr, co, di


def test_modicon_addresses_read_the_same_registers(sim, make_reader):
    sim.set_raw("hr", 0, [11, 22])
    sim.set_raw("ir", 9, [33])
    reader = make_reader()
    assert values(reader.read(variables("40001", "hr:1", "400002", "300010", "ir:9"))) == [11, 22, 22, 33, 33]


def test_per_variable_unit(sim, make_reader):
    sim.set_raw("hr", 5, [7])
    reader = make_reader(unit=1)
    assert values(reader.read(variables("hr:5", "2@hr:5", "17@hr:5"))) == [7, 7, 7]
    assert reader.stats.requests == 3  # one per unit


def test_live_values_change(live_sim, make_reader):
    reader = make_reader(live_sim)
    vs = variables("hr:0:float32", "hr:2:int16*0.01", "hr:4:uint32", "ir:0:float32", "ir:2", "co:0", "di:0")
    first = values(reader.read(vs))
    time.sleep(0.05)
    second = values(reader.read(vs))
    assert -10 <= first[0] <= 10 and 15 <= first[3] <= 25
    assert first[1] == pytest.approx(first[0], abs=0.01)
    assert second[2] > first[2]  # milliseconds since start
    assert second[4] > first[4]  # requests served


# -- coalescing --------------------------------------------------------------------------


def scattered(n: int, span: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"hr:{a}" for a in sorted(rng.sample(range(span), n))]


def test_coalescing_uses_the_planned_number_of_requests(sim, make_reader):
    addresses = scattered(100, 400)
    for i, address in enumerate(addresses):
        sim.set(address, i)
    vs = variables(*addresses, value_type="int")
    merged, single, bridging = make_reader(), make_reader(coalesce=False), make_reader(max_gap=125)
    counts = {}
    for name, reader in (("merged", merged), ("single", single), ("bridging", bridging)):
        sim.reset_counts()
        assert values(reader.read(vs)) == list(range(100))
        counts[name] = sim.request_count()
        assert counts[name] == reader.stats.requests

    assert counts["single"] == 100
    assert counts["merged"] == len(plan([parse_address(a) for a in addresses])) <= 6
    assert counts["bridging"] == 4  # 400 registers need at least ceil(400 / 125) = 4 requests


def test_limits_are_honoured(sim, make_reader):
    reader = make_reader(max_registers=50, max_gap=0)
    vs = variables(*(f"hr:{i}" for i in range(0, 200)), value_type="int")
    values(reader.read(vs))
    assert reader.stats.requests == 4
    coils = make_reader()
    values(coils.read(variables(*(f"co:{i}" for i in range(0, 2048, 2)), value_type="bool")))
    assert coils.stats.requests == 2  # 2000 bits, then the rest


# -- a refused address ------------------------------------------------------------------------


def hole_layout(sim):
    """Variables every 2 registers from 100 to 140; hr 111 (between two of them) and hr 130 (one of them) refused."""
    addresses = [f"hr:{a}" for a in range(100, 141, 2)]
    for i, address in enumerate(addresses):
        sim.set(address, i)
    sim.add_hole("hr", 111)
    sim.add_hole("hr", 130)
    return addresses, addresses.index("hr:130")


def test_a_refused_address_is_found_and_the_others_still_read(sim, make_reader):
    addresses, bad = hole_layout(sim)
    reader = make_reader()
    samples = reader.read(variables(*addresses, value_type="int"))
    for i, sample in enumerate(samples):
        if i == bad:
            assert sample.error is not None and "illegal data address" in sample.error
            assert "hr:130" in sample.error
        else:
            assert sample.error is None and sample.value == i
    assert reader.stats.splits >= 1


def test_the_split_is_remembered(sim, make_reader):
    addresses, bad = hole_layout(sim)
    reader = make_reader()
    vs = variables(*addresses, value_type="int")
    reader.read(vs)
    sim.reset_counts()
    samples = reader.read(vs)
    assert [s.error is None for s in samples] == [i != bad for i in range(len(addresses))]
    # learned: 100..110 | 112..128 | 130 alone (refused) | 132..140
    assert sim.request_count() == 4
    assert sim.exceptions == 1  # only the bad variable itself, read alone


def test_merging_is_tried_again_after_remerge_s(sim, make_reader):
    addresses, bad = hole_layout(sim)
    reader = make_reader(remerge_s=0)
    vs = variables(*addresses, value_type="int")
    reader.read(vs)
    sim.remove_hole("hr", 111)
    sim.remove_hole("hr", 130)
    sim.set("hr:130", bad)
    sim.reset_counts()
    assert values(reader.read(vs)) == list(range(len(addresses)))
    assert sim.request_count() == 1 and sim.exceptions == 0  # one merged request again


def test_without_remerge_the_lesson_stays(sim, make_reader):
    addresses, bad = hole_layout(sim)
    reader = make_reader(remerge_s=3600)
    vs = variables(*addresses, value_type="int")
    reader.read(vs)
    sim.reset_counts()
    reader.read(vs)
    assert sim.exceptions == 1 and sim.request_count() == 4


def test_one_request_per_variable_mode_reports_the_bad_one(sim, make_reader):
    addresses, bad = hole_layout(sim)
    reader = make_reader(coalesce=False)
    samples = reader.read(variables(*addresses, value_type="int"))
    assert [s.error is None for s in samples] == [i != bad for i in range(len(addresses))]
    assert reader.stats.requests == len(addresses) and reader.stats.splits == 0


def test_beyond_the_device_memory(sim, make_reader):
    reader = make_reader()
    samples = reader.read(variables("hr:0", "hr:5000", "co:0", "co:60000"))
    assert [s.error is None for s in samples] == [True, False, True, False]


# -- recovery -------------------------------------------------------------------------------------


def test_device_killed_and_restarted(make_reader):
    sim = Simulator(live=False).start()
    try:
        sim.set("hr:10", 42)
        reader = make_reader(sim)  # reconnect_delay 0.5 s, capped by the time between reads
        vs = variables("hr:10", "co:3", value_type="int")
        assert values(reader.read(vs)) == [42, 0]
        sim.stop()
        interval = 0.1
        for _ in range(6):  # the collector keeps reading at its interval: error samples, no exception
            samples = reader.read(vs)
            assert all(s.error is not None for s in samples)
            time.sleep(interval)
        assert reader.stats.connect_failures >= 1
        sim.start()  # same port, fresh memory
        sim.set("hr:10", 43)
        time.sleep(interval)
        assert values(reader.read(vs)) == [43, 0]  # read at the first scan after it came back
        assert reader.stats.connects == 2
    finally:
        sim.stop()


def test_device_absent_at_start(make_reader):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        reader = ModbusReader("127.0.0.1", port, timeout=0.5)
        reader.open()
        samples = reader.read(variables("hr:0", "hr:1"))
        assert all(s.error and "cannot connect" in s.error for s in samples)
        samples = reader.read(variables("hr:0"))  # backing off: no new attempt yet, still error samples
        assert samples[0].error is not None
        reader.close()


@pytest.mark.parametrize("protocol", ["tcp", "rtu-over-tcp"])
def test_after_a_timeout_the_connection_is_renewed(protocol):
    """A late answer must never be taken for the answer to the next request (RTU over TCP has no
    transaction id to tell them apart): after a timeout the reader drops the connection."""
    with Simulator(protocol=protocol, live=False) as sim:
        sim.set("hr:100", 1)
        sim.set("hr:200", 2)
        reader = ModbusReader("127.0.0.1", sim.port, protocol=protocol, timeout=0.3, retries=0)
        reader.open()
        try:
            sim.delay_s = 0.7
            late = reader.read(variables("hr:100"))
            assert late[0].error is not None and "no answer" in late[0].error
            sim.delay_s = 0.0
            time.sleep(0.6)  # the late answer is sent now, to a connection the reader has dropped
            assert values(reader.read(variables("hr:200", "hr:100"))) == [2, 1]
            for _ in range(3):
                assert values(reader.read(variables("hr:200"))) == [2]
                assert values(reader.read(variables("hr:100"))) == [1]
            assert reader.stats.connects == 2 and reader.stats.failures == 1
        finally:
            reader.close()


def test_retries_use_a_fresh_connection(sim, make_reader):
    sim.set("hr:100", 5)
    reader = make_reader(timeout=0.3, retries=2)
    sim.delay_s = 0.6
    samples = reader.read(variables("hr:100"))
    assert samples[0].error is not None
    assert reader.stats.failures == 3 and reader.stats.connects == 3
    sim.delay_s = 0.0
    assert values(reader.read(variables("hr:100"))) == [5]


def test_a_silent_unit_does_not_hold_up_the_scan_twice(sim, make_reader):
    sim.set("hr:100", 5)
    reader = make_reader(timeout=0.2, retries=0)
    sim.delay_s = 0.4
    samples = reader.read(variables("hr:100", "hr:300", "co:0"))  # three requests to unit 1
    assert all(s.error is not None for s in samples)
    assert reader.stats.requests == 1  # the first timed out; unit 1 was skipped for the rest of the scan


# -- the contract, checks, options -------------------------------------------------------------


class TestModbusReaderContract(ReaderContract):
    plugin_name = "modbus"

    @pytest.fixture
    def reader(self, sim):
        reader = ModbusReader("127.0.0.1", sim.port)
        yield reader
        reader.close()

    @pytest.fixture
    def variables(self, sim):
        sim.set("hr:100:float32", 1.5)
        return variables("hr:100:float32", "int|40001", "bool|co:3", "str|hr:110:string4", "ir:7:int32:cdab*0.5")

    @pytest.fixture
    def bad_variable(self):
        return Variable(99, "refused", "hr:5000", reader="plc")


def test_check_address_names_the_variable():
    reader = ModbusReader("127.0.0.1", 502)
    with pytest.raises(ValueError, match="variable 'boiler_t'.*'hr:1:float'.*unknown type"):
        reader.check_address(Variable(1, "boiler_t", "hr:1:float", reader="plc"))
    with pytest.raises(ValueError, match="variable 'name'.*is text.*type = \"str\""):
        reader.check_address(Variable(2, "name", "hr:1:string4", reader="plc"))
    with pytest.raises(ValueError, match="max_registers = 10"):
        ModbusReader("h", max_registers=10).check_address(
            Variable(3, "s", "hr:1:string20", reader="plc", value_type="str"))
    reader.check_address(Variable(4, "ok", "hr:40001:float32:cdab*0.1+3", reader="plc"))
    reader.check_address(Variable(5, "as_text", "hr:1:int16", reader="plc", value_type="str"))


def test_a_bad_address_in_read_is_an_error_sample(sim, make_reader):
    reader = make_reader()
    samples = reader.read(variables("hr:1", "nonsense", "hr:2"))
    assert [s.error is None for s in samples] == [True, False, True]
    assert "bad address" in samples[1].error
    assert reader.read([]) == []


@pytest.mark.parametrize("options, message", [
    ({}, "needs host"),
    ({"host": "h", "protocol": "modbus"}, "protocol 'modbus' is unknown"),
    ({"protocol": "rtu"}, "needs serial"),
    ({"host": "h", "serial": "/dev/ttyUSB0"}, "not both"),
    ({"host": "h", "port": 70000}, "port must be"),
    ({"host": "h", "unit": 300}, "unit must be"),
    ({"host": "h", "timeout": 0}, "timeout must be > 0"),
    ({"host": "h", "timeout": "1"}, "timeout must be a number"),
    ({"host": "h", "max_registers": 126}, "max_registers must be"),
    ({"host": "h", "max_bits": 2001}, "max_bits must be"),
    ({"host": "h", "coalesce": "yes"}, "coalesce must be true or false"),
    ({"serial": "/dev/x", "parity": "X"}, "parity"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        ModbusReader(**options)


def test_pause_between_requests(sim, make_reader):
    reader = make_reader(pause_ms=20, coalesce=False)
    assert values(reader.read(variables("hr:1", "hr:2", "hr:3"))) == [0, 0, 0]
    assert reader.stats.requests == 3
