"""The ``serial-line`` reader: gauges and controllers that speak a small line protocol (pyserial).

An exchange, per query, from templates in the configuration::

    request  "{query}\\r\\n"      sent first ({query} = the address's query, e.g. PR1)
    ack      "\\u0006\\r\\n"       expected back (optional; nak = the refusal, e.g. "\\u0015\\r\\n")
    enquiry  "\\u0005"            sent after the acknowledge (optional)
    reply    "{value}\\r\\n"      the answer: text before {value} must be there, the text after ends it

Pfeiffer TPG: ``PR1\\r\\n`` -> ``\\x06\\r\\n`` -> ``\\x05`` -> ``0,1.0E-05\\r\\n`` (address
``PR1|status=0:0|field=1``). A plain ``request -> line`` device needs only request and reply.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Annotated

import serial

from lab_core import Reader, Sample, Variable
from lab_core.options import Example

from .address import Address, ParsedAddresses, ReplyError

log = logging.getLogger(__name__)

MAX_REPLY = 4096  # bytes a reply may have before it is cut off as garbage
try:  # a pty or USB adapter that vanished raises termios.error (not an OSError) on POSIX
    from termios import error as _TermiosError

    PORT_ERRORS: tuple[type[Exception], ...] = (serial.SerialException, OSError, _TermiosError)
except ImportError:  # Windows
    PORT_ERRORS = (serial.SerialException, OSError)


class Down(Exception):
    """The port cannot be used now; every query not yet asked gets an error sample."""


class NoAnswer(Exception):
    """The device did not answer in time; the rest of the scan is skipped (one timeout per scan)."""


class SerialLineReader(ParsedAddresses, Reader):
    """Reads one device on a serial line (or a pyserial URL such as ``socket://host:port``)."""

    example_address = "PR1|field=1"

    def __init__(self,
                 port: Annotated[str, "serial port or pyserial URL: /dev/ttyUSB0, COM3, socket://HOST:PORT, "
                                      "rfc2217://HOST:PORT", Example("/dev/ttyUSB0")],
                 *,
                 baudrate: Annotated[int, "bits per second"] = 9600,
                 bytesize: Annotated[int, "data bits, 5-8"] = 8,
                 parity: Annotated[str, "N, E, O, M or S"] = "N",
                 stopbits: Annotated[float, "1, 1.5 or 2"] = 1,
                 timeout_s: Annotated[float, "seconds to wait for each answer"] = 1.0,
                 request: Annotated[str, "what is sent; {query} is the address's query"] = "{query}\r\n",
                 ack: Annotated[str, "acknowledge expected after the request (\"\" = none), e.g. "
                                     "\"\\u0006\\r\\n\""] = "",
                 nak: Annotated[str, "negative acknowledge: the device refused the request"] = "\u0015\r\n",
                 enquiry: Annotated[str, "sent after the acknowledge to get the answer, e.g. \"\\u0005\""] = "",
                 reply: Annotated[str, "the answer: {value} where the value is, ended by the text after it"]
                 = "{value}\r\n",
                 encoding: Annotated[str, "text encoding on the line"] = "ascii",
                 min_interval_ms: Annotated[float, "shortest interval the collector may read at"] = 0.0):
        if not isinstance(port, str) or not port.strip():
            raise ValueError('port: give the serial port, e.g. port = "/dev/ttyUSB0"')
        if str(parity).upper() not in serial.PARITY_NAMES:
            raise ValueError(f"parity must be one of N, E, O, M, S, got {parity!r}")
        if bytesize not in serial.SerialBase.BYTESIZES:
            raise ValueError(f"bytesize must be 5, 6, 7 or 8, got {bytesize!r}")
        if stopbits not in serial.SerialBase.STOPBITS:
            raise ValueError(f"stopbits must be 1, 1.5 or 2, got {stopbits!r}")
        if isinstance(baudrate, bool) or not isinstance(baudrate, int) or baudrate <= 0:
            raise ValueError(f"baudrate must be a whole number > 0, got {baudrate!r}")
        for name, value in (("timeout_s", timeout_s), ("min_interval_ms", min_interval_ms)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s!r}")
        if "{query}" not in request:
            raise ValueError(f'request = {request!r} has no {{query}}: write e.g. request = "{{query}}\\r\\n"')
        before, marker, after = reply.partition("{value}")
        if not marker or not after:
            raise ValueError(f'reply = {reply!r}: put {{value}} where the value is, followed by what ends the '
                             'answer, e.g. reply = "{value}\\r\\n"')
        try:
            "".encode(encoding)
        except LookupError:
            raise ValueError(f"encoding {encoding!r} is unknown; use e.g. \"ascii\" or \"latin-1\"") from None
        self.port = port.strip()
        self.settings = {"baudrate": baudrate, "bytesize": bytesize, "parity": str(parity).upper(),
                         "stopbits": stopbits}
        self.timeout_s = float(timeout_s)
        self.request, self.encoding = request, encoding
        self.ack, self.nak, self.enquiry = ack.encode(encoding), nak.encode(encoding), enquiry.encode(encoding)
        self.reply_start, self.reply_end = before, after.encode(encoding)
        self.min_interval_ms = float(min_interval_ms)
        self.exchanges = 0
        self._addresses: dict[str, Address] = {}
        self._serial: serial.SerialBase | None = None
        self._down_since: float | None = None

    def __repr__(self) -> str:
        return f"<SerialLineReader {self.port}>"


    # -- life cycle -----------------------------------------------------------------

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except Exception:  # closing must not fail
                log.debug("closing %s failed", self.port, exc_info=True)

    def _connect(self) -> None:
        if self._serial is not None:
            return
        try:
            self._serial = serial.serial_for_url(self.port, timeout=self.timeout_s, write_timeout=self.timeout_s,
                                                 **self.settings)
        except (serial.SerialException, OSError, ValueError) as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("serial-line %s cannot be opened: %s (error samples until it can)", self.port, exc)
            raise Down(f"cannot open {self.port}: {exc}") from None
        if self._down_since is not None:
            log.info("serial-line %s is back after %.1f s", self.port, time.monotonic() - self._down_since)
        self._down_since = None

    # -- reading --------------------------------------------------------------------------

    def read(self, variables: Sequence[Variable]) -> list[Sample]:
        at = time.time()
        addresses: dict[int, Address] = {}
        errors: dict[str, str] = {}
        got: dict[str, str] = {}
        bad: dict[int, str] = {}
        for i, variable in enumerate(variables):
            try:
                addresses[i] = self.address(variable.address)
            except ValueError as exc:
                bad[i] = f"bad address {variable.address!r}: {exc}"
        queries = list(dict.fromkeys(a.query for a in addresses.values()))
        try:
            self._connect()
            for query in queries:
                try:
                    got[query] = self._exchange(query)
                except ReplyError as exc:
                    errors[query] = f"{query}: {exc}"
        except (Down, NoAnswer) as exc:
            for query in queries:
                if query not in got:
                    errors.setdefault(query, str(exc))
        samples = []
        for i, variable in enumerate(variables):
            address = addresses.get(i)
            if address is None:
                samples.append(Sample.failed(variable.codename, bad[i], at))
            elif address.query in errors:
                samples.append(Sample.failed(variable.codename, errors[address.query], at))
            else:
                try:
                    samples.append(Sample(variable.codename, at, address.value(got[address.query],
                                                                               variable.value_type)))
                except ReplyError as exc:
                    samples.append(Sample.failed(variable.codename, f"{address.query}: {exc}", at))
        return samples

    def _exchange(self, query: str) -> str:
        """One request (-> acknowledge -> enquiry) -> reply exchange; the value's text."""
        port = self._serial
        self.exchanges += 1
        try:
            port.reset_input_buffer()  # a late answer to an earlier request must not be taken for this one
            port.write(self.request.replace("{query}", query).encode(self.encoding))
            if self.ack:
                answer = port.read(len(self.ack))
                if answer != self.ack:
                    self._refused(query, answer)
                if self.enquiry:
                    port.write(self.enquiry)
            elif self.enquiry:
                port.write(self.enquiry)
            line = port.read_until(self.reply_end, MAX_REPLY)
        except PORT_ERRORS as exc:
            self.close()
            raise Down(f"lost {self.port}: {exc}") from None
        if not line.endswith(self.reply_end):
            if not line:
                raise NoAnswer(f"no answer from {self.port} to {query!r} within {self.timeout_s:g} s")
            raise ReplyError(f"reply {line!r} did not end with {self.reply_end!r} within {self.timeout_s:g} s")
        text = line[:-len(self.reply_end)].decode(self.encoding, "replace")
        start = self.reply_start.replace("{query}", query)
        if not text.startswith(start):
            raise ReplyError(f"reply {text!r} does not start with {start!r} (reply template)")
        return text[len(start):]

    def _refused(self, query: str, answer: bytes) -> None:
        if not answer:
            raise NoAnswer(f"no acknowledge from {self.port} to {query!r} within {self.timeout_s:g} s")
        if self.nak and answer.startswith(self.nak[:1]):
            raise ReplyError(f"the device refused {query!r} (negative acknowledge {answer!r})")
        raise ReplyError(f"expected the acknowledge {self.ack!r} after {query!r}, got {answer!r}")
