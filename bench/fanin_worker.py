"""The processes of bench/mysql_fanin.py (started by it; only stdlib and what each path needs is imported).

    python bench/fanin_worker.py lab CONFIG
    python bench/fanin_worker.py bare INDEX VARIABLES INTERVAL_MS HOST PORT USER PASSWORD DATABASE TABLE

``lab``: ``lab run CONFIG`` through the CLI's own ``main``, with each thread's name given to
the OS (``/proc/PID/task/TID/comm``) so that its CPU time can be told apart; with
``LAB_FANIN_JITTER=0`` the writers' backoff waits are not jittered (the baseline of
bench/mysql_fanin_restart.py).

``bare``: the baseline, a paced loop that makes the rows a collector would (codename ids
INDEX * VARIABLES + 1 …, the read's time as text, the demo reader's sine) and sends each
read as one ``executemany`` + ``COMMIT``; prints ``{"sent": rows, "skipped": instants missed}`` when SIGTERM stops it.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import signal
import sys
import threading
import time

PERIOD_S = 10.0  # the demo reader's "sine" address
PR_SET_NAME = 15
INIT_COMMAND = "SET time_zone = '+00:00'"


LIBC = ctypes.CDLL(None)


def name_os_thread(name: str) -> None:
    LIBC.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)  # the calling thread's name, 15 bytes at most


def without_jitter() -> None:
    """lab-core before #18 item 4 (a baseline for bench/mysql_fanin_restart.py): the plain doubling backoff."""
    import attrs

    from lab_core import delivery

    assert attrs.fields(delivery.Backoff)[-1].name == "jitter"
    delivery.Backoff.__init__.__defaults__ = (*delivery.Backoff.__init__.__defaults__[:-1], 0.0)


def lab(config: str) -> int:
    if os.environ.get("LAB_FANIN_JITTER") == "0":
        without_jitter()
    bootstrap = threading.Thread._bootstrap_inner

    def named_bootstrap(self):
        name_os_thread(self.name)
        bootstrap(self)

    threading.Thread._bootstrap_inner = named_bootstrap
    name_os_thread("lab-main")
    from lab_core.cli import main

    return main(["run", config])


def time_text(t: float) -> str:
    s = math.floor(t)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s)) + f".{min(int((t - s) * 1e6), 999_999):06d}"


def bare(index: str, variables: str, interval_ms: str, host: str, port: str, user: str, password: str,
         database: str, table: str) -> int:
    import pymysql

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    conn = pymysql.connect(host=host, port=int(port), user=user, password=password, database=database,
                           autocommit=False, init_command=INIT_COMMAND)
    sql = f"INSERT INTO {table} (type, time, value) VALUES (%s, %s, %s) ON DUPLICATE KEY UPDATE type = type"
    ids = [int(index) * int(variables) + j + 1 for j in range(int(variables))]
    interval = float(interval_ms) / 1000.0
    origin, k, sent, skipped = time.monotonic(), 0, 0, 0
    with conn.cursor() as cursor:
        while not stop.is_set():
            delay = origin + k * interval - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            t = time.time()
            text, value = time_text(t), math.sin(2 * math.pi * t / PERIOD_S)
            cursor.executemany(sql, [(i, text, value) for i in ids])
            conn.commit()
            sent += len(ids)
            due = max(k + 1, math.floor((time.monotonic() - origin) / interval) + 1)  # skip missed instants
            skipped, k = skipped + due - k - 1, due
    conn.close()
    print(json.dumps({"sent": sent, "skipped": skipped}), flush=True)
    return 0


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    sys.exit(lab(*rest) if mode == "lab" else bare(*rest))
