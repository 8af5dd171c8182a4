"""The fleet's central path: publishers -> broker -> lab (mqtt reader -> MySQL writer), against
a bare paho subscriber doing a bare ``executemany``, in the same run.

    .venv/bin/python bench/mqtt_fleet.py [--broker-port 0] [--host 127.0.0.1] [--user root] [--password ""]
                                         [--codenames 100] [--flood 30000] [--rate 2000] [--seconds 5] [--rounds 2]

The broker is a private mosquitto on a free port (``--broker-port 0``, the default; it
queues without limit, as examples/fleet/mosquitto.conf), or the one at ``--broker-port``.
Publishers run in their own processes (``--publishers``, bare paho, QoS 1) and put the
publish time in each message (payload ``time`` and ``value``). Two consumers take turns,
each with the same load:

(a) lab: a Collector with ``MQTTReader(mode="every")`` (persistent session, manual acks)
    -> memory spool -> delivery worker -> ``MySQLWriter``, read every 100 ms;
(b) bare: a paho subscriber (QoS 1, auto-ack) appending rows in ``on_message``, and a
    thread doing one ``executemany`` + ``COMMIT`` of what came, every 100 ms.

Both write the table ``lab mysql init`` makes (TIMESTAMP(6), unique key (type, time)).
*flood*: ``--flood`` messages published as fast as the publishers can; the rate is rows
stored / (last row committed - first publish). *paced*: ``--rate`` messages/s for
``--seconds``; the latency of a row is when a poller (every 20 ms) first saw it
committed minus its publish time. Ratios lab/bare are the result.
"""

from __future__ import annotations

import argparse
import getpass
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import pymysql

T_TOPIC = "bench/{codename}"


# -- publishers (own processes) --------------------------------------------------------------


def publish(port: int, codenames: list[str], count: int, rate: float, start: multiprocessing.Event) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start.wait()
    t0 = time.time()
    last = None
    for i in range(count):
        if rate:
            delay = t0 + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        codename = codenames[i % len(codenames)]
        now = time.time()
        last = client.publish(T_TOPIC.format(codename=codename),
                              json.dumps({"time": now, "value": now, "error": None, "unit": None}), qos=1)
    if last is not None:
        last.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def run_publishers(port, codenames, count, rate, processes) -> None:
    start = multiprocessing.Event()
    share = [codenames[i::processes] for i in range(processes)]
    procs = [multiprocessing.Process(target=publish, args=(port, share[i], count // processes, rate / processes, start))
             for i in range(processes)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # connected
    start.set()
    for p in procs:
        p.join()


# -- the database ---------------------------------------------------------------------------------


def prepare(db: dict, table: str, codenames: list[str]) -> dict:
    from lab_mysql import schema

    with pymysql.connect(**db, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(schema.continuous_ddl(table))
        cursor.execute(schema.descriptions_ddl())
        cursor.execute("DELETE FROM dateplots_descriptions")
        cursor.executemany("INSERT INTO dateplots_descriptions (id, codename) VALUES (%s, %s)",
                           list(enumerate(codenames, 1)))
    return {c: i for i, c in enumerate(codenames, 1)}


class Poller:
    """Notes, every 20 ms, the highest row id committed: a row's commit time is the first poll that saw it."""

    def __init__(self, db: dict, table: str):
        self.db, self.table = db, table
        self.seen: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        with pymysql.connect(**self.db, autocommit=True) as conn, conn.cursor() as cursor:
            while not self.stop.is_set():
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self.table}")
                self.seen.append((time.time(), cursor.fetchone()[0]))
                time.sleep(0.02)

    def wait_rows(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with pymysql.connect(**self.db) as conn, conn.cursor() as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM {self.table}")
                if cursor.fetchone()[0] >= count:
                    break
            time.sleep(0.2)
        time.sleep(0.1)
        self.stop.set()
        self.thread.join()

    def result(self) -> dict:
        with pymysql.connect(**self.db) as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT id, value FROM {self.table} ORDER BY id")
            rows = cursor.fetchall()
        latencies, k = [], 0
        for row_id, published in rows:
            while k < len(self.seen) and self.seen[k][1] < row_id:
                k += 1
            if k < len(self.seen):
                latencies.append(self.seen[k][0] - published)
        first = min(v for _, v in rows) if rows else 0.0
        done = next((t for t, top in self.seen if rows and top >= rows[-1][0]), time.time())
        latencies.sort()
        return {"rows": len(rows), "rate": len(rows) / max(done - first, 1e-9),
                "p50": latencies[len(latencies) // 2] if latencies else float("nan"),
                "p99": latencies[int(len(latencies) * 0.99)] if latencies else float("nan")}


# -- the two consumers ----------------------------------------------------------------------------


class LabConsumer:
    def __init__(self, port: int, db: dict, table: str, codenames: list[str]):
        from lab_core import Collector, Context, Variable
        from lab_mqtt.reader import MQTTReader
        from lab_mysql.writer import MySQLWriter

        reader = MQTTReader("127.0.0.1", port, mode="every", client_id="bench-lab-central", session_expiry_s=0)
        writer = MySQLWriter(table=table, **db)
        variables = [Variable(i, c, T_TOPIC.format(codename=c), "bus") for i, c in enumerate(codenames, 1)]
        self.collector = Collector({"bus": reader}, {"db": writer})
        self.collector.start(Context(1, variables, default_interval_ms=100, min_interval_ms=10))
        time.sleep(1.0)  # connected and subscribed

    def close(self) -> None:
        self.collector.close()


class BareConsumer:
    def __init__(self, port: int, db: dict, table: str, codenames: list[str]):
        import paho.mqtt.client as mqtt

        self.ids = {c: i for i, c in enumerate(codenames, 1)}
        self.rows: list[tuple] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.conn = pymysql.connect(**db, init_command="SET time_zone = '+00:00'")
        self.sql = f"INSERT INTO {table} (type, time, value) VALUES (%s, FROM_UNIXTIME(%s), %s) " \
                   f"ON DUPLICATE KEY UPDATE type = type"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("bench/#", qos=1)
        self.client.loop_start()
        self.thread = threading.Thread(target=self.insert_loop, daemon=True)
        self.thread.start()
        time.sleep(1.0)

    def on_message(self, client, userdata, message) -> None:
        payload = json.loads(message.payload)
        row = (self.ids[message.topic[6:]], payload["time"], payload["value"])
        with self.lock:
            self.rows.append(row)

    def insert_loop(self) -> None:
        while not self.stop.wait(0.1):
            with self.lock:
                rows, self.rows = self.rows, []
            if rows:
                with self.conn.cursor() as cursor:
                    cursor.executemany(self.sql, rows)
                self.conn.commit()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.client.disconnect()
        self.client.loop_stop()
        self.conn.close()


def one(kind, args, db, codenames, count, rate) -> dict:
    table = f"dateplots_bench_{kind}"
    prepare(db, table, codenames)
    consumer = (LabConsumer if kind == "lab" else BareConsumer)(args.broker_port, db, table, codenames)
    poller = Poller(db, table)
    try:
        run_publishers(args.broker_port, codenames, count, rate, args.publishers)
        poller.wait_rows(count // args.publishers * args.publishers, timeout=120)
    finally:
        consumer.close()
    return poller.result()


def own_mosquitto(base: str) -> tuple[subprocess.Popen, int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = os.path.join(base, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n"
                "max_queued_messages 0\nmax_inflight_messages 1000\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("mosquitto did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker-port", type=int, default=0, help="0: a private mosquitto on a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--codenames", type=int, default=100)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--flood", type=int, default=30000, help="messages of the flood phase")
    parser.add_argument("--rate", type=float, default=2000, help="messages/s of the paced phase")
    parser.add_argument("--seconds", type=float, default=5, help="length of the paced phase")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    broker = None
    if not args.broker_port:
        broker, args.broker_port = own_mosquitto(tempfile.mkdtemp())
    try:
        run(args)
    finally:
        if broker is not None:
            broker.terminate()
            broker.wait(10)


def run(args) -> None:
    server = {"host": args.host, "port": args.port, "user": args.user, "password": args.password}
    with pymysql.connect(**server, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE IF NOT EXISTS labbench_mqtt")
    db = {**server, "database": "labbench_mqtt"}
    codenames = [f"m{n // 5 + 1:02d}_v{n % 5}" for n in range(args.codenames)]
    print(f"{args.codenames} codenames, {args.publishers} publisher processes, broker 127.0.0.1:{args.broker_port}, "
          f"MariaDB {args.host}:{args.port}; python {sys.version.split()[0]}")
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):
        for phase, count, rate in (("flood", args.flood, 0), ("paced", int(args.rate * args.seconds), args.rate)):
            for kind in ("lab", "bare"):
                r = one(kind, args, db, codenames, count, rate)
                results.setdefault((phase, kind), []).append(r)
                print(f"  {phase:5} {kind:4}: {r['rows']:6d} rows  {r['rate']:8.0f} rows/s  "
                      f"latency p50 {r['p50'] * 1000:6.0f} ms  p99 {r['p99'] * 1000:6.0f} ms", flush=True)
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("rate", "p50", "p99")} for k, v in results.items()}
    print(f"flood: lab {med['flood', 'lab']['rate']:.0f} rows/s, bare {med['flood', 'bare']['rate']:.0f} rows/s: "
          f"ratio {med['flood', 'lab']['rate'] / med['flood', 'bare']['rate']:.2f}x")
    print(f"paced {args.rate:g} msg/s: p99 publish-to-row latency lab {med['paced', 'lab']['p99'] * 1000:.0f} ms, "
          f"bare {med['paced', 'bare']['p99'] * 1000:.0f} ms (p50 {med['paced', 'lab']['p50'] * 1000:.0f} / "
          f"{med['paced', 'bare']['p50'] * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
