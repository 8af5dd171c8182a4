"""Delivery's public life cycle, the final flush's backoff (#11 item 7) and an honest full memory
spool (#11 item 10): real threads, real spools, writers that fail for real."""

from __future__ import annotations

import logging
import random
import threading

from lab_core import MemorySpool, Sample, Writer
from lab_core.delivery import Backoff, Delivery


def samples(n, start=0):
    return [Sample("s", float(i), float(i)) for i in range(start, start + n)]


class DeadWriter(Writer):
    """A writer whose target never opens (e.g. a database that is down): counts its open() calls."""

    def __init__(self):
        self.opens = 0

    def open(self):
        self.opens += 1
        raise ConnectionRefusedError("nobody listens")

    def write(self, batch):
        raise AssertionError("never opened, never written")


class ListWriter(Writer):
    def __init__(self, gate: threading.Event | None = None):
        self.rows: list[Sample] = []
        self.gate = gate
        self.entered = threading.Event()
        self.closed = False

    def write(self, batch):
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.rows.extend(batch)

    def close(self):
        self.closed = True


def test_the_final_flush_backs_off_against_a_dead_writer(caplog):
    writer = DeadWriter()
    spool = MemorySpool()
    spool.put(samples(10))
    delivery = Delivery("dead", writer, spool, Backoff(initial=0.2, cap=30.0))
    caplog.set_level(logging.DEBUG, logger="lab_core.delivery")
    delivery.start()
    left = delivery.stop(timeout=1.0)  # the final flush starts at once: about 1 s against a dead writer
    drain_opens = writer.opens
    warnings = [r for r in caplog.records if r.name == "lab_core.delivery" and r.levelno >= logging.WARNING]
    assert left == 10 and not delivery.running
    # backoff 0.2, 0.4, 0.8 … within 1 s: a handful of attempts (it was 328,010 without a wait)
    assert 1 <= drain_opens <= 6, drain_opens
    assert len(warnings) <= drain_opens + 1  # one line per attempt at most, plus the "not delivered" line
    assert any("not delivered" in r.getMessage() for r in warnings)


def test_public_life_cycle_join_running_stop():
    gate = threading.Event()
    writer = ListWriter(gate)
    spool = MemorySpool()
    delivery = Delivery("list", writer, spool)
    assert not delivery.started and not delivery.running
    delivery.start()
    spool.put(samples(3))
    assert writer.entered.wait(5)
    assert delivery.running and not delivery.stopping
    assert delivery.flush(0.05) is False  # the writer holds the batch
    delivery.request_stop(5.0)
    assert delivery.stopping
    gate.set()
    assert delivery.join() == 0
    assert not delivery.running and writer.closed
    assert [s.value for s in writer.rows] == [0.0, 1.0, 2.0]


def test_a_worker_blocked_in_the_writer_is_interrupted_after_the_deadline():
    gate = threading.Event()

    class Blocking(ListWriter):
        interrupted = 0

        def interrupt(self):
            self.interrupted += 1
            gate.set()  # what a real writer does: break the blocked call

    writer = Blocking(gate)
    spool = MemorySpool()
    delivery = Delivery("blocked", writer, spool)
    delivery.start()
    spool.put(samples(2))
    assert writer.entered.wait(5)
    delivery.stop(timeout=0.2)
    assert writer.interrupted == 1 and not delivery.running


def test_in_flight_samples_that_are_then_delivered_are_not_counted_as_dropped(caplog):
    gate = threading.Event()
    writer = ListWriter(gate)
    spool = MemorySpool(capacity=100)
    writer.max_batch = 50
    delivery = Delivery("slow", writer, spool)
    delivery.start()
    spool.put(samples(50))  # taken by the writer, which holds them
    assert writer.entered.wait(5)
    caplog.set_level(logging.WARNING, logger="lab_core.spool")
    for start in range(50, 450, 10):  # 400 more into a spool of 100, one put after another
        spool.put(samples(10, start))
    gate.set()
    assert delivery.stop(5.0) == 0
    stats = spool.stats()
    stored = {s.value for s in writer.rows}
    lost = 450 - len(stored)
    assert set(range(50)) <= stored  # the in-flight batch survived the overflow
    assert stats.dropped == lost == 350 and stats.delivered == len(stored) == 100
    assert stats.accepted == stats.delivered + stats.dropped + stats.pending + stats.set_aside
    warnings = [r.getMessage() for r in caplog.records if r.name == "lab_core.spool"]
    assert len(warnings) == 2, warnings  # one when the episode starts, one with its count when it ends
    assert "350 sample(s) dropped" in warnings[1]


def test_each_overflow_episode_warns_once_with_its_count(caplog):
    spool = MemorySpool(capacity=5)
    caplog.set_level(logging.WARNING, logger="lab_core.spool")
    for episode in range(3):
        for i in range(20):  # 15 over capacity, one sample per put
            spool.put(samples(1, 100 * episode + i))
        spool.ack(spool.peek(5))  # the writer takes everything: room again
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 6
    assert [m for m in messages if "dropped" in m] == [m for m in messages[1::2]]
    assert all("15 sample(s) dropped" in m for m in messages[1::2])
    assert spool.stats().dropped == 45


def test_a_spool_closed_during_an_overflow_reports_the_count(caplog):
    spool = MemorySpool(capacity=2, policy="drop_newest")
    caplog.set_level(logging.WARNING, logger="lab_core.spool")
    spool.put(samples(7))
    spool.close()
    assert "closed: 5 sample(s) dropped" in caplog.text


def test_backoff_waits_are_spread_so_collectors_that_lost_one_database_do_not_retry_in_lock_step():
    random.seed(18)
    fleet = [Backoff(initial=0.2, cap=30.0) for _ in range(50)]  # 50 collectors, one server restart
    for step in (0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0):
        waits = [backoff.next() for backoff in fleet]
        assert all(step / 2 <= wait <= step for wait in waits), (step, min(waits), max(waits))
        assert max(waits) - min(waits) > step / 4  # not one instant for all of them
        assert all(backoff.current == step for backoff in fleet)
    fleet[0].reset()
    assert 0.1 <= fleet[0].next() <= 0.2


def test_backoff_without_jitter_is_the_plain_doubling():
    backoff = Backoff(initial=0.2, cap=1.0, jitter=0.0)
    assert [backoff.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
