"""Deadband: rows stored, fidelity and CPU per sample, against storing every value, same run.

A realistic signal per variable (a slow drift, noise, steps and one spike; one sample
every 2 s of signal time, ~5.5 h per variable) is read through a real collector into
the sqlite writer, once with every value stored and once through ``deadband``
(``absolute`` band, ``max_interval_s`` heartbeat, ``keep_before_jump``), attached to the
writer as a configuration would. Reported:

* rows stored, and the ratio;
* the largest deviation of the stored curve from the raw signal, held (the stored value
  stands until the next one: what a deadband promises, within the band) and drawn
  (straight lines between stored points: what a plot shows);
* CPU per sample of the whole process (reader, processing, spool, sqlite), and of the
  same run into the null writer, which isolates the processing stage's own cost.

Run:  .venv/bin/python bench/core_deadband.py --variables 20 --samples 10000 --rounds 2
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import random
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from lab_core import Collector, Context, Reader, Sample, Variable
from lab_core.processors.deadband import Deadband
from lab_core.writers.console import NullWriter
from lab_core.writers.sqlite import SqliteWriter

T0 = 1_790_000_000.0
STEP_S = 2.0  # signal time between two samples
BAND = 0.5


def signal(n: int, seed: int) -> list[float]:
    """Drift (±5 over 6 h), noise (σ 0.05), three steps, one spike of +20."""
    import math

    rng = random.Random(seed)
    steps = sorted(rng.sample(range(n // 10, n - n // 10), 3))
    spike = rng.randrange(n // 10, n - n // 10)
    level, values = 20.0, []
    for k in range(n):
        if k in steps:
            level += rng.choice((-3.0, 2.5, 4.0))
        value = level + 5 * math.sin(2 * math.pi * k * STEP_S / 21600 + seed) + rng.gauss(0, 0.05)
        values.append(value + (20.0 if k == spike else 0.0))
    return values


class SignalReader(Reader):
    """Gives sample k of every variable's signal on the k-th read, stamped T0 + k·STEP_S."""

    def __init__(self, signals: dict[str, list[float]]):
        self.signals = signals
        self.n = len(next(iter(signals.values())))
        self.k = 0
        self.done = threading.Event()

    def read(self, variables):
        k = min(self.k, self.n - 1)
        self.k += 1
        if self.k >= self.n:
            self.done.set()
        at = T0 + k * STEP_S
        return [Sample(v.codename, at, self.signals[v.codename][k]) for v in variables]


def run(signals, writer, deadband: bool) -> dict:
    reader = SignalReader(signals)
    variables = [Variable(i, name, "s", "signal") for i, name in enumerate(signals)]
    processors = {"slow": lambda: Deadband(absolute=BAND, max_interval_s=600, keep_before_jump=True)}
    collector = Collector({"signal": reader}, {"db": writer}, processors=processors if deadband else {},
                          writer_processors={"db": ["slow"]} if deadband else {})
    cpu0, wall0 = time.process_time(), time.monotonic()
    collector.start(Context(1, variables, default_interval_ms=1, min_interval_ms=1, duration_s=3600))
    reader.done.wait()
    collector.close(timeout=120)
    cpu = time.process_time() - cpu0
    samples = reader.n * len(variables)
    return {"cpu_us_per_sample": 1e6 * cpu / samples, "wall_s": time.monotonic() - wall0, "samples": samples}


def stored_curves(path: Path) -> dict[str, list[tuple[float, float]]]:
    curves: dict[str, list[tuple[float, float]]] = {}
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT d.codename, p.time, p.value FROM dateplots_lab p "
                          "JOIN dateplots_descriptions d ON d.id = p.type ORDER BY p.time")
        for codename, text, value in rows:
            t = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()
            curves.setdefault(codename, []).append((t, value))
    return curves


def deviations(signals, curves) -> tuple[float, float]:
    """Largest |raw − stored| over every raw sample: stored value held, and straight lines."""
    held = drawn = 0.0
    for name, raw in signals.items():
        points = curves[name]
        times = [t for t, _ in points]
        for k, value in enumerate(raw):
            t = T0 + k * STEP_S
            i = bisect.bisect_right(times, t + 1e-6) - 1
            t0, v0 = points[i]
            held = max(held, abs(value - v0))
            if i + 1 < len(points):
                t1, v1 = points[i + 1]
                line = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
            else:
                line = v0
            drawn = max(drawn, abs(value - line))
    return held, drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variables", type=int, default=20)
    parser.add_argument("--samples", type=int, default=10000, help="samples per variable")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of both sides")
    args = parser.parse_args()
    signals = {f"sig{i}": signal(args.samples, seed=i) for i in range(args.variables)}
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for side in ("every value", "deadband"):
                path = Path(tmp) / f"{side.replace(' ', '_')}{r}.sqlite"
                result = run(signals, SqliteWriter(path), side == "deadband")
                result["rows"] = sum(len(c) for c in stored_curves(path).values())
                result["held"], result["drawn"] = deviations(signals, stored_curves(path))
                null = run(signals, NullWriter(), side == "deadband")
                result["null_cpu_us_per_sample"] = null["cpu_us_per_sample"]
                results.setdefault(side, []).append(result)
                print(f"round {r} {side:>11}: {result['rows']:>7} rows, max deviation held {result['held']:.3f} "
                      f"drawn {result['drawn']:.3f}, {result['cpu_us_per_sample']:.2f} µs/sample into sqlite, "
                      f"{result['null_cpu_us_per_sample']:.2f} µs/sample into null", flush=True)
    best = {side: {key: min(r[key] for r in rs) for key in ("cpu_us_per_sample", "null_cpu_us_per_sample")}
            | {"rows": rs[0]["rows"], "held": rs[0]["held"], "drawn": rs[0]["drawn"]} for side, rs in results.items()}
    plain, band = best["every value"], best["deadband"]
    print(f"\nsamples per side: {args.variables} variables x {args.samples} = {args.variables * args.samples}")
    print(f"rows: {plain['rows']} vs {band['rows']}: {plain['rows'] / band['rows']:.0f}x fewer (goal >= 10x)")
    print(f"largest deviation with deadband: held {band['held']:.3f} (band {BAND}), drawn {band['drawn']:.3f}")
    print(f"CPU per sample into sqlite: {plain['cpu_us_per_sample']:.2f} vs {band['cpu_us_per_sample']:.2f} µs "
          f"({band['cpu_us_per_sample'] / plain['cpu_us_per_sample']:.2f}x; goal <= 1.10x)")
    print(f"CPU per sample into null (the stage alone): {plain['null_cpu_us_per_sample']:.2f} vs "
          f"{band['null_cpu_us_per_sample']:.2f} µs "
          f"({band['null_cpu_us_per_sample'] / plain['null_cpu_us_per_sample']:.2f}x)")


if __name__ == "__main__":
    main()
