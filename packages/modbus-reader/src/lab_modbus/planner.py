"""Request coalescing: which reads fetch a set of addresses in the fewest requests.

Pure code: ``plan`` turns addresses into ``Request``s; the reader executes them.
Addresses of one table are sorted and merged greedily into one request while
the request stays within the protocol limit (125 registers, 2000 bits, or the
device's lower limit) and the hole to the next address is at most ``max_gap``
registers (bits). Greedy merging of sorted spans is optimal here: every
request starts at the first address no earlier request covers, and reaches as
far as the limits allow.

Addresses are grouped by (unit, table): a request reads one table of one unit.

*Breaks* are what a failed merge taught: a break at ``b`` in a table forbids a
request that holds both ``b - 1`` and ``b`` (the reader found an address the
device refuses somewhere around there). *Isolated* addresses are read alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from .address import Address, Table

#: Which requests may merge: (unit id or None, table).
Key = tuple[int | None, Table]

#: Protocol limits per request: read holding/input registers (3, 4), read coils/inputs (1, 2).
MAX_REGISTERS = 125
MAX_BITS = 2000


@attrs.frozen
class Request:
    """Read ``count`` registers (bits) of ``table`` from ``start``; ``members`` are indices of the addresses.

    ``unit`` is the addresses' own unit id, None for the reader's default."""

    table: Table
    start: int
    count: int
    members: tuple[int, ...]
    unit: int | None = None

    @property
    def key(self) -> Key:
        return (self.unit, self.table)

    @property
    def end(self) -> int:
        return self.start + self.count


@attrs.frozen
class Limits:
    max_registers: int = MAX_REGISTERS
    max_bits: int = MAX_BITS
    max_gap: int = 32  # registers a merged request may read for nothing
    max_gap_bits: int = 256

    def span(self, table: Table) -> int:
        return self.max_bits if table.is_bits else self.max_registers

    def gap(self, table: Table) -> int:
        return self.max_gap_bits if table.is_bits else self.max_gap


def one_per_address(addresses: Sequence[Address]) -> list[Request]:
    """No coalescing: one request per address (the baseline, and ``coalesce = false``)."""
    return [Request(a.table, a.start, a.count, (i,), a.unit) for i, a in enumerate(addresses)]


def plan(addresses: Sequence[Address], limits: Limits = Limits(),
         breaks: Mapping[Key, Iterable[int]] | None = None,
         isolated: Iterable[int] = ()) -> list[Request]:
    """The fewest requests that read every address of ``addresses`` (indices into it as members).

    ``breaks`` maps (unit, table) to break positions; ``isolated`` are indices read alone."""
    isolated = set(isolated)
    requests = [sub_request(addresses, (i,)) for i in sorted(isolated)]
    by_key: dict[Key, list[int]] = {}
    for i, address in enumerate(addresses):
        if i not in isolated:
            by_key.setdefault((address.unit, address.table), []).append(i)
    for (unit, table), indices in by_key.items():
        indices.sort(key=lambda i: (addresses[i].start, addresses[i].end))
        table_breaks = sorted(set((breaks or {}).get((unit, table), ())))
        span, gap = limits.span(table), limits.gap(table)
        members: list[int] = []
        start = end = 0
        for i in indices:
            a = addresses[i]
            new_end = max(end, a.end)
            if members and (a.start - end <= gap and new_end - start <= span
                            and not _crosses(table_breaks, start, new_end)):
                members.append(i)
                end = new_end
                continue
            if members:
                requests.append(Request(table, start, end - start, tuple(members), unit))
            members, start, end = [i], a.start, a.end
        if members:
            requests.append(Request(table, start, end - start, tuple(members), unit))
    return requests


def _crosses(breaks: list[int], start: int, end: int) -> bool:
    """True if a break b with start < b < end exists (the span would hold both b-1 and b)."""
    return any(start < b < end for b in breaks)


def sub_request(addresses: Sequence[Address], members: Sequence[int]) -> Request:
    """One request covering exactly ``members`` (all of one table)."""
    first = addresses[members[0]]
    start = min(addresses[i].start for i in members)
    end = max(addresses[i].end for i in members)
    return Request(first.table, start, end - start, tuple(members), first.unit)
