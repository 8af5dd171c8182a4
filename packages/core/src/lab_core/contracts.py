"""What a plugin implements: readers, writers, transports, stream processors and jobs.

A plugin class is handed its options from the configuration as keyword
arguments. Heavy dependencies (pymodbus, pymysql, dask…) are imported in
``__init__``/``open`` or in the class's own module, never in the plugin module,
so that discovering and listing plugins stays fast.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from .model import Sample, Variable


class Reader(abc.ABC):
    """Reads a batch of variables and returns one sample per variable.

    A variable that cannot be read gives a sample with ``error`` set; ``read``
    raises only when the whole device is unusable (the collector then records
    an error sample for every variable and retries on the next due instant).
    """

    #: The shortest interval (ms) at which this reader may be asked to read.
    min_interval_ms: float = 0.0

    #: False (the rule): ``read`` returns exactly one sample per variable, in order.
    #: True for a reader whose source pushes values between reads (a subscription, e.g.
    #: lab-mqtt's ``mode = "every"``): ``read`` returns every sample received since the
    #: previous read for the variables asked — zero or more per variable, each with its
    #: own time — and the read interval only sets how often that buffer is emptied.
    buffered: bool = False

    def check_address(self, variable: Variable) -> None:  # noqa: B027 - optional hook
        """Raise ``ValueError`` naming ``variable`` if its address cannot be read.

        Called when a configuration is loaded and when a context starts, so a typo
        is a start-up error rather than an error sample every interval.
        """

    def open(self) -> None:  # noqa: B027 - optional hook
        """Connect; called once in the reader's worker before the first read."""

    @abc.abstractmethod
    def read(self, variables: Sequence[Variable]) -> list[Sample]:
        """Read ``variables`` now; return one ``Sample`` per variable, in the same order."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device; called once, also after a failed ``open``."""


class Writer(abc.ABC):
    """Hands batches of samples off to a store (a file, a database, a socket…).

    ``write(batch)`` either hands off the *whole* batch or raises. Raise
    ``lab_core.RejectedSamples`` for samples that can never be accepted; any
    other exception means "try again later" and the same batch comes back.
    """

    #: Largest batch the delivery worker hands to ``write`` at once.
    max_batch: int = 5000

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise ``ValueError`` saying why if this writer's target can never work (a csv path
        that is a directory, an sqlite file or directory this process cannot write).

        Called by ``Collector`` (so ``lab run``) before any delivery starts, and by
        ``lab doctor``, in the caller's thread: keep it quick and leave nothing behind. Return
        quietly when it cannot tell now (a database that is down is not a reason: the samples
        wait in the spool until it is back).
        """

    def check_context(self, context: Any) -> None:  # noqa: B027 - optional hook
        """Raise ``ValueError`` naming what is wrong if this writer can never store the
        variables of ``context`` (e.g. codenames a database does not know).

        Called by ``Collector.start`` in the caller's thread, so a wrong plan is a start-up
        error. Return quietly when it cannot tell now (a database that is down: the samples
        wait in the spool until it is back).
        """

    def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare (connect, create files); called in the writer's delivery worker."""

    @abc.abstractmethod
    def write(self, batch: Sequence[Sample]) -> None:
        """Hand ``batch`` off, all of it, or raise."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release; called once."""


Handler = Callable[[bytes, Any], "bytes | None"]


class Transport(abc.ABC):
    """Carries request bytes to a handler and its reply bytes back (UDP, TCP…).

    ``handler(request, peer)`` is pure protocol code; it returns the reply, or None to
    send nothing now. A transport may give its peers two optional attributes, which
    handlers should look up with ``getattr``: ``peer.reply(data)`` sends a reply later,
    from any thread (e.g. when a job ends), and ``peer.max_reply`` is the largest reply
    in bytes it can carry (a datagram's limit on UDP; None when unbounded).
    """

    def __init__(self, handler: Handler, host: str = "0.0.0.0", port: int = 0, **options: Any):
        self.handler = handler
        self.host = host
        self.port = port
        self.options = options

    @property
    @abc.abstractmethod
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound; valid after ``start``."""

    @abc.abstractmethod
    def start(self) -> None:
        """Bind and serve in the background; a busy port raises ``OSError`` at once."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop serving and free the port before returning."""

    @classmethod
    @abc.abstractmethod
    def request(cls, address: tuple[str, int], payload: bytes, timeout: float = 2.0) -> bytes:
        """Client side: send ``payload`` to a server of this transport at ``address``, return the reply.

        Raises ``TimeoutError`` when no reply comes within ``timeout`` seconds.
        """

    def __enter__(self) -> Transport:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StreamProcessor(abc.ABC):
    """One stage of the collector between readers and writers (deadband, window, scale…).

    An instance handles ONE stream: the collector makes one per variable (and per writer
    where a writer lists the processor) from the ``[processors.NAME]`` options, calls
    ``bind(variable)`` once, then ``process(sample)`` for each of that variable's samples in
    time order, from one thread at a time, and ``finish()`` when the stream ends (its
    context stopped, or the collector closes). ``process`` is on the hot path: keep it cheap
    (return the shared empty ``DROP`` tuple to drop a sample).
    """

    def bind(self, variable: Variable) -> None:  # noqa: B027 - optional hook
        """Raise ``ValueError`` saying why if this processor cannot handle ``variable``'s values
        (e.g. a numeric window on a ``str`` variable); a start-up error of the context."""

    @abc.abstractmethod
    def process(self, sample: Sample) -> Sequence[Sample]:
        """The samples to hand on for ``sample``: ``(sample,)`` to pass it, ``()`` to drop it,
        or others (an aggregate, a converted value, a held value before this one)."""

    def finish(self) -> Sequence[Sample]:
        """Samples still held back when the stream ends (a partial window); default none."""
        return ()


#: What ``StreamProcessor.process`` returns to drop a sample (a shared empty tuple: no allocation).
DROP: tuple[Sample, ...] = ()


class JobPlugin(abc.ABC):
    """A dahu-style processing job plugin (dahu's plugin life cycle), run by lab-dahu's jobs.

    ``setup`` → ``process`` → ``teardown`` (always), ``abort`` may come at any time.
    Not to be confused with a :class:`StreamProcessor` of the collector.
    """

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        self.input: dict[str, Any] = {}
        self.output: dict[str, Any] = {}

    def setup(self, kwargs: dict[str, Any] | None = None) -> None:
        if kwargs:
            self.input.update(kwargs)

    @abc.abstractmethod
    def process(self) -> None:
        """Compute ``self.output`` from ``self.input``."""

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Release resources; always called, even after a failure."""

    def abort(self) -> None:  # noqa: B027 - optional hook
        """Ask a running ``process`` to stop early."""


#: Deprecated name of :class:`JobPlugin` (lab-core 1.0); removed in the next release.
Processor = JobPlugin
