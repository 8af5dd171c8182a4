"""Modbus reader: requests per scan and scans per second, coalescing vs one request per variable.

    .venv/bin/python bench/modbus_scan.py [--variables 100] [--span 400] [--seconds 2] [--rounds 3]

100 holding registers scattered at random over 400 are read again and again by
two ``ModbusReader``s against the same device, in the same run, taking turns:
one with request coalescing (the default options) and one with
``coalesce = false`` (one request per variable, what a naive poller does).
The device is ``lab modbus simulate`` (a pymodbus server) in its own process,
so server and client do not share a GIL; give ``--device HOST:PORT`` to measure
a real device instead. Absolute rates depend on the machine; the ratio is the result.
"""

from __future__ import annotations

import argparse
import math
import random
import subprocess
import sys
import time

from lab_core import Variable
from lab_modbus.address import parse_address
from lab_modbus.planner import Limits, plan
from lab_modbus.reader import ModbusReader


def start_simulator() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "lab_core.cli", "modbus", "simulate", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("port "):
            return proc, int(line.split()[1])
    raise RuntimeError("the simulator did not start")


def measure(reader: ModbusReader, variables: list[Variable], seconds: float) -> tuple[int, int, float]:
    """(scans, requests, elapsed) reading ``variables`` for about ``seconds``."""
    scans0, requests0 = reader.stats.scans, reader.stats.requests
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        samples = reader.read(variables)
        if any(s.error for s in samples):
            raise RuntimeError(next(s.error for s in samples if s.error))
    return reader.stats.scans - scans0, reader.stats.requests - requests0, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variables", type=int, default=100)
    parser.add_argument("--span", type=int, default=400, help="registers the variables are scattered over")
    parser.add_argument("--seconds", type=float, default=2.0, help="per reader per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", metavar="HOST:PORT", help="a real device instead of the simulator")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    addresses = [f"hr:{a}" for a in sorted(rng.sample(range(args.span), args.variables))]
    variables = [Variable(i + 1, f"v{i}", a, reader="bench") for i, a in enumerate(addresses)]
    parsed = [parse_address(a) for a in addresses]
    minimal = len(plan(parsed, Limits(max_gap=125)))  # every gap bridged: the fewest requests possible
    gaps = [b.start - a.end for a, b in zip(parsed, parsed[1:], strict=False)]

    proc = None
    if args.device:
        host, _, port = args.device.rpartition(":")
        port = int(port)
    else:
        proc, port = start_simulator()
        host = "127.0.0.1"
    try:
        readers = {"coalescing": ModbusReader(host, port), "one per variable": ModbusReader(host, port, coalesce=False)}
        for reader in readers.values():
            reader.open()
            measure(reader, variables, 0.2)  # connect and warm up
        totals = {name: [0, 0, 0.0] for name in readers}
        for _ in range(args.rounds):
            for name, reader in readers.items():  # take turns, so drifts in machine load hit both
                scans, requests, elapsed = measure(reader, variables, args.seconds)
                totals[name][0] += scans
                totals[name][1] += requests
                totals[name][2] += elapsed
        for reader in readers.values():
            reader.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)

    print(f"{args.variables} variables scattered over {args.span} holding registers "
          f"(largest gap {max(gaps)} registers), device {host}:{port}, "
          f"{args.rounds} rounds x {args.seconds:g} s per reader")
    print(f"fewest requests possible: {minimal} (ceil({args.span} / 125) = {math.ceil(args.span / 125)})")
    rates = {}
    for name, (scans, requests, elapsed) in totals.items():
        rates[name] = scans / elapsed
        print(f"  {name:17s} {requests / scans:6.1f} requests/scan  {rates[name]:8.1f} scans/s  "
              f"({scans} scans in {elapsed:.1f} s)")
    per_scan = {name: t[1] / t[0] for name, t in totals.items()}
    print(f"ratio: {per_scan['one per variable'] / per_scan['coalescing']:.1f}x fewer requests, "
          f"{rates['coalescing'] / rates['one per variable']:.1f}x the scan rate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
