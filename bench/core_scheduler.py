"""Scheduler lateness and CPU: the collector against a naive sleep loop, same run.

1000 variables at 10 ms on the demo reader into the null writer. Lateness is
how long after its ideal instant (start + k·interval) each read started; a
naive ``read(); sleep(interval)`` loop drifts, so its lateness grows without
bound. The collector runs as under ``lab run`` (``scheduler.prefer_timeliness``).
``--busy-core`` keeps one core busy with another process for the whole run, so
the figure does not depend on what else the machine happens to do.

Run:  .venv/bin/python bench/core_scheduler.py --seconds 60 --busy-core
      .venv/bin/python bench/core_scheduler.py --seconds 600 --baseline-seconds 60 --busy-core  # drift
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from lab_core import Collector, Context, Variable
from lab_core.readers.demo import DemoReader
from lab_core.scheduler import prefer_timeliness
from lab_core.writers.console import NullWriter


def percentiles(values_s):
    ms = sorted(v * 1000 for v in values_s)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    return {"p50": pick(0.50), "p99": pick(0.99), "max": ms[-1], "n": len(ms)}


def by_minute(lateness_s, interval_ms):
    """p99 lateness (ms) of each whole minute of the run: a drifting scheduler shows a rising row."""
    per_minute = int(60_000 / interval_ms)
    return [percentiles(lateness_s[i:i + per_minute])["p99"]
            for i in range(0, len(lateness_s) - per_minute + 1, per_minute)]


def variables(n):
    return [Variable(i, f"v{i}", ("sine", "ramp", "random")[i % 3], "demo") for i in range(n)]


def run_collector(n, interval_ms, seconds):
    prefer_timeliness()
    writer = NullWriter()
    collector = Collector({"demo": DemoReader()}, {"null": writer})
    cpu0, wall0 = time.process_time(), time.monotonic()
    collector.start(Context(1, variables(n), default_interval_ms=interval_ms, min_interval_ms=1,
                            duration_s=seconds + 60))
    time.sleep(seconds)
    worker = collector.workers["demo"]
    lateness = list(worker.stats.lateness)
    reads = worker.stats.reads
    collector.close()
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    return {**percentiles(lateness[1:]), "reads": reads, "skipped": worker.stats.skipped,
            "by_minute": by_minute(lateness, interval_ms),
            "samples": writer.count, "cpu_pct": 100 * cpu / wall,
            "drift_ms": 1000 * statistics.mean(lateness[-100:]) - 1000 * statistics.mean(lateness[1:101])}


def run_naive(n, interval_ms, seconds):
    reader, vs, interval = DemoReader(), variables(n), interval_ms / 1000
    start = time.monotonic()
    cpu0 = time.process_time()
    lateness, k = [], 0
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        lateness.append(now - (start + k * interval))  # vs the instant it should have read at
        reader.read(vs)
        time.sleep(interval)
        k += 1
    cpu = time.process_time() - cpu0
    return {**percentiles(lateness[1:]), "reads": k, "skipped": 0, "samples": k * n,
            "cpu_pct": 100 * cpu / seconds,
            "drift_ms": 1000 * (statistics.mean(lateness[-100:]) - statistics.mean(lateness[1:101]))}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variables", type=int, default=1000)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, help="how long the naive loop runs (default: --seconds)")
    parser.add_argument("--busy-core", action="store_true", help="keep one core busy with another process")
    args = parser.parse_args()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy_core else None
    try:
        print(f"{args.variables} variables every {args.interval_ms:g} ms for {args.seconds:g} s"
              f"{', one core kept busy by another process' if busy else ''}\n")
        results = {"collector": run_collector(args.variables, args.interval_ms, args.seconds),
                   "naive sleep loop": run_naive(args.variables, args.interval_ms,
                                                 args.baseline_seconds or args.seconds)}
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    print(f"{'':18} {'reads':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'drift ms':>9} {'skipped':>8} {'CPU %':>6}")
    for name, r in results.items():
        print(f"{name:18} {r['reads']:7d} {r['p50']:8.3f} {r['p99']:8.3f} {r['max']:8.2f} "
              f"{r['drift_ms']:9.2f} {r['skipped']:8d} {r['cpu_pct']:6.1f}")
    c, b = results["collector"], results["naive sleep loop"]
    if len(c["by_minute"]) > 1:
        print("\ncollector p99 ms by minute: " + " ".join(f"{p:.2f}" for p in c["by_minute"]))
    expected = int(args.seconds * 1000 / args.interval_ms)
    print(f"\nreads done / asked: collector {c['reads'] / expected:.3f}, naive {b['reads'] / expected:.3f}")
    print(f"p99 lateness ratio naive/collector: {b['p99'] / max(c['p99'], 1e-9):.1f}x; "
          f"goal p99 < 2 ms: {'met' if c['p99'] < 2 else 'NOT met'} ({c['p99']:.3f} ms)")


if __name__ == "__main__":
    main()
