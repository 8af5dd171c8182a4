"""One read of every variable through the real readers: what ``lab doctor`` and ``lab run --once`` do.

Each reader instance is opened, read once (all its variables in one batch, as the
collector reads them) and closed, in its own thread, all readers at once; a
reader that raises, or does not answer within the timeout, gives a failed
reading for each of its variables. Nothing is written anywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping

import attrs

from .contracts import Reader
from .model import Sample, Variable
from .scheduler import _checked

log = logging.getLogger(__name__)

#: How long a trial read may take (opening included) before its variables count as failed.
READ_TIMEOUT_S = 10.0


@attrs.frozen
class Reading:
    """What one trial read of ``variable`` gave, and how long its reader took."""

    variable: Variable
    sample: Sample
    seconds: float  # the reader's open + read, for the whole batch

    @property
    def error(self) -> str | None:
        return self.sample.error

    @property
    def unit(self) -> str:
        return getattr(self.variable, "unit", None) or ""


def read_once(readers: Mapping[str, Reader], variables: Iterable[Variable],
              timeout_s: float = READ_TIMEOUT_S) -> list[Reading]:
    """Read each variable (each codename once) through its reader; readings in the order given."""
    batches: dict[str, list[Variable]] = {}
    order: dict[str, Variable] = {}
    for variable in variables:
        if variable.codename not in order:
            order[variable.codename] = variable
            batches.setdefault(variable.reader, []).append(variable)
    results: dict[str, tuple[list[Sample], float]] = {}
    threads = [threading.Thread(target=_read_batch, args=(readers[name], batch, results, name), daemon=True,
                                name=f"lab-trial-{name}") for name, batch in batches.items()]
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    readings: dict[str, Reading] = {}
    for name, batch in batches.items():
        samples, seconds = results.get(name) or (
            [Sample.failed(v.codename, f"reader {name} gave no answer within {timeout_s:g} s") for v in batch],
            timeout_s)
        readings.update((v.codename, Reading(v, s, seconds)) for v, s in zip(batch, samples))
    return [readings[codename] for codename in order]


def _read_batch(reader: Reader, batch: list[Variable], results: dict, name: str) -> None:
    started = time.monotonic()
    try:
        reader.open()
        samples = _checked(reader.read(batch), batch)
    except Exception as exc:
        at = time.time()
        samples = [Sample.failed(v.codename, f"reader {name}: {_reason(exc)}", at) for v in batch]
    finally:
        try:
            reader.close()  # also after a failed open, as the contract says
        except Exception as exc:
            log.debug("reader %s failed to close after its trial read: %s", name, exc)
    results[name] = (samples, time.monotonic() - started)


def _reason(exc: BaseException) -> str:
    """The exception's own message; its class name only when it has none."""
    return str(exc) or type(exc).__name__
