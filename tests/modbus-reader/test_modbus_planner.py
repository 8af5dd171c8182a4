"""Request coalescing plans (pure: no device needed)."""

from __future__ import annotations

import random

from lab_modbus.address import Table, parse_address
from lab_modbus.planner import Limits, one_per_address, plan


def addrs(*texts):
    return [parse_address(t) for t in texts]


def spans(requests):
    return sorted((r.table.value, r.start, r.count) for r in requests)


def covers(requests, addresses):
    """Every address is a member of exactly one request, inside that request's span."""
    seen = sorted(i for r in requests for i in r.members)
    assert seen == list(range(len(addresses)))
    for r in requests:
        for i in r.members:
            a = addresses[i]
            assert (a.table, a.unit) == (r.table, r.unit)
            assert r.start <= a.start and a.end <= r.end


def test_neighbours_merge_and_tables_stay_apart():
    a = addrs("hr:0", "hr:1:float32", "hr:3", "ir:0", "ir:1", "co:0", "co:5", "di:7")
    requests = plan(a)
    covers(requests, a)
    assert spans(requests) == [("co", 0, 6), ("di", 7, 1), ("hr", 0, 4), ("ir", 0, 2)]


def test_gaps_are_bridged_up_to_max_gap():
    a = addrs("hr:0", "hr:11", "hr:30")  # holes of 10 and 18 registers
    assert spans(plan(a, Limits(max_gap=10))) == [("hr", 0, 12), ("hr", 30, 1)]
    assert spans(plan(a, Limits(max_gap=18))) == [("hr", 0, 31)]
    assert spans(plan(a, Limits(max_gap=0))) == [("hr", 0, 1), ("hr", 11, 1), ("hr", 30, 1)]
    bits = addrs("co:0", "co:256", "co:600")
    assert spans(plan(bits)) == [("co", 0, 257), ("co", 600, 1)]  # max_gap_bits = 256 by default
    assert spans(plan(addrs("hr:0", "hr:33", "hr:67"))) == [("hr", 0, 34), ("hr", 67, 1)]  # max_gap = 32


def test_protocol_limits():
    registers = addrs(*(f"hr:{i}" for i in range(300)))
    requests = plan(registers)
    covers(requests, registers)
    assert spans(requests) == [("hr", 0, 125), ("hr", 125, 125), ("hr", 250, 50)]
    bits = addrs(*(f"co:{i}" for i in range(0, 4500, 3)))
    requests = plan(bits)
    covers(requests, bits)
    assert all(r.count <= 2000 for r in requests) and len(requests) == 3
    assert spans(plan(registers, Limits(max_registers=60))) == [("hr", s, 60) for s in range(0, 300, 60)]


def test_a_value_never_straddles_two_requests():
    a = addrs("hr:0", "hr:123:float64")  # 123..126 does not fit in the first 125
    requests = plan(a)
    covers(requests, a)
    assert spans(requests) == [("hr", 0, 1), ("hr", 123, 4)]


def test_overlapping_and_duplicate_addresses():
    a = addrs("hr:10:float32", "hr:11", "hr:10:uint32:cdab", "hr:10:float32")
    requests = plan(a)
    covers(requests, a)
    assert spans(requests) == [("hr", 10, 2)]


def test_units_are_separate_requests():
    a = addrs("hr:0", "2@hr:1", "2@hr:2", "hr:3")
    requests = plan(a)
    covers(requests, a)
    assert sorted((r.unit or 0, r.start, r.count) for r in requests) == [(0, 0, 4), (2, 1, 2)]


def test_breaks_and_isolated_addresses():
    a = addrs("hr:0", "hr:5", "hr:10")
    key = (None, Table.HOLDING)
    assert spans(plan(a, breaks={key: [10]})) == [("hr", 0, 6), ("hr", 10, 1)]
    assert spans(plan(a, breaks={key: [5, 6]}, isolated=[1])) == [("hr", 0, 1), ("hr", 5, 1), ("hr", 10, 1)]
    assert spans(plan(a, breaks={(3, Table.HOLDING): [5]})) == [("hr", 0, 11)]  # another unit's break


def test_one_per_address():
    a = addrs("hr:0", "hr:1", "co:0")
    assert spans(one_per_address(a)) == [("co", 0, 1), ("hr", 0, 1), ("hr", 1, 1)]


def test_greedy_is_minimal_on_random_layouts():
    """Against a brute-force optimum by dynamic programming over the sorted addresses."""
    rng = random.Random(3)
    limits = Limits(max_registers=20, max_gap=4)
    for _ in range(200):
        starts = sorted(rng.sample(range(80), rng.randint(1, 15)))
        a = addrs(*(f"hr:{s}" for s in starts))
        requests = plan(a, limits)
        covers(requests, a)
        best = [0] + [None] * len(starts)  # best[k]: fewest requests for the first k addresses
        for k in range(1, len(starts) + 1):
            options = []
            for j in range(k):  # the last request reads addresses j..k-1
                group = starts[j:k]
                gaps_ok = all(b - a_ - 1 <= limits.max_gap for a_, b in zip(group, group[1:], strict=False))
                if gaps_ok and group[-1] + 1 - group[0] <= limits.max_registers:
                    options.append(best[j] + 1)
            best[k] = min(options)
        assert len(requests) == best[-1]
