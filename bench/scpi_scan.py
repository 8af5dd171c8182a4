"""SCPI reader: round trips per scan and scans per second, joined queries vs one query per variable.

    .venv/bin/python bench/scpi_scan.py [--seconds 2] [--rounds 3] [--latency-ms 0] [--resource VISA_RESOURCE]

Ten variables on one instrument (voltage, current, temperature, resistance,
frequency, a channel of a comma list, output state, counters, a clock) are read
again and again by two ``ScpiReader``s against the same instrument, in the same
run, taking turns: one with the default options (the scan's queries joined into
one message, with ``*OPC?`` and ``SYST:ERR?`` in it to catch refused queries)
and one with ``join_queries = false, error_query = ""`` (one query per variable
and nothing else, what a naive poller does). The instrument is ``lab scpi
simulate`` in its own process, so the two do not share a GIL; ``--latency-ms``
makes it take that long per message, like a real instrument's parser;
``--resource`` measures a real instrument instead. Absolute rates depend on the
machine; the ratios are the result.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from lab_core import Variable
from lab_scpi.reader import ScpiReader

ADDRESSES = [  # ten different queries: the baseline asks ten messages per scan
    "MEAS:VOLT?", "MEAS:CURR?|scale=1e3", "MEAS:TEMP?", "MEAS:RES?", "MEAS:FREQ?", "SENS:DATA?|field=1",
    "OUTP?|bool", "DATA:POIN?|int", "SYST:ERR:COUN?|int", "SYST:TIME?|field=2|int",
]


def start_simulator(latency_ms: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "lab_core.cli", "scpi", "simulate", "--port", "0",
                             "--latency-ms", str(latency_ms)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("resource "):
            return proc, line.split()[1]
    raise RuntimeError("the simulator did not start")


def measure(reader: ScpiReader, variables: list[Variable], seconds: float) -> tuple[int, int, float]:
    """(scans, round trips, elapsed) reading ``variables`` for about ``seconds``."""
    scans0, trips0 = reader.stats.scans, reader.stats.round_trips
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        samples = reader.read(variables)
        if any(s.error for s in samples):
            raise RuntimeError(next(s.error for s in samples if s.error))
    return reader.stats.scans - scans0, reader.stats.round_trips - trips0, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per reader per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the simulator's time per message")
    parser.add_argument("--resource", help="a real instrument's VISA resource instead of the simulator")
    args = parser.parse_args()

    proc, resource = (None, args.resource) if args.resource else start_simulator(args.latency_ms)
    variables = [Variable(i, f"v{i}", a, reader="dmm", value_type="float") for i, a in enumerate(ADDRESSES)]
    readers = {"joined": ScpiReader(resource, timeout_s=5.0),
               "one per variable": ScpiReader(resource, timeout_s=5.0, join_queries=False, error_query="")}
    totals = {name: [0, 0, 0.0] for name in readers}
    try:
        for reader in readers.values():
            reader.open()
            reader.read(variables)  # open the instrument outside the measurement
        for _ in range(args.rounds):
            for name, reader in readers.items():
                for i, value in enumerate(measure(reader, variables, args.seconds)):
                    totals[name][i] += value
    finally:
        for reader in readers.values():
            reader.close()
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    where = resource + (f", {args.latency_ms:g} ms per message" if proc is not None and args.latency_ms else "")
    print(f"{len(variables)} variables on one instrument, {where}, {args.rounds} rounds x {args.seconds:g} s "
          "per reader")
    rates = {}
    for name, (scans, trips, elapsed) in totals.items():
        rates[name] = (trips / scans, scans / elapsed)
        print(f"  {name:18} {trips / scans:5.1f} round trips/scan  {scans / elapsed:8.1f} scans/s  "
              f"({scans} scans in {elapsed:.1f} s)")
    (joined_trips, joined_rate), (naive_trips, naive_rate) = rates["joined"], rates["one per variable"]
    print(f"ratio: {naive_trips / joined_trips:.1f}x fewer round trips, {joined_rate / naive_rate:.1f}x the scan rate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
