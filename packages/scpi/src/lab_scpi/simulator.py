"""A simulated SCPI instrument (a digital multimeter with an output) and a simulated TPG gauge.

For demos (``lab scpi simulate``), tests and benchmarks::

    from lab_scpi.simulator import Simulator

    with Simulator() as sim:                 # raw SCPI over TCP on 127.0.0.1, a free port (like port 5025)
        sim.resource                         # 'TCPIP0::127.0.0.1::PORT::SOCKET', for the scpi reader
        sim.messages                         # messages (round trips) served so far

``Instrument`` is the instrument itself, without I/O: ``Instrument().handle("MEAS:VOLT?;:SYST:ERR?")``
returns the reply line (or None when the message asks nothing). It follows IEEE 488.2 and
SCPI where a client can tell: short and long mnemonics in any case, compound messages
(``;``, ``;:`` back to the root, paths relative to the previous header), an error queue
(``SYST:ERR?``, ``*CLS``); a command error (an unknown header) discards the rest of its
message, an execution error (a bad parameter) skips that query only.

Readings move like a real meter's (see ``COMMANDS``): a voltage around 1 V with a
10 s wobble and noise, a current around 12 mA, a temperature drifting round 21.5 °C…
A reading beyond the configured range answers SCPI's overload value ``+9.9E+37``.
"""

from __future__ import annotations

import logging
import math
import random
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable

from lab_core.netaccess import AllowList, GuardedServer, RefusalLog

from .protocol import split

log = logging.getLogger(__name__)

IDN = "LAB,SIM-DMM,{serial},1.0"
MAX_ERRORS = 20
MAX_LINE = 64 * 1024  # bytes a message may have; a longer one closes the connection
MAX_CACHED = 1024  # headers remembered with their handler


class CommandError(Exception):
    """An error the instrument puts in its queue (code, text), e.g. -222 "Data out of range"."""

    def __init__(self, code: int, text: str):
        super().__init__(code, text)
        self.code, self.text = code, text


def _mnemonics(spec: str) -> re.Pattern:
    """``"MEASure:VOLTage[:DC]?"`` -> a regex accepting MEAS:VOLT?, measure:voltage:dc?, …"""

    def word(match: re.Match) -> str:  # MEASure: MEAS or MEASURE, any case
        long = match.group()
        short = "".join(c for c in long if not c.islower())
        return "(?:" + "|".join(sorted({short.upper(), long.upper()}, key=len, reverse=True)) + ")"

    def chunk(text: str) -> str:
        return re.sub(r"[A-Za-z]+", word, re.escape(text))

    pattern = "".join(f"(?:{chunk(optional)})?" if optional else chunk(required)
                      for optional, required in re.findall(r"\[([^\]]*)\]|([^\[]+)", spec))
    return re.compile(pattern, re.IGNORECASE)


class Instrument:
    """The simulated instrument's state and parser: a message in, a reply line out."""

    def __init__(self, serial: str = "0001", seed: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.serial = serial
        self.clock = clock
        self.started = clock()
        self.random = random.Random(seed)
        self.errors: list[tuple[int, str]] = []
        self.messages = 0  # messages received (each one round trip for a client that asks)
        self.queries = 0
        self.reset()
        self.commands: list[tuple[re.Pattern, Callable[[str], str | None]]] = [
            (_mnemonics(spec), handler) for spec, handler in self._table()]
        self._found: dict[str, Callable[[str], str | None]] = {}

    def reset(self) -> None:
        self.output = False
        self.volt_range: float | None = None  # None: auto range
        self.points = 0

    def _table(self) -> Iterable[tuple[str, Callable[[str], str | None]]]:
        return [
            ("*IDN?", lambda p: IDN.format(serial=self.serial)),
            ("*RST", lambda p: self.reset()),
            ("*CLS", lambda p: self.errors.clear()),
            ("*OPC?", lambda p: "1"),
            ("*OPC", lambda p: None),
            ("*TST?", lambda p: "0"),
            ("*WAI", lambda p: None),
            ("SYSTem:ERRor[:NEXT]?", lambda p: self._next_error()),
            ("SYSTem:ERRor:COUNt?", lambda p: str(len(self.errors))),
            ("SYSTem:VERSion?", lambda p: "1999.0"),
            ("SYSTem:TIME?", lambda p: time.strftime("%H,%M,%S", time.gmtime())),
            ("MEASure:VOLTage[:DC]?", self._volt),
            ("[SENSe:]VOLTage[:DC]:RANGe?", lambda p: "AUTO" if self.volt_range is None else _nr3(self.volt_range)),
            ("[SENSe:]VOLTage[:DC]:RANGe", self._set_range),
            ("MEASure:CURRent[:DC]?", lambda p: self._reading(0.0123, 0.0005, 20.0, 1e-6)),
            ("MEASure:RESistance?", lambda p: self._reading(1000.0, 0.0, 1.0, 0.05)),
            ("MEASure:TEMPerature?", lambda p: self._reading(21.5, 0.3, 120.0, 0.002)),
            ("MEASure:FREQuency?", lambda p: self._reading(50.0, 0.02, 7.0, 0.0005)),
            ("[SENSe:]DATA?", lambda p: ",".join(self._reading(float(c), 0.1, 5.0 + c, 0.001) for c in range(1, 5))),
            ("DATA:POINts?", lambda p: str(self.points)),
            ("OUTPut[:STATe]?", lambda p: "1" if self.output else "0"),
            ("OUTPut[:STATe]", self._set_output),
        ]

    # -- readings ---------------------------------------------------------------

    def _value(self, base: float, wobble: float, period: float, noise: float) -> float:
        t = self.clock() - self.started
        self.points += 1
        return base + wobble * math.sin(2 * math.pi * t / period) + self.random.gauss(0.0, noise)

    def _reading(self, base: float, wobble: float, period: float, noise: float) -> str:
        return _nr3(self._value(base, wobble, period, noise))

    def _volt(self, parameter: str) -> str:
        span = self.volt_range
        if parameter:
            span = None if parameter.upper() in ("AUTO", "DEF", "DEFAULT") else _number(parameter)
            if span is not None and not 0 < span <= 1000:
                raise CommandError(-222, "Data out of range")
        value = self._value(1.0, 0.25, 10.0, 0.001)
        return "+9.90000000E+37" if span is not None and abs(value) > span * 1.2 else _nr3(value)

    def _set_range(self, parameter: str) -> None:
        if not parameter:
            raise CommandError(-109, "Missing parameter")
        span = None if parameter.upper() in ("AUTO", "DEF", "DEFAULT") else _number(parameter)
        if span is not None and not 0 < span <= 1000:
            raise CommandError(-222, "Data out of range")
        self.volt_range = span

    def _set_output(self, parameter: str) -> None:
        word = parameter.upper()
        if word not in ("ON", "OFF", "1", "0"):
            raise CommandError(-224 if word else -109, "Illegal parameter value" if word else "Missing parameter")
        self.output = word in ("ON", "1")

    def _next_error(self) -> str:
        if not self.errors:
            return '+0,"No error"'
        code, text = self.errors.pop(0)
        return f'{code:+d},"{text}"'

    def _push(self, code: int, text: str) -> None:
        if len(self.errors) >= MAX_ERRORS:
            self.errors[-1] = (-350, "Queue overflow")
            return
        self.errors.append((code, text))

    # -- the parser -------------------------------------------------------------------

    def handle(self, message: str) -> str | None:
        """Run every unit of ``message``; the answers joined with ';', or None if nothing answered."""
        self.messages += 1
        answers: list[str] = []
        path = ""  # the current node: a header without a leading ':' is relative to it
        for unit in split(message):
            if not unit:
                continue
            header, _, parameter = unit.partition(" ")
            header, parameter = header.strip(), parameter.strip()
            if header.startswith("*"):
                full = header
            elif header.startswith(":"):
                full = header[1:]
            else:
                full = f"{path}:{header}" if path else header
            if not full.startswith("*"):
                path = full.rpartition(":")[0]
            handler = self._find(full)
            if handler is None:
                self._push(-113, "Undefined header")
                break  # IEEE 488.2: a command error discards the rest of the message
            if full.endswith("?"):
                self.queries += 1
            try:
                answer = handler(parameter)
            except CommandError as exc:
                self._push(exc.code, exc.text)  # an execution error skips this unit only
                continue
            if answer is not None:
                answers.append(answer)
        return ";".join(answers) if answers else None

    def _find(self, header: str) -> Callable[[str], str | None] | None:
        key = header.upper()
        handler = self._found.get(key)
        if handler is None:
            handler = next((h for pattern, h in self.commands if pattern.fullmatch(header)), None)
            if handler is not None and len(self._found) < MAX_CACHED:  # a bounded cache of known headers
                self._found[key] = handler
        return handler


def _nr3(value: float) -> str:
    return f"{value:+.8E}"


def _number(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise CommandError(-104, "Data type error") from None
    if not math.isfinite(number):
        raise CommandError(-222, "Data out of range")
    return number


# -- the TCP server -------------------------------------------------------------------------


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock, server = self.request, self.server
        slot = server.slot_of(sock)
        sock.settimeout(server.idle_timeout_s)
        buffer = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    slot.working()
                    reply = server.answer(line.decode("ascii", "replace").rstrip("\r"))
                    if reply is not None:
                        sock.sendall(reply.encode("ascii", "replace") + b"\n")
                    slot.waiting()  # between messages this connection may make room for a new one
                if len(buffer) > MAX_LINE:
                    log.warning("scpi simulator: a message from %s is longer than %d bytes; closing",
                                self.client_address[0], MAX_LINE)
                    return
        except OSError:  # a peer that vanished or idled out
            return


class _Server(GuardedServer, socketserver.ThreadingTCPServer):
    allow_reuse_address = True  # restart on the same port at once
    daemon_threads = True

    def __init__(self, address, instrument: Instrument, allow: AllowList, max_clients: int, latency_s: float,
                 idle_timeout_s: float):
        self.instrument, self.latency_s, self.idle_timeout_s = instrument, latency_s, idle_timeout_s
        self.lock = threading.Lock()
        # one bench PC usually holds every connection, so the per-peer limit is the total
        self.guard(allow, RefusalLog(log, "scpi simulator", noun="connection(s)"), max_clients, max_clients)
        super().__init__(address, _Handler)

    def answer(self, message: str) -> str | None:
        if self.latency_s:
            time.sleep(self.latency_s)  # a real instrument's parser and measurement take time
        with self.lock:
            return self.instrument.handle(message)


class Simulator:
    """``Instrument`` served as raw SCPI over TCP (newline-terminated, like port 5025) in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, allow: Iterable[str] | None = None,
                 max_clients: int = 8, latency_ms: float = 0.0, idle_timeout_s: float = 600.0,
                 serial: str = "0001", seed: int | None = None):
        self.host, self.port = host, port
        self.allow = allow if isinstance(allow, AllowList) else AllowList(allow)
        self.max_clients, self.latency_s, self.idle_timeout_s = max_clients, latency_ms / 1000.0, idle_timeout_s
        self.instrument = Instrument(serial=serial, seed=seed)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Simulator:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        _Server.address_family = family
        self._server = _Server((self.host, self.port), self.instrument, self.allow, self.max_clients,
                               self.latency_s, self.idle_timeout_s)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"scpi-sim-{self.port}", daemon=True)
        self._thread.start()
        log.info("scpi simulator serving on %s:%d (allow: %s)", self.host, self.port, self.allow)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (a client sees the instrument vanish)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        for slot in server.slots.all():
            slot.close()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def resource(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"TCPIP0::{host}::{self.port}::SOCKET"

    @property
    def messages(self) -> int:
        return self.instrument.messages

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- a serial gauge: Pfeiffer TPG-style request / acknowledge / enquiry -----------------------

ACK, NAK, ENQ = b"\x06", b"\x15", b"\x05"


class Gauge:
    """A TPG 36x-like controller without I/O: ``feed(bytes)`` returns the bytes it answers.

    ``PRn`` (n = 1, 2) asks gauge n: the controller acknowledges (``ACK CR LF``) and answers
    ``status,value CR LF`` after an enquiry (``ENQ``). Gauge 1 reads a pump-down around
    1e-5 mbar (status 0), gauge 2 has no sensor (status 5). ``PRX`` gives both. An unknown
    mnemonic gets ``NAK CR LF``. ``T?`` is a plain request -> line (a thermometer: ``+21.53 CR LF``).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock, self.started = clock, clock()
        self.pending: bytes | None = None
        self.buffer = b""
        self.exchanges = 0

    def feed(self, data: bytes) -> bytes:
        out = b""
        for byte in data:
            char = bytes([byte])
            if char == ENQ:
                out += (self.pending or b"") + b"\r\n" if self.pending is not None else NAK + b"\r\n"
                self.pending = None
                continue
            self.buffer += char
            if len(self.buffer) > 256:
                self.buffer = b""  # garbage: forget it
            if self.buffer.endswith(b"\r\n") or (self.buffer.endswith(b"\r") and self.buffer.startswith(b"T?")):
                line, self.buffer = self.buffer.strip(), b""
                out += self._line(line)
        return out

    def _line(self, line: bytes) -> bytes:
        self.exchanges += 1
        if line == b"T?":
            return f"{21.5 + 0.05 * math.sin(self.clock() - self.started):+.2f}\r\n".encode()
        answers = {b"PR1": self._gauge1(), b"PR2": "5,0.0000E+00", b"PRX": f"{self._gauge1()},5,0.0000E+00"}
        if line not in answers:
            return NAK + b"\r\n"
        self.pending = answers[line].encode()
        return ACK + b"\r\n"

    def _gauge1(self) -> str:
        t = self.clock() - self.started
        return f"0,{1e-5 * (1 + 0.5 * math.exp(-t / 30)) * (1 + 0.01 * math.sin(t)):.4E}"


class SerialGauge:
    """``Gauge`` served on a serial port (e.g. one end of a socat pty pair), in a thread."""

    def __init__(self, port: str, baudrate: int = 9600):
        self.port, self.baudrate = port, baudrate
        self.gauge = Gauge()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SerialGauge:
        import serial

        self._serial = serial.Serial(self.port, self.baudrate, timeout=0.05)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name=f"gauge-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._serial.read(256)
            except Exception:  # the other end went away
                log.debug("serial gauge on %s: read failed", self.port, exc_info=True)
                return
            if data:
                answer = self.gauge.feed(data)
                if answer:
                    self._serial.write(answer)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._serial.close()

    def __enter__(self) -> SerialGauge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
