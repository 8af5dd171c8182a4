"""lab-mysql writer throughput against two baselines, measured in the same run.

    .venv/bin/python bench/mysql_writer.py [--host 127.0.0.1] [--port 3306] [--user root] [--password ""]
                                           [--points 200000] [--single 3000] [--rounds 3] [--disk]

(a) one INSERT + one COMMIT per point, as PyExpLabSys's ContinuousLogger does;
(b) a bare multi-row ``executemany`` of pre-built rows, 5000 rows per COMMIT;
(c) lab: a Collector reading a fast in-memory reader -> MemorySpool -> delivery
    worker -> MySQLWriter (``max_batch`` 5000), timed from the context's start
    until the last point is committed;
(d) with ``--disk``: (c) with a DiskSpool (crash-safe) instead of the memory spool;
(w) the writer alone: ``MySQLWriter.write`` of the same rows as (b), 5000 per call, each
    call in turn with one bare batch (both see the same load); reported as the ratio (w)/(b).

Every variant writes the same kind of table (what ``lab mysql init`` creates:
TIMESTAMP(6), unique key (type, time)) in a throwaway database, emptied before
each run. The median of ``--rounds`` runs is reported, with the ratios (c)/(a)
and (c)/(b). Absolute numbers depend on the machine; the ratios are the result.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pymysql

from lab_core import Collector, Context, DiskSpool, MemorySpool, Reader, Sample, Variable
from lab_mysql import schema
from lab_mysql.writer import MySQLWriter

T0 = 1_700_000_000.0
TABLE = "dateplots_bench"


class BenchReader(Reader):
    """Returns pre-built samples (time advances by ``step`` per read), so reading costs next to nothing."""

    min_interval_ms = 0.0

    def __init__(self, codenames: list[str], reads: int, step: float):
        self.batches = [[Sample(c, T0 + i * step, float(i)) for c in codenames] for i in range(reads)]  # = points()
        self.count = 0
        self.done = threading.Event()

    def read(self, variables):
        i = self.count
        self.count += 1
        if self.count >= len(self.batches):
            self.done.set()
        if i < len(self.batches):
            return list(self.batches[i])
        return [Sample(v.codename, T0 + i * 1e-3 + 1e5, 0.0) for v in variables]  # after the budget: extra points


def connect(args, database=None):
    return pymysql.connect(host=args.host, port=args.port, user=args.user, password=args.password,
                           database=database, autocommit=False, init_command="SET time_zone = '+00:00'")


def reset(conn) -> None:
    with conn.cursor() as cursor:
        cursor.execute(f"TRUNCATE TABLE {TABLE}")
    conn.commit()


def count(conn) -> int:
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        result = cursor.fetchone()[0]
    conn.commit()
    return result


def points(n: int, variables: int, step: float = 1e-3) -> list[tuple[int, float, float]]:
    """(type, unix time, value) in the order the collector produces them: every variable, then the next time."""
    return [(1 + i % variables, T0 + (i // variables) * step, float(i // variables)) for i in range(n)]


def bench_single(conn, n: int, variables: int) -> float:
    """(a) PyExpLabSys: one INSERT and one COMMIT per point."""
    reset(conn)
    sql = f"INSERT INTO {TABLE} (type, time, value) VALUES (%s, FROM_UNIXTIME(%s), %s)"
    start = time.perf_counter()
    with conn.cursor() as cursor:
        for point in points(n, variables):
            cursor.execute(sql, point)
            conn.commit()
    elapsed = time.perf_counter() - start
    assert count(conn) == n
    return n / elapsed


def bench_executemany(conn, n: int, variables: int, batch: int = 5000) -> float:
    """(b) bare executemany of pre-built rows (the same rows as (c)), one COMMIT per ``batch`` rows."""
    reset(conn)
    fmt = schema.TimeFormatter(6)
    rows = [(kind, fmt(t), value) for kind, t, value in points(n, variables)]
    sql = f"INSERT INTO {TABLE} (type, time, value) VALUES (%s, %s, %s)"
    start = time.perf_counter()
    with conn.cursor() as cursor:
        for i in range(0, n, batch):
            cursor.executemany(sql, rows[i:i + batch])
            conn.commit()
    elapsed = time.perf_counter() - start
    assert count(conn) == n
    return n / elapsed


def bench_writer_alone(args, conn, database: str, n: int, codenames: list[str], batch: int = 5000) -> float:
    """(w) MySQLWriter.write alone against (b), batch by batch in turn (so both see the same load):
    the same rows, ``batch`` per COMMIT, the bare one from pre-built rows into a twin table.
    Returns write's rows/s over bare's (the ratio, not a rate)."""
    reset(conn)
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {TABLE}_bare LIKE {TABLE}")
        cursor.execute(f"TRUNCATE TABLE {TABLE}_bare")
    conn.commit()
    fmt = schema.TimeFormatter(6)
    points_ = points(n, len(codenames))
    rows = [(kind, fmt(t), value) for kind, t, value in points_]
    samples = [Sample(codenames[kind - 1], t, value) for kind, t, value in points_]
    writer = MySQLWriter(host=args.host, port=args.port, user=args.user, password=args.password,
                         database=database, table=TABLE, codenames=codenames)
    writer.open()
    sql = f"INSERT INTO {TABLE}_bare (type, time, value) VALUES (%s, %s, %s)"
    bare = lab = 0.0
    with conn.cursor() as cursor:
        for i in range(0, n, batch):
            start = time.perf_counter()
            cursor.executemany(sql, rows[i:i + batch])
            conn.commit()
            middle = time.perf_counter()
            writer.write(samples[i:i + batch])
            bare, lab = bare + middle - start, lab + time.perf_counter() - middle
    writer.close()
    assert count(conn) == n
    return bare / lab


def bench_lab(args, conn, database: str, n: int, codenames: list[str], disk: bool) -> float:
    """(c)/(d) the full path: collector -> spool -> delivery worker -> MySQLWriter."""
    reset(conn)
    reads = n // len(codenames)
    reader = BenchReader(codenames, reads, step=1e-3)
    writer = MySQLWriter(host=args.host, port=args.port, user=args.user, password=args.password,
                         database=database, table=TABLE, codenames=codenames)
    with tempfile.TemporaryDirectory() as tmp:
        spool = DiskSpool(Path(tmp) / "bench.spool", synchronous="normal") if disk else MemorySpool()
        collector = Collector({"bench": reader}, {"db": writer}, spools={"db": spool}, flush_timeout_s=300)
        variables = [Variable(i + 1, c, "x", reader="bench") for i, c in enumerate(codenames)]
        context = Context(1, variables, min_interval_ms=1, default_interval_ms=args.interval_ms)
        start = time.perf_counter()
        collector.start(context)
        reader.done.wait()
        collector.stop(1)
        assert collector.flush(300)  # every point read has been committed
        elapsed = time.perf_counter() - start
        delivered = collector.stats()["writers"]["db"]["delivered"]
        left = collector.close()
    assert left == {"db": 0}, left
    assert count(conn) >= delivered >= n, (delivered, n)
    return delivered / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("LAB_TEST_MYSQL_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LAB_TEST_MYSQL_PORT", "3306")))
    parser.add_argument("--user", default=os.environ.get("LAB_TEST_MYSQL_USER", "root"))
    parser.add_argument("--password", default=os.environ.get("LAB_TEST_MYSQL_PASSWORD", ""))
    parser.add_argument("--points", type=int, default=200_000, help="points for (b), (c), (d)")
    parser.add_argument("--single", type=int, default=3_000, help="points for (a), which is slow")
    parser.add_argument("--variables", type=int, default=1000, help="variables the collector reads per read")
    parser.add_argument("--interval-ms", type=float, default=5.0, help="collector read interval")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--disk", action="store_true", help="also measure (d) with a disk spool")
    args = parser.parse_args()

    database = f"lab_bench_{os.getpid()}"
    load_before = os.getloadavg()[0]
    admin = connect(args)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {database}")
        cursor.execute("SELECT VERSION(), @@innodb_flush_log_at_trx_commit")
        version, flush = cursor.fetchone()
    conn = connect(args, database)
    try:
        codenames = [f"bench_{i}" for i in range(args.variables)]
        with conn.cursor() as cursor:
            cursor.execute(schema.descriptions_ddl())
            cursor.execute(schema.continuous_ddl(TABLE))
            cursor.executemany("INSERT INTO dateplots_descriptions (id, codename) VALUES (%s, %s)",
                               [(i + 1, c) for i, c in enumerate(codenames)])
        conn.commit()
        results: dict[str, list[float]] = {"a": [], "b": [], "c": [], "d": []}
        alone: list[float] = []
        for _ in range(args.rounds):
            alone.append(bench_writer_alone(args, conn, database, args.points, codenames))
            results["a"].append(bench_single(conn, args.single, args.variables))
            results["b"].append(bench_executemany(conn, args.points, args.variables))
            results["c"].append(bench_lab(args, conn, database, args.points, codenames, disk=False))
            if args.disk:
                results["d"].append(bench_lab(args, conn, database, args.points, codenames, disk=True))
    finally:
        conn.close()
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.close()

    med = {k: statistics.median(v) for k, v in results.items() if v}
    print(f"lab-mysql writer benchmark: MariaDB/MySQL {version} at {args.host}:{args.port} "
          f"(innodb_flush_log_at_trx_commit={flush}), PyMySQL {importlib.metadata.version('PyMySQL')}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPU(s)")
    print(f"median of {args.rounds} round(s); (a) {args.single} points, (b)-(d) {args.points} points, "
          f"collector: {args.variables} variables every {args.interval_ms:g} ms; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    labels = {"a": "one INSERT + COMMIT per point (PyExpLabSys)",
              "b": "bare executemany, 5000 rows per COMMIT",
              "c": "lab: collector -> memory spool -> writer",
              "d": "lab: collector -> disk spool -> writer"}
    for key, value in med.items():
        runs = ", ".join(f"{v:,.0f}" for v in results[key])
        print(f"  ({key}) {labels[key]:<46} {value:>10,.0f} rows/s   [{runs}]")
    def ratio(x: str, y: str) -> str:
        per_round = [a / b for a, b in zip(results[x], results[y], strict=True)]
        return (f"{med[x] / med[y]:.2f}x  (per round: {', '.join(f'{r:.2f}' for r in per_round)}; "
                f"median {statistics.median(per_round):.2f}x)")

    print(f"  (w)/(b) = {statistics.median(alone):.2f}x  the writer alone (write() of the same rows, 5000 per "
          f"COMMIT, in turn with (b)); per round: {', '.join(f'{r:.2f}' for r in alone)}   goal >= 1.0x")
    print(f"  (c)/(a) = {ratio('c', 'a')}   goal >= 20x")
    print(f"  (c)/(b) = {ratio('c', 'b')}   goal >= 0.7x")
    if "d" in med:
        print(f"  (d)/(b) = {ratio('d', 'b')}   crash-safe spool, for information")
    return 0


if __name__ == "__main__":
    sys.exit(main())
