"""The ``modbus`` reader: one Modbus device (TCP, RTU over serial, RTU over TCP) per instance.

Each ``read`` plans the fewest requests for the variables asked (see
``planner``), executes them one after another on one connection and decodes
each variable from its request's answer (see ``address``). Nothing a device
does raises out of ``read``: an exception response, a timeout or a vanished
device become error samples, and the reader reconnects by itself.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Annotated

import attrs
from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException

from lab_core import Reader, Sample, Variable
from lab_core.options import Example

from .address import Address, Table, parse_address
from .planner import Key, Limits, Request, one_per_address, plan, sub_request

log = logging.getLogger(__name__)

PROTOCOLS = ("tcp", "rtu-over-tcp", "rtu")
EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value", 4: "device failure",
    5: "acknowledge", 6: "device busy", 8: "memory parity error",
    10: "gateway path unavailable", 11: "gateway target failed to respond",
}
#: Exception codes that say "try later", not "this address is wrong": never split on them.
TRANSIENT_CODES = {5, 6, 10, 11}


class DeviceDown(Exception):
    """The device cannot be reached; every variable not yet read gets an error sample."""


class NoAnswer(Exception):
    """A unit did not answer a request (after the retries); its other requests are skipped this scan."""


@attrs.define
class ModbusStats:
    """Counters of one reader, for benchmarks, tests and ``lab modbus read -v``."""

    scans: int = 0  # read() calls
    requests: int = 0  # requests sent (including those of splits and retries)
    exceptions: int = 0  # exception responses received
    splits: int = 0  # merged requests split to find a refused address
    failures: int = 0  # requests that timed out or lost the connection
    connects: int = 0  # successful connections
    connect_failures: int = 0


@attrs.define
class _Learned:
    """What failed merges taught (per (unit, table)): break positions and addresses to read alone."""

    breaks: dict[Key, set[int]] = attrs.field(factory=dict)
    isolated: set[Address] = attrs.field(factory=set)
    since: float = 0.0  # monotonic time of the first lesson

    def __bool__(self) -> bool:
        return bool(self.breaks or self.isolated)


class ModbusReader(Reader):
    """Reads one Modbus device. Options (all keywords, as in a ``[readers.NAME]`` table):

    ``host``/``port`` (Modbus TCP, or RTU over TCP with ``protocol = "rtu-over-tcp"``);
    ``serial`` (a serial port such as ``/dev/ttyUSB0``, RTU) with ``baudrate``,
    ``bytesize``, ``parity``, ``stopbits``; ``unit`` (device id), ``timeout`` (s
    per request), ``retries`` (after a timeout, on a fresh connection),
    ``pause_ms`` (silence between requests); coalescing: ``coalesce``,
    ``max_gap``, ``max_gap_bits``, ``max_registers``, ``max_bits``,
    ``remerge_s``; recovery: ``reconnect_delay``, ``reconnect_delay_max``.
    See the package README for what each one does.
    """

    example_address = "hr:0"

    def __init__(
        self,
        host: Annotated[str | None, "device name or IP (Modbus TCP, RTU over TCP)", Example("127.0.0.1")] = None,
        port: Annotated[int, "TCP port"] = 502,
        *,
        serial: Annotated[str | None, "serial port for RTU, e.g. /dev/ttyUSB0, COM3, rfc2217://host:port"] = None,
        protocol: Annotated[str | None, "tcp, rtu (serial) or rtu-over-tcp (RTU frames over TCP, e.g. a serial "
                            "gateway in transparent mode); default tcp, or rtu with serial"] = None,
        unit: Annotated[int, "unit (slave, device) id 0-247; an address may override it (3@hr:0)"] = 1,
        timeout: Annotated[float, "seconds to wait for each answer (and to connect)"] = 1.0,
        retries: Annotated[int, "retries of a request that got no answer, each on a fresh connection"] = 1,
        pause_ms: Annotated[float, "silence between two requests (slow RTU devices, some gateways); on a serial "
                            "line never less than the 3.5 character times RTU framing needs"] = 0.0,
        baudrate: Annotated[int, "serial speed (RTU)"] = 19200,
        bytesize: Annotated[int, "serial data bits, 5-8 (RTU)"] = 8,
        parity: Annotated[str, "serial parity: N, E or O (RTU)"] = "N",
        stopbits: Annotated[int, "serial stop bits, 1 or 2 (RTU)"] = 1,
        coalesce: Annotated[bool, "merge variables into few requests; false: one request per variable"] = True,
        max_gap: Annotated[int, "registers a merged request may read for nothing to bridge a hole"] = 32,
        max_gap_bits: Annotated[int, "the same as max_gap for coils and discrete inputs"] = 256,
        max_registers: Annotated[int, "registers per request (lower it for devices that allow fewer)"] = 125,
        max_bits: Annotated[int, "coils/inputs per request"] = 2000,
        remerge_s: Annotated[float, "how long the lessons of a refused merged request are kept before merging "
                             "is tried again (s)"] = 300.0,
        reconnect_delay: Annotated[float, "first wait (s) before reconnecting to a device that is gone; doubles "
                                   "after each failure"] = 0.5,
        reconnect_delay_max: Annotated[float, "longest wait (s); 0 = never longer than the time between two "
                                       "reads, so a device that comes back is read at the next scan"] = 0.0,
        min_interval_ms: Annotated[float, "shortest interval (ms) the collector may read this device at"] = 0.0,
    ):
        protocol = (protocol or ("rtu" if serial else "tcp")).lower()
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r} is unknown: use one of {', '.join(PROTOCOLS)}")
        if protocol == "rtu" and not serial:
            raise ValueError("protocol 'rtu' needs serial = the serial port (e.g. '/dev/ttyUSB0')")
        if protocol != "rtu" and not host:
            raise ValueError(f"protocol {protocol!r} needs host = the device's name or IP address "
                             "(or serial = a serial port for RTU)")
        if host and serial:
            raise ValueError("give either host (Modbus TCP, RTU over TCP) or serial (RTU), not both")
        _check_int("port", port, 1, 65535)
        _check_int("unit", unit, 0, 247)
        _check_int("retries", retries, 0, 10)
        _check_int("max_registers", max_registers, 1, 125)
        _check_int("max_bits", max_bits, 1, 2000)
        _check_int("max_gap", max_gap, 0, 125)
        _check_int("max_gap_bits", max_gap_bits, 0, 2000)
        _check_int("bytesize", bytesize, 5, 8)
        _check_int("stopbits", stopbits, 1, 2)
        _check_int("baudrate", baudrate, 50, 10_000_000)
        if str(parity).upper() not in ("N", "E", "O", "M", "S"):
            raise ValueError(f"parity must be N, E or O, got {parity!r}")
        for name, value in (("timeout", timeout), ("pause_ms", pause_ms), ("remerge_s", remerge_s),
                            ("reconnect_delay", reconnect_delay), ("reconnect_delay_max", reconnect_delay_max),
                            ("min_interval_ms", min_interval_ms)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        if not isinstance(coalesce, bool):
            raise ValueError(f"coalesce must be true or false, got {coalesce!r}")
        self.protocol, self.host, self.port, self.serial = protocol, host, port, serial
        self.serial_settings = {"baudrate": baudrate, "bytesize": bytesize, "parity": str(parity).upper(),
                                "stopbits": stopbits}
        self.unit, self.timeout, self.retries, self.pause_s = unit, float(timeout), retries, pause_ms / 1000.0
        if protocol == "rtu":  # RTU frames are delimited by 3.5 character times of silence (>= 1.75 ms)
            bits_per_character = 1 + bytesize + stopbits + (str(parity).upper() != "N")
            self.pause_s = max(self.pause_s, 3.5 * bits_per_character / baudrate, 0.00175)
        self.coalesce = coalesce
        self.limits = Limits(max_registers, max_bits, max_gap, max_gap_bits)
        self.remerge_s = float(remerge_s)
        self.reconnect_delay, self.reconnect_delay_max = float(reconnect_delay), float(reconnect_delay_max)
        self.min_interval_ms = float(min_interval_ms)
        self.stats = ModbusStats()
        self.learned = _Learned()
        self._client = None
        self._addresses: dict[str, Address] = {}
        self._last_request = -math.inf
        self._last_scan: float | None = None
        self._scan_gap: float | None = None  # seconds between the two latest read() calls
        self._down_since: float | None = None
        self._delay = 0.0
        self._next_attempt = -math.inf
        self._last_error = ""

    @property
    def where(self) -> str:
        if self.protocol == "rtu":
            return f"{self.serial} (RTU, unit {self.unit})"
        suffix = ", RTU over TCP" if self.protocol == "rtu-over-tcp" else ""
        return f"{self.host}:{self.port} (unit {self.unit}{suffix})"

    def __repr__(self) -> str:
        return f"<ModbusReader {self.where}>"

    # -- addresses --------------------------------------------------------------

    def address(self, text: str) -> Address:
        """The parsed address ``text`` (cached); ValueError if it is wrong."""
        address = self._addresses.get(text)
        if address is None:
            address = parse_address(text)
            limit = self.limits.span(address.table)
            if address.count > limit:
                raise ValueError(f"{address.kind} of {address.count} registers exceeds this device's "
                                 f"max_registers = {limit}")
            self._addresses[text] = address
        return address

    def check_address(self, variable: Variable) -> None:
        try:
            address = self.address(variable.address)
        except ValueError as exc:
            raise ValueError(f"variable {variable.codename!r}: address {variable.address!r}: {exc}") from None
        if address.kind == "string" and variable.value_type != "str":
            raise ValueError(f"variable {variable.codename!r}: address {variable.address!r} is text; "
                             f'declare the variable with type = "str"')
        if address.python_type is not str and variable.value_type == "str" and address.kind != "string":
            return  # a number shown as text is allowed
        if variable.value_type == "bool" and address.python_type is float:
            raise ValueError(f"variable {variable.codename!r}: address {variable.address!r} gives a number "
                             f'with a fraction; type = "bool" would hide it (use "float")')

    # -- life cycle ---------------------------------------------------------------

    def _make_client(self):
        if self.protocol == "rtu":
            return ModbusSerialClient(self.serial, framer=FramerType.RTU, timeout=self.timeout, retries=0,
                                      **self.serial_settings)
        framer = FramerType.RTU if self.protocol == "rtu-over-tcp" else FramerType.SOCKET
        return ModbusTcpClient(self.host, port=self.port, framer=framer, timeout=self.timeout, retries=0)

    def open(self) -> None:
        """Make the client; the connection itself is made (and remade) by ``read``, so a
        device that is off at start-up gives error samples, not a failed open."""
        if self._client is None:
            self._client = self._make_client()

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # closing must not fail
                log.debug("closing %s failed", self.where, exc_info=True)
            self._client = None

    def _drop(self) -> None:
        """Forget the connection (after a timeout a late answer must never meet the next request)."""
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                log.debug("dropping %s failed", self.where, exc_info=True)

    def _connect(self) -> None:
        """Connect if not connected; raise DeviceDown (and back off) if the device does not answer."""
        if self._client is None:
            self.open()
        if self._client.connected:
            return
        now = time.monotonic()
        if now < self._next_attempt:
            raise DeviceDown(f"{self.where} unreachable, next attempt in "
                             f"{self._next_attempt - now:.1f} s; last error: {self._last_error}")
        ok, error = False, "connection refused or timed out"
        try:
            ok = self._client.connect()
        except Exception as exc:  # pyserial raises assorted errors
            error = f"{type(exc).__name__}: {exc}"
        if not ok:
            self.stats.connect_failures += 1
            self._last_error = error
            self._back_off()
            raise DeviceDown(f"cannot connect to {self.where}: {self._last_error}")
        self.stats.connects += 1
        if self._down_since is not None:
            log.info("modbus %s is back after %.1f s", self.where, time.monotonic() - self._down_since)
        self._down_since, self._delay, self._next_attempt = None, 0.0, -math.inf

    def _back_off(self) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning("modbus %s is unreachable: %s (error samples until it answers)", self.where,
                        self._last_error)
        cap = self.reconnect_delay_max or (0.9 * self._scan_gap if self._scan_gap else self.reconnect_delay)
        self._delay = min(cap, self._delay * 2 if self._delay else self.reconnect_delay)
        self._next_attempt = now + self._delay

    # -- reading --------------------------------------------------------------------

    def read(self, variables: Sequence[Variable]) -> list[Sample]:
        now = time.monotonic()
        if self._last_scan is not None:
            self._scan_gap = now - self._last_scan
        self._last_scan = now
        self.stats.scans += 1
        at = time.time()
        addresses: list[Address] = []
        position: list[int] = []  # index in ``variables`` of each parsed address
        bad: dict[int, str] = {}  # index in ``variables`` -> why its address cannot be read
        for i, variable in enumerate(variables):
            try:
                addresses.append(self.address(variable.address))
                position.append(i)
            except ValueError as exc:
                bad[i] = f"bad address {variable.address!r}: {exc}"
        values: dict[int, object] = {}  # index in ``addresses`` -> value
        errors: dict[int, str] = {}  # index in ``addresses`` -> error
        silent: dict[int, str] = {}  # units that did not answer this scan -> why
        try:
            self._connect()
            for request in self._plan(addresses):
                unit = self.unit if request.unit is None else request.unit
                try:
                    if unit in silent:
                        raise NoAnswer(silent[unit])
                    self._run(request, addresses, values, errors)
                except NoAnswer as exc:
                    silent[unit] = str(exc)
                    for j in request.members:
                        if j not in values:
                            errors.setdefault(j, str(exc))
        except DeviceDown as exc:
            for j in range(len(addresses)):
                if j not in values:
                    errors.setdefault(j, str(exc))
        for j, i in enumerate(position):
            if j in values:
                continue
            bad[i] = errors.get(j, "not read")
        value_of = {i: values[j] for j, i in enumerate(position) if j in values}
        return [Sample.failed(v.codename, bad[i], at) if i in bad else Sample(v.codename, at, value_of[i])
                for i, v in enumerate(variables)]

    def _plan(self, addresses: list[Address]) -> list[Request]:
        if not self.coalesce:
            return one_per_address(addresses)
        if self.learned and time.monotonic() - self.learned.since >= self.remerge_s:
            log.info("modbus %s: trying merged requests again (remerge_s = %g)", self.where, self.remerge_s)
            self.learned = _Learned()
        isolated = [j for j, a in enumerate(addresses) if a in self.learned.isolated]
        return plan(addresses, self.limits, self.learned.breaks, isolated)

    def _run(self, request: Request, addresses: list[Address], values: dict, errors: dict) -> bool:
        """Execute ``request`` and decode its members; False if the device refused it as a whole."""
        outcome = self._execute(request)
        if isinstance(outcome, int):  # an exception code
            if len(request.members) > 1 and outcome not in TRANSIENT_CODES:
                self._split(request, addresses, values, errors)
                return False
            if self.coalesce and outcome not in TRANSIENT_CODES:
                self._isolate(addresses[request.members[0]])
            message = f"exception response {outcome} ({EXCEPTION_NAMES.get(outcome, 'unknown')}) " \
                      f"reading {addresses[request.members[0]]} from {self.where}"
            for j in request.members:
                errors[j] = message
            return False
        for j in request.members:
            address = addresses[j]
            raw = outcome[address.start - request.start:address.end - request.start]
            try:
                values[j] = address.decode(raw)
            except (ValueError, ArithmeticError) as exc:
                errors[j] = f"cannot decode {address}: {exc}"
        return True

    def _split(self, request: Request, addresses: list[Address], values: dict, errors: dict) -> None:
        """Bisect a refused merged request until the refused addresses are found; remember where."""
        self.stats.splits += 1
        members = sorted(request.members, key=lambda j: (addresses[j].start, addresses[j].end))
        half = len(members) // 2
        left, right = sub_request(addresses, members[:half]), sub_request(addresses, members[half:])
        left_ok = self._run(left, addresses, values, errors)
        right_ok = self._run(right, addresses, values, errors)
        if left_ok and right_ok:  # each half alone is fine: the trouble is in between
            self._learn_break(request.key, max(right.start, left.start + 1))
        log.info("modbus %s: %s:%d+%d refused; split it (%d break(s) learned)", self.where,
                 request.table.value, request.start, request.count,
                 sum(map(len, self.learned.breaks.values())))

    def _learn_break(self, key: Key, position: int) -> None:
        if not self.learned:
            self.learned.since = time.monotonic()
        self.learned.breaks.setdefault(key, set()).add(position)

    def _isolate(self, address: Address) -> None:
        key = (address.unit, address.table)
        self._learn_break(key, address.start)
        self._learn_break(key, address.end)
        self.learned.isolated.add(address)

    def _execute(self, request: Request) -> list | int:
        """The raw registers (bits) of ``request``, or its exception code.

        A timeout or a lost connection drops the connection (a late answer can never be taken
        for the answer to the next request) and retries on a fresh one; raises NoAnswer when
        the retries are used up and DeviceDown when the device cannot be reconnected."""
        read = {
            Table.COIL: self._client.read_coils,
            Table.DISCRETE: self._client.read_discrete_inputs,
            Table.HOLDING: self._client.read_holding_registers,
            Table.INPUT: self._client.read_input_registers,
        }[request.table]
        unit = self.unit if request.unit is None else request.unit
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._connect()  # a fresh connection for every retry
            wait = self._last_request + self.pause_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.stats.requests += 1
            try:
                response = read(request.start, count=request.count, device_id=unit)
            except (ModbusException, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.isError():
                    self.stats.exceptions += 1
                    return int(getattr(response, "exception_code", 0) or 0)
                data = response.bits if request.table.is_bits else response.registers
                if len(data) >= request.count:
                    return list(data[:request.count])
                problem = f"short answer: {len(data)} of {request.count} values"
            finally:
                self._last_request = time.monotonic()
            self.stats.failures += 1
            self._drop()
            log.debug("modbus %s: request %s:%d+%d to unit %d failed (attempt %d): %s", self.where,
                      request.table.value, request.start, request.count, unit, attempt + 1, problem)
        self._last_error = problem
        raise NoAnswer(f"no answer from unit {unit} of {self.where} after {self.retries + 1} "
                       f"attempt(s): {problem}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
