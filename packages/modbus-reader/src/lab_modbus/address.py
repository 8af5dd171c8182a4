"""The Modbus address grammar: what a variable's ``address`` string means.

Pure code (no I/O, no pymodbus), so it is cheap to import and easy to test::

    ADDRESS  := [UNIT "@"] [TABLE ":"] NUMBER [":" TYPE] [":" ORDER] ["*" SCALE] [("+"|"-") OFFSET]

    UNIT     unit id (0-247) of this value, for several devices behind one
             connection (an RS-485 line, a gateway); default: the reader's ``unit``

    TABLE    co | coil | coils         coils (read with function 1)
             di | discrete             discrete inputs (function 2)
             ir | input                input registers (function 4)
             hr | holding              holding registers (function 3)
    NUMBER   0-based offset: 0 … 65535, decimal or 0x-hex (``hr:100``, ``hr:0x64``);
             or 1-based Modicon notation, 5 or 6 digits whose first digit names
             the table: 0xxxx coils, 1xxxx discrete inputs, 3xxxx input registers,
             4xxxx holding registers (``40001`` = ``hr:0``, ``300010`` = ``ir:9``).
             With a table prefix a 5/6-digit number that starts with that table's
             digit is Modicon too (``hr:40001`` = ``hr:0``); a hex number is always
             a 0-based offset (``hr:0x9C41`` is register 40001 itself).
    TYPE     bool (default for coils and discrete inputs)
             bitN       bit N (0 = least significant) of a register: ``hr:7:bit3``
             int16 uint16 (default for registers) int32 uint32 int64 uint64
             float16 float32 float64
             stringN    N registers of text (2·N bytes, NULs and trailing spaces stripped)
    ORDER    byte order of the value's bytes, A the most significant (default ABCD):
             ABCD big-endian, DCBA little-endian, BADC bytes swapped within each
             register, CDAB registers swapped (low word first). For 16-bit types
             only the byte swap matters (ABCD = CDAB, DCBA = BADC); for 64-bit
             types the same rule applies to all four registers; for strings only
             the byte swap is used.
    SCALE    value = raw · SCALE + OFFSET (``hr:3:int16*0.1-40``); makes a float.

Examples: ``hr:40001:float32:cdab*0.1+3``, ``ir:0:int32``, ``co:12``, ``00013``,
``hr:100:string8``, ``hr:7:bit15``, ``hr:10:uint64:dcba``, ``3@ir:4:float32``.
"""

from __future__ import annotations

import enum
import math
import re
import struct
from collections.abc import Sequence

import attrs

MAX_ADDRESS = 65535


class Table(str, enum.Enum):
    COIL = "co"
    DISCRETE = "di"
    INPUT = "ir"
    HOLDING = "hr"

    @property
    def is_bits(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE)

    @property
    def modicon_digit(self) -> str:
        return MODICON_DIGITS[self]

    @property
    def function_code(self) -> int:
        return {Table.COIL: 1, Table.DISCRETE: 2, Table.HOLDING: 3, Table.INPUT: 4}[self]


TABLE_NAMES = {
    "co": Table.COIL, "coil": Table.COIL, "coils": Table.COIL,
    "di": Table.DISCRETE, "discrete": Table.DISCRETE,
    "ir": Table.INPUT, "input": Table.INPUT,
    "hr": Table.HOLDING, "holding": Table.HOLDING,
}
MODICON_DIGITS = {Table.COIL: "0", Table.DISCRETE: "1", Table.INPUT: "3", Table.HOLDING: "4"}
MODICON_TABLES = {digit: table for table, digit in MODICON_DIGITS.items()}

#: type name -> (struct format of its big-endian bytes, number of registers)
NUMERIC = {
    "int16": ("h", 1), "uint16": ("H", 1),
    "int32": ("i", 2), "uint32": ("I", 2),
    "int64": ("q", 4), "uint64": ("Q", 4),
    "float16": ("e", 1), "float32": ("f", 2), "float64": ("d", 4),
}
ORDERS = ("ABCD", "DCBA", "BADC", "CDAB")
MAX_STRING_REGISTERS = 125

_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?"
_GRAMMAR = re.compile(
    rf"""^(?:(?P<unit>[0-9]+)@)?
          (?:(?P<table>[A-Za-z]+):)?
          (?P<number>0[xX][0-9A-Fa-f]+|[0-9]+)
          (?::(?P<type>[A-Za-z][A-Za-z0-9.]*))?
          (?::(?P<order>[A-Za-z]{{4}}))?
          (?:\*(?P<scale>[+-]?{_NUMBER}))?
          (?P<offset>[+-]{_NUMBER})?$""",
    re.VERBOSE,
)

GRAMMAR_HELP = ("expected [UNIT@][TABLE:]NUMBER[:TYPE][:ORDER][*SCALE][+OFFSET], e.g. 'hr:40001:float32:cdab*0.1+3'; "
                "TABLE is co, di, ir or hr")


@attrs.frozen
class Address:
    """A parsed address: ``count`` registers (or bits) from ``start`` in ``table``, decoded as ``kind``."""

    table: Table
    start: int  # 0-based
    kind: str  # bool, bit, string, or a NUMERIC name
    count: int = 1  # registers (or bits) this value occupies
    bit: int | None = None
    order: str = "ABCD"
    scale: float | None = None
    offset: float | None = None
    unit: int | None = None  # None: the reader's unit

    @property
    def end(self) -> int:
        """One past the last register (or bit) of the value."""
        return self.start + self.count

    @property
    def python_type(self) -> type:
        if self.scale is not None or self.offset is not None:
            return float
        if self.kind in ("bool", "bit"):
            return bool
        if self.kind == "string":
            return str
        return float if self.kind.startswith("float") else int

    def __str__(self) -> str:
        kind = {"bit": f"bit{self.bit}", "string": f"string{self.count}"}.get(self.kind, self.kind)
        number = str(self.start)
        if len(number) in (5, 6) and number[0] == self.table.modicon_digit:
            number = hex(self.start)  # would read as Modicon notation
        text = f"{self.table.value}:{number}:{kind}"
        if self.unit is not None:
            text = f"{self.unit}@{text}"
        if self.order != "ABCD":
            text += f":{self.order.lower()}"
        if self.scale is not None:
            text += f"*{self.scale:g}"
        if self.offset is not None:
            text += f"{self.offset:+g}"
        return text

    # -- decoding ---------------------------------------------------------------

    def decode(self, words: Sequence[int] | Sequence[bool]):
        """The value of this address from its ``count`` raw registers (or bits)."""
        if len(words) != self.count:
            raise ValueError(f"{self}: expected {self.count} value(s), got {len(words)}")
        if self.table.is_bits:
            return bool(words[0])
        if self.kind == "bit":
            return bool((int(words[0]) >> self.bit) & 1)
        data = _to_bytes(words, self.order, swap_words=self.kind != "string")
        if self.kind == "string":
            return data.split(b"\0", 1)[0].decode("utf-8", errors="replace").rstrip()
        value = struct.unpack(">" + NUMERIC[self.kind][0], data)[0]
        if self.scale is not None:
            value = value * self.scale
        if self.offset is not None:
            value = value + self.offset
        return value

    def encode(self, value) -> list[int] | list[bool]:
        """The raw registers (or bits) that ``decode`` turns into ``value`` (scale and offset undone)."""
        if self.table.is_bits:
            return [bool(value)]
        if self.kind == "bit":
            raise ValueError(f"{self}: a single bit cannot be encoded without the rest of its register")
        if self.kind == "string":
            data = str(value).encode("utf-8")
            if len(data) > 2 * self.count:
                raise ValueError(f"{self}: {value!r} does not fit in {self.count} registers")
            data = data.ljust(2 * self.count, b"\0")
        else:
            if self.offset is not None:
                value = value - self.offset
            if self.scale is not None:
                value = value / self.scale
            fmt = NUMERIC[self.kind][0]
            if fmt not in "efd":
                value = int(round(value))
            data = struct.pack(">" + fmt, value)
        return _from_bytes(data, self.order, swap_words=self.kind != "string")


def _to_bytes(words: Sequence[int], order: str, swap_words: bool) -> bytes:
    words = [int(w) & 0xFFFF for w in words]
    if swap_words and order in ("DCBA", "CDAB"):
        words.reverse()
    byteorder = "little" if order in ("DCBA", "BADC") else "big"
    return b"".join(w.to_bytes(2, byteorder) for w in words)


def _from_bytes(data: bytes, order: str, swap_words: bool) -> list[int]:
    byteorder = "little" if order in ("DCBA", "BADC") else "big"
    words = [int.from_bytes(data[i:i + 2], byteorder) for i in range(0, len(data), 2)]
    if swap_words and order in ("DCBA", "CDAB"):
        words.reverse()
    return words


def _number(text: str) -> int:
    return int(text, 16) if text[:2].lower() == "0x" else int(text)


def _table_and_start(table_name: str | None, number: str) -> tuple[Table, int]:
    is_hex = number[:2].lower() == "0x"
    modicon = not is_hex and len(number) in (5, 6) and number[0] in MODICON_TABLES
    if table_name is None:
        if not modicon:
            raise ValueError(f"no table: write it (hr:{number}, ir:…, co:…, di:…) or use the 1-based "
                             f"Modicon notation (40001 = first holding register); {GRAMMAR_HELP}")
        table = MODICON_TABLES[number[0]]
    else:
        table = TABLE_NAMES.get(table_name.lower())
        if table is None:
            raise ValueError(f"unknown table {table_name!r}: use co (coils), di (discrete inputs), "
                             f"ir (input registers) or hr (holding registers)")
        modicon = modicon and number[0] == table.modicon_digit
    if not modicon:
        start = _number(number)
    else:
        start = int(number[1:]) - 1
        if start < 0:
            raise ValueError(f"Modicon address {number} is 1-based: the first {table.name.lower()} "
                             f"is {table.modicon_digit}0001")
    if start > MAX_ADDRESS:
        raise ValueError(f"offset {start} is beyond the last Modbus address {MAX_ADDRESS}")
    return table, start


def parse_address(text: str) -> Address:
    """Parse ``text``; raise ``ValueError`` saying what is wrong and what would be right."""
    if not isinstance(text, str):
        raise ValueError(f"address must be a string, got {text!r}")
    match = _GRAMMAR.match(text.strip().replace(" ", ""))
    if not match:
        raise ValueError(f"cannot parse address {text!r}: {GRAMMAR_HELP}")
    table, start = _table_and_start(match["table"], match["number"])
    kind_text, order_text = match["type"], match["order"]
    if kind_text and order_text is None and kind_text.upper() in ORDERS:
        kind_text, order_text = None, kind_text
    kind, count, bit = _kind(table, (kind_text or ("bool" if table.is_bits else "uint16")).lower())
    order = (order_text or "ABCD").upper()
    if order not in ORDERS:
        raise ValueError(f"unknown byte order {order_text!r}: use one of {', '.join(ORDERS)}")
    if order != "ABCD" and kind in ("bool", "bit"):
        raise ValueError(f"a byte order makes no sense for a {kind_text or kind}")
    scale = float(match["scale"]) if match["scale"] else None
    offset = float(match["offset"]) if match["offset"] else None
    for name, value in (("scale", scale), ("offset", offset)):
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number")
    if (scale is not None or offset is not None) and kind not in NUMERIC:
        raise ValueError(f"scale and offset apply to numbers, not to a {kind}")
    if start + count - 1 > MAX_ADDRESS:
        raise ValueError(f"{kind} at {start} needs {count} registers and runs past address {MAX_ADDRESS}")
    unit = int(match["unit"]) if match["unit"] else None
    if unit is not None and unit > 247:
        raise ValueError(f"unit id {unit} is out of range: Modbus unit ids are 0 to 247")
    return Address(table, start, kind, count, bit, order, scale, offset, unit)


def _kind(table: Table, kind: str) -> tuple[str, int, int | None]:
    if table.is_bits:
        if kind != "bool":
            raise ValueError(f"{'coils' if table is Table.COIL else 'discrete inputs'} are bits: "
                             f"type must be bool, not {kind!r}")
        return "bool", 1, None
    if kind in NUMERIC:
        return kind, NUMERIC[kind][1], None
    if kind == "bool":
        raise ValueError("a register is not a bool: use bitN (bit N of the register, 0 = least significant)")
    bit = re.fullmatch(r"bit\.?([0-9]+)", kind)
    if bit:
        n = int(bit[1])
        if n > 15:
            raise ValueError(f"bit {n} does not exist: a register has bits 0 to 15")
        return "bit", 1, n
    string = re.fullmatch(r"(?:string|str)\.?([0-9]+)", kind)
    if string:
        n = int(string[1])
        if not 1 <= n <= MAX_STRING_REGISTERS:
            raise ValueError(f"a string spans 1 to {MAX_STRING_REGISTERS} registers, not {n}")
        return "string", n, None
    raise ValueError(f"unknown type {kind!r}: use {', '.join(NUMERIC)}, bitN or stringN")
