"""ConnectionSlots: the per-peer and total limits, and who makes room (the servers' tests use real sockets)."""

from __future__ import annotations

import logging

from lab_core.netaccess import ConnectionSlots, RefusalLog


def make(max_connections, max_per_peer):
    closed = []
    slots = ConnectionSlots(max_connections, max_per_peer, RefusalLog(logging.getLogger("test"), "test"))

    def admit(host, name):
        return slots.admit(host, close=lambda: closed.append(name))

    return slots, admit, closed


def test_at_the_total_limit_the_longest_idle_of_anyone_makes_room():
    slots, admit, closed = make(2, 2)
    first, second = admit("10.0.0.1", "a1"), admit("10.0.0.2", "b1")
    second.waiting()  # b1 did something since: a1 is the longest idle
    assert admit("10.0.0.3", "c1") is not None
    assert closed == ["a1"] and len(slots) == 2 and first not in slots.all()


def test_at_the_per_peer_limit_the_peer_pays_with_its_own_longest_idle():
    slots, admit, closed = make(10, 2)
    admit("10.0.0.9", "other")
    admit("10.0.0.1", "a1")
    admit("10.0.0.1", "a2")
    assert admit("10.0.0.1", "a3") is not None
    assert closed == ["a1"]  # not "other", although it is older


def test_a_busy_connection_is_never_closed_and_a_refusal_is_counted():
    slots, admit, closed = make(1, 1)
    admit("10.0.0.1", "a1").working()
    assert admit("10.0.0.2", "b1") is None
    assert closed == [] and slots.refusals.total == 1


def test_release_frees_the_slot():
    slots, admit, closed = make(1, 1)
    slot = admit("10.0.0.1", "a1")
    slot.working()
    slots.release(slot)
    assert admit("10.0.0.2", "b1") is not None and closed == []
