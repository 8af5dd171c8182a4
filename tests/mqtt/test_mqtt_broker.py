"""The reader and the writer against the machine's Mosquitto (127.0.0.1:1883)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import paho.mqtt.client as mqtt
import pytest
from mqtt_helpers import read_until

from lab_core import Sample, Variable
from lab_mqtt.reader import MQTTReader
from lab_mqtt.writer import MQTTWriter

VALUES = {"f": ("float", 21.5), "i": ("int", -7), "b": ("bool", True), "s": ("str", "open ✓")}


def publish_raw(broker, topic, payloads, retain=False):
    """Publish ``payloads`` with a bare paho client (QoS 1, each acknowledged)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(*broker)
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def variables(prefix, reader="r"):
    return [Variable(n, f"v_{key}", f"{prefix}/v_{key}", reader, kind) for n, (key, (kind, _)) in
            enumerate(VALUES.items(), 1)]


@pytest.mark.parametrize("qos", [0, 1])
def test_every_value_type_and_an_error_round_trip_in_mode_every(broker, prefix, closing, qos):
    reader = closing(MQTTReader(*broker, mode="every", qos=qos, session_expiry_s=0))
    wanted = variables(prefix)
    for v in wanted:
        reader.check_address(v)
    reader.open()
    writer = closing(MQTTWriter(*broker, topic=prefix + "/{codename}", qos=qos, units={"v_f": "degC"}))
    sent = [Sample(f"v_{key}", 1000.0 + n, value) for n, (key, (_, value)) in enumerate(VALUES.items())]
    sent.append(Sample.failed("v_f", "sensor unplugged", 1010.0))
    writer.write(sent)
    got = read_until(reader, wanted, len(sent), timeout=10)
    assert sorted(got, key=lambda s: s.time) == sent  # values, types, own times and the error
    assert [type(s.value) for s in got[:4]] == [float, int, bool, str]


def test_writer_payload_carries_time_value_error_and_unit(broker, prefix, closing):
    got = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload), m.retain))
    client.connect(*broker)
    client.subscribe(prefix + "/#", qos=1)
    client.loop_start()
    try:
        time.sleep(0.3)
        writer = closing(MQTTWriter(*broker, topic=prefix + "/lab/{codename}", units={"oven_t": "degC"}))
        writer.write([Sample("oven_t", 1.5, 200.0)])
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        client.disconnect()
        client.loop_stop()
    assert got == [(prefix + "/lab/oven_t", {"time": 1.5, "value": 200.0, "error": None, "unit": "degC"}, False)]


def test_latest_mode_takes_the_latest_value_per_topic_at_read_time(broker, prefix, closing):
    reader = closing(MQTTReader(*broker))
    a, b = Variable(1, "a", prefix + "/a", "r"), Variable(2, "b", prefix + "/b", "r")
    reader.check_address(a)
    reader.check_address(b)
    reader.open()
    first = reader.read([a, b])
    assert [s.error for s in first] == [f"no message on topic {prefix + '/a'!r} yet",
                                        f"no message on topic {prefix + '/b'!r} yet"]
    publish_raw(broker, prefix + "/a", [b"1", b"2", b"3.5"])
    publish_raw(broker, prefix + "/b", [b'{"value": 7, "time": 5}'])
    time.sleep(0.3)
    before = time.time()
    latest = reader.read([a, b])
    assert [s.value for s in latest] == [3.5, 7]
    assert all(s.time >= before for s in latest)  # timed at the read, not the payload's time


def test_latest_mode_stale_values_are_errors(broker, prefix, closing):
    reader = closing(MQTTReader(*broker, stale_s=0.2))
    a = Variable(1, "a", prefix + "/a", "r")
    reader.check_address(a)
    reader.open()
    publish_raw(broker, prefix + "/a", [b"1"])
    time.sleep(0.1)
    assert reader.read([a])[0].value == 1.0
    time.sleep(0.4)
    assert "stale_s = 0.2" in reader.read([a])[0].error


def test_retained_last_value_reaches_a_new_latest_reader(broker, prefix, closing):
    writer = closing(MQTTWriter(*broker, topic=prefix + "/{codename}", retain=True))
    writer.write([Sample("t", 1.0, 5.0), Sample("t", 2.0, 6.0)])
    reader = closing(MQTTReader(*broker, session_expiry_s=0))
    t = Variable(1, "t", prefix + "/t", "r")
    reader.check_address(t)
    reader.open()
    time.sleep(0.3)
    assert reader.read([t])[0].value == 6.0
    publish_raw(broker, prefix + "/t", [b""], retain=True)  # clear the retained message


def test_a_wildcard_is_refused_in_latest_mode_saying_why():
    reader = MQTTReader()
    with pytest.raises(ValueError) as refused:
        reader.check_address(Variable(1, "temp", "site/+/temp", "r"))
    message = str(refused.value)
    assert "'temp'" in message and "latest value of one topic" in message and 'mode = "every"' in message
    assert "'site/x/temp'" in message


def test_a_wildcard_in_mode_every_takes_every_matching_topic(broker, prefix, closing):
    reader = closing(MQTTReader(*broker, mode="every", session_expiry_s=0))
    temps = Variable(1, "temps", prefix + "/+/temp", "r")
    reader.check_address(temps)
    reader.open()
    publish_raw(broker, prefix + "/a/temp", [b'{"value": 1, "time": 1}'])
    publish_raw(broker, prefix + "/b/temp", [b'{"value": 2, "time": 2}'])
    publish_raw(broker, prefix + "/b/pressure", [b"3"])
    got = read_until(reader, [temps], 2, timeout=5)
    assert [(s.value, s.time) for s in got] == [(1, 1.0), (2, 2.0)]


def test_a_wildcard_flooded_with_new_topics_keeps_a_bounded_route_table(broker, prefix, closing):
    """Any publisher can invent topics under a wildcard: the reader remembers at most max_topics
    routes (least recently seen forgotten) and still routes every message."""
    reader = closing(MQTTReader(*broker, mode="every", session_expiry_s=0, max_topics=100))
    sensors = Variable(1, "sensors", prefix + "/+/t", "r")
    reader.check_address(sensors)
    reader.open()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(*broker)
    client.loop_start()
    try:
        infos = [client.publish(f"{prefix}/s{i}/t", json.dumps({"value": i, "time": i + 1}), qos=1)
                 for i in range(3000)]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    got = read_until(reader, [sensors], 3000)
    assert sorted(s.value for s in got) == list(range(3000))
    assert len(reader._routes) == 100


def test_payload_parsing_options_on_the_wire(broker, prefix, closing):
    reader = closing(MQTTReader(*broker, mode="every", value_field="data.temp", time_field="ts",
                                session_expiry_s=0))
    v = Variable(1, "v", prefix + "/v", "r")
    reader.check_address(v)
    reader.open()
    publish_raw(broker, prefix + "/v", [b'{"data": {"temp": 4.5}, "ts": "2026-01-01T00:00:00Z"}',
                                        b'{"temp": 1}', b"12.5"])
    got = read_until(reader, [v], 3, timeout=5)
    assert (got[0].value, got[0].time) == (4.5, 1767225600.0)
    assert "no field 'data.temp'" in got[1].error
    assert got[2].value == 12.5 and got[2].time > 1767225600.0  # a bare number: the arrival time


def test_bad_options_are_refused_naming_them(monkeypatch):
    with pytest.raises(ValueError, match="mode must be"):
        MQTTReader(mode="all")
    with pytest.raises(ValueError, match="qos must be 0"):
        MQTTWriter(qos=2)
    with pytest.raises(ValueError, match="LAB_NO_SUCH_VAR"):
        MQTTWriter(username="u", password_env="LAB_NO_SUCH_VAR")
    monkeypatch.setenv("LAB_MQTT_TEST_PASSWORD", "secret")
    writer = MQTTWriter(username="u", password_env="LAB_MQTT_TEST_PASSWORD")
    assert writer.broker.password == "secret" and "secret" not in repr(writer.broker)


def test_writer_refuses_codenames_that_cannot_be_topics(broker, prefix, closing):
    from lab_core import RejectedSamples

    writer = closing(MQTTWriter(*broker, topic=prefix + "/{codename}"))
    with pytest.raises(RejectedSamples, match="may not contain"):
        writer.write([Sample("a+b", 1.0, 1.0)])


def test_writer_open_with_no_broker_says_where_it_looked(closing):
    from services import free_port

    writer = closing(MQTTWriter("127.0.0.1", free_port(), connect_timeout_s=0.5))
    with pytest.raises(ConnectionError, match=r"no answer from the MQTT broker at mqtt://127\.0\.0\.1:\d+"):
        writer.open()


def test_lab_mqtt_watch_prints_messages(broker, prefix):
    watch = subprocess.Popen([sys.executable, "-m", "lab_core.cli", "mqtt", "watch", prefix + "/#",
                              "--port", str(broker[1]), "--count", "2", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while watch.poll() is None and time.monotonic() < deadline:
            publish_raw(broker, prefix + "/x", [b'{"value": 1.5, "time": 3}'])
            time.sleep(0.3)
        out, err = watch.communicate(timeout=10)
    finally:
        watch.kill()
    assert watch.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2 and lines[0]["topic"] == prefix + "/x"
    assert (lines[0]["value"], lines[0]["time"], lines[0]["error"]) == (1.5, 3.0, None)
