"""The scpi reader on pyvisa-sim (backend = "profiles/dmm.yaml@sim"): no network, a scripted instrument."""

from __future__ import annotations

from pathlib import Path

import pytest
from scpi_helpers import variables

from lab_scpi.reader import ScpiReader

pytest.importorskip("pyvisa_sim", reason="pip install lab-scpi[sim]")

BACKEND = f"{Path(__file__).parent / 'profiles' / 'dmm.yaml'}@sim"
JOINED = ("MEAS:VOLT?", "MEAS:CURR?|scale=1e3", "SENS:DATA?|field=1", "OUTP? as bool")


@pytest.fixture(params=["TCPIP0::dmm.sim::5025::SOCKET", "ASRL1::INSTR"])
def reader(request):
    made = ScpiReader(request.param, backend=BACKEND, timeout_s=0.2, idn="^SIMVISA,DMM-1,")
    made.open()
    yield made
    made.close()


def test_joined_scan(reader):
    samples = reader.read(variables(*JOINED))
    assert [s.value for s in samples] == [2.5, 1.5, 2.0, True], [s.error for s in samples]
    assert reader.stats.round_trips == 3  # *IDN? and SYST:ERR? at open, then the scan in one message


def test_one_query_per_message(reader):
    reader.join_queries = False
    samples = reader.read(variables(*JOINED))
    assert [s.value for s in samples] == [2.5, 1.5, 2.0, True]
    assert reader.stats.round_trips == 2 + 2 * len(JOINED)  # each query, then SYST:ERR?


def test_init_sets_a_property(reader):
    reader.init = ["VOLT 7.125"]
    reader.join_queries = False  # the profile's joined dialogues are fixed text
    (volt,) = reader.read(variables("MEAS:VOLT?"))
    assert volt.value == 7.125


def test_unknown_query_gets_the_queue_error(reader):
    reader.join_queries = False
    bogus, curr = reader.read(variables("BOGUS?", "MEAS:CURR?"))
    assert bogus.error == 'BOGUS?: instrument error -113,"Undefined header"'
    assert curr.value == 1.5e-3


def test_wrong_profile_path():
    reader = ScpiReader("ASRL1::INSTR", backend="/nonexistent/dmm.yaml@sim")
    with pytest.raises(ValueError, match="backend '/nonexistent/dmm.yaml@sim': cannot load"):
        reader.open()
