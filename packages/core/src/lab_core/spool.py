"""Spools: where samples wait between the readers and one writer.

The promise (PyExpLabSys's ContinuousLogger, kept for real): a sample leaves
the spool only when its writer took it. A sample counts as **accepted** once
``Spool.put`` has returned:

* ``MemorySpool`` — held in this process's memory. Bounded; when full, the
  policy says which sample is dropped (``drop_oldest``, the default, keeps the
  newest data flowing; ``drop_newest`` refuses the new sample). The batch the
  writer is taking now (the last ``peek``) is never dropped: it is delivered
  or retried, so ``stats().dropped`` counts exactly the samples lost. An
  overflow episode logs one warning when it starts and one with its counts
  when the spool has room again (or is closed). A crash loses what is held.
* ``DiskSpool`` — an SQLite file in WAL mode. ``put`` returns after the
  transaction committed, so an accepted sample survives ``kill -9`` of the
  process (and, with ``synchronous="full"``, the default, a power cut). Not
  bounded unless ``capacity`` is given. One process at a time owns a spool file.

Samples a writer can never accept are *set aside*: removed from the queue,
counted, logged and kept (``rejected()``), so they never block the ones behind.
"""

from __future__ import annotations

import abc
import collections
import fcntl
import itertools
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from .model import Sample

log = logging.getLogger(__name__)

POLICIES = ("drop_oldest", "drop_newest")


@attrs.define
class SpoolStats:
    pending: int = 0  # held now
    accepted: int = 0  # put() since open
    delivered: int = 0  # taken by the writer since open
    dropped: int = 0  # lost to the capacity policy (never a sample the writer then took)
    set_aside: int = 0  # rejected by the writer, kept aside
    oldest_time: float | None = None  # unix time of the oldest pending sample (None: nothing pending)
    # These names are read by `lab run`'s exit status and the status endpoint: keep them stable.


#: One spooled sample with its sequence number (the order it was accepted in).
Entry = tuple[int, Sample]


class Spool(abc.ABC):
    """A FIFO of samples for one writer. Safe for many producers and one consumer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._stats = SpoolStats()
        self._in_flight = 0  # highest sequence number handed out by the last peek (never dropped)
        self._overflow: _Overflow | None = None  # the overflow episode under way, if any

    @abc.abstractmethod
    def put(self, samples: Sequence[Sample]) -> None:
        """Accept ``samples``: when this returns they are the spool's to keep."""

    @abc.abstractmethod
    def peek(self, limit: int) -> list[Entry]:
        """The oldest ``limit`` entries, left in place."""

    @abc.abstractmethod
    def ack(self, entries: Iterable[Entry]) -> None:
        """Remove ``entries``: their writer took them."""

    @abc.abstractmethod
    def set_aside(self, entries: Iterable[Entry], reason: str) -> None:
        """Move ``entries`` out of the queue into the rejected store, with ``reason``."""

    @abc.abstractmethod
    def rejected(self) -> list[tuple[Sample, str]]:
        """The samples set aside, with the reason each was refused."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    def take(self, limit: int, timeout: float) -> list[Entry]:
        """Wait up to ``timeout`` s for samples, then ``peek(limit)``."""
        with self._cond:
            if not len(self):
                self._cond.wait(timeout)
        return self.peek(limit)

    def wait_empty(self, timeout: float) -> bool:
        """Block until every sample has been taken by the writer, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def stats(self) -> SpoolStats:
        with self._cond:
            return attrs.evolve(self._stats, pending=len(self), oldest_time=self._oldest_time())

    def _oldest_time(self) -> float | None:  # noqa: B027 - optional
        """The time of the sample at the head of the queue (called with the lock held); None if unknown."""
        return None

    def close(self) -> None:
        """Release resources; what is still held stays held (on disk) or is reported."""
        with self._cond:
            self._overflow_ended("closed")

    def _accepted(self, count: int) -> None:
        self._stats.accepted += count
        self._cond.notify_all()

    # -- overflow episodes: one warning when one starts, one with its counts when it ends ---------

    def _dropped(self, count: int, what: str) -> None:
        if count <= 0:
            return
        self._stats.dropped += count
        if self._overflow is None:
            self._overflow = _Overflow(time.monotonic())
            log.warning("%s full (%d samples): %s; the count follows when it has room again",
                        what, self.capacity, "dropping the oldest samples" if self.policy == "drop_oldest"
                        else "refusing new samples")
        self._overflow.dropped += count
        self._overflow.what = what

    def _room_again(self) -> None:
        if self._overflow is not None and len(self) < self.capacity:
            self._overflow_ended("has room again")

    def _overflow_ended(self, how: str) -> None:
        episode, self._overflow = self._overflow, None
        if episode is not None:
            log.warning("%s %s: %d sample(s) dropped (%s) during %.1f s of overflow", episode.what, how,
                        episode.dropped, self.policy, time.monotonic() - episode.started)


@attrs.define
class _Overflow:
    started: float  # monotonic
    dropped: int = 0
    what: str = "spool"


class MemorySpool(Spool):
    """A bounded in-memory FIFO (see the module docstring for the policy when full)."""

    def __init__(self, capacity: int = 1_000_000, policy: str = "drop_oldest", keep_rejected: int = 10_000):
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f"spool policy {policy!r} is unknown; use one of {', '.join(POLICIES)}")
        if capacity < 1:
            raise ValueError(f"spool capacity must be at least 1, got {capacity}")
        self.capacity, self.policy = capacity, policy
        self._queue: collections.deque[Entry] = collections.deque()
        self._rejected: collections.deque[tuple[Sample, str]] = collections.deque(maxlen=keep_rejected)
        self._seq = 0

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, samples: Sequence[Sample]) -> None:
        with self._cond:
            if self.policy == "drop_newest":
                room = max(self.capacity - len(self._queue), 0)
                self._dropped(len(samples) - room, "memory spool")
                samples = samples[:room]
            first = self._seq + 1
            self._seq += len(samples)
            self._queue.extend(zip(range(first, self._seq + 1), samples))
            if self.policy == "drop_oldest" and len(self._queue) > self.capacity:
                self._drop_oldest(len(self._queue) - self.capacity)
            self._accepted(len(samples))

    def _oldest_time(self) -> float | None:
        return self._queue[0][1].time if self._queue else None

    def _drop_oldest(self, excess: int) -> None:
        """Drop the ``excess`` oldest samples that are not in flight (the writer may be taking those)."""
        queue = self._queue
        in_flight = []
        while queue and queue[0][0] <= self._in_flight:  # at most one batch, at the head
            in_flight.append(queue.popleft())
        dropped = min(excess, len(queue))
        for _ in range(dropped):
            queue.popleft()
        queue.extendleft(reversed(in_flight))
        self._dropped(dropped, "memory spool")

    def peek(self, limit: int) -> list[Entry]:
        with self._cond:
            entries = list(itertools.islice(self._queue, limit))
            self._in_flight = entries[-1][0] if entries else 0
            return entries

    def _remove(self, entries: Iterable[Entry]) -> int:
        seqs = {seq for seq, _ in entries}
        removed = 0
        while self._queue and self._queue[0][0] in seqs:
            self._queue.popleft()
            removed += 1
        if removed < len(seqs):  # rare: entries not at the head (some were set aside)
            kept = [e for e in self._queue if e[0] not in seqs]
            removed += len(self._queue) - len(kept)
            self._queue = collections.deque(kept)
        self._cond.notify_all()
        return removed

    def ack(self, entries: Iterable[Entry]) -> None:
        with self._cond:
            self._stats.delivered += self._remove(entries)
            self._room_again()

    def set_aside(self, entries: Iterable[Entry], reason: str) -> None:
        entries = list(entries)
        with self._cond:
            self._stats.set_aside += self._remove(entries)
            self._rejected.extend((sample, reason) for _, sample in entries)
            self._room_again()

    def rejected(self) -> list[tuple[Sample, str]]:
        with self._cond:
            return list(self._rejected)


def _encode_value(value: object) -> str:
    # JSON keeps bool/int/float/str apart; NaN/Infinity are allowed on this private format.
    return json.dumps(value, allow_nan=True)


# How a value is kept in a disk spool's ``pending`` table: natively where SQLite keeps the type
# (None, str, float, 64-bit int), else with a tag (no JSON encoding on the hot path).
_BOOL, _NAN, _JSON = 1, 2, 3


def _stored(value: object) -> tuple[object, int | None]:
    kind = type(value)
    if kind is float:
        return (None, _NAN) if value != value else (value, None)
    if value is None or kind is str:
        return value, None
    if kind is bool:
        return int(value), _BOOL
    if kind is int and -2**63 <= value < 2**63:
        return value, None
    return _encode_value(value), _JSON


def _loaded(value: object, kind: int | None) -> object:
    if kind is None:
        return value
    if kind == _BOOL:
        return bool(value)
    if kind == _NAN:
        return math.nan
    return json.loads(value)


class DiskSpool(Spool):
    """A crash-safe FIFO in an SQLite file (see the module docstring for the guarantees).

    The oldest ``cache`` entries are also kept in memory, so handing them to the writer
    reads nothing back from the file and acknowledging them is one range ``DELETE``;
    memory stays bounded however many samples wait on disk.
    """

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS pending (
            seq INTEGER PRIMARY KEY, codename TEXT NOT NULL, time REAL NOT NULL,
            value, kind INTEGER, error TEXT);
        CREATE TABLE IF NOT EXISTS rejected (
            seq INTEGER PRIMARY KEY, codename TEXT NOT NULL, time REAL NOT NULL,
            value TEXT, error TEXT, reason TEXT NOT NULL, rejected_at REAL NOT NULL);
    """

    def __init__(self, path: str | os.PathLike, capacity: int | None = None,
                 policy: str = "drop_oldest", synchronous: str = "full", cache: int = 50_000):
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f"spool policy {policy!r} is unknown; use one of {', '.join(POLICIES)}")
        if synchronous not in ("full", "normal"):
            raise ValueError(f"synchronous must be 'full' or 'normal', got {synchronous!r}")
        self.path = Path(path)
        self.capacity, self.policy, self.cache = capacity, policy, max(1, cache)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._lock(self.path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._upgrade_from_json_values()
        self._db.executescript(self.SCHEMA)
        self._count = self._db.execute("SELECT count(*) FROM pending").fetchone()[0]
        # a seq is never used twice, also after everything was delivered (set-aside rows keep theirs)
        self._next_seq = 1 + self._db.execute(
            "SELECT max(coalesce((SELECT max(seq) FROM pending), 0), coalesce((SELECT max(seq) FROM rejected), 0))"
        ).fetchone()[0]
        self._head: collections.deque[Entry] = collections.deque()  # the oldest pending entries, in order
        self._head_is_all = self._count == 0  # the head holds every pending entry
        if self._count:
            log.info("disk spool %s: %d sample(s) left from a previous run will be delivered", path, self._count)

    def _upgrade_from_json_values(self) -> None:
        """Spool files of lab-core 1.0 kept every value as JSON text: move them to the tagged table."""
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(pending)")]
        if not columns or "kind" in columns:
            return
        with self._transaction():
            self._db.execute("ALTER TABLE pending RENAME TO pending_json")
            self._db.execute(self.SCHEMA.split(";")[0])  # executescript would commit
            self._db.execute(f"INSERT INTO pending SELECT seq, codename, time, value, {_JSON}, error FROM pending_json")
            self._db.execute("DROP TABLE pending_json")
        log.info("disk spool %s: upgraded to the tagged value format", self.path)

    @staticmethod
    def _lock(path: Path):
        lock = open(f"{path}.lock", "a")  # noqa: SIM115 - held for the spool's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise RuntimeError(
                f"disk spool {path} is in use by another process; give each collector its own spool path"
            ) from None
        return lock

    def __len__(self) -> int:
        return self._count

    def put(self, samples: Sequence[Sample]) -> None:
        with self._cond:
            first = self._next_seq
            rows = [(first + i, s.codename, s.time, *_stored(s.value), s.error) for i, s in enumerate(samples)]
            with self._transaction():
                self._db.executemany("INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?)", rows)
                self._next_seq += len(rows)
                self._count += len(rows)
                self._enforce_capacity()
            if self._head_is_all and len(self._head) + len(rows) <= self.cache:
                self._head.extend(zip(range(first, first + len(rows)), samples))
            else:
                self._head_is_all = False  # the newest wait on disk only; peek reads them back in turn
            self._accepted(len(rows))

    def _enforce_capacity(self) -> None:
        if self.capacity is None or self._count <= self.capacity:
            return
        excess = self._count - self.capacity
        order = "ASC" if self.policy == "drop_oldest" else "DESC"
        before = self._db.total_changes
        self._db.execute(  # never the batch in flight (the writer may be taking it now)
            f"DELETE FROM pending WHERE seq IN (SELECT seq FROM pending WHERE seq > ? ORDER BY seq {order} LIMIT ?)",
            (self._in_flight, excess))
        dropped = self._db.total_changes - before
        self._count -= dropped
        self._forget_head()
        self._dropped(dropped, f"disk spool {self.path}")

    def _forget_head(self) -> None:
        self._head.clear()
        self._head_is_all = False

    def _transaction(self):
        db = self._db

        class _Tx:
            def __enter__(self):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, *_):
                db.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Tx()

    def _oldest_time(self) -> float | None:
        if self._head:
            return self._head[0][1].time
        if self._db is None:  # closed
            return None
        row = self._db.execute("SELECT time FROM pending ORDER BY seq LIMIT 1").fetchone()
        return row[0] if row else None

    def peek(self, limit: int) -> list[Entry]:
        with self._cond:
            if len(self._head) < limit and not self._head_is_all:
                self._refill()
            entries = list(itertools.islice(self._head, limit))
            self._in_flight = entries[-1][0] if entries else 0
            return entries

    def _refill(self) -> None:
        after = self._head[-1][0] if self._head else 0
        room = self.cache - len(self._head)
        rows = self._db.execute(
            "SELECT seq, codename, time, value, kind, error FROM pending WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, room)).fetchall()
        self._head.extend((seq, Sample(c, t, _loaded(v, k), e)) for seq, c, t, v, k, e in rows)
        self._head_is_all = len(rows) < room

    def _delete(self, entries: Sequence[Entry]) -> int:
        before = self._db.total_changes
        head = self._head
        n = len(entries)
        if n and len(head) >= n and head[0][0] == entries[0][0] and head[n - 1][0] == entries[-1][0]:
            # the oldest n entries, as peek gave them: one range delete
            self._db.execute("DELETE FROM pending WHERE seq BETWEEN ? AND ?", (entries[0][0], entries[-1][0]))
            for _ in range(n):
                head.popleft()
        else:
            self._db.executemany("DELETE FROM pending WHERE seq = ?", [(seq,) for seq, _ in entries])
            seqs = {seq for seq, _ in entries}
            self._head = collections.deque(e for e in head if e[0] not in seqs)
        removed = self._db.total_changes - before
        self._count -= removed
        self._cond.notify_all()
        return removed

    def ack(self, entries: Iterable[Entry]) -> None:
        entries = list(entries)
        with self._cond, self._transaction():
            self._stats.delivered += self._delete(entries)
            self._room_again()

    def set_aside(self, entries: Iterable[Entry], reason: str) -> None:
        entries = list(entries)
        now = time.time()
        with self._cond, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(seq, s.codename, s.time, _encode_value(s.value), s.error, reason, now) for seq, s in entries])
            self._stats.set_aside += self._delete(entries)
            self._room_again()

    def rejected(self) -> list[tuple[Sample, str]]:
        with self._cond:
            rows = self._db.execute("SELECT codename, time, value, error, reason FROM rejected ORDER BY seq").fetchall()
        return [(Sample(c, t, json.loads(v) if v is not None else None, e), r) for c, t, v, e, r in rows]

    def close(self) -> None:
        super().close()
        with self._cond:
            if self._db is not None:
                self._db.close()
                self._db = None
                self._lock_file.close()


def make_spool(spec: str | dict | None, default_dir: str | os.PathLike | None = None, name: str = "spool") -> Spool:
    """Build a spool from configuration: ``"memory"``, ``"disk"``, or a table with ``kind`` and options.

    ``{"kind": "disk"}`` without a ``path`` puts the file at ``<default_dir>/<name>.spool``.
    """
    options = {"kind": spec} if isinstance(spec, str) or spec is None else dict(spec)
    kind = options.pop("kind", None) or "memory"
    if kind == "memory":
        return MemorySpool(**options)
    if kind == "disk":
        if "path" not in options:
            if default_dir is None:
                raise ValueError(f"disk spool for {name!r} needs a path (or a collector spool_dir)")
            options["path"] = Path(default_dir) / f"{name}.spool"
        return DiskSpool(**options)
    raise ValueError(f"spool kind {kind!r} is unknown; use 'memory' or 'disk'")


def is_finite_number(value: object) -> bool:
    """True for ints and finite floats (bools excluded): what numeric columns accept."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
