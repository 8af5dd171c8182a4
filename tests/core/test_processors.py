"""The built-in stream processors: deadband (property tests), window (against a direct
computation), transforms, and the stream processor contract they all keep."""

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab_core import Aggregate, Sample, Variable
from lab_core.processors.deadband import Deadband
from lab_core.processors.transforms import Cast, Clamp, Convert, Scale
from lab_core.processors.units import linear_map
from lab_core.processors.window import Window
from lab_core.testing import StreamProcessorContract

VAR = Variable(1, "x", "a", "r")


def run(processor, samples, variable=VAR):
    processor.bind(variable)
    out = [s for sample in samples for s in processor.process(sample)]
    return out, list(processor.finish())


# -- deadband: properties -----------------------------------------------------------------

values = st.floats(-1e6, 1e6, allow_nan=False)
steps = st.floats(0.001, 50.0)
bands = st.sampled_from([("absolute", 0.5), ("absolute", 10.0), ("relative", 0.01), ("relative", 0.2),
                         ("logarithmic", 0.05), ("logarithmic", 1.0)])


@st.composite
def streams(draw, errors=True):
    """Samples at increasing times, values a noisy walk with jumps, some of them errors."""
    n = draw(st.integers(1, 120))
    t, out = draw(st.floats(0, 1e9)), []
    for _ in range(n):
        t += draw(steps)
        if errors and draw(st.integers(0, 15)) == 0:
            out.append(Sample.failed("x", "no answer", t))
        else:
            out.append(Sample("x", t, draw(values)))
    return out


def within(kind, band, last, value):
    if kind == "absolute":
        return abs(value - last) <= band
    if kind == "relative":
        return abs(value - last) <= band * abs(last)
    magnitude = lambda v: math.log10(max(abs(v), 1e-300))
    return abs(magnitude(value) - magnitude(last)) <= band


@settings(max_examples=300, deadline=None)
@given(streams(), bands, st.booleans(), st.one_of(st.none(), st.floats(1.0, 200.0)))
def test_every_value_not_passed_lies_within_the_band_of_the_last_passed(samples, band, keep, max_interval):
    kind, width = band
    deadband = Deadband(**{kind: width}, max_interval_s=max_interval, keep_before_jump=keep)
    passed, _ = run(deadband, samples)
    kept = {id(s) for s in passed}
    last = None
    for sample in samples:  # the passed values, in time order, are the reference points
        if id(sample) in kept:
            last = None if sample.error else sample
            continue
        assert last is not None, f"{sample} was dropped although nothing passed before it"
        assert within(kind, width, last.value, sample.value), f"{sample} dropped, outside the band of {last}"


@settings(max_examples=300, deadline=None)
@given(streams(errors=False), bands, st.booleans(), st.floats(1.0, 200.0))
def test_no_two_passed_values_are_further_apart_than_max_interval_while_values_arrive(
        samples, band, keep, max_interval):
    kind, width = band
    passed, _ = run(Deadband(**{kind: width}, max_interval_s=max_interval, keep_before_jump=keep), samples)
    assert passed[0] is samples[0]  # the first value always passes
    times = [s.time for s in samples]
    for a, b in zip(passed, passed[1:]):
        gap = b.time - a.time
        arrivals = [t for t in times if a.time <= t <= b.time]
        longest_input_gap = max((y - x for x, y in zip(arrivals, arrivals[1:])), default=0.0)
        assert gap <= max_interval or longest_input_gap > max_interval, (a, b)


@settings(max_examples=300, deadline=None)
@given(streams(), bands, st.booleans())
def test_errors_always_pass_and_the_value_after_an_error_passes(samples, band, keep):
    kind, width = band
    passed, _ = run(Deadband(**{kind: width}, keep_before_jump=keep), samples)
    ids = {id(s) for s in passed}
    for before, after in zip([None, *samples], samples):
        if after.error:
            assert id(after) in ids
        elif before is None or before.error:
            assert id(after) in ids, f"{after} came first or after an error and was dropped"


@settings(max_examples=200, deadline=None)
@given(streams(), bands, st.booleans(), st.one_of(st.none(), st.floats(1.0, 200.0)))
def test_passed_samples_are_input_samples_in_time_order(samples, band, keep, max_interval):
    kind, width = band
    passed, rest = run(Deadband(**{kind: width}, max_interval_s=max_interval, keep_before_jump=keep), samples)
    out = passed + rest
    assert [s.time for s in out] == sorted(s.time for s in out)
    assert len({id(s) for s in out}) == len(out) and {id(s) for s in out} <= {id(s) for s in samples}


# -- deadband: the documented cases ------------------------------------------------------


def series(*values, start=0.0, step=1.0):
    return [Sample("x", start + i * step, v) for i, v in enumerate(values)]


def test_a_step_is_drawn_at_its_time_with_keep_before_jump():
    samples = series(1.0, 1.1, 1.2, 1.1, 5.0, 5.1)
    plain, _ = run(Deadband(absolute=0.5), samples)
    kept, _ = run(Deadband(absolute=0.5, keep_before_jump=True), samples)
    assert [s.value for s in plain] == [1.0, 5.0]
    assert [(s.time, s.value) for s in kept] == [(0.0, 1.0), (3.0, 1.1), (4.0, 5.0)]


def test_heartbeat_stores_the_value_held_before_the_limit():
    passed, _ = run(Deadband(absolute=10, max_interval_s=2.5), series(*[1.0] * 8))
    assert [s.time for s in passed] == [0.0, 2.0, 4.0, 6.0]


def test_the_last_value_held_back_is_stored_when_the_stream_ends():
    passed, rest = run(Deadband(absolute=1), series(1.0, 1.2, 1.3))
    assert [s.value for s in passed] == [1.0] and [s.value for s in rest] == [1.3]


def test_relative_and_logarithmic_bands():
    assert [s.value for s in run(Deadband(relative=0.1), series(100.0, 109.0, 111.0, 121.0))[0]] == [100.0, 111.0]
    pressures = series(1e-6, 1.5e-6, 9e-6, 1.1e-5, 1e-4)
    assert [s.value for s in run(Deadband(logarithmic=0.5), pressures)[0]] == [1e-6, 9e-6, 1e-4]


def test_booleans_and_text_pass_when_they_change():
    flags = [Sample("x", i, v) for i, v in enumerate([False, False, True, True, False])]
    passed, _ = run(Deadband(absolute=1), flags, Variable(1, "x", "a", "r", value_type="bool"))
    assert [s.value for s in passed] == [False, True, False]


def test_nan_is_never_hidden_in_the_band():
    passed, _ = run(Deadband(absolute=1), series(1.0, math.nan, 1.0))
    assert len(passed) == 3


@pytest.mark.parametrize("options, message", [
    ({}, "exactly one band"), ({"absolute": 1, "relative": 0.1}, "got absolute, relative"),
    ({"absolute": -1}, "absolute must be a positive number"), ({"absolute": 1, "max_interval_s": 0}, "max_interval_s"),
])
def test_deadband_refuses_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        Deadband(**options)


# -- window: against a direct computation -------------------------------------------------


def direct(samples, seconds):
    """Group by clock-aligned window and compute each aggregate the obvious way."""
    groups = {}
    for s in samples:
        groups.setdefault(math.floor(s.time / seconds), []).append(s.value)
    return {(k + 1) * seconds: {"mean": statistics.fmean(v), "min": min(v), "max": max(v),
                                "stdev": statistics.stdev(v) if len(v) > 1 else 0.0, "count": len(v),
                                "first": v[0], "last": v[-1]} for k, v in groups.items()}


@settings(max_examples=200, deadline=None)
@given(streams(errors=False), st.sampled_from([0.5, 1.0, 7.0, 60.0]))
def test_window_aggregates_match_a_direct_computation(samples, seconds):
    window = Window(seconds=seconds, aggregates=["mean", "min", "max", "stdev", "count", "first", "last"])
    emitted, rest = run(window, samples)
    expected = direct(samples, seconds)
    got = {}
    for s in emitted + rest:
        assert isinstance(s, Aggregate)
        got.setdefault(s.time, {})[s.codename.removeprefix("x_")] = s.value
        assert s.count == expected[s.time]["count"]
    assert got.keys() == expected.keys()
    for end, aggregates in expected.items():
        for name, value in aggregates.items():
            assert got[end][name] == pytest.approx(value, rel=1e-9, abs=1e-6), (end, name)
    # everything but the last window came out on the next read; the last one at the end of the stream
    assert {s.time for s in rest} == {max(expected)}


def test_window_is_aligned_to_the_clock_and_emitted_at_its_end():
    samples = [Sample("x", t, t) for t in (59.5, 60.0, 61.0, 119.9, 120.0)]
    window = Window(seconds=60)
    window.bind(VAR)
    outs = [window.process(s) for s in samples]
    assert [list(o) for o in outs[:2]] == [[], [Aggregate("x", 60.0, 59.5, count=1)]]
    assert outs[4] == [Aggregate("x", 120.0, pytest.approx((60 + 61 + 119.9) / 3), count=3)]
    assert list(window.finish()) == [Aggregate("x", 180.0, 120.0, count=1)]


def test_window_lets_errors_through_at_once_and_does_not_count_them():
    window = Window(seconds=10, aggregates=["count"])
    out, rest = run(window, [Sample("x", 1, 1.0), Sample.failed("x", "gone", 2), Sample("x", 3, 2.0)])
    assert [s.error for s in out] == ["gone"] and rest == [Aggregate("x", 10.0, 2, count=2)]


def test_window_codenames_and_refusals():
    window = Window(seconds=1, aggregates=["mean", "max"], codename="{codename}:{aggregate}")
    with pytest.raises(ValueError, match="contains ':'"):
        window.bind(VAR)  # not a codename
    with pytest.raises(ValueError, match="text values"):
        Window(seconds=1).bind(Variable(1, "t", "a", "r", value_type="str"))
    with pytest.raises(ValueError, match="same codename"):
        Window(seconds=1, aggregates=["min", "max"], codename="{codename}").bind(VAR)
    with pytest.raises(ValueError, match="'median' is none of them"):
        Window(seconds=1, aggregates=["median"])


# -- transforms -----------------------------------------------------------------------------


def values_of(processor, *values, variable=VAR):
    return [s.value if s.ok else s.error for s in run(processor, series(*values), variable)[0]]


def test_scale_and_offset():
    assert values_of(Scale(factor=2, offset=-1), 1.0, 2.5) == [1.0, 4.0]


@pytest.mark.parametrize("source, target, value, expected", [
    ("K", "degC", 273.15, 0.0), ("degC", "degF", 100.0, 212.0), ("degF", "K", 32.0, 273.15),
    ("Torr", "mbar", 1.0, 1.333223684), ("bar", "psi", 1.0, 14.50377377), ("mm", "in", 25.4, 1.0),
])
def test_unit_conversion(source, target, value, expected):
    assert values_of(Convert(from_unit=source, to_unit=target), value) == [pytest.approx(expected)]
    scale, offset = linear_map(target, source)
    assert expected * scale + offset == pytest.approx(value)


def test_unit_conversion_refuses_unknown_and_mismatched_units():
    with pytest.raises(ValueError, match="unknown unit 'furlong'"):
        Convert(from_unit="furlong", to_unit="m")
    with pytest.raises(ValueError, match="'K' is a temperature and 'mbar' a pressure"):
        Convert(from_unit="K", to_unit="mbar")


def test_clamp():
    assert values_of(Clamp(minimum=0, maximum=10), -5.0, 5.0, 50.0) == [0.0, 5.0, 10.0]
    assert values_of(Clamp(maximum=1), 3.0) == [1.0]
    with pytest.raises(ValueError, match="minimum 5 is above maximum 1"):
        Clamp(minimum=5, maximum=1)


def test_cast():
    assert values_of(Cast(to="int"), 2.6, -1.4) == [3, -1]
    text = Variable(1, "x", "a", "r", value_type="str")
    assert values_of(Cast(to="bool"), "on", "Off", "maybe", variable=text)[:2] == [True, False]
    assert "cannot cast 'maybe' to bool" in values_of(Cast(to="bool"), "maybe", variable=text)[0]
    assert values_of(Cast(to="str"), 1.5) == ["1.5"]


def test_a_transform_turns_a_bad_value_into_an_error_sample():
    out, _ = run(Scale(factor=2), [Sample("x", 1, "text")])
    assert out[0].error == "'text' is not a number"


# -- the contract, kept by every built-in ------------------------------------------------------


class BuiltinContract(StreamProcessorContract):
    @pytest.fixture
    def variable(self):
        return Variable(1, "contract_x", "a", "r", unit="degC")

    @pytest.fixture
    def samples(self):
        return [Sample("contract_x", 1000.0 + i * 0.7, 20.0 + math.sin(i / 5) * 3) for i in range(60)]


class TestDeadbandContract(BuiltinContract):
    plugin_name = "deadband"

    @pytest.fixture
    def processor(self):
        return Deadband(absolute=0.5, max_interval_s=10, keep_before_jump=True)


class TestWindowContract(BuiltinContract):
    plugin_name = "window"

    @pytest.fixture
    def processor(self):
        return Window(seconds=5, aggregates=["mean", "stdev", "count"])


class TestScaleContract(BuiltinContract):
    plugin_name = "scale"

    @pytest.fixture
    def processor(self):
        return Scale(factor=1.5, offset=2)


class TestConvertContract(BuiltinContract):
    plugin_name = "convert"

    @pytest.fixture
    def processor(self):
        return Convert(from_unit="degC", to_unit="K")


class TestClampContract(BuiltinContract):
    plugin_name = "clamp"

    @pytest.fixture
    def processor(self):
        return Clamp(minimum=19, maximum=21)


class TestCastContract(BuiltinContract):
    plugin_name = "cast"

    @pytest.fixture
    def processor(self):
        return Cast(to="int")
