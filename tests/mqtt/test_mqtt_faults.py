"""Nothing lost at QoS 1: a broker stopped and restarted under the writer, a reader away
while messages are published, a reader killed before acknowledging. Each test runs its
own throwaway mosquitto (tests/services.py), never the machine's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from mqtt_helpers import read_until

from lab_core import MemorySpool, Sample, Variable
from lab_core.delivery import Backoff, Delivery
from lab_mqtt.reader import MQTTReader
from lab_mqtt.writer import MQTTWriter


def persistent_reader(port, client_id, codenames, **options):
    reader = MQTTReader("127.0.0.1", port, mode="every", client_id=client_id, **options)
    wanted = [Variable(n, c, f"lab/{c}", "r") for n, c in enumerate(codenames, 1)]
    for v in wanted:
        reader.check_address(v)
    return reader, wanted


def keys(samples):
    return {(s.codename, s.time) for s in samples}


@pytest.mark.slow
def test_writer_loses_nothing_when_the_broker_stops_and_restarts(own_broker):
    codenames = ["a", "b", "c"]
    reader, wanted = persistent_reader(own_broker.port, "faults-collector", codenames)
    reader.open()  # the session (and its subscriptions) exists before anything is published
    reader.close()
    spool = MemorySpool()
    writer = MQTTWriter("127.0.0.1", own_broker.port, ack_timeout_s=1.0, max_batch=50)
    delivery = Delivery("mqtt", writer, spool, Backoff(initial=0.1, cap=0.5))
    delivery.start()
    sent = []
    try:
        for round_ in range(3):
            batch = [Sample(c, 1000.0 + round_ * 100 + k, float(k)) for k in range(50) for c in codenames]
            spool.put(batch)
            sent += batch
            time.sleep(0.3)
            own_broker.stop()  # SIGTERM while the writer may be mid-batch
            more = [Sample(c, 2000.0 + round_ * 100 + k, float(k)) for k in range(20) for c in codenames]
            spool.put(more)  # accepted while the broker is away
            sent += more
            time.sleep(1.0)
            own_broker.start()
        assert delivery.flush(30), f"{len(spool)} sample(s) still in the spool"
    finally:
        delivery.stop(5)
    assert delivery.stats.failures > 0  # the broker really was away under it
    reader.open()
    try:
        got = read_until(reader, wanted, len(sent), timeout=30)
    finally:
        reader.close()
    assert keys(got) == keys(sent)  # 0 lost (a message re-sent after a lost PUBACK may come twice)


@pytest.mark.slow
def test_reader_away_10_s_gets_all_1000_messages_published_meanwhile(own_broker):
    reader, wanted = persistent_reader(own_broker.port, "away-reader", ["away"])
    reader.open()
    reader.close()  # away from here on
    away_since = time.monotonic()
    writer = MQTTWriter("127.0.0.1", own_broker.port, qos=1)
    sent = [Sample("away", 5000.0 + k / 1000, float(k)) for k in range(1000)]
    try:
        for i in range(0, 1000, 100):
            writer.write(sent[i:i + 100])  # returns once every PUBACK came
    finally:
        writer.close()
    own_broker.restart()  # and the broker went away too: its persistence keeps session and queue
    time.sleep(max(0.0, 10.0 - (time.monotonic() - away_since)))
    reader.open()
    try:
        got = read_until(reader, wanted, 1000, timeout=30)
    finally:
        reader.close()
    assert len(got) == 1000 and keys(got) == keys(sent)
    assert [s.value for s in got] == [float(k) for k in range(1000)]  # in order, each with its own time


CRASHING_READER = textwrap.dedent("""
    import os, sys, time
    from lab_core import Variable
    from lab_mqtt.reader import MQTTReader
    reader = MQTTReader("127.0.0.1", int(sys.argv[1]), mode="every", client_id="crashing-reader")
    v = Variable(1, "k", "lab/k", "r")
    reader.check_address(v)
    reader.open()
    print("subscribed", flush=True)
    sys.stdin.readline()
    time.sleep(1.0)  # all 50 have arrived: one read returns them
    print(len(reader.read([v])), flush=True)
    os._exit(0)  # gone without acknowledging what the last read returned (as a crash would)
""")


def test_messages_a_read_returned_are_acknowledged_only_at_the_next_read(own_broker):
    child = subprocess.Popen([sys.executable, "-c", CRASHING_READER, str(own_broker.port)], text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == "subscribed"
        writer = MQTTWriter("127.0.0.1", own_broker.port)
        sent = [Sample("k", 10.0 + k, float(k)) for k in range(50)]
        writer.write(sent)
        writer.close()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert int(child.stdout.readline()) == 50
        child.wait(10)
    finally:
        child.kill()
    reader, wanted = persistent_reader(own_broker.port, "crashing-reader", ["k"])
    reader.open()
    try:
        again = read_until(reader, wanted, 50, timeout=10)
    finally:
        reader.close()
    assert keys(again) == keys(sent)  # the broker delivers them again: nothing was acknowledged early
