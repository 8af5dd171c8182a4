"""Payloads and topics without a broker: what the writer sends, what the reader takes."""

from __future__ import annotations

import json
import math

import pytest

from lab_core import Sample
from lab_mqtt.payload import FieldPath, PayloadFormat, TopicTemplate, check_topic_filter, encode, has_wildcard

DEFAULT = PayloadFormat()


def test_encode_is_the_documented_json_object():
    payload = json.loads(encode(Sample("oven_t", 1764633600.25, 21.5), "degC"))
    assert payload == {"time": 1764633600.25, "value": 21.5, "error": None, "unit": "degC"}
    failed = json.loads(encode(Sample.failed("oven_t", "device gone", 5.0)))
    assert failed == {"time": 5.0, "value": None, "error": "device gone", "unit": None}


@pytest.mark.parametrize("value", [1.5, -3, True, False, "text with ünïcode", 0, 2**53])
def test_encode_decode_round_trip(value):
    reading = DEFAULT.decode(encode(Sample("x", 12.5, value)))
    assert (reading.value, reading.time, reading.error) == (value, 12.5, None)
    assert type(reading.value) is type(value)


def test_non_finite_floats_travel_as_text():
    reading = DEFAULT.decode(encode(Sample("x", 1.0, math.inf)))
    assert reading.value == "inf" and float(reading.value) == math.inf


def test_an_error_sample_round_trips_as_an_error():
    reading = DEFAULT.decode(encode(Sample.failed("x", "timeout", 3.0)))
    assert (reading.value, reading.time, reading.error) == (None, 3.0, "timeout")


@pytest.mark.parametrize("payload, value", [
    (b"21.5", 21.5), (b" 42 ", 42), (b"true", True), (b'"on"', "on"), (b"OPEN", "OPEN"),
    (b'{"value": 3}', 3),
])
def test_bare_values_and_plain_text(payload, value):
    reading = DEFAULT.decode(payload)
    assert reading.value == value and reading.time is None and reading.error is None


def test_field_paths_for_other_layouts():
    nested = PayloadFormat(FieldPath("data.temp"), FieldPath("meta.ts"))
    reading = nested.decode(b'{"data": {"temp": 19.25}, "meta": {"ts": 1700000000}}')
    assert (reading.value, reading.time) == (19.25, 1700000000.0)
    listed = PayloadFormat(FieldPath("readings.1"), None)
    assert listed.decode(b'{"readings": [1, 2, 3], "time": 5}').value == 2
    assert listed.decode(b'{"readings": [1, 2, 3], "time": 5}').time is None  # time_field = ""


def test_iso_times_without_zone_are_utc():
    reading = DEFAULT.decode(b'{"value": 1, "time": "2026-01-01T00:00:00"}')
    assert reading.time == 1767225600.0
    assert DEFAULT.decode(b'{"value": 1, "time": "2026-01-01T01:00:00+01:00"}').time == 1767225600.0
    assert DEFAULT.decode(b'{"value": 1, "time": "2026-01-01T00:00:00Z"}').time == 1767225600.0


@pytest.mark.parametrize("payload, words", [
    (b'{"temp": 1}', "no field 'value'"),
    (b'{"value": {"a": 1}}', "not a single value"),
    (b"[1, 2]", "set value_field"),
    (b'{"value": 1, "time": "yesterday"}', "time_field"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_payloads_that_say_nothing_usable_are_errors_naming_the_fix(payload, words):
    reading = DEFAULT.decode(payload)
    assert reading.value is None and words in reading.error


def test_bad_field_path_is_refused():
    with pytest.raises(ValueError, match="keys joined by dots"):
        FieldPath("data..temp")


def test_topic_template():
    assert TopicTemplate("lab/{codename}").render("oven_t") == "lab/oven_t"
    assert TopicTemplate("site/a/{codename}/value").render("x") == "site/a/x/value"
    assert TopicTemplate("fixed").render("x") == "fixed"
    with pytest.raises(ValueError, match="only field is {codename}"):
        TopicTemplate("lab/{host}/{codename}")
    with pytest.raises(ValueError, match="wildcards"):
        TopicTemplate("lab/+/{codename}")
    with pytest.raises(ValueError, match="may not contain"):
        TopicTemplate("lab/{codename}").render("a+b")


def test_topic_filters():
    assert has_wildcard("site/+/temp") and has_wildcard("site/#") and not has_wildcard("site/a/temp")
    assert check_topic_filter("site/+/temp") == "site/+/temp"
    with pytest.raises(ValueError, match="whole level"):
        check_topic_filter("site/a+/temp")
    with pytest.raises(ValueError, match="last level"):
        check_topic_filter("site/#/temp")
    with pytest.raises(ValueError, match="MQTT topic"):
        check_topic_filter("")
