import pytest

from lab_core import Sample, Variable
from lab_core.testing import StreamProcessorContract

from $package.processor import $cls


class Test$cls(StreamProcessorContract):
    plugin_name = "$name"

    @pytest.fixture
    def processor(self):
        return $cls(max_step=5.0)

    @pytest.fixture
    def variable(self):
        return Variable(1, "oven_t", "T1", reader="oven", unit="degC")

    @pytest.fixture
    def samples(self):
        return [Sample("oven_t", 1000.0 + i, 20.0 + (i % 3)) for i in range(20)]

    def test_a_spike_is_dropped(self, processor, variable):
        processor.bind(variable)
        values = [20.0, 21.0, 95.0, 22.0]
        kept = [s.value for v in values for s in processor.process(Sample("oven_t", 1.0, v))]
        assert kept == [20.0, 21.0, 22.0]
