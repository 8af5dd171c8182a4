"""The address grammar (pure: no device needed)."""

from __future__ import annotations

import math
import random

import pytest

from lab_modbus.address import NUMERIC, ORDERS, Table, parse_address


@pytest.mark.parametrize("text, table, start, kind, count", [
    ("hr:0", Table.HOLDING, 0, "uint16", 1),
    ("hr:100:float32", Table.HOLDING, 100, "float32", 2),
    ("holding:7:int64", Table.HOLDING, 7, "int64", 4),
    ("ir:0x10:int32", Table.INPUT, 16, "int32", 2),
    ("input:3", Table.INPUT, 3, "uint16", 1),
    ("co:12", Table.COIL, 12, "bool", 1),
    ("coil:0:bool", Table.COIL, 0, "bool", 1),
    ("di:5", Table.DISCRETE, 5, "bool", 1),
    ("discrete:5", Table.DISCRETE, 5, "bool", 1),
    ("40001", Table.HOLDING, 0, "uint16", 1),
    ("40010:float32", Table.HOLDING, 9, "float32", 2),
    ("400001", Table.HOLDING, 0, "uint16", 1),
    ("465536", Table.HOLDING, 65535, "uint16", 1),
    ("30001", Table.INPUT, 0, "uint16", 1),
    ("300010", Table.INPUT, 9, "uint16", 1),
    ("00001", Table.COIL, 0, "bool", 1),
    ("00013", Table.COIL, 12, "bool", 1),
    ("10001", Table.DISCRETE, 0, "bool", 1),
    ("hr:40001", Table.HOLDING, 0, "uint16", 1),  # Modicon with the table written too
    ("di:10005", Table.DISCRETE, 4, "bool", 1),
    ("hr:30001", Table.HOLDING, 30001, "uint16", 1),  # not hr's digit: a plain offset
    ("hr:0x9C41", Table.HOLDING, 40001, "uint16", 1),  # hex is always an offset
    ("hr:65535", Table.HOLDING, 65535, "uint16", 1),
    ("hr:7:bit3", Table.HOLDING, 7, "bit", 1),
    ("hr:7:bit.15", Table.HOLDING, 7, "bit", 1),
    ("hr:100:string8", Table.HOLDING, 100, "string", 8),
    ("HR:1:FLOAT32:CDAB", Table.HOLDING, 1, "float32", 2),
    (" hr : 1 : uint32 ", Table.HOLDING, 1, "uint32", 2),
])
def test_parses(text, table, start, kind, count):
    address = parse_address(text)
    assert (address.table, address.start, address.kind, address.count) == (table, start, kind, count)


def test_the_issue_example():
    address = parse_address("hr:40001:float32:cdab*0.1+3")
    assert (address.table, address.start, address.kind, address.order) == (Table.HOLDING, 0, "float32", "CDAB")
    assert (address.scale, address.offset) == (0.1, 3.0)
    assert address.python_type is float


@pytest.mark.parametrize("text, scale, offset", [
    ("hr:1*0.1", 0.1, None), ("hr:1+5", None, 5.0), ("hr:1-40", None, -40.0), ("hr:1:int16*2-0.5", 2.0, -0.5),
    ("hr:1*1e-3+2", 0.001, 2.0), ("hr:1*-1", -1.0, None), ("hr:1:float32:dcba*10", 10.0, None),
])
def test_scale_and_offset(text, scale, offset):
    address = parse_address(text)
    assert (address.scale, address.offset) == (scale, offset)


def test_order_without_type_and_unit_prefix():
    assert parse_address("hr:0:cdab").order == "CDAB"
    assert parse_address("hr:0:cdab").kind == "uint16"
    address = parse_address("3@ir:4:float32")
    assert (address.unit, address.table, address.start) == (3, Table.INPUT, 4)
    assert parse_address("hr:4").unit is None


@pytest.mark.parametrize("text, message", [
    ("", "cannot parse"),
    ("hr", "cannot parse"),
    ("hr:", "cannot parse"),
    ("12", "no table"),
    ("xx:1", "unknown table 'xx'"),
    ("hr:1:float", "unknown type 'float'"),
    ("hr:1:bool", "bitN"),
    ("co:1:int16", "type must be bool"),
    ("di:1:float32", "type must be bool"),
    ("co:1:cdab", "cannot parse|makes no sense"),
    ("hr:1:bit16", "bits 0 to 15"),
    ("hr:1:bit3:cdab", "makes no sense"),
    ("hr:1:string0", "1 to 125"),
    ("hr:1:string126", "1 to 125"),
    ("hr:1:float32:xyzw", "unknown byte order"),
    ("hr:65535:float32", "runs past"),
    ("hr:65536", "beyond the last"),
    ("hr:0x10000", "beyond the last"),
    ("40000", "1-based"),
    ("hr:1:string4*2", "scale and offset apply to numbers"),
    ("hr:1:bit2+1", "scale and offset apply to numbers"),
    ("248@hr:1", "unit id 248"),
    ("hr:1*", "cannot parse"),
    ("hr:1:float32*abc", "cannot parse"),
])
def test_bad_addresses_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_address(text)


def test_str_round_trips():
    for text in ("hr:40001:float32:cdab*0.1+3", "3@ir:5:int32:dcba", "co:4", "hr:7:bit3", "hr:0x9C41",
                 "hr:10:string3", "hr:1:uint16-2"):
        address = parse_address(text)
        assert parse_address(str(address)) == address


# -- decoding: every type, every order, against independently built register images ----

VALUES = {
    "int16": [-32768, -1, 0, 1, 12345, 32767],
    "uint16": [0, 1, 40000, 65535],
    "int32": [-(2**31), -1, 0, 123456789, 2**31 - 1],
    "uint32": [0, 1, 3_000_000_000, 2**32 - 1],
    "int64": [-(2**63), -1, 0, 1234567890123456789, 2**63 - 1],
    "uint64": [0, 2**64 - 1, 18_000_000_000_000_000_000],
    "float16": [0.0, 1.5, -2.25, 65504.0],
    "float32": [0.0, 1.5, -123.25, 2.0**127, 2.0**-149],
    "float64": [0.0, math.pi, -1e300, 2.5e-300],
}


def expected_registers(kind: str, value, order: str) -> list[int]:
    """The registers a device with byte order ``order`` sends for ``value`` (built byte by byte)."""
    import struct

    big = struct.pack(">" + NUMERIC[kind][0], value)  # A B C D … most significant first
    if order == "ABCD":
        data = big
    elif order == "DCBA":
        data = big[::-1]
    elif order == "BADC":
        data = b"".join(big[i:i + 2][::-1] for i in range(0, len(big), 2))
    else:  # CDAB: registers in reverse order, bytes in order within each
        data = b"".join(big[i:i + 2] for i in reversed(range(0, len(big), 2)))
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("kind", list(NUMERIC))
def test_every_type_and_order_decodes(kind, order):
    address = parse_address(f"hr:10:{kind}:{order}")
    for value in VALUES[kind]:
        words = expected_registers(kind, value, order)
        assert address.decode(words) == value
        assert address.encode(value) == words


def test_the_orders_by_example():
    # 0x11223344 as each byte order sends it
    assert parse_address("hr:0:uint32:abcd").decode([0x1122, 0x3344]) == 0x11223344
    assert parse_address("hr:0:uint32:cdab").decode([0x3344, 0x1122]) == 0x11223344
    assert parse_address("hr:0:uint32:badc").decode([0x2211, 0x4433]) == 0x11223344
    assert parse_address("hr:0:uint32:dcba").decode([0x4433, 0x2211]) == 0x11223344
    assert parse_address("hr:0:uint16:dcba").decode([0x3412]) == 0x1234
    assert parse_address("hr:0:uint16:cdab").decode([0x1234]) == 0x1234


def test_scale_offset_bits_strings():
    assert parse_address("hr:0:int16*0.1+3").decode([0xFFF6]) == pytest.approx(2.0)  # -10 * 0.1 + 3
    assert parse_address("hr:0:int16*0.1+3").encode(2.0) == [0xFFF6]
    word = 0b1000_0000_0000_1001
    assert [parse_address(f"hr:0:bit{n}").decode([word]) for n in (0, 1, 3, 15)] == [True, False, True, True]
    assert parse_address("co:0").decode([True]) is True
    text = parse_address("hr:0:string4")
    assert text.encode("hello") == [0x6865, 0x6C6C, 0x6F00, 0]
    assert text.decode([0x6865, 0x6C6C, 0x6F00, 0]) == "hello"
    assert text.decode([0x6162, 0x2020, 0x2020, 0x2020]) == "ab"  # trailing spaces stripped
    swapped = parse_address("hr:0:string2:badc")
    assert swapped.decode([0x6568, 0x6C6C]) == "hell"
    assert swapped.encode("hell") == [0x6568, 0x6C6C]


def test_random_round_trips():
    rng = random.Random(7)
    for _ in range(300):
        kind, order = rng.choice(list(NUMERIC)), rng.choice(ORDERS)
        address = parse_address(f"ir:0:{kind}:{order}")
        value = rng.choice(VALUES[kind])
        assert address.decode(address.encode(value)) == value
