"""Fan-in across a database restart: how many collectors come back, and how together, same run.

    .venv/bin/python bench/mysql_fanin_restart.py [--collectors 50] [--variables 20] [--interval-ms 100]
                                                  [--down-s 10] [--disk]

A throwaway mariadbd (its own datadir and port; the machine's server is never touched)
takes ``--collectors`` real ``lab run`` processes as bench/mysql_fanin.py starts them. Once
every codename has a row, the server is shut down, kept down ``--down-s`` seconds and started
again. Reported from the moment it accepts connections again: when the first and the last
collector are connected again, the most connections that arrived within any 100 ms (the
"storm"), and when every codename has a new row; then, after a clean stop, exactly-once
(every accepted sample stored once). Twice in the same run: lab as it is (jittered backoff
waits) and, as the baseline, the same collectors with the plain doubling backoff of lab-core
before it (``LAB_FANIN_JITTER=0``, see bench/fanin_worker.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mysql_fanin as fanin
import pymysql

sys.path.insert(0, str(fanin.ROOT / "tests"))
import services  # noqa: E402 - the tests' throwaway MariaDB

POLL_S = 0.02
RECOVER_TIMEOUT_S = 180.0


def connect(server: services.ThrowawayMariaDB, database: str | None = None):
    return pymysql.connect(**server.settings, database=database, autocommit=False,
                           init_command="SET time_zone = '+00:00'")


def follow(server, database: str, args, up: float) -> dict[str, float]:
    """After the server came back at ``up``: connected collectors over time, until every codename has a new row."""
    conn = connect(server, database)
    deadline = time.monotonic() + RECOVER_TIMEOUT_S
    timeline: list[tuple[float, int]] = []
    delivering = None
    try:
        while time.monotonic() < deadline:
            now = time.time()
            connected = fanin.query(conn, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s "
                                    "AND ID <> CONNECTION_ID()", (database,))[0][0]
            timeline.append((now - up, connected))
            if delivering is None and connected >= args.collectors:
                have = fanin.query(conn, f"SELECT COUNT(DISTINCT type) FROM {fanin.TABLES['lab']} "
                                   "WHERE arrived >= FROM_UNIXTIME(%s)", (up,))[0][0]
                if have >= args.collectors * args.variables:
                    delivering = time.time() - up
                    break
            time.sleep(POLL_S)
    finally:
        conn.close()
    first = next((t for t, n in timeline if n > 0), float("nan"))
    last = next((t for t, n in timeline if n >= args.collectors), float("nan"))
    storm = busiest(timeline)
    return {"first": first, "last": last, "storm": storm, "delivering": delivering or float("nan")}


def busiest(timeline: list[tuple[float, int]], width: float = 0.1) -> int:
    """The largest rise of the connected count within ``width`` seconds."""
    best, j = 0, 0
    for t, n in timeline:
        while timeline[j][0] < t - width:
            j += 1
        best = max(best, n - timeline[j][1])
    return best


def run(args, server, tmp: Path, jitter: bool) -> tuple[dict[str, float], fanin.Phase]:
    name = "jittered" if jitter else "plain"
    database = f"lab_restart_{name}"
    with connect(server) as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {database}")
    conn = connect(server, database)
    fanin.create(conn, args)
    settings = argparse.Namespace(**{**vars(args), "host": "127.0.0.1", "port": server.port, "user": "root",
                                     "password": ""})
    env = {**os.environ, "LAB_FANIN_JITTER": "1" if jitter else "0"}
    phase = fanin.Phase("lab")
    with contextlib.ExitStack() as files:
        outputs = [(files.enter_context(open(tmp / f"{name}{i}.out", "w+")),
                    files.enter_context(open(tmp / f"{name}{i}.err", "w+"))) for i in range(args.collectors)]
        procs = []
        try:
            for i, (out, err) in enumerate(outputs):
                config = tmp / f"{name}{i}.toml"
                config.write_text(fanin.lab_config(settings, database, i, tmp / f"{name}-spool{i}"))
                procs.append(subprocess.Popen([sys.executable, str(fanin.WORKER), "lab", str(config)], env=env,
                                              stdout=out, stderr=err, stdin=subprocess.DEVNULL))
            fanin.wait_ready(conn, fanin.TABLES["lab"], args.collectors * args.variables, procs)
            conn.close()
            server.stop()  # a clean shutdown, as for an upgrade
            time.sleep(args.down_s)
            server.start()
            up = time.time()
            result = follow(server, database, args, up)
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(fanin.STOP_TIMEOUT_S)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        conn = connect(server, database)
        fanin.check_exactly_once(phase, args, conn, procs, outputs)
        conn.close()
    return result, phase


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    fanin.add_fleet_arguments(parser)
    parser.add_argument("--down-s", type=float, default=10.0, help="how long the server stays down")
    args = parser.parse_args()
    fanin.compile_sources()
    load = [("start", os.getloadavg())]
    with tempfile.TemporaryDirectory(prefix="lab-fanin-restart-") as tmp:
        tmp = Path(tmp)
        server = services.ThrowawayMariaDB(tmp / "mariadb")
        try:
            server.install()
            server.start()
            results = {}
            for jitter in (False, True):
                results[jitter] = run(args, server, tmp, jitter)
                load.append(("after " + ("jittered" if jitter else "plain"), os.getloadavg()))
        finally:
            server.stop()
    print(f"fan-in across a restart: {args.collectors} collectors x {args.variables} variables every "
          f"{args.interval_ms:g} ms, {'disk' if args.disk else 'memory'} spools; a throwaway mariadbd shut down "
          f"and started again after {args.down_s:g} s")
    print("load average: " + "; ".join(f"{when} {a:.2f} {b:.2f} {c:.2f}" for when, (a, b, c) in load))
    print(f"  {'from the moment the server accepts connections again':<56} {'jittered':>9} {'plain':>9}")
    labels = {"first": "first collector connected again (s)", "last": "every collector connected again (s)",
              "storm": "most collectors connecting within 100 ms",
              "delivering": "every codename has a new row (s)"}
    for key, label in labels.items():
        values = [results[j][0][key] for j in (True, False)]
        shown = [f"{v:.0f}" if key == "storm" else f"{v:.2f}" for v in values]
        print(f"  {label:<56} {shown[0]:>9} {shown[1]:>9}")
    failed = False
    for jitter in (True, False):
        phase = results[jitter][1]
        failed |= bool(phase.problems)
        verdict = "OK" if not phase.problems else f"FAILED: {'; '.join(phase.problems[:3])}"
        print(f"  exactly once, {'jittered' if jitter else 'plain'}: {phase.stored:,} rows stored, "
              f"{phase.expected:,} accepted: {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
