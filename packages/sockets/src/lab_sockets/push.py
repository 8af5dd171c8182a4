"""DataPushSocket: receive data sets (dicts) and store, enqueue or hand them to a callback."""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import status as _status
from .protocol.common import DEFAULT_PORTS
from .protocol.push import DataSet, PushProtocol, PushState, StateFull
from .server import SocketServer

__all__ = ["ACTIONS", "CallBackThread", "DataPushSocket"]

log = logging.getLogger("lab_sockets.push")

ACTIONS = ("store_last", "enqueue", "callback_async", "callback_direct")


class CallBackThread(threading.Thread):
    """Calls ``callback(data)`` for each data set put in ``queue``, in order, in its own thread."""

    _STOP = object()

    def __init__(self, queue: queue_module.Queue, callback: Callable[[dict], Any]):
        super().__init__(name="lab-sockets callback_async", daemon=True)
        self.queue = queue
        self.callback = callback
        self._halt = False  # set when the stop marker found the queue full: end once it is empty

    def run(self) -> None:
        while True:
            try:
                data = self.queue.get(timeout=0.2 if self._halt else None)
            except queue_module.Empty:
                break
            if data is self._STOP:
                break
            try:
                self.callback(data)
            except Exception:
                log.exception("callback_async: the callback raised on %r", data)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop after the data sets already queued were handed to the callback (waits at most ``timeout``)."""
        try:  # after what is queued: nothing accepted is dropped
            self.queue.put(self._STOP, timeout=timeout)
        except queue_module.Full:
            self._halt = True
            log.warning("callback_async: %d data sets still wait for the callback; it stops once they are done",
                        self.queue.qsize())
        if threading.current_thread() is not self:  # the callback itself may stop the socket
            self.join(timeout)


class DataPushSocket(SocketServer):
    """Receive data sets with ``json_wn#…`` / ``raw_wn#…``. Port 8500.

    ``action``:
      * ``store_last`` (always done, also with the other actions): see ``last`` and ``updated``;
      * ``enqueue``: each data set is also put on ``queue`` (``queue=`` yours, or a new one bounded
        by ``queue_maxsize``; when full the sender gets ``ERROR#`` and nothing is stored);
      * ``callback_async``: ``callback(data)`` is called for each data set in a separate thread, in order;
      * ``callback_direct``: ``callback(data)``'s return value is sent back (``RET#…`` in
        ``return_format`` json, raw or string; ``EXCEP#message`` if it raised).

    Memory is bounded whatever senders do: ``updated`` keeps at most ``max_names`` names and
    ``max_bytes`` of names and values (a data set with new names beyond that gets ``ERROR#`` and
    nothing is stored; known names are always updated), and the queue made here holds at most
    ``queue_maxsize`` data sets (PyExpLabSys's was unbounded; 0 makes it so again).

    Direct callbacks run on ``callback_workers`` threads (default 1, so they never run
    concurrently, as in PyExpLabSys), never in the receive thread: a slow callback does not
    stall ``name``, ``status`` or other sockets. At most ``max_pending_calls`` wait; beyond
    that the sender gets ``EXCEP#`` at once.
    """

    type = "push"

    def __init__(self, name: str, port: int = DEFAULT_PORTS["push"], action: str = "store_last",
                 queue: queue_module.Queue | None = None, callback: Callable[[dict], Any] | None = None,
                 return_format: str = "json", check_activity: bool = False, activity_timeout: float = 900, *,
                 host: str | None = None, transport: Any = "udp", transport_options: dict | None = None,
                 allow: Sequence[str] | None = None, queue_maxsize: int = 10_000, callback_workers: int = 1,
                 max_pending_calls: int = 100, poke_on_set: bool = True, max_names: int | None = 10_000,
                 max_bytes: int | None = 16 * 2**20):
        super().__init__(name, port, host=host, transport=transport, transport_options=transport_options,
                         check_activity=check_activity, activity_timeout=activity_timeout, allow=allow)
        if action not in ACTIONS:
            raise ValueError(f"action {action!r} is unknown; use one of {', '.join(ACTIONS)}")
        if action.startswith("callback") and not callable(callback):
            raise ValueError(f"action {action!r} needs a callable callback=, got {callback!r}")
        if queue is not None and action != "enqueue":
            raise ValueError(f"queue= is only used with action='enqueue', not {action!r}")
        if callback_workers < 1 or max_pending_calls < 1:
            raise ValueError("callback_workers and max_pending_calls must be at least 1")
        self.action = action
        self.callback = callback
        self.return_format = return_format
        self.poke_on_set = poke_on_set
        self.callback_workers = callback_workers
        self.max_pending_calls = max_pending_calls
        self.protocol = PushProtocol(name, return_format, status=_status.status_message)
        self._state = PushState(max_names, max_bytes)
        self._queue: queue_module.Queue | None = None
        if action == "enqueue":
            self._queue = queue if queue is not None else queue_module.Queue(maxsize=queue_maxsize)
        elif action == "callback_async":
            self._queue = queue_module.Queue(maxsize=queue_maxsize)
        self._callback_thread: CallBackThread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending = threading.BoundedSemaphore(max_pending_calls)

    # -- data ---------------------------------------------------------------------------

    @property
    def queue(self) -> queue_module.Queue | None:
        """The queue of data sets (enqueue) or of pending callbacks (callback_async); else None."""
        return self._queue

    @property
    def last(self) -> tuple[float | None, dict | None]:
        """``(time received, data)`` of the last data set, or ``(None, None)``."""
        return self._state.last

    @property
    def updated(self) -> tuple[float | None, dict]:
        """``(time of last reception, newest value of every name ever received)``, or ``(None, {})``."""
        return self._state.updated

    def set_last_to_none(self) -> None:
        self._state.set_last_to_none()

    def clear_updated(self) -> None:
        self._state.clear_updated()

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self.action == "callback_async" and (self._callback_thread is None or not self._callback_thread.is_alive()):
            self._callback_thread = CallBackThread(self._queue, self.callback)
            self._callback_thread.start()
        if self.action == "callback_direct" and self._executor is None:
            self._executor = ThreadPoolExecutor(self.callback_workers, thread_name_prefix="lab-sockets callback")
        try:
            super().start()
        except BaseException:
            self._stop_workers()
            raise

    def stop(self) -> None:
        super().stop()
        self._stop_workers()

    def _stop_workers(self) -> None:
        thread, self._callback_thread = self._callback_thread, None
        if thread is not None:
            thread.stop()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)  # calls under way finish; their replies are dropped

    # -- requests ----------------------------------------------------------------------------

    def _receive(self, request: bytes, peer: Any) -> bytes | None:
        event = self.protocol.receive(request)
        if not isinstance(event, DataSet):
            return event
        data = event.data
        admit = None if self._queue is None else (lambda: self._queue.put_nowait(dict(data)))
        try:
            self._state.record(data, time.time(), admit)
        except StateFull as full:
            return self.protocol.error(str(full))
        except queue_module.Full:
            return self.protocol.error(
                f"The queue is full ({self._queue.maxsize} data sets wait); the data set was not stored. "
                "Try again later"
            )
        if self.poke_on_set:
            self.poke()
        if self.action == "callback_direct":
            return self._call(dict(data), peer)
        return self.protocol.ack(data)

    def _call(self, data: dict, peer: Any) -> bytes | None:
        executor = self._executor
        if executor is None:  # driven without start() (tests, custom transports)
            return self._run_callback(data)
        if not self._pending.acquire(blocking=False):
            return self.protocol.excep(
                f"busy: {self.max_pending_calls} calls are waiting for the callback; try again later"
            )
        try:
            future = executor.submit(self._run_callback, data)
        except RuntimeError:  # shut down meanwhile
            self._pending.release()
            return self.protocol.excep("the socket is stopping")
        future.add_done_callback(lambda _: self._pending.release())
        reply = getattr(peer, "reply", None)
        if reply is None:  # the transport cannot reply later: wait here (this connection only)
            return self._fit(future.result(), peer)
        future.add_done_callback(lambda done: reply(self._fit(done.result(), peer)))
        return None

    def _run_callback(self, data: dict) -> bytes:
        try:
            value = self.callback(data)
        except Exception as exc:
            log.debug("callback_direct raised: %r", exc)
            return self.protocol.excep(exc)
        return self.protocol.ret(value)
