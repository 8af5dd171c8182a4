import pytest

from lab_core import Variable
from lab_core.testing import ReaderContract

from $package.reader import $cls


class Test$cls(ReaderContract):
    plugin_name = "$name"

    @pytest.fixture
    def reader(self):
        return $cls(gain=2.0)

    @pytest.fixture
    def variables(self):
        return [Variable(1, "${name}_ch1", "channel:1", "r"), Variable(2, "${name}_ch2", "channel:2", "r")]

    @pytest.fixture
    def bad_variable(self):
        return Variable(3, "${name}_bad", "nowhere", "r")
