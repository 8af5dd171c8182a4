"""Contract suites for reader, writer, stream processor and job plugins (see ``lab_core.testing``)."""

from __future__ import annotations

import math
import sys
import time

import pytest

from ..contracts import Reader, StreamProcessor, Writer
from ..errors import LabError, RejectedSamples
from ..model import Sample, Variable
from ..options import undeclared
from ..registry import Registry

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


class _SampleContract:
    """``lab config sample NAME`` prints a configuration that loads as printed."""

    plugin_name: str | None = None

    def test_config_sample_loads(self):
        if self.plugin_name is None:
            pytest.skip("set plugin_name to check `lab config sample`")
        from ..config import expand, plan
        from ..sample import sample

        registry = Registry()
        text = sample(registry, [self.plugin_name])
        try:
            plan(expand(tomllib.loads(text)), registry)
        except LabError as exc:
            pytest.fail(f"`lab config sample {self.plugin_name}` does not load: {exc}. Give each required "
                        "option an Example(...) in its Annotated declaration (and a reader an example_address "
                        f"its check_address accepts). The sample:\n{text}")


class ReaderContract(_SampleContract):
    """What every reader promises. Provide the ``reader`` and ``variables`` fixtures;
    optionally ``bad_variable`` (a variable whose read fails) and ``plugin_name``."""

    plugin_name: str | None = None

    @pytest.fixture
    def bad_variable(self):
        return None

    @pytest.fixture
    def opened(self, reader):
        reader.open()
        yield reader
        reader.close()

    def test_is_a_reader(self, reader):
        assert isinstance(reader, Reader)
        assert reader.min_interval_ms >= 0

    def test_one_sample_per_variable_in_order(self, opened, variables):
        before = time.time()
        samples = opened.read(variables)
        assert [s.codename for s in samples] == [v.codename for v in variables]
        for sample in samples:
            assert isinstance(sample, Sample)
            assert sample.error is None, sample.error
            assert before - 1 <= sample.time <= time.time() + 1

    def test_reads_again(self, opened, variables):
        assert len(opened.read(variables)) == len(variables)
        assert len(opened.read(variables[:1])) == 1

    def test_declares_its_options(self, reader):
        """Every ``__init__`` option is a keyword with ``Annotated[type, "description"]`` (see lab_core.options)."""
        assert undeclared(type(reader)) == []

    def test_checks_addresses(self, reader, variables):
        for variable in variables:
            reader.check_address(variable)  # a good address passes

    def test_one_bad_variable_does_not_fail_the_batch(self, opened, variables, bad_variable):
        if bad_variable is None:
            pytest.skip("no bad_variable fixture given")
        samples = opened.read([*variables, bad_variable])
        assert [s.error is None for s in samples] == [True] * len(variables) + [False]
        assert samples[-1].codename == bad_variable.codename

    def test_close_twice(self, reader, variables):
        reader.open()
        reader.read(variables)
        reader.close()
        reader.close()

    def test_published_through_entry_points(self, reader):
        if self.plugin_name is None:
            pytest.skip("set plugin_name to check the entry point")
        cls = Registry().get_class("reader", self.plugin_name)
        assert isinstance(reader, cls)


class WriterContract(_SampleContract):
    """What every writer promises. Provide ``writer`` and ``read_back(writer)``; optionally
    ``plugin_name``. ``read_back`` returns ``[(codename, time, value), …]`` for what arrived."""

    plugin_name: str | None = None
    #: the writer may round times to this many seconds (1.0 for second-resolution tables)
    time_resolution: float = 1e-6
    #: False for writers that keep only the latest value per codename (e.g. a socket server):
    #: the test batches then hold one sample per codename
    keeps_history: bool = True

    def read_back(self, writer) -> list[tuple[str, float, object]]:
        raise NotImplementedError("implement read_back(writer) to check what the writer stored")

    @pytest.fixture
    def opened(self, writer):
        writer.open()
        yield writer
        writer.close()

    def batch(self, n: int = 5, codename: str = "contract_value") -> list[Sample]:
        t0 = math.floor(time.time()) - 1000.0
        name = (lambda i: codename) if self.keeps_history else (lambda i: f"{codename}_{i}")
        return [Sample(name(i), t0 + i, float(i) + 0.5) for i in range(n)]

    def _arrived(self, writer, samples):
        stored = self.read_back(writer)
        for sample in samples:
            match = [r for r in stored if r[0] == sample.codename
                     and abs(r[1] - sample.time) <= self.time_resolution + 1e-6 and r[2] == sample.value]
            assert match, f"{sample} was not stored; stored: {stored[:10]}"
        return stored

    def test_is_a_writer(self, writer):
        assert isinstance(writer, Writer)
        assert writer.max_batch >= 1

    def test_declares_its_options(self, writer):
        """Every ``__init__`` option is a keyword with ``Annotated[type, "description"]`` (see lab_core.options)."""
        assert undeclared(type(writer)) == []

    def test_writes_a_batch(self, opened):
        samples = self.batch()
        opened.write(samples)
        self._arrived(opened, samples)

    def test_empty_batch(self, opened):
        opened.write([])

    def test_retried_batch_arrives(self, opened):
        samples = self.batch(3, "contract_retry")
        opened.write(samples)
        opened.write(samples)  # a retry after an unknown outcome must not lose anything
        self._arrived(opened, samples)

    def test_non_finite_values_are_rejected_or_stored(self, opened):
        good = self.batch(2, "contract_nan")
        bad = Sample("contract_nan_bad", good[-1].time + 1, math.nan)
        try:
            opened.write([*good, bad])
        except RejectedSamples as rejected:
            assert list(rejected.samples) == [bad]
            opened.write(good)  # the rest goes through once the bad one is set aside
        self._arrived(opened, good)

    def test_close_twice(self, writer):
        writer.open()
        writer.close()
        writer.close()

    def test_published_through_entry_points(self, writer):
        if self.plugin_name is None:
            pytest.skip("set plugin_name to check the entry point")
        cls = Registry().get_class("writer", self.plugin_name)
        assert isinstance(writer, cls)


class StreamProcessorContract(_SampleContract):
    """What every stream processor promises. Provide ``processor`` (a fresh instance),
    ``variable`` (one it can process) and ``samples`` (a list of that variable's samples in
    time order); optionally ``plugin_name``."""

    plugin_name: str | None = None

    @pytest.fixture
    def bound(self, processor, variable):
        processor.bind(variable)
        return processor

    def run(self, processor, samples) -> list[Sample]:
        out = []
        for sample in samples:
            result = processor.process(sample)
            assert all(isinstance(s, Sample) for s in result), f"process({sample}) gave {result!r}"
            out.extend(result)
        rest = processor.finish()
        assert all(isinstance(s, Sample) for s in rest), f"finish() gave {rest!r}"
        return out + list(rest)

    def test_is_a_stream_processor(self, processor):
        assert isinstance(processor, StreamProcessor)

    def test_declares_its_options(self, processor):
        """Every ``__init__`` option is a keyword with ``Annotated[type, "description"]``: so a
        misspelled key in ``[processors.NAME]`` gets "did you mean" (see lab_core.options)."""
        assert undeclared(type(processor)) == []

    def test_processes_the_samples(self, bound, samples):
        out = self.run(bound, samples)
        assert all(s.time <= samples[-1].time + 86400 for s in out)

    def test_error_samples_are_never_lost(self, bound, variable, samples):
        broken = Sample.failed(variable.codename, "the device did not answer", samples[0].time + 1e-6)
        out = self.run(bound, [samples[0], broken, *samples[1:]])
        assert [s.error for s in out if s.error is not None] == [broken.error]

    def test_a_value_of_the_wrong_type_is_not_an_exception(self, bound, variable, samples):
        odd = Sample(variable.codename, samples[0].time + 1e-6, "not what the variable reads" if
                     variable.value_type != "str" else 12.5)
        self.run(bound, [samples[0], odd, *samples[1:]])

    def test_the_same_input_gives_the_same_output(self, processor, variable, samples):
        import copy

        twin = copy.deepcopy(processor)
        processor.bind(variable)
        twin.bind(variable)
        assert self.run(processor, samples) == self.run(twin, samples)

    def test_refuses_a_variable_it_cannot_process_with_value_error(self, processor):
        for value_type in ("float", "int", "bool", "str"):
            try:
                processor.bind(Variable(1, "contract_var", "a", "r", value_type=value_type))
            except ValueError as exc:
                assert str(exc)  # says why

    def test_published_through_entry_points(self, processor):
        if self.plugin_name is None:
            pytest.skip("set plugin_name to check the entry point")
        cls = Registry().get_class("processor", self.plugin_name)
        assert isinstance(processor, cls)



class JobContract:
    """What every dahu-style job plugin promises. Provide ``processor`` (the plugin instance),
    ``good_input`` and ``bad_input`` fixtures; optionally ``plugin_name``."""

    plugin_name: str | None = None

    def test_is_a_processor_with_dicts(self, processor):
        assert isinstance(processor.input, dict) and isinstance(processor.output, dict)
        for step in ("setup", "process", "teardown", "abort"):
            assert callable(getattr(processor, step))

    def test_life_cycle_gives_json_output(self, processor, good_input):
        import json

        processor.setup(dict(good_input))
        processor.process()
        processor.teardown()
        assert processor.output
        json.dumps(processor.output)  # outputs travel as JSON

    def test_bad_input_raises_and_teardown_still_works(self, processor, bad_input):
        processor.setup(dict(bad_input))
        with pytest.raises(Exception):  # noqa: B017 - any clear error will do
            processor.process()
        processor.teardown()

    def test_published_through_entry_points(self, processor):
        if self.plugin_name is None:
            pytest.skip("set plugin_name to check the entry point")
        cls = Registry().get_class("job", self.plugin_name)
        assert isinstance(processor, cls)


#: Deprecated name of :class:`JobContract` (lab-core 1.0); removed in the next release.
ProcessorContract = JobContract
