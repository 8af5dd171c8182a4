"""Fan-in: many collector processes on one machine into one MariaDB, against bare executemany, same run.

    .venv/bin/python bench/mysql_fanin.py [--collectors 50] [--variables 20] [--interval-ms 100]
                                          [--seconds 30] [--disk] [--host 127.0.0.1] [--port 3306]
                                          [--user root] [--password ""]

lab: ``--collectors`` real ``lab run CONFIG`` processes (bench/fanin_worker.py runs the CLI's
own ``main``; the only addition is that each thread's name is given to the OS, so that its
CPU can be told apart), each reading its own ``--variables`` codenames on the demo reader
every ``--interval-ms`` and writing them through the ``mysql`` writer with a memory spool
(``--disk``: the crash-safe disk spool) into one table.

bare: the same number of processes (bench/fanin_worker.py), each a paced loop that makes
the same rows (the same codename ids, time text and values, at the same interval) and sends
each read as one ``executemany`` + ``COMMIT`` into a table of the same kind: the baseline.

Each phase starts its processes, waits until every codename has a row (the start-up time is
reported), then measures for ``--seconds``: rows arriving in the database per second (by
the server's insert time), CPU per row of the processes (psutil; for lab also per thread:
the writer's delivery thread, the reader thread, the rest) and of the ``mariadbd`` process,
and the delivery latency (read time -> the server's time when the INSERT ran, which is a
moment before its COMMIT made the row visible), p50/p99. Then it stops the processes
(SIGTERM: a clean stop that flushes the spool) and checks exactly-once: every sample each
process reports as accepted is in the table, once.

Tables are what ``lab mysql init`` makes (TIMESTAMP(6), unique key (type, time)) plus a
column ``arrived`` (the server's insert time), in a throwaway database dropped at the end.
The machine is shared: absolute figures move with the load average (printed); read the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs
import psutil
import pymysql

from lab_mysql import schema

TABLES = {"lab": "dateplots_fanin_lab", "bare": "dateplots_fanin_bare"}
WORKER = Path(__file__).with_name("fanin_worker.py")
ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 90.0
SUMMARY = re.compile(r"writer db: (\d+) accepted: (\d+) values, (\d+) errors; (\d+) delivered, (\d+) left.*?, "
                     r"(\d+) dropped, (\d+) set aside")


def codename(collector: int, variable: int) -> str:
    return f"fanin_{collector}_{variable}"


def type_id(collector: int, variable: int, variables: int) -> int:
    return collector * variables + variable + 1


# -- the processes ---------------------------------------------------------------------------------


def lab_config(args, database: str, index: int, spool_dir: Path) -> str:
    lines = ["[collector]", f'spool_dir = "{spool_dir}"', "flush_timeout_s = 60", "", "[readers.demo]", "",
             "[writers.db]", 'plugin = "mysql"', f'spool = "{"disk" if args.disk else "memory"}"',
             f'host = "{args.host}"', f"port = {args.port}", f'user = "{args.user}"',
             f'password = "{args.password}"', f'database = "{database}"', f'table = "{TABLES["lab"]}"', "",
             "[[contexts]]", "id = 1", f"default_interval_ms = {args.interval_ms:g}",
             f"min_interval_ms = {min(args.interval_ms, 100):g}"]
    for j in range(args.variables):
        lines += ["", "[[contexts.variables]]", f"id = {j + 1}", f'codename = "{codename(index, j)}"',
                  'reader = "demo"', 'address = "sine"']
    return "\n".join(lines) + "\n"


# -- measuring -------------------------------------------------------------------------------------


def thread_cpu(proc: psutil.Process) -> dict[str, float]:
    """CPU seconds per thread name (threads of one name summed)."""
    cpu: dict[str, float] = {}
    for thread in proc.threads():
        try:
            name = Path(f"/proc/{proc.pid}/task/{thread.id}/comm").read_text().strip()
        except OSError:
            name = "?"
        cpu[name] = cpu.get(name, 0.0) + thread.user_time + thread.system_time
    return cpu


@attrs.define
class Snapshot:
    time: float
    threads: dict[str, float]  # thread name -> CPU seconds, summed over the processes
    processes: float  # CPU seconds of the processes
    server: float  # CPU seconds of mariadbd
    machine: float  # busy CPU seconds of the whole machine
    rss: list[int]


def snapshot(procs: list[psutil.Process], server: psutil.Process) -> Snapshot:
    threads: dict[str, float] = {}
    total, rss = 0.0, []
    for proc in procs:
        with proc.oneshot():
            times = proc.cpu_times()
            total += times.user + times.system
            rss.append(proc.memory_info().rss)
            for name, cpu in thread_cpu(proc).items():
                threads[name] = threads.get(name, 0.0) + cpu
    server_times = server.cpu_times()
    machine = psutil.cpu_times()
    return Snapshot(time.time(), threads, total, server_times.user + server_times.system,
                    machine.user + machine.nice + machine.system + machine.irq + machine.softirq, rss)


def server_process(conn) -> psutil.Process:
    """The mariadbd we talk to: the pid in its own @@pid_file."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT @@pid_file")
        pid_file = cursor.fetchone()[0]
    return psutil.Process(int(Path(pid_file).read_text().split()[0]))


def query(conn, sql: str, params=()) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        rows = list(cursor.fetchall())
    conn.commit()  # a fresh snapshot next time
    return rows


@attrs.define
class Phase:
    name: str
    ready_s: float = 0.0
    rows: int = 0  # arrived during the window
    seconds: float = 0.0
    cpu: dict[str, float] = attrs.field(factory=dict)  # "processes", "server", "machine", thread names -> s
    rss_mib: float = 0.0
    latency_ms: list[float] = attrs.field(factory=list)
    expected: int = 0
    stored: int = 0
    skipped: int = 0  # bare: instants a process missed (its read waited for its COMMIT)
    problems: list[str] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    def per_row_us(self, key: str) -> float:
        return self.cpu.get(key, 0.0) / max(self.rows, 1) * 1e6

    def latency(self, q: float) -> float:
        if not self.latency_ms:
            return math.nan
        return statistics.quantiles(self.latency_ms, n=1000, method="inclusive")[round(q * 1000) - 1]


def wait_ready(conn, table: str, types: int, procs: list[subprocess.Popen]) -> None:
    """Until every codename has a row (every process is delivering)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        have = query(conn, f"SELECT COUNT(DISTINCT type) FROM {table}")[0][0]
        if have >= types:
            return
        dead = [p for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise SystemExit(f"{len(dead)} process(es) ended and only {have} of {types} codenames have rows "
                             f"after {READY_TIMEOUT_S - max(0.0, deadline - time.monotonic()):.0f} s")
        time.sleep(0.5)


def run_phase(name: str, commands: list[list[str]], args, conn, server: psutil.Process, logs: Path) -> Phase:
    with contextlib.ExitStack() as files:
        outputs = [(files.enter_context(open(logs / f"{name}{i}.out", "w+")),
                    files.enter_context(open(logs / f"{name}{i}.err", "w+"))) for i in range(len(commands))]
        phase = Phase(name)
        procs, before, after = measure(phase, commands, args, conn, server, outputs)
        window = "arrived >= FROM_UNIXTIME(%s) AND arrived < FROM_UNIXTIME(%s)"
        table = TABLES[name]
        phase.rows = query(conn, f"SELECT COUNT(*) FROM {table} WHERE {window}", (before.time, after.time))[0][0]
        phase.latency_ms = [float(us) / 1000 for (us,) in query(
            conn, f"SELECT TIMESTAMPDIFF(MICROSECOND, time, arrived) FROM {table} WHERE {window}",
            (before.time, after.time))]
        check_exactly_once(phase, args, conn, procs, outputs)
        for _, err in outputs:
            err.seek(0)
            phase.warnings += [line.rstrip() for line in err if " WARNING " in line or " ERROR " in line]
    return phase


def measure(phase: Phase, commands, args, conn, server, outputs) -> tuple[list, Snapshot, Snapshot]:
    """Start the processes, wait until all deliver, measure ``args.seconds``, stop them (SIGTERM)."""
    started = time.monotonic()
    procs = [subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
             for cmd, (out, err) in zip(commands, outputs)]
    try:
        try:
            wait_ready(conn, TABLES[phase.name], args.collectors * args.variables, procs)
        except SystemExit:
            outputs[0][1].seek(0)
            print(f"{phase.name} process 0's log ends with:\n" + "".join(outputs[0][1].readlines()[-20:]),
                  file=sys.stderr)
            raise
        phase.ready_s = time.monotonic() - started
        watched = [psutil.Process(p.pid) for p in procs]
        before = snapshot(watched, server)
        time.sleep(args.seconds)
        after = snapshot(watched, server)
        phase.seconds = after.time - before.time
        phase.cpu = {"processes": after.processes - before.processes, "server": after.server - before.server,
                     "machine": after.machine - before.machine,
                     **{k: v - before.threads.get(k, 0.0) for k, v in after.threads.items()}}
        phase.rss_mib = statistics.mean(after.rss) / 2**20
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(STOP_TIMEOUT_S)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return procs, before, after


def check_exactly_once(phase: Phase, args, conn, procs, outputs) -> None:
    """Every sample a process accepted (lab: its summary line; bare: rows sent) is in the table, once."""
    per_type = dict(query(conn, f"SELECT type, COUNT(*) FROM {TABLES[phase.name]} GROUP BY type"))
    for i, (proc, (out, err)) in enumerate(zip(procs, outputs)):
        counts = [per_type.get(type_id(i, j, args.variables), 0) for j in range(args.variables)]
        stored = sum(counts)
        expected = reported(phase, i, proc, out, err)
        phase.expected += expected or 0
        phase.stored += stored
        if expected != stored:
            phase.problems.append(f"process {i}: {stored} rows stored, {expected} accepted")
        if len(set(counts)) > 1:
            phase.problems.append(f"process {i}: its codenames have {min(counts)}-{max(counts)} rows, "
                                  "not one row per read each")


def reported(phase: Phase, index: int, proc, out, err) -> int | None:
    if proc.returncode != 0:
        phase.problems.append(f"process {index} exited with status {proc.returncode}")
    if phase.name == "bare":
        out.seek(0)
        lines = out.read().splitlines()
        if not lines:
            return None
        result = json.loads(lines[-1])
        phase.skipped += result["skipped"]
        return result["sent"]
    err.seek(0)
    found = SUMMARY.search(err.read())
    if found is None:
        phase.problems.append(f"process {index}: no summary line in its log")
        return None
    accepted, values, errors, delivered, left, dropped, set_aside = map(int, found.groups())
    if (errors, left, dropped, set_aside) != (0, 0, 0, 0) or delivered != values:
        phase.problems.append(f"process {index}: {found.group(0)}")
    return values


# -- set-up and report -----------------------------------------------------------------------------


def connect(args, database: str | None = None):
    return pymysql.connect(host=args.host, port=args.port, user=args.user, password=args.password,
                           database=database, autocommit=False, init_command="SET time_zone = '+00:00'")


def create(conn, args) -> None:
    with conn.cursor() as cursor:
        cursor.execute(schema.descriptions_ddl())
        cursor.executemany("INSERT INTO dateplots_descriptions (id, codename) VALUES (%s, %s)",
                           [(type_id(i, j, args.variables), codename(i, j))
                            for i in range(args.collectors) for j in range(args.variables)])
        for table in TABLES.values():
            cursor.execute(schema.continuous_ddl(table))
            cursor.execute(f"ALTER TABLE {table} ADD COLUMN arrived TIMESTAMP(6) NOT NULL "
                           "DEFAULT CURRENT_TIMESTAMP(6)")
    conn.commit()


def report(args, version: str, flush: str, load: list, lab: Phase, bare: Phase) -> None:
    offered = args.collectors * args.variables * 1000 / args.interval_ms
    print(f"fan-in: {args.collectors} processes x {args.variables} variables every {args.interval_ms:g} ms "
          f"(offered {offered:,.0f} rows/s), lab with a {'disk' if args.disk else 'memory'} spool; "
          f"{args.seconds:g} s measured per phase")
    print(f"MariaDB/MySQL {version} (innodb_flush_log_at_trx_commit={flush}), PyMySQL "
          f"{importlib.metadata.version('PyMySQL')}, Python {platform.python_version()}, {os.cpu_count()} CPU(s)")
    print("load average: " + "; ".join(f"{when} {a:.2f} {b:.2f} {c:.2f}" for when, (a, b, c) in load))
    rows = [
        ("start-up until every codename has a row (s)", lab.ready_s, bare.ready_s, "{:.1f}"),
        ("rows/s arriving in the database", lab.rate, bare.rate, "{:,.0f}"),
        ("processes' CPU per row (us)", lab.per_row_us("processes"), bare.per_row_us("processes"), "{:.1f}"),
        ("  of which the writer thread (us)", lab.per_row_us("lab-writer-db"), math.nan, "{:.1f}"),
        ("  of which the reader thread (us)", lab.per_row_us("lab-reader-demo"), math.nan, "{:.1f}"),
        ("mariadbd CPU per row (us)", lab.per_row_us("server"), bare.per_row_us("server"), "{:.1f}"),
        ("whole machine's CPU per row, all users (us)", lab.per_row_us("machine"), bare.per_row_us("machine"),
         "{:.1f}"),
        ("latency read -> INSERT, p50 (ms)", lab.latency(0.5), bare.latency(0.5), "{:.2f}"),
        ("latency read -> INSERT, p99 (ms)", lab.latency(0.99), bare.latency(0.99), "{:.2f}"),
        ("RSS per process (MiB)", lab.rss_mib, bare.rss_mib, "{:.1f}"),
    ]
    print(f"  {'':<44} {'lab':>10} {'bare':>10} {'lab/bare':>9}")
    for label, a, b, fmt in rows:
        ratio = f"{a / b:.2f}x" if b and not math.isnan(b) else ""
        shown_b = fmt.format(b) if not math.isnan(b) else "-"
        print(f"  {label:<44} {fmt.format(a):>10} {shown_b:>10} {ratio:>9}")
    other = lab.cpu["processes"] - lab.cpu.get("lab-writer-db", 0.0) - lab.cpu.get("lab-reader-demo", 0.0)
    print(f"  lab's other threads (main, monitor, timers): {other / max(lab.rows, 1) * 1e6:.1f} us/row")
    print(f"  bare processes missed {bare.skipped:,} instants (a read waits for the previous COMMIT); "
          "lab's readers do not wait for the database")
    for phase in (lab, bare):
        verdict = "OK" if not phase.problems else f"FAILED ({len(phase.problems)} problem(s))"
        print(f"  exactly once, {phase.name}: {phase.stored:,} rows stored, {phase.expected:,} accepted: {verdict}")
        for problem in phase.problems[:5]:
            print(f"    {problem}")
        if phase.warnings:
            print(f"  {phase.name}: {len(phase.warnings)} warning/error line(s) in the processes' logs, e.g.")
            for line in phase.warnings[:3]:
                print(f"    {line}")
    print("The machine is shared: absolute rates and CPU move with the load average; the lab/bare ratios, "
          "taken in the same run, are the result.")


def compile_sources() -> None:
    """As installed from wheels: the sources compiled once (this shell may set PYTHONDONTWRITEBYTECODE,
    which would make each of the processes compile every module it imports at start-up)."""
    subprocess.run([sys.executable, "-m", "compileall", "-qq", "-x", "templates",
                    *map(str, ROOT.glob("packages/*/src"))], check=True)


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that shape the fleet of collectors (bench/mysql_fanin_restart.py takes them too)."""
    parser.add_argument("--collectors", type=int, default=50)
    parser.add_argument("--variables", type=int, default=20, help="codenames per collector")
    parser.add_argument("--interval-ms", type=float, default=100.0)
    parser.add_argument("--disk", action="store_true", help="lab with a crash-safe disk spool")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_fleet_arguments(parser)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per phase")
    parser.add_argument("--host", default=os.environ.get("LAB_TEST_MYSQL_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LAB_TEST_MYSQL_PORT", "3306")))
    parser.add_argument("--user", default=os.environ.get("LAB_TEST_MYSQL_USER", "root"))
    parser.add_argument("--password", default=os.environ.get("LAB_TEST_MYSQL_PASSWORD", ""))
    args = parser.parse_args()

    compile_sources()
    database = f"lab_fanin_{os.getpid()}"
    admin = connect(args)
    load = [("start", os.getloadavg())]
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {database}")
        cursor.execute("SELECT VERSION(), @@innodb_flush_log_at_trx_commit")
        version, flush = cursor.fetchone()
    conn = connect(args, database)
    try:
        create(conn, args)
        server = server_process(conn)
        with tempfile.TemporaryDirectory(prefix="lab-fanin-") as tmp:
            tmp = Path(tmp)
            worker = [sys.executable, str(WORKER)]
            lab_commands = []
            for i in range(args.collectors):
                config = tmp / f"collector{i}.toml"
                config.write_text(lab_config(args, database, i, tmp / f"spool{i}"))
                lab_commands.append([*worker, "lab", str(config)])
            options = [str(args.variables), str(args.interval_ms), args.host, str(args.port), args.user,
                       args.password, database, TABLES["bare"]]
            bare_commands = [[*worker, "bare", str(i), *options] for i in range(args.collectors)]
            lab = run_phase("lab", lab_commands, args, conn, server, tmp)
            load.append(("after lab", os.getloadavg()))
            bare = run_phase("bare", bare_commands, args, conn, server, tmp)
            load.append(("after bare", os.getloadavg()))
    finally:
        conn.close()
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.close()
    report(args, version, flush, load, lab, bare)
    return 0 if not (lab.problems or bare.problems) else 1


if __name__ == "__main__":
    sys.exit(main())
