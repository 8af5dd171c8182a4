"""A database outage: what the disk spool costs while it lasts, and how fast it catches up after.

    .venv/bin/python bench/spool_outage.py [--pending 1000000] [--outage-s 600] [--rate 1000]
                                           [--host 127.0.0.1] [--port 3306] [--user root] [--password ""]

Growth (the database down): ``--pending`` samples put into a DiskSpool in batches of
100 variables, as a collector would during the outage. Reported: this process's RSS
growth and the spool file's bytes per sample, against a MemorySpool holding the same
samples (the baseline, same run).

Catch-up (the database back): a DiskSpool holding ``--outage-s`` × ``--rate`` samples
(a 10-minute outage at 1000 samples/s by default) is delivered by a Collector into
MariaDB while its reader goes on producing ``--rate`` samples/s. Reported: the time until
the backlog is gone, and the delivery rate against a bare ``executemany`` of the same
rows into the same table (the baseline, same run).
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

import pymysql

from lab_core import Collector, Context, DiskSpool, MemorySpool, Reader, Sample, Variable
from lab_mysql import schema
from lab_mysql.writer import MySQLWriter

TABLE = "dateplots_outage"
VARIABLES = 100
T0 = 1_700_000_000.0


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def batches(n: int, start: float = T0, step: float = 1e-3):
    """``n`` samples, ``VARIABLES`` per batch, each batch one instant later."""
    for k in range(n // VARIABLES):
        t = start + k * step
        yield [Sample(f"v{i}", t, float(k)) for i in range(VARIABLES)]


def fill(spool, n: int) -> float:
    gc.collect()
    before = rss_mib()
    for batch in batches(n):
        spool.put(batch)
    gc.collect()
    return rss_mib() - before


def growth(n: int, tmp: Path) -> None:
    disk = DiskSpool(tmp / "growth.spool", synchronous="normal")
    disk_mib = fill(disk, n)
    files = sum(p.stat().st_size for p in tmp.glob("growth.spool*") if p.suffix != ".lock")
    disk.close()
    memory = MemorySpool(capacity=n + 1)
    memory_mib = fill(memory, n)
    print(f"growth, {n:,} samples pending (database down):")
    print(f"  memory spool  RSS +{memory_mib:8.1f} MiB  ({memory_mib * 2**20 / n:6.0f} B/sample)")
    print(f"  disk spool    RSS +{disk_mib:8.1f} MiB  ({disk_mib * 2**20 / n:6.0f} B/sample); "
          f"file {files / 2**20:.1f} MiB = {files / n:.0f} B/sample on disk")
    print(f"  RSS ratio disk/memory: {disk_mib / max(memory_mib, 1e-9):.3f}")


class SteadyReader(Reader):
    """``VARIABLES`` values per read, times after the backlog's."""

    def read(self, variables):
        now = time.time()
        return [Sample(v.codename, now, 1.0) for v in variables]


def connect(args, database=None):
    return pymysql.connect(host=args.host, port=args.port, user=args.user, password=args.password,
                           database=database, autocommit=False, init_command="SET time_zone = '+00:00'")


def bare_executemany(conn, n: int) -> float:
    fmt = schema.TimeFormatter(6)
    rows = [(1 + i, fmt(s.time), s.value) for batch in batches(n) for i, s in enumerate(batch)]
    sql = f"INSERT INTO {TABLE} (type, time, value) VALUES (%s, %s, %s)"
    start = time.perf_counter()
    with conn.cursor() as cursor:
        for i in range(0, len(rows), 5000):
            cursor.executemany(sql, rows[i:i + 5000])
            conn.commit()
    return n / (time.perf_counter() - start)


def catch_up(args, conn, database: str, tmp: Path) -> None:
    backlog = int(args.outage_s * args.rate)
    spool = DiskSpool(tmp / "catchup.spool", synchronous="normal")
    for batch in batches(backlog):
        spool.put(batch)
    codenames = [f"v{i}" for i in range(VARIABLES)]
    writer = MySQLWriter(host=args.host, port=args.port, user=args.user, password=args.password,
                         database=database, table=TABLE, codenames=codenames)
    collector = Collector({"steady": SteadyReader()}, {"db": writer}, spools={"db": spool}, flush_timeout_s=60)
    interval_ms = 1000 * VARIABLES / args.rate
    variables = [Variable(i + 1, c, "x", reader="steady") for i, c in enumerate(codenames)]
    start = time.perf_counter()
    collector.start(Context(1, variables, default_interval_ms=interval_ms, min_interval_ms=1))
    while len(spool) > 2 * VARIABLES:
        time.sleep(0.05)
    caught_up = time.perf_counter() - start
    delivered = collector.stats()["writers"]["db"]["delivered"]
    collector.close()
    with conn.cursor() as cursor:
        cursor.execute(f"TRUNCATE TABLE {TABLE}")
    conn.commit()
    bare = bare_executemany(conn, backlog)
    rate = delivered / caught_up
    print(f"catch-up after {args.outage_s:g} s down at {args.rate:g} samples/s ({backlog:,} pending), "
          f"new samples still arriving:")
    print(f"  backlog gone after {caught_up:.1f} s: {rate:,.0f} rows/s delivered "
          f"({rate - args.rate:,.0f}/s beyond the new ones)")
    print(f"  bare executemany of the backlog: {bare:,.0f} rows/s; ratio lab/bare {rate / bare:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--outage-s", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="samples per second the collector produces")
    parser.add_argument("--host", default=os.environ.get("LAB_TEST_MYSQL_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LAB_TEST_MYSQL_PORT", "3306")))
    parser.add_argument("--user", default=os.environ.get("LAB_TEST_MYSQL_USER", "root"))
    parser.add_argument("--password", default=os.environ.get("LAB_TEST_MYSQL_PASSWORD", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        growth(args.pending, Path(tmp))
        database = f"lab_outage_{os.getpid()}"
        admin = connect(args)
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {database}")
        conn = connect(args, database)
        try:
            with conn.cursor() as cursor:
                cursor.execute(schema.descriptions_ddl())
                cursor.execute(schema.continuous_ddl(TABLE))
                cursor.executemany("INSERT INTO dateplots_descriptions (id, codename) VALUES (%s, %s)",
                                   [(i + 1, f"v{i}") for i in range(VARIABLES)])
            conn.commit()
            catch_up(args, conn, database, Path(tmp))
        finally:
            conn.close()
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE {database}")
            admin.close()


if __name__ == "__main__":
    main()
