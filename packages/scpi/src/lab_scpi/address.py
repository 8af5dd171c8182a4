"""A variable's address: the query to send and how to turn its reply into a value.

::

    QUERY[|OPTION]...

    MEAS:VOLT:DC?                         the reply as the variable's type
    MEAS:CURR?|scale=1e3                  amperes read, milliamperes stored
    SENS:DATA?|field=2|float              the third value of a comma list
    PR1|status=0:0|field=1                TPG: field 0 must be 0 (measurement ok), field 1 is the pressure
    *IDN?|re=,(\\w+),|str                 a regex group (``re=`` comes last: the rest is the pattern)

Options are applied in this order: ``status``, ``field`` (with ``sep``), ``re``
(with ``group``), the type (``float``/``int``/``bool``/``str``), then
``scale`` and ``offset``. Pure code, no I/O: both readers and the simulator use it.
"""

from __future__ import annotations

import math
import re

import attrs

TYPES = ("float", "int", "bool", "str")
TRUE_WORDS = {"1", "ON", "TRUE", "YES"}
FALSE_WORDS = {"0", "OFF", "FALSE", "NO"}
#: SCPI's "infinity" (an overload) and "not a number" (IEEE 488.2 / SCPI 1999 vol. 1, 7.2.1.5).
SCPI_OVERLOAD, SCPI_NAN = 9.9e37, 9.91e37
OPTION_NAMES = ("float", "int", "bool", "str", "field", "sep", "re", "group", "scale", "offset", "status")


class ReplyError(ValueError):
    """A reply that cannot be turned into this address's value (the message says why)."""


@attrs.frozen
class Status:
    """``status=N:OK1/OK2``: field N of the reply must be one of the OK values."""

    field: int
    ok: tuple[str, ...]


@attrs.frozen
class Address:
    query: str
    type: str | None = None  # None: the variable's own type
    field: int | None = None
    sep: str = ","
    pattern: re.Pattern | None = None
    group: int | str | None = None
    scale: float | None = None
    offset: float | None = None
    status: Status | None = None

    def value(self, reply: str, default_type: str = "float") -> float | int | bool | str:
        """The value ``reply`` (one query's answer, terminator removed) stands for; ReplyError if none."""
        text = reply.strip()
        if self.status is not None:
            got = _field(text, self.status.field, self.sep).strip()
            if got not in self.status.ok:
                raise ReplyError(f"status field {self.status.field} of reply {reply!r} is {got!r}, "
                                 f"not {' or '.join(map(repr, self.status.ok))}")
        if self.field is not None:
            text = _field(text, self.field, self.sep).strip()
        if self.pattern is not None:
            match = self.pattern.search(text)
            if match is None:
                raise ReplyError(f"reply {reply!r} does not match re={self.pattern.pattern}")
            group = self.group if self.group is not None else (1 if self.pattern.groups else 0)
            text = (match.group(group) or "").strip()
        value = convert(text, self.type or default_type, reply)
        if self.scale is not None or self.offset is not None:
            value = value * (1.0 if self.scale is None else self.scale) + (self.offset or 0.0)
        return value


def parse_address(text: str) -> Address:
    """``"MEAS:VOLT?|scale=1e3"`` -> an Address; ValueError saying what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"an address is text, got {text!r}")
    query, _, rest = text.partition("|")
    query = query.strip()
    if not query:
        raise ValueError("the query is empty: write e.g. 'MEAS:VOLT?' or 'MEAS:VOLT?|scale=1e3'")
    if any(c in query for c in ";\r\n"):
        raise ValueError(f"query {query!r} holds ';' or a line break: give each query its own variable "
                         "(the reader joins them)")
    options: dict = {}
    while rest:
        item, _, rest = rest.partition("|")
        key, eq, value = item.strip().partition("=")
        key = key.strip().lower()
        if key == "re" and eq:  # the pattern takes the rest of the address, '|' included
            value = item.partition("=")[2] + ("|" + rest if rest else "")
            rest = ""
        _option(options, key, eq, value.strip() if key != "re" else value)
    if options.get("group") is not None and options.get("pattern") is None:
        raise ValueError("group=… needs re=PATTERN (which comes last)")
    if options.get("pattern") is not None and options.get("group") is not None:
        group = options["group"]
        if isinstance(group, int) and group > options["pattern"].groups:
            raise ValueError(f"group={group}, but re={options['pattern'].pattern} has "
                             f"{options['pattern'].groups} group(s)")
    return Address(query, **options)


def _option(options: dict, key: str, eq: str, value: str) -> None:
    if key in TYPES:
        if eq:
            raise ValueError(f"option {key!r} takes no value: write '|{key}'")
        if "type" in options:
            raise ValueError(f"two types: {options['type']!r} and {key!r}; keep one")
        options["type"] = key
        return
    if key not in OPTION_NAMES:
        raise ValueError(f"option {key!r} is unknown; use {', '.join(OPTION_NAMES)}")
    if not eq or value == "":
        raise ValueError(f"option {key!r} needs a value, e.g. '|{key}={_EXAMPLES[key]}'")
    if key == "field":
        options["field"] = _int(key, value)
    elif key == "sep":
        options["sep"] = value
    elif key == "re":
        try:
            options["pattern"] = re.compile(value)
        except re.error as exc:
            raise ValueError(f"re={value}: not a regular expression ({exc})") from None
    elif key == "group":
        options["group"] = int(value) if value.isdigit() else value
    elif key in ("scale", "offset"):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{key}={value}: expected a number, e.g. {key}={_EXAMPLES[key]}") from None
        if not math.isfinite(number):
            raise ValueError(f"{key}={value}: expected a finite number")
        options[key] = number
    elif key == "status":
        where, colon, ok = value.partition(":")
        if not colon or not ok:
            raise ValueError(f"status={value}: expected FIELD:OK[/OK…], e.g. status=0:0")
        options["status"] = Status(_int(key, where), tuple(v.strip() for v in ok.split("/")))


_EXAMPLES = {"field": "1", "sep": ";", "re": "(\\d+)", "group": "1", "scale": "1e3", "offset": "-273.15",
             "status": "0:0"}


def _int(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{key}={value}: expected a whole number, e.g. {key}={_EXAMPLES[key]}") from None


def _field(text: str, index: int, sep: str) -> str:
    fields = text.split(sep)
    try:
        return fields[index]
    except IndexError:
        raise ReplyError(f"reply {text!r} has {len(fields)} field(s) separated by {sep!r}; "
                         f"field={index} asked (0 = the first)") from None


def convert(text: str, kind: str, reply: str) -> float | int | bool | str:
    """``text`` as a ``kind`` value (float, int, bool, str); ``reply`` is named in errors."""
    if kind == "str":
        return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
    if kind == "bool":
        word = text.upper()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        return bool(_number(text, reply))
    if kind == "int" and re.fullmatch(r"[+-]?\d+", text):
        return int(text)  # exact, also past 2**53
    number = _number(text, reply)
    if kind == "int":
        if number != int(number):
            raise ReplyError(f"reply {reply!r}: {text!r} is not a whole number (read it as |float)")
        return int(number)
    return number


def _number(text: str, reply: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ReplyError(f"reply {reply!r}: {text!r} is not a number") from None
    if abs(number) == SCPI_NAN or math.isnan(number):
        raise ReplyError(f"reply {reply!r}: the instrument reports 'not a number' ({text})")
    if abs(number) >= SCPI_OVERLOAD or math.isinf(number):
        raise ReplyError(f"reply {reply!r}: the instrument reports an overload ({text})")
    return number


class ParsedAddresses:
    """For readers of this package: each variable's address parsed once, and checked at load time.

    The reader's ``__init__`` sets ``self._addresses = {}``.
    """

    _addresses: dict[str, Address]

    def address(self, text: str) -> Address:
        address = self._addresses.get(text)
        if address is None:
            address = self._addresses[text] = parse_address(text)
        return address

    def check_address(self, variable) -> None:
        try:
            self.address(variable.address)
        except ValueError as exc:
            raise ValueError(f"variable {variable.codename!r}: address {variable.address!r}: {exc}") from None
