"""The wire formats lab-live consumes (pure: no sockets)."""

from __future__ import annotations

import contextlib
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab_live.protocol import (
    MAX_TEXT,
    BadMessage,
    dumps,
    parse_address,
    parse_live_datagram,
    parse_pull_reply,
)


def test_livesocket_datagram_as_pyexplabsys_sends_it():
    message = parse_live_datagram(b'{"host": "vm", "data": {"a": [1795245744.05, 1.5], "b": [3, true]}}')
    assert message.host == "vm"
    assert message.points == {"a": (1795245744.05, 1.5), "b": (3.0, True)}
    assert message.resets == ()
    assert message.errors == ()


def test_reset_datagram():
    message = parse_live_datagram(b'{"host": "vm", "data": {"a": "RESET", "b": "RESET"}}')
    assert message.resets == ("a", "b")
    assert message.points == {}


def test_points_and_resets_in_one_datagram_and_string_values():
    message = parse_live_datagram(json.dumps(
        {"host": "vm", "data": {"a": "RESET", "b": [1.0, "open"], "c": [2.0, None]}}).encode())
    assert message.resets == ("a",)
    assert message.points == {"b": (1.0, "open"), "c": (2.0, None)}


def test_utf8_codenames_and_values():
    message = parse_live_datagram(json.dumps({"host": "lab", "data": {"température": [1.0, "10 °C"]}},
                                             ensure_ascii=False).encode("utf-8"))
    assert message.points == {"température": (1.0, "10 °C")}


def test_python_json_nan_is_accepted_as_a_value():
    message = parse_live_datagram(b'{"host": "vm", "data": {"a": [1.0, NaN], "b": [2.0, Infinity]}}')
    assert math.isnan(message.points["a"][1])
    assert message.points["b"][1] == math.inf


def test_missing_host_is_allowed():
    assert parse_live_datagram(b'{"data": {"a": [1, 2]}}').host is None


@pytest.mark.parametrize("payload, words", [
    (b"\xff\xfe", "not UTF-8"),
    (b"", "not JSON"),
    (b"hello", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"host": "vm"}', "no 'data'"),
    (b'{"host": "vm", "data": [1, 2]}', "'data' must be an object"),
    (b'{"host": "vm", "data": {"a": 5}}', "must be [x, y]"),
    (b'{"host": "vm", "data": {"a": [1, 2, 3]}}', "must be [x, y]"),
    (b'{"host": "vm", "data": {"a": ["now", 2]}}', "x of a point"),
    (b'{"host": "vm", "data": {"a": [true, 2]}}', "x of a point"),
    (b'{"host": "vm", "data": {"a": [NaN, 2]}}', "x of a point"),
    (b'{"host": "vm", "data": {"a": "reset"}}', "must be [x, y]"),
    (b'{"host": "vm", "data": {"": [1, 2]}}', "non-empty"),
    (b'{"host": "vm", "data": {"a\\nb": [1, 2]}}', "control character"),
    (b"[" * 100000 + b"]" * 100000, "not JSON"),
])
def test_bad_datagrams_raise_badmessage_saying_why(payload, words):
    with pytest.raises(BadMessage, match=None) as info:
        parse_live_datagram(payload)
    assert words in str(info.value)


def test_bad_entries_are_skipped_and_the_rest_is_used():
    message = parse_live_datagram(b'{"host": "vm", "data": {"good": [1, 2], "bad": [1], "x": "RESET"}}')
    assert message.points == {"good": (1.0, 2)}
    assert message.resets == ("x",)
    assert len(message.errors) == 1 and "bad" not in message.points


def test_too_long_codename_is_refused():
    with pytest.raises(BadMessage, match="longer than"):
        parse_live_datagram(live(("c" * 201, [1, 2])))


def test_structured_values_become_text_and_long_text_is_cut():
    message = parse_live_datagram(live(("s", [1, {"a": [1, 2]}]), ("t", [1, "x" * 5000])))
    assert message.points["s"] == (1.0, '{"a":[1,2]}')
    assert len(message.points["t"][1]) == MAX_TEXT + 1 and message.points["t"][1].endswith("\u2026")


def live(*items):
    return json.dumps({"host": "vm", "data": dict(items)}).encode()


# -- robustness: nothing a sender sends raises anything but BadMessage ------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_parser(payload):
    with contextlib.suppress(BadMessage):
        parse_live_datagram(payload)


@settings(max_examples=120, deadline=None)
@given(json_values, st.dictionaries(st.text(max_size=12), json_values, max_size=5))
def test_random_json_never_crashes_the_parser(host, data):
    for message in ({"host": host, "data": data}, data, {"data": host}):
        try:
            parsed = parse_live_datagram(json.dumps(message).encode())
        except BadMessage:
            continue
        for x, _ in parsed.points.values():
            assert isinstance(x, float) and math.isfinite(x)
        dumps(parsed.points)  # whatever was accepted can be sent to a browser


# -- pull-socket replies ------------------------------------------------------------------------------


def test_json_wn_reply_as_pyexplabsys_sends_it():
    reply = parse_pull_reply(b'{"temp": [1795245643.0003388, 21.5], "pressure": [1795245641.0965312, 1e-09], '
                             b'"stale": "OLD_DATA"}')
    assert reply.points == {"temp": (1795245643.0003388, 21.5), "pressure": (1795245641.0965312, 1e-09)}
    assert reply.old == ("stale",)


@pytest.mark.parametrize("payload, words", [
    (b"UNKNOWN_COMMMAND", "does not understand json_wn"),
    (b'[[1, 2], "OLD_DATA"]', "must be a JSON object"),
    (b"1795,21.5;OLD_DATA", "not JSON"),
    (b'{"a": 7}', "must be [x, y]"),
])
def test_bad_pull_replies(payload, words):
    with pytest.raises(BadMessage) as info:
        parse_pull_reply(payload)
    assert words in str(info.value)


@pytest.mark.parametrize("text, expected", [
    ("rasppi42:9000", ("rasppi42", 9000)),
    ("rasppi42", ("rasppi42", 9000)),
    (" 10.0.0.7:9010 ", ("10.0.0.7", 9010)),
    ("[::1]:9001", ("::1", 9001)),
    ("[::1]", ("::1", 9000)),
    ("::1", ("::1", 9000)),
])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text, words", [
    ("", "empty"), (":9000", "no host"), ("host:port", "not a number"), ("host:70000", "outside"),
    ("[::1", "missing ']'"), ("[::1]x", "expected ':PORT'"),
])
def test_parse_address_errors(text, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_address(text)


def test_dumps_is_strict_single_line_json():
    text = dumps({"a": [float("nan"), float("inf"), -float("inf"), 1.5], "b": "line\nbreak", "c": "\ud800"})
    assert "\n" not in text
    assert json.loads(text) == {"a": ["NaN", "Infinity", "-Infinity", 1.5], "b": "line\nbreak", "c": "\ud800"}
    text.encode("utf-8")  # lone surrogates are escaped, never a UnicodeEncodeError on the wire
