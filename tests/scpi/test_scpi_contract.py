"""Both readers pass the core's reader contract (lab_core.testing), on the simulators."""

from __future__ import annotations

import pytest
from scpi_helpers import variables

from lab_core import Variable
from lab_core.testing import ReaderContract
from lab_scpi.reader import ScpiReader
from lab_scpi.serial_line import SerialLineReader


class TestScpiReaderContract(ReaderContract):
    plugin_name = "scpi"

    @pytest.fixture
    def reader(self, sim):
        return ScpiReader(sim.resource, timeout_s=1.0)

    @pytest.fixture
    def variables(self):
        return variables("MEAS:VOLT?", "MEAS:CURR?|scale=1e3", "OUTP? as bool", "*IDN?|str")

    @pytest.fixture
    def bad_variable(self):
        return Variable(99, "bogus", "BOGUS?", reader="dmm")  # the instrument refuses it


class TestSerialLineReaderContract(ReaderContract):
    plugin_name = "serial-line"

    @pytest.fixture
    def reader(self, gauge, serial_pair):
        return SerialLineReader(serial_pair.client, timeout_s=0.5, ack="\u0006\r\n", enquiry="\u0005")

    @pytest.fixture
    def variables(self):
        return variables("PR1|status=0:0|field=1", "PRX|field=3")

    @pytest.fixture
    def bad_variable(self):
        return Variable(99, "no_sensor", "PR2|status=0:0|field=1", reader="dmm")  # gauge 2 has no sensor
