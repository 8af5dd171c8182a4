"""The ``scpi`` reader: one SCPI instrument (any VISA resource) per reader instance.

Each ``read`` asks every query due in that scan in one joined message and splits the
reply (see ``protocol``); a query the instrument refuses is found from the reply
itself and gets the instrument's error, the others keep their values. Nothing the
instrument does raises out of ``read``: a timeout, a vanished instrument or a refused
query become error samples, and the reader reopens the instrument by itself.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from typing import Annotated

import attrs
import pyvisa
from pyvisa import constants

from lab_core import Reader, Sample, Variable
from lab_core.options import Example

from .address import Address, ParsedAddresses, ReplyError
from .protocol import InstrumentError, error_entry, join, split

log = logging.getLogger(__name__)

MAX_DRAIN = 32  # error-queue entries read at most in one go (a queue that never empties)


class Down(Exception):
    """The instrument cannot be used now; every variable not yet read gets an error sample."""


class NoAnswer(Down):
    """The instrument did not answer within the timeout, or answered out of step; the connection is dropped."""


@attrs.define
class ScpiStats:
    """Counters of one reader, for benchmarks, tests and ``lab scpi query --stats``."""

    scans: int = 0  # read() calls
    round_trips: int = 0  # messages that waited for an answer
    writes: int = 0  # messages that did not (init commands)
    instrument_errors: int = 0  # error-queue entries read
    fallbacks: int = 0  # joined messages re-asked one query at a time
    timeouts: int = 0
    opens: int = 0
    open_failures: int = 0


class ScpiReader(ParsedAddresses, Reader):
    """Reads one SCPI instrument over VISA (pyvisa with the pure-Python pyvisa-py backend).

    A variable's address is its query and parse options (``MEAS:CURR?|scale=1e3``,
    see ``lab_scpi.address``). The queries of one scan go out as one message.
    """

    example_address = "MEAS:VOLT:DC?"

    def __init__(self,
                 resource: Annotated[str, "VISA resource: TCPIP0::HOST::5025::SOCKET, TCPIP0::HOST::INSTR, "
                                          "ASRL/dev/ttyUSB0::INSTR, USB0::…::INSTR",
                                     Example("TCPIP0::127.0.0.1::5025::SOCKET")],
                 *,
                 backend: Annotated[str, "VISA library: @py (pyvisa-py), PROFILE.yaml@sim (pyvisa-sim), "
                                         "or a vendor VISA's path"] = "@py",
                 read_termination: Annotated[str, "end of every answer"] = "\n",
                 write_termination: Annotated[str, "end of every message sent"] = "\n",
                 timeout_s: Annotated[float, "seconds to wait for an answer (and to open)"] = 2.0,
                 query_delay_s: Annotated[float, "pause between sending a query and reading its answer"] = 0.0,
                 init: Annotated[list[str] | None, "commands sent at every (re)open, e.g. [\"*RST\", "
                                                   "\"VOLT:RANG 10\"]"] = None,
                 idn: Annotated[str | None, "regular expression the *IDN? answer must match at open"] = None,
                 join_queries: Annotated[bool, "ask the queries of a scan in one message "
                                               "(false: one message per query)"] = True,
                 max_join: Annotated[int, "queries per joined message at most"] = 16,
                 error_query: Annotated[str, "query that pops the error queue; \"\" for instruments "
                                             "without one"] = "SYST:ERR?",
                 baud_rate: Annotated[int | None, "serial (ASRL) resources: bits per second"] = None,
                 min_interval_ms: Annotated[float, "shortest interval the collector may read at"] = 0.0):
        if not isinstance(resource, str) or not resource.strip():
            raise ValueError("resource: give the instrument's VISA resource, e.g. "
                             '"TCPIP0::10.0.0.7::5025::SOCKET"')
        try:
            pyvisa.rname.parse_resource_name(resource.strip())
        except (pyvisa.errors.Error, ValueError) as exc:
            raise ValueError(f"resource {resource!r} is not a VISA resource name ({exc}); write e.g. "
                             '"TCPIP0::10.0.0.7::5025::SOCKET" or "ASRL/dev/ttyUSB0::INSTR"') from None
        for name, value in (("timeout_s", timeout_s), ("query_delay_s", query_delay_s),
                            ("min_interval_ms", min_interval_ms)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s!r}")
        if isinstance(max_join, bool) or not isinstance(max_join, int) or not 1 <= max_join <= 1000:
            raise ValueError(f"max_join must be a whole number from 1 to 1000, got {max_join!r}")
        if init is not None and (isinstance(init, str) or not all(isinstance(c, str) for c in init)):
            raise ValueError(f'init must be a list of commands, e.g. init = ["*RST"], got {init!r}')
        if idn is not None:
            try:
                re.compile(idn)
            except re.error as exc:
                raise ValueError(f"idn = {idn!r} is not a regular expression ({exc})") from None
        self.resource, self.backend = resource.strip(), backend
        self.read_termination, self.write_termination = read_termination, write_termination
        self.timeout_s, self.query_delay_s = float(timeout_s), float(query_delay_s)
        self.init, self.idn = list(init or ()), idn
        self.join_queries, self.max_join = bool(join_queries), max_join
        self.error_query = error_query.strip()
        self.baud_rate = baud_rate
        self.min_interval_ms = float(min_interval_ms)
        self.stats = ScpiStats()
        self._addresses: dict[str, Address] = {}
        self._manager = None
        self._inst = None
        self._down_since: float | None = None
        self._opening = False  # errors while opening say "cannot open", later ones "lost"

    def __repr__(self) -> str:
        return f"<ScpiReader {self.resource}>"

    @property
    def connected(self) -> bool:
        """Whether the instrument is open now (it is opened again by the next read or ask)."""
        return self._inst is not None

    # -- addresses --------------------------------------------------------------


    # -- life cycle ---------------------------------------------------------------

    def open(self) -> None:
        """Make the VISA resource manager; the instrument itself is opened (and reopened) by ``read``,
        so an instrument that is off at start-up gives error samples, not a failed start."""
        if self._manager is None:
            try:
                self._manager = pyvisa.ResourceManager(self.backend)
            except (OSError, ValueError, pyvisa.errors.Error) as exc:
                raise ValueError(f"backend {self.backend!r}: cannot load this VISA library ({exc}); use "
                                 '"@py" (pyvisa-py) or "PROFILE.yaml@sim" (pip install \'lab-scpi[sim]\')') from None

    def close(self) -> None:
        self._drop()
        if self._manager is not None:
            try:
                self._manager.close()
            except Exception:  # closing must not fail
                log.debug("closing the VISA resource manager failed", exc_info=True)
            self._manager = None

    def _drop(self) -> None:
        """Forget the connection (after a timeout a late answer must never meet the next query)."""
        inst, self._inst = self._inst, None
        if inst is not None:
            try:
                inst.close()
            except Exception:
                log.debug("closing %s failed", self.resource, exc_info=True)

    def _connect(self) -> None:
        if self._inst is not None:
            return
        self.open()
        options = {"read_termination": self.read_termination, "write_termination": self.write_termination,
                   "timeout": self.timeout_s * 1000, "query_delay": self.query_delay_s}
        if self.baud_rate is not None:
            options["baud_rate"] = self.baud_rate
        self._opening = True
        try:
            self._inst = self._manager.open_resource(self.resource, open_timeout=int(self.timeout_s * 1000),
                                                     **options)
            self._prepare()
        except Down as exc:
            self._failed_open(str(exc))
            raise
        except (pyvisa.errors.Error, OSError, ValueError) as exc:
            self._failed_open(str(exc))
            raise Down(f"cannot open {self.resource}: {exc}") from None
        finally:
            self._opening = False
        self.stats.opens += 1
        if self._down_since is not None:
            log.info("scpi %s is back after %.1f s", self.resource, time.monotonic() - self._down_since)
        self._down_since = None

    def _failed_open(self, error: str) -> None:
        self._drop()
        self.stats.open_failures += 1
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("scpi %s cannot be used: %s (error samples until it answers)", self.resource, error)

    def _prepare(self) -> None:
        """Check who answers, clear old errors, send the init commands and check that none was refused."""
        if self.idn is not None:
            who = self._exchange("*IDN?").strip()
            if not re.search(self.idn, who):
                raise Down(f"{self.resource} answers *IDN? with {who!r}, which does not match idn = "
                           f"{self.idn!r}: is this the right instrument?")
        if self.error_query:
            try:
                old = self._drain()
            except NoAnswer as exc:
                raise NoAnswer(f"{exc} to {self.error_query}; if this instrument has no error queue, set "
                               'error_query = ""') from None
            if old:
                log.info("scpi %s: cleared %d earlier error(s): %s", self.resource, len(old), _text(old))
        for command in self.init:
            self.stats.writes += 1
            self._inst.write(command)
        if self.error_query and self.init:
            refused = self._drain()
            if refused:
                raise Down(f"{self.resource} refused the init commands {self.init}: {_text(refused)}")

    # -- one message at a time (lab scpi query) ------------------------------------------

    def ask(self, query: str) -> str:
        """Send ``query`` alone and return its answer (opening the instrument if needed); Down if none."""
        self._connect()
        return self._exchange(query)

    def send(self, command: str) -> None:
        """Send ``command`` alone; nothing is read back (see ``error_queue``)."""
        self._connect()
        self.stats.writes += 1
        try:
            self._inst.write(command)
        except (OSError, pyvisa.errors.Error) as exc:
            self._drop()
            raise Down(f"lost {self.resource}: {exc}") from None

    def error_queue(self) -> list[InstrumentError]:
        """Every entry of the instrument's error queue, oldest first (emptying it); [] without error_query."""
        self._connect()
        return self._drain() if self.error_query else []

    # -- reading --------------------------------------------------------------------

    def read(self, variables: Sequence[Variable]) -> list[Sample]:
        self.stats.scans += 1
        at = time.time()
        addresses: dict[int, Address] = {}
        bad: dict[int, str] = {}
        for i, variable in enumerate(variables):
            try:
                addresses[i] = self.address(variable.address)
            except ValueError as exc:
                bad[i] = f"bad address {variable.address!r}: {exc}"
        queries = list(dict.fromkeys(a.query for a in addresses.values()))  # each query once
        got: dict[str, str] = {}
        errors: dict[str, str] = {}
        try:
            self._connect()
            self._ask(queries, got, errors)
        except Down as exc:
            if isinstance(exc, NoAnswer):
                self._drop()
            for query in queries:
                if query not in got:
                    errors.setdefault(query, str(exc))
        return [self._sample(v, addresses.get(i), bad.get(i), got, errors, at) for i, v in enumerate(variables)]

    @staticmethod
    def _sample(variable: Variable, address: Address | None, bad: str | None, got: dict, errors: dict,
                at: float) -> Sample:
        if address is None:
            return Sample.failed(variable.codename, bad or "bad address", at)
        if address.query in errors:
            return Sample.failed(variable.codename, errors[address.query], at)
        try:
            return Sample(variable.codename, at, address.value(got[address.query], variable.value_type))
        except ReplyError as exc:
            return Sample.failed(variable.codename, f"{address.query}: {exc}", at)

    def _ask(self, queries: list[str], got: dict[str, str], errors: dict[str, str]) -> None:
        if not self.join_queries:
            for query in queries:
                self._ask_alone(query, got, errors)
            return
        for start in range(0, len(queries), self.max_join):
            self._ask_joined(queries[start:start + self.max_join], got, errors)

    def _ask_alone(self, query: str, got: dict[str, str], errors: dict[str, str]) -> None:
        """One message for one query (``join_queries = false``), then the error queue if there is one."""
        try:
            reply = self._exchange(query)
        except NoAnswer:
            if not self.error_query:
                raise
            refused = self._drain()  # a refused query is never answered: the error queue tells why
            if not refused:
                raise
            errors[query] = _refused(query, refused)
            return
        refused = self._drain() if self.error_query else []
        if refused:
            errors[query] = _refused(query, refused)
        else:
            got[query] = reply

    def _ask_joined(self, batch: list[str], got: dict[str, str], errors: dict[str, str]) -> None:
        """Ask ``batch`` in one message; find a refused query from the reply itself."""
        if not self.error_query:
            self._ask_joined_unchecked(batch, got, errors)
            return
        reply = self._exchange(join(batch, self.error_query))
        answers = split(reply)
        if not answers or answers[0].lstrip("+") != "1":
            raise NoAnswer(f"{self.resource}: the reply {reply!r} does not start with *OPC?'s 1: "
                           "answers out of step")
        answers = answers[1:]
        entry = error_entry(answers[-1]) if answers else None
        if entry is not None and (len(answers) == len(batch) + 1 or len(batch) == 1):
            values = answers[:-1]
            if entry.code != 0:
                self._refused_in(batch, [entry, *self._drain()], got, errors)
            elif len(batch) == 1:
                if values:
                    got[batch[0]] = ";".join(values)
                else:
                    errors[batch[0]] = f"{batch[0]}: the instrument gave no answer"
            else:
                got.update(zip(batch, values))
            return
        if entry is not None:  # an answer is missing but the error query ran: a query was skipped
            self._refused_in(batch, [entry, *self._drain()] if entry.code else self._drain(), got, errors)
            return
        # No answer to the error query: the instrument dropped the rest of the message at a refused
        # query (IEEE 488.2 command error). The answers before it are good; the next query is the culprit.
        done = len(answers)
        if done >= len(batch):
            self._refused_in(batch, self._drain(), got, errors, why=f"unexpected reply {reply!r}")
            return
        got.update(zip(batch[:done], answers))
        culprit = batch[done]
        refused = self._drain()
        errors[culprit] = _refused(culprit, refused) if refused else f"{culprit}: the instrument gave no answer"
        if batch[done + 1:]:
            self._ask_joined(batch[done + 1:], got, errors)

    def _refused_in(self, batch: list[str], queue: list[InstrumentError], got: dict, errors: dict,
                    why: str = "") -> None:
        """Something in ``batch`` went wrong and the reply does not say what: ask each query alone."""
        if len(batch) == 1:
            errors[batch[0]] = _refused(batch[0], queue) if queue else f"{batch[0]}: {why or 'refused'}"
            return
        self.stats.fallbacks += 1
        log.info("scpi %s: %s in a joined message; asking its %d queries one by one", self.resource,
                 _text(queue) or why, len(batch))
        for query in batch:
            self._ask_joined([query], got, errors)

    def _ask_joined_unchecked(self, batch: list[str], got: dict, errors: dict) -> None:
        """Joined, without an error queue: fewer answers than queries means the instrument stopped at one."""
        reply = self._exchange(join(batch))
        answers = split(reply)
        if len(answers) == len(batch) or len(batch) == 1:
            if len(batch) == 1:
                answers = [";".join(answers)]
            got.update(zip(batch, answers))
            return
        if len(answers) > len(batch):
            self.stats.fallbacks += 1
            for query in batch:
                self._ask_joined_unchecked([query], got, errors)
            return
        done = len(answers)
        got.update(zip(batch[:done], answers))
        errors[batch[done]] = f"{batch[done]}: the instrument gave no answer (refused? set error_query to see why)"
        if batch[done + 1:]:
            self._ask_joined_unchecked(batch[done + 1:], got, errors)

    def _drain(self) -> list[InstrumentError]:
        """Read the error queue until it says 0 (no error)."""
        entries = []
        for _ in range(MAX_DRAIN):
            reply = self._exchange(self.error_query)
            entry = error_entry(reply)
            if entry is None:
                raise NoAnswer(f"{self.resource}: {self.error_query} answered {reply!r}, not an error-queue "
                               "entry: answers out of step, or set error_query = \"\" for this instrument")
            if entry.code == 0:
                break
            entries.append(entry)
        self.stats.instrument_errors += len(entries)
        return entries

    def _exchange(self, message: str) -> str:
        """Send ``message``, return its answer line; NoAnswer on a timeout, Down on a lost connection."""
        if self._inst is None:
            raise Down(f"{self.resource} is not open")
        self.stats.round_trips += 1
        try:
            return self._inst.query(message)
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code == constants.StatusCode.error_timeout:
                self.stats.timeouts += 1
                raise NoAnswer(f"no answer from {self.resource} within {self.timeout_s:g} s") from None
            self._drop()
            raise Down(f"{self._lost} {self.resource}: {exc.description or exc}") from None
        except (OSError, pyvisa.errors.Error, UnicodeDecodeError) as exc:
            self._drop()
            raise Down(f"{self._lost} {self.resource}: {exc}") from None

    @property
    def _lost(self) -> str:
        return "cannot open" if self._opening else "lost"


def _text(entries: list[InstrumentError]) -> str:
    return "; ".join(map(str, entries))


def _refused(query: str, entries: list[InstrumentError]) -> str:
    return f"{query}: instrument error {_text(entries)}"
