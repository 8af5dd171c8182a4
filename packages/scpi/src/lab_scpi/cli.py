"""``lab scpi simulate`` and ``lab scpi query``: a demo instrument and a quick look at a real one.

Imported while ``lab`` builds its parser, so pyvisa and pyserial are imported only inside the commands.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from lab_core.exitcodes import ExitCode
from lab_core.netaccess import network_argument


def add_subcommands(subparsers) -> None:
    scpi = subparsers.add_parser("scpi", help="SCPI/VISA tools: a simulated instrument, one-shot queries")
    sub = scpi.add_subparsers(title="scpi commands", metavar="COMMAND")
    scpi.set_defaults(func=lambda args: (scpi.print_help(), ExitCode.CONFIG)[1])

    sim = sub.add_parser("simulate", help="run a simulated SCPI instrument on a TCP port until Ctrl-C",
                         description="Serve a simulated multimeter as raw SCPI over TCP (like port 5025): "
                                     "*IDN?, MEAS:VOLT?, MEAS:CURR?, SENS:DATA?, OUTP?, SYST:ERR?… whose "
                                     "readings change like a real device's; joined queries and the error "
                                     "queue follow IEEE 488.2. With --serial, a Pfeiffer TPG-like gauge on "
                                     "a serial port instead.")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=5025, help="TCP port (default 5025; 0 = a free port, printed)")
    sim.add_argument("--allow", action="append", metavar="NETWORK", type=network_argument,
                     help="client network allowed to connect, e.g. 10.0.0.0/8 (repeatable; default: everyone "
                          "who can reach --host)")
    sim.add_argument("--latency-ms", type=float, default=0.0,
                     help="time the instrument takes for each message (a real one's parser and measurement)")
    sim.add_argument("--max-clients", type=int, default=8, help="connections served at once (default 8)")
    sim.add_argument("--serial", metavar="PORT", help="serve the TPG-like gauge on this serial port instead")
    sim.add_argument("--baudrate", type=int, default=9600, help="with --serial (default 9600)")
    sim.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    sim.set_defaults(func=cmd_simulate)

    query = sub.add_parser("query", help="send SCPI messages to an instrument once and print the answers",
                           description="Send each MESSAGE to RESOURCE (a VISA resource such as "
                                       "TCPIP0::10.0.0.7::5025::SOCKET or ASRL/dev/ttyUSB0::INSTR); a message "
                                       "with '?' prints its answer, others are written. Errors left in the "
                                       "instrument's queue are printed at the end.")
    query.add_argument("resource", metavar="RESOURCE")
    query.add_argument("messages", metavar="MESSAGE", nargs="+")
    query.add_argument("--backend", default="@py", help="VISA library: @py (default), PROFILE.yaml@sim, …")
    query.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for an answer (default 2)")
    query.add_argument("--termination", default="\\n",
                       help="line end of messages and answers, with \\r and \\n escapes (default \\n)")
    query.add_argument("--error-query", default="SYST:ERR?",
                       help='query that pops the error queue (default SYST:ERR?; "" for none)')
    query.add_argument("--baud-rate", type=int, help="serial resources: bits per second")
    query.set_defaults(func=cmd_query)


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulator import SerialGauge, Simulator

    try:
        if args.serial:
            server = SerialGauge(args.serial, args.baudrate).start()
            print(f"TPG-like gauge on {args.serial} ({args.baudrate} baud): PR1, PR2, PRX (ACK/ENQ), T?",
                  flush=True)
        else:
            server = Simulator(args.host, args.port, allow=args.allow, latency_ms=args.latency_ms,
                               max_clients=args.max_clients).start()
            print(f"scpi simulator listening on {args.host}:{server.port} (allow: {server.allow})", flush=True)
            print(f"port {server.port}", flush=True)
            print(f"resource {server.resource}", flush=True)
    except (OSError, ValueError) as exc:
        print(f"lab scpi simulate: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait(args.duration)
    finally:
        server.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not args.serial:
        print(f"served {server.messages} message(s)", flush=True)
    return ExitCode.OK


def _unescape(text: str) -> str:
    return text.replace("\\r", "\r").replace("\\n", "\n")


def cmd_query(args: argparse.Namespace) -> int:
    from .reader import Down, ScpiReader

    termination = _unescape(args.termination)
    try:
        reader = ScpiReader(args.resource, backend=args.backend, timeout_s=args.timeout,
                            read_termination=termination, write_termination=termination,
                            error_query=args.error_query, baud_rate=args.baud_rate)
        reader.open()
    except ValueError as exc:
        print(f"lab scpi query: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    failed = False
    try:
        for message in args.messages:
            try:
                if "?" in message:
                    print(reader.ask(message), flush=True)
                else:
                    reader.send(message)
            except Down as exc:
                print(f"lab scpi query: {message}: {exc}", file=sys.stderr)
                failed = True
                if not reader.connected:  # unreachable, or the connection dropped: stop here
                    return ExitCode.FAILED
        try:
            for entry in reader.error_queue():
                print(f"instrument error {entry}", file=sys.stderr)
                failed = True
        except Down as exc:
            print(f"lab scpi query: {args.error_query}: {exc}", file=sys.stderr)
            failed = True
    finally:
        reader.close()
    return ExitCode.FAILED if failed else ExitCode.OK
