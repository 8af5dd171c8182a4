"""``lab modbus simulate`` and ``lab modbus read``: a demo device and a quick look at a real one.

Imported while ``lab`` builds its parser, so pymodbus is imported only inside the commands.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time

from lab_core.netaccess import network_argument

SERIAL_TARGET = re.compile(r"^(/|COM[0-9]+$|rfc2217://|loop://)", re.IGNORECASE)


def add_subcommands(subparsers) -> None:
    modbus = subparsers.add_parser("modbus", help="Modbus tools: a simulated device, one-shot reads")
    sub = modbus.add_subparsers(title="modbus commands", metavar="COMMAND")
    modbus.set_defaults(func=lambda args: (modbus.print_help(), 2)[1])

    sim = sub.add_parser("simulate", help="run a simulated Modbus device (pymodbus server) until Ctrl-C",
                         description="Serve a simulated device whose registers change like a real one's: "
                                     "hr:0:float32 sine, hr:3 seconds counter, co:0 toggling every second… "
                                     "(see lab_modbus.simulator).")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=5020, help="TCP port (default 5020; 0 = a free port, printed)")
    sim.add_argument("--protocol", choices=("tcp", "rtu-over-tcp", "rtu"), default=None,
                     help="tcp (default), rtu-over-tcp, or rtu on --serial")
    sim.add_argument("--serial", metavar="PORT", help="serve Modbus RTU on this serial port instead of TCP")
    sim.add_argument("--baudrate", type=int, default=19200)
    sim.add_argument("--hole", action="append", default=[], metavar="TABLE:ADDRESS",
                     help="make an address answer 'illegal data address' (e.g. hr:500); repeatable")
    sim.add_argument("--allow", action="append", metavar="NETWORK", type=network_argument,
                     help="only serve clients from this network or address (repeat; default: everyone)")
    sim.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    sim.set_defaults(func=cmd_simulate)

    read = sub.add_parser("read", help="read addresses from a device once (or --count times) and print them",
                          description="Read ADDRESS… (reader address grammar, e.g. hr:0:float32 40001 "
                                      "co:3) from DEVICE = HOST[:PORT] (Modbus TCP, port 502) or a serial "
                                      "port such as /dev/ttyUSB0 (RTU).")
    read.add_argument("device", metavar="DEVICE", help="HOST[:PORT], or a serial port for RTU")
    read.add_argument("addresses", metavar="ADDRESS", nargs="+")
    read.add_argument("--unit", type=int, default=1, help="unit (device) id, default 1")
    read.add_argument("--timeout", type=float, default=1.0, help="seconds per request (default 1)")
    read.add_argument("--retries", type=int, default=1)
    read.add_argument("--protocol", choices=("tcp", "rtu-over-tcp", "rtu"), default=None)
    read.add_argument("--baudrate", type=int, default=19200)
    read.add_argument("--parity", default="N", choices=("N", "E", "O"))
    read.add_argument("--no-coalesce", action="store_true", help="one request per address")
    read.add_argument("--count", type=int, default=1, help="read this many times")
    read.add_argument("--interval", type=float, default=1.0, help="seconds between reads with --count")
    read.add_argument("--json", action="store_true", help="one JSON object per read")
    read.add_argument("--stats", action="store_true", help="print request counters at the end")
    read.set_defaults(func=cmd_read)


def _holes(specs: list[str]) -> list[tuple[str, int]]:
    holes = []
    for spec in specs:
        table, _, number = spec.partition(":")
        if not number.isdigit():
            raise SystemExit(f"lab modbus simulate: --hole {spec!r}: expected TABLE:ADDRESS, e.g. hr:500")
        holes.append((table, int(number)))
    return holes


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulator import LIVE, Simulator

    protocol = args.protocol or ("rtu" if args.serial else "tcp")
    try:
        sim = Simulator(args.host, args.port, protocol=protocol, serial=args.serial, baudrate=args.baudrate,
                        holes=_holes(args.hole), allow=args.allow)
        sim.start()
    except (OSError, ValueError) as exc:
        print(f"lab modbus simulate: {exc}", file=sys.stderr)
        return 1
    print(f"modbus simulator ({protocol}) listening on {sim.where}", flush=True)
    if protocol != "rtu":
        print(f"port {sim.port}", flush=True)
    print("live values: " + "; ".join(f"{a} {d}" for a, d in LIVE.items()), flush=True)
    stop = threading.Event()
    import signal

    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait(args.duration)
    finally:
        sim.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    print(f"served {sim.request_count()} read request(s)", flush=True)
    return 0


def _reader_options(args: argparse.Namespace) -> dict:
    options = {"unit": args.unit, "timeout": args.timeout, "retries": args.retries,
               "coalesce": not args.no_coalesce, "reconnect_delay": 0.0}
    if SERIAL_TARGET.match(args.device) or args.protocol == "rtu":
        options.update(serial=args.device, baudrate=args.baudrate, parity=args.parity, protocol="rtu")
        return options
    host, _, port = args.device.rpartition(":") if ":" in args.device else (args.device, "", "502")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [::1]:502
    if not port.isdigit():
        raise SystemExit(f"lab modbus read: DEVICE {args.device!r}: expected HOST[:PORT] or a serial port")
    options.update(host=host, port=int(port), protocol=args.protocol or "tcp")
    return options


def cmd_read(args: argparse.Namespace) -> int:
    from lab_core import Variable

    from .reader import ModbusReader

    try:
        reader = ModbusReader(**_reader_options(args))
        variables = [Variable(i, f"a{i}", address, reader="cli", value_type="str")
                     for i, address in enumerate(args.addresses)]
        for variable in variables:
            reader.check_address(variable)
    except ValueError as exc:
        print(f"lab modbus read: {exc}", file=sys.stderr)
        return 2
    failed = False
    reader.open()
    try:
        for n in range(max(1, args.count)):
            if n:
                time.sleep(args.interval)
            samples = reader.read(variables)
            failed = failed or any(s.error for s in samples)
            pairs = list(zip(variables, samples, strict=True))
            if args.json:
                print(json.dumps({"time": samples[0].time,
                                  "values": {v.address: s.value for v, s in pairs if s.error is None},
                                  "errors": {v.address: s.error for v, s in pairs if s.error}}), flush=True)
                continue
            width = max(len(a) for a in args.addresses)
            for variable, sample in pairs:
                shown = repr(sample.value) if sample.error is None else f"ERROR {sample.error}"
                print(f"{variable.address.ljust(width)}  {shown}", flush=True)
            if args.count > 1:
                print(flush=True)
    finally:
        reader.close()
    if args.stats:
        stats = reader.stats
        print(f"{stats.scans} read(s), {stats.requests} request(s), {stats.exceptions} exception response(s), "
              f"{stats.failures} failed request(s)", file=sys.stderr)
    return 1 if failed else 0
