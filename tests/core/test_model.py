import math

import attrs
import pytest

from lab_core import Context, ContextState, Sample, Variable


def variable(**kw):
    return Variable(**{"id": 1, "codename": "t_temp", "address": "sine", "reader": "demo", **kw})


@pytest.mark.parametrize("bad", ["a b", "a#b", "a,b", "a;b", "a:b", "a&b", "", "tab\there"])
def test_bad_codenames_are_refused_with_the_character(bad):
    with pytest.raises(ValueError, match="codename"):
        variable(codename=bad)


def test_good_variable_and_defaults():
    v = variable(codename="moon_laser_power")
    assert v.value_type == "float" and v.interval_ms is None
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        v.codename = "x"


@pytest.mark.parametrize("interval", [-1, 0, math.nan, math.inf, "10", True])
def test_bad_intervals_are_refused(interval):
    with pytest.raises(ValueError, match="interval_ms"):
        variable(interval_ms=interval)


def test_unknown_value_type_names_the_variable():
    with pytest.raises(ValueError, match="'t_temp'.*float, int, bool, str"):
        variable(value_type="double")


def test_empty_reader_name_is_refused():
    with pytest.raises(ValueError, match="reader"):
        variable(reader=" ")


def test_context_defaults_follow_the_reference():
    c = Context(7, [variable()])
    assert c.duration_s == 24 * 3600
    assert c.min_interval_ms == 100 and c.default_interval_ms == 1000
    assert c.state is ContextState.CREATED and c.start_date is None and c.end_date is None
    assert c.interval_ms(c.variables[0]) == 1000
    assert c.interval_ms(variable(interval_ms=250)) == 250


def test_context_refuses_duplicate_codenames_and_bad_values():
    with pytest.raises(ValueError, match="appears twice"):
        Context(1, [variable(), variable(id=2)])
    with pytest.raises(ValueError, match="duration_s"):
        Context(1, [variable()], duration_s=-5)
    with pytest.raises(TypeError, match="not a Variable"):
        Context(1, ["t_temp"])


def test_sample_validation_and_round_trip():
    s = Sample("t_temp", 1.5, 21.5)
    assert s.ok and Sample.from_dict(s.to_dict()) == s
    failed = Sample.failed("t_temp", OSError("gone"))
    assert not failed.ok and failed.error == "OSError: gone" and failed.value is None
    with pytest.raises(ValueError, match="finite unix time"):
        Sample("t_temp", math.nan, 1.0)
    with pytest.raises(ValueError, match="codename"):
        Sample("t temp", 1.0, 1.0)
