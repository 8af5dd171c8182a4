"""The scpi reader against the simulated instrument over real TCP (pyvisa-py, raw SCPI sockets)."""

from __future__ import annotations

import pytest
from scpi_helpers import variables

from lab_scpi.reader import ScpiReader
from lab_scpi.simulator import Simulator

EVERY_OPTION = (
    "MEAS:VOLT?",                          # float (the variable's type)
    "MEAS:CURR?|scale=1e3",                # A -> mA
    "MEAS:TEMP?|offset=273.15",            # °C -> K
    "DATA:POIN?|int",
    "OUTP? as bool",
    "SENS:DATA?|field=2",                  # the third channel, around 3
    "SYST:TIME?|field=1|int",              # minutes
    "*IDN?|str|re=,([\\w-]+),",            # regex group
    "SYST:VERS?|int|re=^(\\d+)",
)


def values(samples):
    assert all(s.error is None for s in samples), [s.error for s in samples if s.error]
    return [s.value for s in samples]


def test_every_parse_option_in_one_round_trip(sim, make_reader):
    reader = make_reader(idn="SIM-DMM")
    vs = variables(*EVERY_OPTION)
    before = sim.messages
    volt, ma, kelvin, points, output, ch3, minutes, model, version = values(reader.read(vs))
    assert sim.messages - before == 1  # one joined message for the whole scan
    assert 0.7 < volt < 1.3 and 11.0 < ma < 13.6 and 294.0 < kelvin < 295.5
    assert isinstance(points, int) and points > 0
    assert output is False and 2.8 < ch3 < 3.2 and 0 <= minutes < 60
    assert model == "SIM-DMM" and version == 1999
    sim.instrument.output = True
    before = sim.messages
    again = values(reader.read(vs))
    assert sim.messages - before == 1 and reader.stats.round_trips == 4  # *IDN?, SYST:ERR? at open
    assert again[4] is True and again[3] > points  # the device moved on


def test_readings_change_between_scans(make_reader):
    reader = make_reader()
    vs = variables("MEAS:VOLT?", "MEAS:FREQ?")
    first, second = values(reader.read(vs)), values(reader.read(vs))
    assert first != second


def test_a_query_is_asked_once_per_scan(sim, make_reader):
    reader = make_reader()
    vs = variables("SENS:DATA?|field=0", "SENS:DATA?|field=1", "SENS:DATA?|field=3")
    sim.instrument.queries = 0
    ch1, ch2, ch4 = values(reader.read(vs))
    assert sim.instrument.queries == 3  # *OPC?, SENS:DATA? once, SYST:ERR?
    assert ch1 < ch2 < ch4


def test_command_error_in_the_middle(sim, make_reader):
    """BOGUS? makes the instrument drop the rest of the message (IEEE 488.2): the answers before it
    are kept, the error is BOGUS?'s, and the queries after it are asked again."""
    reader = make_reader()
    vs = variables("MEAS:VOLT?", "MEAS:CURR?", "BOGUS?", "MEAS:TEMP?", "OUTP? as bool")
    samples = reader.read(vs)
    assert [s.error is None for s in samples] == [True, True, False, True, True]
    assert samples[2].error == 'BOGUS?: instrument error -113,"Undefined header"'
    assert 0.7 < samples[0].value < 1.3 and 20 < samples[3].value < 23 and samples[4].value is False
    before = sim.messages
    reader.read(vs)
    assert sim.messages - before == 4  # joined; SYST:ERR? twice (the error, then "No error"); the rest again


@pytest.mark.parametrize("position", [0, 2, 4])
def test_execution_error_anywhere(sim, make_reader, position):
    """MEAS:VOLT? 2000 is refused (-222) but the instrument goes on: the reader asks one by one."""
    reader = make_reader()
    addresses = ["MEAS:CURR?", "MEAS:TEMP?", "MEAS:FREQ?", "MEAS:RES?"]
    addresses.insert(position, "MEAS:VOLT? 2000")
    samples = reader.read(variables(*addresses))
    assert [s.error is None for s in samples] == [i != position for i in range(5)]
    assert samples[position].error == 'MEAS:VOLT? 2000: instrument error -222,"Data out of range"'
    assert reader.stats.fallbacks == 1


def test_command_error_first_needs_no_timeout(sim, make_reader):
    reader = make_reader(timeout_s=5.0)
    samples = reader.read(variables("BOGUS?", "MEAS:VOLT?"))
    assert samples[0].error.endswith('-113,"Undefined header"') and samples[1].error is None
    assert reader.stats.timeouts == 0  # *OPC? first: the instrument always answers something


def test_overload_is_an_error_sample(make_reader):
    reader = make_reader(init=["VOLT:RANG 0.1"])  # ~1 V on the 0.1 V range
    volt, curr = reader.read(variables("MEAS:VOLT?", "MEAS:CURR?"))
    assert "overload" in volt.error and curr.error is None


def test_join_off_one_message_per_query(sim, make_reader):
    reader = make_reader(join_queries=False, error_query="")
    vs = variables(*EVERY_OPTION)
    before = sim.messages
    values(reader.read(vs))
    assert sim.messages - before == len(vs)


def test_join_off_still_finds_errors(sim, make_reader):
    reader = make_reader(join_queries=False, timeout_s=0.3)
    samples = reader.read(variables("MEAS:VOLT?", "BOGUS?", "MEAS:VOLT? 2000", "MEAS:CURR?"))
    assert [s.error is None for s in samples] == [True, False, False, True]
    assert "-113" in samples[1].error and "-222" in samples[2].error


def test_without_error_queue_the_stop_shows(make_reader):
    reader = make_reader(error_query="")
    samples = reader.read(variables("MEAS:VOLT?", "BOGUS?", "MEAS:CURR?"))
    assert [s.error is None for s in samples] == [True, False, True]
    assert "gave no answer" in samples[1].error


def test_max_join_splits_messages(sim, make_reader):
    reader = make_reader(max_join=2)
    before = sim.messages
    values(reader.read(variables("MEAS:VOLT?", "MEAS:CURR?", "MEAS:TEMP?", "MEAS:FREQ?", "MEAS:RES?")))
    assert sim.messages - before == 3


def test_init_commands_at_open(sim, make_reader):
    reader = make_reader(init=["*RST", "OUTP ON"])
    assert values(reader.read(variables("OUTP? as bool"))) == [True]


def test_refused_init_gives_error_samples(make_reader):
    reader = make_reader(init=["OUTP MAYBE"])
    (sample,) = reader.read(variables("MEAS:VOLT?"))
    assert "refused the init commands" in sample.error and "-224" in sample.error


def test_wrong_instrument(make_reader):
    reader = make_reader(idn="^KEITHLEY")
    (sample,) = reader.read(variables("MEAS:VOLT?"))
    assert "does not match idn = '^KEITHLEY'" in sample.error
    assert reader.stats.opens == 0


def test_bad_address_is_refused_at_check(make_reader):
    reader = make_reader()
    (bad,) = variables("MEAS:VOLT?|feild=1")
    with pytest.raises(ValueError, match="variable 'v0': address 'MEAS:VOLT\\?|feild=1': option 'feild'"):
        reader.check_address(bad)


def test_stopped_and_started_again(sim, make_reader):
    reader = make_reader(timeout_s=0.3)
    vs = variables("MEAS:VOLT?", "MEAS:CURR?")
    values(reader.read(vs))
    sim.stop()
    assert all(s.error for s in reader.read(vs))
    assert all(s.error for s in reader.read(vs))  # refused while it is gone
    sim.start()  # same port
    values(reader.read(vs))  # the next scan after it is back


@pytest.mark.parametrize("options, message", [
    ({"resource": "FOO"}, "is not a VISA resource name"),
    ({"resource": ""}, "give the instrument's VISA resource"),
    ({"timeout_s": 0}, "timeout_s must be > 0"),
    ({"max_join": 0}, "max_join must be"),
    ({"init": "*RST"}, "init must be a list"),
    ({"idn": "("}, "not a regular expression"),
])
def test_bad_options(options, message):
    options = {"resource": "TCPIP0::127.0.0.1::5025::SOCKET", **options}
    with pytest.raises(ValueError, match=message):
        ScpiReader(**options)


def test_an_old_error_is_pinned_on_no_query(sim, make_reader):
    """An error already in the queue (e.g. from the front panel) shows up in a full reply: the reader
    asks each query alone, finds none refused, and every variable keeps its value."""
    reader = make_reader()
    sim.instrument.errors.append((-100, "Command error"))
    samples = reader.read(variables("MEAS:VOLT?", "MEAS:CURR?", "MEAS:TEMP?"))
    assert all(s.error is None for s in samples)
    assert reader.stats.fallbacks == 1 and sim.instrument.errors == []


def test_query_delay_is_passed_to_visa(make_reader):
    reader = make_reader(query_delay_s=0.01)
    assert reader.read(variables("MEAS:VOLT?"))[0].error is None
    assert reader._inst.query_delay == 0.01


def test_an_instrument_without_error_queue_gets_a_hint():
    """A line device that answers only what it knows: SYST:ERR? goes unanswered at open."""
    with Simulator() as sim:
        sim.instrument.commands = [c for c in sim.instrument.commands if not c[0].fullmatch("SYST:ERR?")]
        reader = ScpiReader(sim.resource, timeout_s=0.2)
        reader.open()
        try:
            (sample,) = reader.read(variables("MEAS:VOLT?"))
            assert "to SYST:ERR?; if this instrument has no error queue, set error_query" in sample.error
            reader.error_query = ""
            assert reader.read(variables("MEAS:VOLT?"))[0].error is None
        finally:
            reader.close()


def test_a_misspelt_option_is_named():
    from lab_core import ConfigError, Registry

    with pytest.raises(ConfigError, match="unknown key 'timeout'; did you mean 'timeout_s'"):
        Registry().reader("scpi", resource="TCPIP0::127.0.0.1::5025::SOCKET", timeout=1.0)
