import pytest

from lab_core import Variable
from lab_core.testing import ReaderContract

from lab_thermo.reader import ThermoReader


class TestThermoReader(ReaderContract):
    plugin_name = "thermo"

    @pytest.fixture
    def reader(self):
        return ThermoReader(gain=2.0)

    @pytest.fixture
    def variables(self):
        return [Variable(1, "thermo_ch1", "channel:1", "r"), Variable(2, "thermo_ch2", "channel:2", "r")]

    @pytest.fixture
    def bad_variable(self):
        return Variable(3, "thermo_bad", "nowhere", "r")
