"""`lab data export` against the documented SQL join written out by a bare csv loop, same run.

    .venv/bin/python bench/data_export.py --points 1000000            # sqlite (lab-core alone)
    .venv/bin/python bench/data_export.py --points 1000000 --mysql    # also MariaDB at 127.0.0.1:3306, root

Fills a store through the real writer (20 codenames), then exports everything to /dev/null, each
way in its own process: the bare way runs the README's join and writes CSV rows with ``csv.writer``
(buffered by the driver: all rows in memory at once for MySQL); lab streams. Prints rows/s, the
ratio lab/bare and each process's peak memory (RSS), at N/10 and N points: lab's stays flat.
A throwaway database (MySQL) or file (sqlite) is made and removed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from lab_core import Sample

CODENAMES = [f"bench_{i}" for i in range(20)]
BARE_SQLITE = """
import csv, sqlite3, sys
out = csv.writer(sys.stdout)
db = sqlite3.connect(sys.argv[1])
for row in db.execute("SELECT t.time, d.codename, t.value FROM dateplots_bench AS t JOIN dateplots_descriptions "
                      "AS d ON d.id = t.type WHERE t.time < ? ORDER BY t.time, t.id", (sys.argv[2],)):
    out.writerow(row)
"""
BARE_MYSQL = """
import csv, sys, pymysql
out = csv.writer(sys.stdout)
conn = pymysql.connect(host="127.0.0.1", user="root", database=sys.argv[1], init_command="SET time_zone = '+00:00'")
with conn.cursor() as cursor:
    cursor.execute("SELECT t.time, d.codename, t.value FROM dateplots_bench AS t JOIN dateplots_descriptions "
                   "AS d ON d.id = t.type WHERE t.time < %s ORDER BY t.time, t.id", (sys.argv[2],))
    for row in cursor:
        out.writerow(row)
"""


def points(n: int):
    for start in range(0, n, 5000):
        stop = min(n, start + 5000)
        yield [Sample(CODENAMES[i % 20], 1_700_000_000.0 + i / 100, float(i)) for i in range(start, stop)]


def measure(command: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of ``command`` alone (``wait4``: that child's own usage), output thrown away."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{command[:4]} failed ({child.returncode})")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def compare(label: str, n: int, bare: list[str], lab: list[str]) -> None:
    for count in (n // 10, n):
        bound = 1_700_000_000 + count / 100
        bare_s, bare_mib = measure([*bare, bound_text(bound)])
        lab_s, lab_mib = measure([*lab, "--until", f"{bound:.2f}"])
        print(f"{label} {count:>9,} points: bare {count / bare_s:>9,.0f} rows/s ({bare_mib:.0f} MiB peak), "
              f"lab {count / lab_s:>9,.0f} rows/s ({lab_mib:.0f} MiB peak): lab/bare = {bare_s / lab_s:.2f}x")


def bound_text(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def sqlite_round(n: int) -> None:
    from lab_core.writers.sqlite import SqliteWriter

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite"
        writer = SqliteWriter(path, setup="bench")
        writer.open()
        for batch in points(n):
            writer.write(batch)
        writer.close()
        compare("sqlite", n, [sys.executable, "-c", BARE_SQLITE, str(path)],
                [sys.executable, "-m", "lab_core.cli", "data", "export", str(path)])


def mysql_round(n: int) -> None:
    import pymysql

    from lab_core.cli import main
    from lab_mysql.writer import MySQLWriter

    database = f"labbench_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE `{database}`")
    try:
        main(["mysql", "init", "--host", "127.0.0.1", "--user", "root", "--password", "", "--database", database,
              "--setup", "bench", *(f"--codename={c}" for c in CODENAMES)])
        writer = MySQLWriter(host="127.0.0.1", user="root", database=database, setup="bench", codenames=CODENAMES)
        writer.open()
        for batch in points(n):
            writer.write(batch)
        writer.close()
        compare("mysql ", n, [sys.executable, "-c", BARE_MYSQL, database],
                [sys.executable, "-m", "lab_core.cli", "data", "export", f"mysql://root@127.0.0.1/{database}"])
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--mysql", action="store_true", help="also MariaDB at 127.0.0.1:3306 (user root)")
    args = parser.parse_args()
    sqlite_round(args.points)
    if args.mysql:
        mysql_round(args.points)


if __name__ == "__main__":
    main()
