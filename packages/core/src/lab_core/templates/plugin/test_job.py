import pytest

from lab_core.testing import JobContract

from $package.job import $cls


class Test$cls(JobContract):
    plugin_name = "$name"

    @pytest.fixture
    def processor(self):
        return $cls()

    @pytest.fixture
    def good_input(self):
        return {"values": [1.0, 2.0, 3.0]}

    @pytest.fixture
    def bad_input(self):
        return {"values": "not a list"}

    def test_mean(self, processor):
        processor.setup({"values": [2, 4]})
        processor.process()
        assert processor.output["mean"] == 3
