"""The sqlite writer against a bare ``executemany`` into the same table, same run.

    .venv/bin/python bench/sqlite_writer.py [--points 200000] [--variables 1000] [--rounds 3]

(b) bare: pre-built rows ``(time text, type id, value)``, ``INSERT OR IGNORE`` with
    ``executemany``, one transaction per 5000 rows, into the table the writer makes;
(c) lab: a Collector reading a reader that costs nothing -> MemorySpool -> delivery
    worker -> SqliteWriter, timed from the context's start until the last row is committed.
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


def bare(path: Path, n: int, codenames: list[str]) -> float:
    writer = SqliteWriter(path)  # only to make the same tables
    writer.open()
    writer.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.executemany("INSERT INTO dateplots_descriptions (id, codename) VALUES (?, ?)",
                   [(i + 1, c) for i, c in enumerate(codenames)])
    v = len(codenames)
    rows = [(sql_time(T0 + (i // v) * 1e-3), 1 + i % v, float(i // v)) for i in range(n)]
    start = time.perf_counter()
    for i in range(0, n, 5000):
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO dateplots_lab (time, type, value) VALUES (?, ?, ?)", rows[i:i + 5000])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    assert db.execute("SELECT count(*) FROM dateplots_lab").fetchone()[0] == n
    db.close()
    return n / elapsed


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
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
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


if __name__ == "__main__":
    main()
