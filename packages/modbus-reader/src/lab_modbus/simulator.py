"""A simulated Modbus device: a pymodbus server whose registers move like a real device's.

For demos (``lab modbus simulate``) and tests::

    from lab_modbus.simulator import Simulator

    with Simulator() as sim:                   # 127.0.0.1, a free port, Modbus TCP
        print(sim.port)                        # the port it is bound to
        sim.set("hr:100:float32:cdab", 1.5)    # put a value where a test will read it
        sim.add_hole("hr", 500)                # hr 500 answers "illegal data address"
        sim.delay_s = 2.0                      # answers come late (a client times out)
        ...
        sim.request_count()                    # read requests served so far

The server runs on its own asyncio loop in a background thread; every method
here is safe to call from any other thread. Every unit id gets the same data.

Live values (rewritten on every access, so they change between two reads)::

    hr:0:float32      sine, amplitude 10, period 10 s
    hr:2:int16        the same sine × 100 (read it as hr:2:int16*0.01)
    hr:3:uint16       counter: whole seconds since the simulator started
    hr:4:uint32       milliseconds since the simulator started (wraps)
    ir:0:float32      "temperature": 20 + 5·sin(2π t / 60)
    ir:2:uint16       counter: read requests served so far (wraps)
    co:0, co:1        toggle every second, every 5 seconds
    di:0              toggles every 2 seconds

Everything else (``registers`` registers, ``bits`` coils and discrete inputs,
from address 0) is plain memory, 0 at start, writable by clients (function
codes 5, 6, 15, 16) and through ``set``/``set_raw``. Addresses beyond answer
"illegal data address", as do holes added with ``add_hole``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import struct
import threading
import time
from collections.abc import Iterable, Sequence

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from lab_core.netaccess import AllowList, RefusalLog

from .address import Table, parse_address

log = logging.getLogger(__name__)

#: function code -> table, for the codes the datastore serves
FUNCTION_TABLES = {1: Table.COIL, 5: Table.COIL, 15: Table.COIL, 2: Table.DISCRETE,
                   3: Table.HOLDING, 6: Table.HOLDING, 16: Table.HOLDING, 22: Table.HOLDING,
                   23: Table.HOLDING, 4: Table.INPUT}
READ_CODES = (1, 2, 3, 4)
LIVE = {
    "hr:0:float32": "sine, amplitude 10, period 10 s",
    "hr:2:int16": "the same sine x 100",
    "hr:3:uint16": "seconds since start",
    "hr:4:uint32": "milliseconds since start",
    "ir:0:float32": "temperature 20 + 5 sin(2 pi t / 60)",
    "ir:2:uint16": "read requests served",
    "co:0": "toggles every second",
    "co:1": "toggles every 5 seconds",
    "di:0": "toggles every 2 seconds",
}
PROTOCOLS = ("tcp", "rtu-over-tcp", "rtu")


class Simulator:
    """A simulated device. ``protocol`` is ``tcp`` (default), ``rtu-over-tcp`` or ``rtu``
    (then ``serial`` names the serial port to serve on, e.g. one end of a socat pair)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, protocol: str = "tcp",
                 serial: str | None = None, baudrate: int = 19200, registers: int = 1000,
                 bits: int = 2048, live: bool = True, holes: Iterable[tuple[str, int]] = (),
                 allow: Sequence[str] | None = None):
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r} is unknown: use one of {', '.join(PROTOCOLS)}")
        if protocol == "rtu" and not serial:
            raise ValueError("protocol 'rtu' needs serial = the serial port to serve on")
        if not 8 <= registers <= 65536 or not 16 <= bits <= 65536:
            raise ValueError("registers must be 8..65536 and bits 16..65536")
        self.host, self.port, self.protocol, self.serial, self.baudrate = host, port, protocol, serial, baudrate
        self.registers, self.bits = registers, bits - bits % 16
        self.live = live
        self.allow = AllowList(allow)
        self.refusals = RefusalLog(log, f"modbus simulator on {host}:{port}", noun="connection(s)")
        #: seconds each request waits before it is answered (to make a client time out)
        self.delay_s = 0.0
        self.requests: collections.Counter[int] = collections.Counter()  # function code -> requests
        self.exceptions = 0  # exception responses sent
        self._holes: dict[Table, set[int]] = {Table.HOLDING: set(), Table.INPUT: set()}
        for table, address in holes:
            self.add_hole(table, address)
        self._t0 = time.monotonic()
        self._device = self._make_device()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None

    # -- the device -----------------------------------------------------------------

    def _make_device(self) -> SimDevice:
        def bits_block():
            return [SimData(0, count=self.bits, values=False, datatype=DataType.BITS)]

        def registers_block():
            return [SimData(0, count=self.registers, values=0, datatype=DataType.REGISTERS)]

        # (coils, discrete inputs, holding registers, input registers), each its own memory
        return SimDevice(0, simdata=(bits_block(), bits_block(), registers_block(), registers_block()),
                         action=self._action)

    async def _action(self, function_code, start_address, address, count, registers, set_values):
        """Called by pymodbus on every access: refuse holes, then refresh the live values."""
        table = FUNCTION_TABLES.get(function_code)
        if table is None:
            return None
        if self.delay_s and set_values is None:
            await asyncio.sleep(self.delay_s)
        holes = self._holes.get(table)
        if holes and any(address <= h < address + count for h in holes):
            return ExcCodes.ILLEGAL_ADDRESS
        if self.live:
            self._refresh(table, registers)
        return None

    def _refresh(self, table: Table, registers: list[int]) -> None:
        t, elapsed = time.time(), time.monotonic() - self._t0
        sine = 10.0 * math.sin(2 * math.pi * t / 10.0)
        if table is Table.HOLDING:
            registers[0:2] = _words("f", sine)
            registers[2] = _words("h", int(round(sine * 100)))[0]
            registers[3] = int(elapsed) & 0xFFFF
            registers[4:6] = _words("I", int(elapsed * 1000) & 0xFFFFFFFF)
        elif table is Table.INPUT:
            registers[0:2] = _words("f", 20.0 + 5.0 * math.sin(2 * math.pi * t / 60.0))
            registers[2] = sum(self.requests[c] for c in READ_CODES) & 0xFFFF
        elif table is Table.COIL:
            registers[0] = (registers[0] & ~0b11) | (int(elapsed) % 2) | ((int(elapsed / 5) % 2) << 1)
        elif table is Table.DISCRETE:
            registers[0] = (registers[0] & ~0b1) | (int(elapsed / 2) % 2)

    def _trace(self, sending: bool, pdu):
        if sending:
            if pdu.isError():
                self.exceptions += 1
        else:
            self.requests[pdu.function_code] += 1
        return pdu

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> Simulator:
        """Serve in a background thread; raise OSError at once if the port (or serial port) is unusable.

        After ``stop`` the same object may be started again: it binds the same port, with
        fresh memory (like a device that was power-cycled)."""
        if self._thread is not None:
            return self
        started: dict = {}
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(started))
            except BaseException as exc:  # reported to start()
                started["error"] = exc
            ready.set()
            if "error" not in started:
                loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="lab-modbus-simulator", daemon=True)
        self._thread.start()
        ready.wait()
        if "error" in started:
            self._thread.join()
            self._thread = self._loop = None
            error = started["error"]
            where = self.serial if self.protocol == "rtu" else f"{self.host}:{self.port}"
            raise OSError(f"modbus simulator cannot serve on {where}: {error}") from error
        log.info("modbus simulator serving on %s", self.where)
        return self

    async def _serve(self, started: dict) -> None:
        if self.protocol == "rtu":
            server = ModbusSerialServer(self._device, framer=FramerType.RTU, port=self.serial,
                                        baudrate=self.baudrate, trace_pdu=self._trace)
        else:
            framer = FramerType.RTU if self.protocol == "rtu-over-tcp" else FramerType.SOCKET
            server = _GuardedTcpServer(self._device, framer=framer, address=(self.host, self.port),
                                       trace_pdu=self._trace)
            server.allow, server.refusals = self.allow, self.refusals
        await server.serve_forever(background=True)  # RuntimeError if it cannot listen
        if self.protocol != "rtu":
            self.port = server.transport.sockets[0].getsockname()[1]
            self.refusals.what = f"modbus simulator on {self.host}:{self.port}"
        self._server = server

    def stop(self) -> None:
        """Stop serving and close every connection (a client sees the device vanish); the port is free after."""
        if self._thread is None:
            return
        loop, server = self._loop, self._server

        async def shutdown() -> None:
            await server.shutdown()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:  # e.g. answers still waiting out delay_s
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        except Exception:
            log.exception("modbus simulator did not shut down cleanly")
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(5)
        self._thread = self._loop = self._server = None
        log.info("modbus simulator on %s stopped", self.where)

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def where(self) -> str:
        return self.serial if self.protocol == "rtu" else f"{self.host}:{self.port}"

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- data, from any thread ----------------------------------------------------------

    def _call(self, method: str, *args):
        """Run the server datastore's ``method(*args)`` on the server's loop; return its result."""
        loop, server = self._loop, self._server
        if loop is None or server is None:
            raise RuntimeError("the simulator is not running: start() it first")
        return asyncio.run_coroutine_threadsafe(getattr(server.context, method)(*args), loop).result(5)

    def set_raw(self, table: str | Table, start: int, values: Sequence[int] | Sequence[bool]) -> None:
        """Store raw registers (or bits) from ``start`` in ``table`` (co, di, ir or hr)."""
        table = _table(table)
        values = [bool(v) for v in values] if table.is_bits else [int(v) & 0xFFFF for v in values]
        result = self._call("async_setValues", 0, _access_code(table), start, values)
        if result:
            raise ValueError(f"cannot set {table.value}:{start}+{len(values)}: {ExcCodes(result).name}")

    def get_raw(self, table: str | Table, start: int, count: int) -> list[int] | list[bool]:
        """The raw registers (or bits) the device holds, without counting as a request."""
        table = _table(table)
        result = self._call("async_getValues", 0, _access_code(table), start, count)
        if not isinstance(result, list):
            raise ValueError(f"cannot get {table.value}:{start}+{count}: {ExcCodes(result).name}")
        return result

    def set(self, address: str, value) -> None:
        """Store ``value`` where the reader address ``address`` will read it (any type or byte order)."""
        parsed = parse_address(address)
        if parsed.kind == "bit":
            (word,) = self.get_raw(parsed.table, parsed.start, 1)
            word = word | (1 << parsed.bit) if value else word & ~(1 << parsed.bit)
            self.set_raw(parsed.table, parsed.start, [word])
            return
        self.set_raw(parsed.table, parsed.start, parsed.encode(value))

    def add_hole(self, table: str | Table, address: int) -> None:
        """Make ``address`` of a register table answer "illegal data address" (as do reads spanning it)."""
        table = _table(table)
        if table.is_bits:
            raise ValueError("holes are supported in register tables (hr, ir) only")
        self._holes[table].add(address)

    def remove_hole(self, table: str | Table, address: int) -> None:
        self._holes[_table(table)].discard(address)

    def request_count(self, *function_codes: int) -> int:
        """Requests received so far with these function codes (default: the four reads)."""
        return sum(self.requests[c] for c in (function_codes or READ_CODES))

    def reset_counts(self) -> None:
        self.requests.clear()
        self.exceptions = 0


def _table(table: str | Table) -> Table:
    if isinstance(table, Table):
        return table
    try:
        return Table(str(table).lower())
    except ValueError:
        raise ValueError(f"table {table!r} is unknown: use co, di, ir or hr") from None


def _access_code(table: Table) -> int:
    """The function code pymodbus's datastore maps to ``table`` (4 and 2 may write through the API)."""
    return table.function_code


def _words(fmt: str, value) -> list[int]:
    data = struct.pack(">" + fmt, value)
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


class _GuardedConnection(ServerRequestHandler):
    """One client connection; one from outside the server's ``allow`` is closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        host = peer[0] if peer else ""
        if not self.server.allow.allows(host):
            self.server.refusals.refused(host, f"not in allow ({self.server.allow})")
            self.close()  # also drops it from the server's active connections


class _GuardedTcpServer(ModbusTcpServer):
    allow = AllowList(None)
    refusals: RefusalLog

    def callback_new_connection(self) -> _GuardedConnection:
        return _GuardedConnection(self, self.trace_packet, self.trace_pdu, self.trace_connect)
