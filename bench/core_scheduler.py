"""Scheduler lateness and CPU: the collector against a naive sleep loop, same run.

1000 variables at 10 ms on the demo reader into the null writer. Lateness is
how long after its ideal instant (start + k·interval) each read started; a
naive ``read(); sleep(interval)`` loop drifts, so its lateness grows without
bound. The collector runs as under ``lab run`` (``scheduler.prefer_timeliness``).
``--busy-core`` keeps one core busy with another process for the whole run, so
the figure does not depend on what else the machine happens to do.

``--scrape`` measures what watching costs (issue #12): the collector runs once as
above, then once more with its status endpoint up and another process fetching
``/metrics`` and ``/healthz`` over HTTP every second; it prints CPU % and p99
of both and their ratios (goal: at most 5 % more CPU, p99 unchanged). The naive
loop runs in this mode only when ``--baseline-seconds`` is given.

Run:  .venv/bin/python bench/core_scheduler.py --seconds 60 --busy-core
      .venv/bin/python bench/core_scheduler.py --seconds 600 --baseline-seconds 60 --busy-core  # drift
      .venv/bin/python bench/core_scheduler.py --seconds 60 --scrape --busy-core  # the status endpoint's cost
      .venv/bin/python bench/core_scheduler.py --seconds 60 --scrape --rounds 2 --busy-core  # ABBA, less drift
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import statistics
import subprocess
import sys
import time

from lab_core import Collector, Context, Variable
from lab_core.metrics import Metrics  # noqa: F401 - imported here: the scraped run's CPU has no import in it
from lab_core.readers.demo import DemoReader
from lab_core.scheduler import prefer_timeliness
from lab_core.status import Status, StatusServer
from lab_core.writers.console import NullWriter

# The scraper: its own process, so its CPU is not the collector's; one /metrics and one /healthz a second.
SCRAPER = """
import json, signal, sys, time, urllib.error, urllib.request
url, running = sys.argv[1], [True]
signal.signal(signal.SIGTERM, lambda *_: running.clear())  # the bench's "stop and report"
start, took, windows, failed, k = time.monotonic(), [], [], 0, 0
while running:
    time.sleep(max(0.0, start + k - time.monotonic()))
    k += 1
    for path in ("/metrics", "/healthz"):
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(url + path, timeout=5) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            failed += exc.code != 503  # 503 is a verdict (failing), not a failed scrape
        except OSError:
            failed += 1
        took.append(time.monotonic() - t0)
        windows.append((t0, time.monotonic()))  # CLOCK_MONOTONIC: the same clock in the bench's process
took.sort()
print(json.dumps({"scrapes": len(took), "failed": failed, "p50_ms": 1000 * took[len(took) // 2],
                  "max_ms": 1000 * took[-1], "windows": windows}))
"""


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


def run_collector(n, interval_ms, seconds, scrape=False):
    """The collector for ``seconds``; with ``scrape``, its status endpoint up and scraped every second."""
    prefer_timeliness()
    writer = NullWriter()
    collector = Collector({"demo": DemoReader()}, {"null": writer})
    cpu0, wall0 = time.process_time(), time.monotonic()  # this process: the endpoint's thread counts too
    collector.start(Context(1, variables(n), default_interval_ms=interval_ms, min_interval_ms=1,
                            duration_s=seconds + 60))
    starts = read_starts(collector.workers["demo"])
    with scraped(collector) if scrape else contextlib.nullcontext({}) as scrapes:
        time.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0  # the same window with or without
        worker = collector.workers["demo"]
        lateness = list(worker.stats.lateness)
        reads = worker.stats.reads
    collector.close()
    if scrape:
        scrapes["overlap"] = worst_reads_near(starts, scrapes.pop("windows"))
    return {**percentiles(lateness[1:]), "reads": reads, "skipped": worker.stats.skipped,
            "by_minute": by_minute(lateness, interval_ms),
            "samples": writer.count, "cpu_pct": 100 * cpu / wall, "scrapes": scrapes,
            "drift_ms": 1000 * statistics.mean(lateness[-100:]) - 1000 * statistics.mean(lateness[1:101])}


def read_starts(worker):
    """(start, lateness) of each read from now on: the worker's ``_read_due`` wrapped, in both kinds of run."""
    starts, read_due = [], worker._read_due

    def timed(target):
        now = worker.clock()
        starts.append((now, now - target))
        read_due(target)

    worker._read_due = timed
    return starts


def worst_reads_near(starts, windows, after_s=0.003):
    """Of the worst 1 % of reads, how many started while a scrape request ran or up to ``after_s`` after one;
    and the share of the run such moments cover (what chance alone would give)."""
    ends = [end + after_s for _, end in windows]
    near = lambda t: (i := bisect.bisect_left(ends, t)) < len(windows) and windows[i][0] <= t
    worst = sorted(starts, key=lambda s: -s[1])[:max(1, len(starts) // 100)]
    covered = sum(end + after_s - begin for begin, end in windows) / max(1e-9, starts[-1][0] - starts[0][0])
    return {"worst": len(worst), "near": sum(near(t) for t, _ in worst), "covered": covered}


@contextlib.contextmanager
def scraped(collector):
    """The status endpoint of ``collector`` on a free port, fetched by the scraper process meanwhile."""
    server = StatusServer(Status(collector), ("127.0.0.1", 0)).start()
    scraper = subprocess.Popen([sys.executable, "-c", SCRAPER, server.url], stdout=subprocess.PIPE, text=True)
    result = {}
    try:
        yield result
        scraper.terminate()
        result.update(json.loads(scraper.communicate(timeout=30)[0]))
    finally:
        scraper.kill()
        scraper.wait()
        server.close()


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
    parser.add_argument("--scrape", action="store_true",
                        help="also run the collector with its status endpoint scraped every second; compare")
    parser.add_argument("--rounds", type=int, default=1,
                        help="with --scrape: pairs of runs, in the order plain, scraped, scraped, plain, …")
    args = parser.parse_args()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy_core else None
    try:
        print(f"{args.variables} variables every {args.interval_ms:g} ms for {args.seconds:g} s"
              f"{', one core kept busy by another process' if busy else ''}\n")
        results = {}
        for pair in range(args.rounds if args.scrape else 1):
            suffix = f" #{pair + 1}" if args.rounds > 1 else ""
            for scrape in ((False, True) if pair % 2 == 0 else (True, False))[:2 if args.scrape else 1]:
                name = ("collector + scrape" if scrape else "collector") + suffix
                results[name] = run_collector(args.variables, args.interval_ms, args.seconds, scrape)
        if not args.scrape or args.baseline_seconds:
            results["naive sleep loop"] = run_naive(args.variables, args.interval_ms,
                                                    args.baseline_seconds or args.seconds)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    print(f"{'':21} {'reads':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'drift ms':>9} {'skipped':>8} {'CPU %':>6}")
    for name, r in results.items():
        print(f"{name:21} {r['reads']:7d} {r['p50']:8.3f} {r['p99']:8.3f} {r['max']:8.2f} "
              f"{r['drift_ms']:9.2f} {r['skipped']:8d} {r['cpu_pct']:6.1f}")
    c = next(iter(results.values()))
    if len(c["by_minute"]) > 1:
        print("\ncollector p99 ms by minute: " + " ".join(f"{p:.2f}" for p in c["by_minute"]))
    if args.scrape:
        print_scrape_cost([r for n, r in results.items() if n.startswith("collector") and "scrape" not in n],
                          [r for n, r in results.items() if "scrape" in n])
    if "naive sleep loop" in results:
        print_naive(c, results["naive sleep loop"], args)


def print_scrape_cost(plain, scraped):
    """Mean CPU % and median p99 of each kind of run, and their ratios."""
    for s in (r["scrapes"] for r in scraped):
        o = s["overlap"]
        print(f"\nscrapes (/metrics + /healthz, one each a second): {s['scrapes']} requests, {s['failed']} failed, "
              f"p50 {s['p50_ms']:.1f} ms, max {s['max_ms']:.1f} ms; of the worst 1 % of reads, {o['near']} of "
              f"{o['worst']} started during a request or 3 ms after (chance: {o['covered'] * o['worst']:.1f})",
              end="")
    cpu_plain, cpu_scraped = (statistics.mean(r["cpu_pct"] for r in runs) for runs in (plain, scraped))
    p99_plain, p99_scraped = (statistics.median(r["p99"] for r in runs) for runs in (plain, scraped))
    cpu, p99 = cpu_scraped / cpu_plain, p99_scraped / max(p99_plain, 1e-9)
    print(f"\nscraped/plain{f' over {len(plain)} pairs' if len(plain) > 1 else ''}: "
          f"CPU {cpu_scraped:.1f} % / {cpu_plain:.1f} % = {cpu:.3f}x, "
          f"p99 {p99_scraped:.3f} / {p99_plain:.3f} ms = {p99:.2f}x; "
          f"goal CPU <= 1.05x: {'met' if cpu <= 1.05 else 'NOT met'}")


def print_naive(c, b, args):
    expected = int(args.seconds * 1000 / args.interval_ms)
    print(f"\nreads done / asked: collector {c['reads'] / expected:.3f}, naive {b['reads'] / expected:.3f}")
    print(f"p99 lateness ratio naive/collector: {b['p99'] / max(c['p99'], 1e-9):.1f}x; "
          f"goal p99 < 2 ms: {'met' if c['p99'] < 2 else 'NOT met'} ({c['p99']:.3f} ms)")


if __name__ == "__main__":
    main()
