"""The sqlite writer against a bare ``executemany`` into the same table, same run.

    .venv/bin/python bench/sqlite_writer.py [--points 200000] [--variables 1000] [--rounds 3]

(b) bare: pre-built rows ``(time text, type id, value)``, ``INSERT OR IGNORE`` with
    ``executemany``, one transaction per 5000 rows, into the table the writer makes;
(c) lab: a Collector reading a reader that costs nothing -> MemorySpool -> delivery
    worker -> SqliteWriter, timed from the context's start until the last row is committed.
(w) the writer alone: ``SqliteWriter.write`` of the same rows as (b), 5000 per call, each call
    in turn with one bare batch (both see the same load); reported as the ratio (w)/(b).
The median of ``--rounds`` is reported with the ratio (c)/(b), per round too, and the load average.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

from lab_core import Collector, Context, Reader, Sample, Variable
from lab_core.writers.sqlite import SqliteWriter, sql_time

T0 = 1_700_000_000.0


class BenchReader(Reader):
    """Pre-built samples, one instant (1 ms later) per read."""

    def __init__(self, codenames: list[str], reads: int):
        self.batches = [[Sample(c, T0 + i * 1e-3, float(i)) for c in codenames] for i in range(reads)]
        self.count = 0
        self.done = threading.Event()

    def read(self, variables):
        i = self.count
        self.count += 1
        if i + 1 >= len(self.batches):
            self.done.set()
        if i < len(self.batches):
            return list(self.batches[i])
        return [Sample(v.codename, T0 + 1e5 + i * 1e-3, 0.0) for v in variables]


def tables(path: Path, codenames: list[str]) -> sqlite3.Connection:
    """The writer's tables with ``codenames`` registered; an autocommit connection to them."""
    writer = SqliteWriter(path)  # only to make the same tables
    writer.open()
    writer.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    db.executemany("INSERT INTO dateplots_descriptions (id, codename) VALUES (?, ?)",
                   [(i + 1, c) for i, c in enumerate(codenames)])
    db.execute("COMMIT")
    return db


def bare_rows(n: int, variables: int) -> list[tuple[str, int, float]]:
    return [(sql_time(T0 + (i // variables) * 1e-3), 1 + i % variables, float(i // variables)) for i in range(n)]


def bare_batch(db: sqlite3.Connection, rows: list[tuple[str, int, float]]) -> None:
    db.execute("BEGIN")
    db.executemany("INSERT OR IGNORE INTO dateplots_lab (time, type, value) VALUES (?, ?, ?)", rows)
    db.execute("COMMIT")


def bare(path: Path, n: int, codenames: list[str]) -> float:
    db = tables(path, codenames)
    rows = bare_rows(n, len(codenames))
    start = time.perf_counter()
    for i in range(0, n, 5000):
        bare_batch(db, rows[i:i + 5000])
    elapsed = time.perf_counter() - start
    assert db.execute("SELECT count(*) FROM dateplots_lab").fetchone()[0] == n
    db.close()
    return n / elapsed


def writer_alone(tmp: Path, n: int, codenames: list[str]) -> float:
    """(w) SqliteWriter.write of the same rows, 5000 per call, each call in turn with one bare batch
    into a twin file (both see the same load). Returns write's rows/s over bare's."""
    db, rows = tables(tmp / "w_bare.sqlite", codenames), bare_rows(n, len(codenames))
    tables(tmp / "w_lab.sqlite", codenames).close()
    writer = SqliteWriter(tmp / "w_lab.sqlite")
    writer.open()
    samples = [Sample(codenames[kind - 1], T0 + (i // len(codenames)) * 1e-3, value)
               for i, (_, kind, value) in enumerate(rows)]
    bare_s = lab_s = 0.0
    for i in range(0, n, 5000):
        start = time.perf_counter()
        bare_batch(db, rows[i:i + 5000])
        middle = time.perf_counter()
        writer.write(samples[i:i + 5000])
        bare_s, lab_s = bare_s + middle - start, lab_s + time.perf_counter() - middle
    writer.close()
    db.close()
    for name in ("w_bare.sqlite", "w_lab.sqlite"):
        with sqlite3.connect(tmp / name) as check:
            assert check.execute("SELECT count(*) FROM dateplots_lab").fetchone()[0] == n
        check.close()
        for suffix in ("", "-wal", "-shm"):
            (tmp / (name + suffix)).unlink(missing_ok=True)
    return bare_s / lab_s


def lab(path: Path, n: int, codenames: list[str]) -> float:
    reader = BenchReader(codenames, n // len(codenames))
    collector = Collector({"bench": reader}, {"db": SqliteWriter(path)}, flush_timeout_s=300)
    variables = [Variable(i + 1, c, "x", reader="bench") for i, c in enumerate(codenames)]
    start = time.perf_counter()
    collector.start(Context(1, variables, min_interval_ms=1, default_interval_ms=5))
    reader.done.wait()
    collector.stop(1)
    assert collector.flush(300)
    elapsed = time.perf_counter() - start
    delivered = collector.stats()["writers"]["db"]["delivered"]
    collector.close()
    assert delivered >= n
    return delivered / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--variables", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    codenames = [f"bench_{i}" for i in range(args.variables)]
    load_before = os.getloadavg()[0]
    results: dict[str, list[float]] = {"b": [], "c": []}
    alone: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            alone.append(writer_alone(Path(tmp), args.points, codenames))
            results["b"].append(bare(Path(tmp) / f"bare{r}.sqlite", args.points, codenames))
            results["c"].append(lab(Path(tmp) / f"lab{r}.sqlite", args.points, codenames))
    b, c = statistics.median(results["b"]), statistics.median(results["c"])
    per_round = [y / x for x, y in zip(results["b"], results["c"], strict=True)]
    print(f"median of {args.rounds} round(s), {args.points:,} points, {args.variables} variables per read, "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"  (b) bare executemany into sqlite       {b:10,.0f} rows/s   {[round(x) for x in results['b']]}")
    print(f"  (c) lab: collector -> sqlite writer     {c:10,.0f} rows/s   {[round(x) for x in results['c']]}")
    print(f"  (c)/(b) = {c / b:.2f}x  (per round: {', '.join(f'{r:.2f}' for r in per_round)}; "
          f"median {statistics.median(per_round):.2f}x)   goal >= 1.0x")
    print(f"  (w)/(b) = {statistics.median(alone):.2f}x  the writer alone (write() of the same rows, 5000 per "
          f"transaction, in turn with (b)); per round: {', '.join(f'{r:.2f}' for r in alone)}")


if __name__ == "__main__":
    main()
