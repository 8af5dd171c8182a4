"""The protocols as pure code: bytes in, bytes out; no sockets, a hand-moved clock."""

from __future__ import annotations

import json
import math

import pytest
from sockets_helpers import FakeClock

from lab_sockets.errors import UnknownCodename
from lab_sockets.protocol import (
    DataPullProtocol,
    DataSet,
    DateDataPullProtocol,
    LiveProtocol,
    PushProtocol,
    PushState,
    encode_json,
    format_raw,
    parse_raw_wn,
)


class NumpyLike:
    """Behaves like a numpy scalar for the encoder (``item``/``tolist``), without numpy."""

    def __init__(self, value):
        self.value = value

    def item(self):
        return self.value

    def tolist(self):
        return self.value

    def __str__(self):
        return str(self.value)


# -- encodings -----------------------------------------------------------------------------------


def test_json_keeps_default_separators():
    assert encode_json({"a": [1.5, 2], "b": "OLD_DATA"}) == '{"a": [1.5, 2], "b": "OLD_DATA"}'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_json_non_finite_becomes_null(bad):
    text = encode_json({"a": [1.0, bad], "b": [bad]})
    assert text == '{"a": [1.0, null], "b": [null]}'
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def test_json_numpy_scalars_and_arrays():
    assert encode_json([NumpyLike(3), NumpyLike(2.5)]) == "[3, 2.5]"
    assert encode_json({"a": NumpyLike(math.nan)}) == '{"a": null}'


def test_json_numpy_if_installed():
    np = pytest.importorskip("numpy")
    assert encode_json([np.float32(1.5), np.int64(3), np.bool_(True), np.array([1.0, np.nan])]) == \
        "[1.5, 3, true, [1.0, null]]"


def test_numpy_in_pull_and_push_replies_if_installed():
    np = pytest.importorskip("numpy")
    p = DateDataPullProtocol("n", ["a", "b"])
    p.set_batch({"a": (np.float64(1.5), np.float32(0.5)), "b": (np.int64(3), np.bool_(True))})
    assert p.receive(b"json_wn") == b'{"a": [1.5, 0.5], "b": [3, true]}'
    assert p.receive(b"raw") == b"1.5,0.5;3,True"
    raw = PushProtocol("n", "raw")
    assert raw.ret({"a": np.float64(2.5), "b": np.array([1, 2])}) == b"RET#a:float:2.5;b:int:1,2"
    assert raw.ret(np.array([[1.0, 2.0], [3.0, 4.0]])) == b"RET#float:1.0,2.0&3.0,4.0"
    assert PushProtocol("n").ret({"a": np.array([1.0, np.inf])}) == b'RET#{"a": [1.0, null]}'


def test_json_ascii_escapes_like_pyexplabsys():
    assert encode_json(["°C"]) == '["\\u00b0C"]'


def test_json_unserializable_is_a_type_error():
    with pytest.raises(TypeError, match="object"):
        encode_json([object()])


# -- pull ------------------------------------------------------------------------------------------


def test_date_timeouts_with_a_clock():
    clock = FakeClock()
    p = DateDataPullProtocol("n", ["a", "b"], timeouts=[2.0, None], clock=clock)
    assert p.receive(b"json_wn") == b'{"a": "OLD_DATA", "b": [0.0, 0.0]}'
    p.set_point("a", (clock.now, 1.5))
    assert p.receive(b"a#json") == f"[{clock.now!r}, 1.5]".encode()
    clock.now += 2.0  # now - x == timeout: not old yet
    assert p.receive(b"a#raw") != b"OLD_DATA"
    clock.now += 0.001
    assert p.receive(b"a#raw") == b"OLD_DATA"
    assert p.receive(b"json") == b'["OLD_DATA", [0.0, 0.0]]'


def test_date_old_is_judged_by_x_not_by_when_set():
    clock = FakeClock()
    p = DateDataPullProtocol("n", ["a"], timeouts=1.0, clock=clock)
    p.set_point("a", (clock.now - 5, 1.0))  # set now, but measured 5 s ago
    assert p.receive(b"a#raw") == b"OLD_DATA"


def test_data_old_is_judged_by_when_set():
    clock = FakeClock()
    p = DataPullProtocol("n", ["a"], timeouts=1.0, clock=clock)
    p.set_point("a", (3.0, 4.0))  # x is not a time
    assert p.receive(b"a#raw") == b"3.0,4.0"
    p.set_point("a", (3.0, 4.0), timestamp=clock.now - 5)
    assert p.receive(b"a#raw") == b"OLD_DATA"
    p.set_point("a", (3.0, 5.0))
    clock.now += 1.5
    assert p.receive(b"a#raw") == b"OLD_DATA"


def test_cache_follows_sets_and_time():
    clock = FakeClock()
    p = DateDataPullProtocol("n", ["a"], timeouts=1.0, clock=clock)
    p.set_point_now("a", 1)
    first = p.receive(b"json_wn")
    assert p.receive(b"json_wn") is first  # served from the cache
    p.set_point_now("a", 2)
    assert p.receive(b"json_wn") != first
    clock.now += 5
    assert p.receive(b"json_wn") == b'{"a": "OLD_DATA"}'


def test_timeouts_validation():
    with pytest.raises(ValueError, match="2 values for 3 codenames"):
        DateDataPullProtocol("n", ["a", "b", "c"], timeouts=[1, 2])
    with pytest.raises(ValueError, match="timeout for 'a'"):
        DateDataPullProtocol("n", ["a"], timeouts=-1)
    with pytest.raises(ValueError, match="timeout for 'a'"):
        DateDataPullProtocol("n", ["a"], timeouts="1")


@pytest.mark.parametrize("bad", ["a#b", "a,b", "a;b", "a:b", "a&b", "a b", ""])
def test_bad_codenames_refused(bad):
    with pytest.raises(ValueError):
        DataPullProtocol("n", ["ok", bad])


def test_duplicate_codenames_refused():
    with pytest.raises(ValueError, match="twice"):
        DataPullProtocol("n", ["a", "b", "a"])


def test_codenames_as_a_string_refused():
    with pytest.raises(TypeError, match="list"):
        DataPullProtocol("n", "abc")


def test_unknown_codename_named():
    p = DataPullProtocol("n", ["a"])
    with pytest.raises(UnknownCodename, match="'nope'.*a"):
        p.set_point("nope", (1, 2))
    with pytest.raises(KeyError):
        p.set_point("nope", (1, 2))


def test_set_batch_is_all_or_nothing():
    p = DataPullProtocol("n", ["a", "b"])
    with pytest.raises(UnknownCodename):
        p.set_batch({"a": (1, 1), "zz": (2, 2)})
    assert p.point("a") == (0.0, 0.0)


@pytest.mark.parametrize("point", [3.0, "ab", (1, 2, 3), None])
def test_point_must_be_a_pair(point):
    with pytest.raises(TypeError, match="pair"):
        DataPullProtocol("n", ["a"]).set_point("a", point)


def test_point_must_be_servable():
    with pytest.raises(TypeError, match="JSON"):
        DataPullProtocol("n", ["a"]).set_point("a", (1.0, object()))


def test_date_x_must_be_a_time_when_a_timeout_is_set():
    with pytest.raises(TypeError, match="unix time"):
        DateDataPullProtocol("n", ["a"], timeouts=1).set_point("a", ("yesterday", 1))
    DateDataPullProtocol("n", ["a"]).set_point("a", ("yesterday", 1))  # no timeout: anything goes


def test_numpy_like_values_are_served():
    p = DataPullProtocol("n", ["a"])
    p.set_point("a", (NumpyLike(1.5), NumpyLike(2)))
    assert p.receive(b"json_wn") == b'{"a": [1.5, 2]}'
    assert p.receive(b"a#raw") == b"1.5,2"


def test_nan_in_json_is_null_in_raw_is_nan():
    p = DataPullProtocol("n", ["a"])
    p.set_point("a", (1.0, math.nan))
    assert p.receive(b"json_wn") == b'{"a": [1.0, null]}'
    assert p.receive(b"raw") == b"1.0,nan"


def test_utf8_codenames_and_values():
    p = DataPullProtocol("n°", ["température"])
    p.set_point("température", (1.0, "°C"))
    assert p.receive("température#raw".encode()) == "1.0,°C".encode()
    assert p.receive(b"name") == "n°".encode()
    assert json.loads(p.receive(b"json_wn")) == {"température": [1.0, "°C"]}


def test_reset_and_add_codenames():
    p = DataPullProtocol("n", ["a"], timeouts=[1.0])
    p.set_point("a", (1, 2))
    p.add_codenames(["b"], [None])
    assert p.receive(b"codenames_raw") == b"a,b"
    assert p.receive(b"b#raw") == b"0.0,0.0"
    p.reset(["a"])
    assert p.receive(b"a#raw") == b"OLD_DATA"


def test_status_provider():
    p = DataPullProtocol("n", ["a"], status=lambda: {"system_status": {"x": math.nan}, "socket_server_status": {}})
    assert p.receive(b"status") == b'{"system_status": {"x": null}, "socket_server_status": {}}'


# -- push -----------------------------------------------------------------------------------------


def test_push_receive_gives_data_sets():
    p = PushProtocol("n")
    assert p.receive(b'json_wn#{"a": 1}') == DataSet({"a": 1}, "json")
    assert p.receive(b"raw_wn#a:int:1,2;b:str:x") == DataSet({"a": [1, 2], "b": "x"}, "raw")


def test_push_json_extremes_are_errors_not_crashes():
    p = PushProtocol("n")
    deep = b"json_wn#" + b"[" * 100_000 + b"]" * 100_000
    assert p.receive(deep).startswith(b"ERROR#The string '[[[")
    huge_int = b'json_wn#{"a": ' + b"9" * 5000 + b"}"
    assert p.receive(huge_int).startswith(b"ERROR#")


def test_raw_wn_errors():
    with pytest.raises(ValueError, match="invalid literal for int"):
        parse_raw_wn("a:int:x")
    assert parse_raw_wn("a:float:1e3") == {"a": 1000.0}
    assert parse_raw_wn("a:str:") == {"a": ""}


def test_format_raw():
    assert format_raw({"a": NumpyLike(3)}) == "a:int:3"
    assert format_raw([(1, 2), [3, 4]]) == "int:1,2&3,4"
    with pytest.raises(ValueError, match="mixes int and str"):
        format_raw({"a": [1, "x"]})
    with pytest.raises(ValueError, match="contains"):
        format_raw({"a": "x,y"})  # would decode as a list
    with pytest.raises(ValueError, match="empty"):
        format_raw({"a": []})
    with pytest.raises(ValueError, match="must be a dict or list"):
        format_raw(42)
    with pytest.raises(ValueError, match="list of lists"):
        format_raw([[1.0], ["a"]])


def test_ret_formats():
    assert PushProtocol("n", "json").ret({"x": math.nan}) == b'RET#{"x": null}'
    assert PushProtocol("n", "json").ret(object()) == b"EXCEP#Object of type object is not JSON serializable"
    assert PushProtocol("n", "string").ret([1, "a"]) == b"RET#[1, 'a']"
    with pytest.raises(ValueError, match="return_format"):
        PushProtocol("n", "xml")


def test_push_state():
    state = PushState()
    assert state.last == (None, None)
    assert state.updated == (None, {})
    state.record({"greeting": "hi", "number": 47}, 1.0)
    state.record({"number": 42}, 2.0)
    assert state.last == (2.0, {"number": 42})
    assert state.updated == (2.0, {"greeting": "hi", "number": 42})
    time, last = state.last
    last["number"] = 0  # a copy
    assert state.last[1] == {"number": 42}
    state.set_last_to_none()
    state.clear_updated()
    assert state.last == (None, None)
    assert state.updated == (None, {})


# -- live ------------------------------------------------------------------------------------------


def test_live_messages():
    p = LiveProtocol("live", ["a", "b"], host="vm")
    assert p.points({"a": (1795245744.05, 1.5)}) == b'{"host": "vm", "data": {"a": [1795245744.05, 1.5]}}'
    assert p.reset(["a", "b"]) == b'{"host": "vm", "data": {"a": "RESET", "b": "RESET"}}'
    assert p.points({"b": (1.0, "on")}) == b'{"host": "vm", "data": {"b": [1.0, "on"]}}'
    assert p.points({"b": (1.0, math.nan)}) == b'{"host": "vm", "data": {"b": [1.0, null]}}'
    with pytest.raises(UnknownCodename, match="'c'"):
        p.points({"c": (1, 2)})
    with pytest.raises(ValueError, match="does not fit"):
        p.points({"a": (1.0, "x" * 70000)})
