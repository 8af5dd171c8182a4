"""The ``mqtt`` reader: a variable's address is a topic; messages become samples.

Two modes (``mode``):

* ``"latest"`` (default): each read gives, per variable, the latest value received on
  its topic, timed at the read — a sensor that publishes when it likes, sampled on the
  collector's schedule. A wildcard is refused: one variable, one topic.
* ``"every"``: each read gives every message received since the previous read, each
  with its own time (the payload's ``time``, else its arrival). This reader declares
  ``buffered = True``, the core's word for "zero or more samples per variable per
  read" (see ``lab_core.Reader.buffered``); the read interval only sets how often the
  buffer is emptied. Messages are acknowledged to the broker (MQTT ``manual_ack``)
  only at the read *after* the one that returned them — by then the collector has put
  them in every writer's spool — so a crash never loses an acknowledged message, and
  the broker holds at most ``receive_maximum`` unacknowledged ones for us (bounded memory).

Both keep a persistent session (``session_expiry_s``), so messages published while the
reader or the broker was away are delivered when it is back (at QoS 1).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Sequence
from typing import Annotated, Literal

import attrs

from lab_core import Reader, Sample, Variable

from . import broker as b
from .payload import FieldPath, PayloadFormat, Reading, check_topic_filter, has_wildcard

log = logging.getLogger(__name__)

MODES = ("latest", "every")


@attrs.define
class _Message:
    """A received message routed to the variables it is for; acknowledged once all took it."""

    mid: int
    qos: int
    waiting: int  # variables that have not taken it yet


class MQTTReader(Reader):
    """Subscribes to the topics of its variables and turns their messages into samples."""

    example_address = "lab/m01_temperature"

    def __init__(self, host: b.Host = "127.0.0.1", port: b.Port = 1883, *,
                 mode: Annotated[Literal["latest", "every"], '"latest": each read takes the latest value per topic; '
                                      '"every": every message, with its own time'] = "latest",
                 qos: b.Qos = 1,
                 value_field: Annotated[str, "where the value is in a JSON object payload, e.g. 'data.temp'"]
                 = "value",
                 time_field: Annotated[str, "where the time is in a JSON object payload ('' = arrival time)"]
                 = "time",
                 error_field: Annotated[str, "where an error text is in a JSON object payload ('' = none)"]
                 = "error",
                 stale_s: Annotated[float | None, 'mode "latest": a value older than this is an error sample']
                 = None,
                 session_expiry_s: Annotated[int, "how long the broker keeps the session and queues messages "
                                                  "while this reader is away (0: no persistent session)"] = 86400,
                 receive_maximum: Annotated[int, 'mode "every": most unacknowledged messages the broker '
                                                 'sends us (MQTT 5)'] = 10000,
                 username: b.Username = None, password: b.Password = None, password_env: b.PasswordEnv = None,
                 client_id: b.ClientId = None, keepalive: b.Keepalive = 60, protocol: b.Protocol = "5",
                 tls: b.Tls = False, ca_certs: b.CaCerts = None, certfile: b.CertFile = None,
                 keyfile: b.KeyFile = None, tls_insecure: b.TlsInsecure = False,
                 connect_timeout_s: b.ConnectTimeout = 5.0,
                 max_topics: Annotated[int, "most distinct topics whose routing is remembered (a wildcard may "
                                            "match any number); past it the least recently seen is forgotten"]
                 = 10000,
                 min_interval_ms: Annotated[float, "shortest interval the collector may read at"] = 0.0):
        if mode not in MODES:
            raise ValueError(f'mode must be "latest" or "every", got {mode!r}')
        self.broker = b.broker_from_options(
            host=host, port=port, username=username, password=password, password_env=password_env,
            keepalive=keepalive, protocol=protocol, tls=tls, ca_certs=ca_certs, certfile=certfile,
            keyfile=keyfile, tls_insecure=tls_insecure, connect_timeout_s=connect_timeout_s)
        self.mode = mode
        self.buffered = mode == "every"
        self.qos = b.check_qos(qos)
        self.format = PayloadFormat(FieldPath(value_field), FieldPath(time_field) if time_field else None,
                                    FieldPath(error_field) if error_field else None)
        if stale_s is not None and (isinstance(stale_s, bool) or not isinstance(stale_s, (int, float))
                                    or stale_s <= 0):
            raise ValueError(f"stale_s must be a positive number of seconds (or left out), got {stale_s!r}")
        self.stale_s = stale_s
        for name, value, low in (("session_expiry_s", session_expiry_s, 0), ("receive_maximum", receive_maximum, 1),
                                 ("max_topics", max_topics, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 2**32 - 1:
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = min(receive_maximum, 65535)
        self.max_topics = max_topics
        self.client_id = client_id
        self.min_interval_ms = float(min_interval_ms)
        self._topics: dict[str, str] = {}  # codename -> topic filter
        # topic -> codenames whose filter matches it, least recently seen first: any publisher can invent
        # topics under a wildcard, so at most max_topics are remembered (a forgotten one is matched again)
        self._routes: collections.OrderedDict[str, list[str]] = collections.OrderedDict()
        self._subscribed: set[str] = set()
        self._client = None
        self._connected = threading.Event()
        self._suback: dict[int, threading.Event] = {}  # subscribe mid -> set when the broker acknowledged
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[Reading, float]] = {}  # codename -> (reading, arrival time)
        self._pending: dict[str, collections.deque] = {}  # codename -> (sample, message) waiting for a read
        self._taken: list[_Message] = []  # returned by the previous read: acknowledged at the next one
        self._refusal = ""
        self.received = 0  # messages received since open (tests, benchmarks)

    def __repr__(self) -> str:
        return f"MQTTReader({self.broker.describe()}, mode={self.mode!r})"

    # -- addresses -------------------------------------------------------------------------

    def check_address(self, variable: Variable) -> None:
        try:
            topic = check_topic_filter(variable.address)
        except ValueError as exc:
            raise ValueError(f"variable {variable.codename!r}: address: {exc}") from None
        if self.mode == "latest" and has_wildcard(topic):
            one = "/".join("x" if level in ("+", "#") else level for level in topic.split("/"))
            raise ValueError(
                f"variable {variable.codename!r}: address {topic!r} has a wildcard, and in mode \"latest\" a "
                f"variable takes the latest value of one topic, which a wildcard cannot name; give one topic "
                f"(e.g. {one!r}), one variable per topic, or set mode = \"every\" on the reader to take every "
                f"message of the matching topics")
        self._want(variable.codename, topic)

    def _want(self, codename: str, topic: str) -> None:
        with self._lock:
            self._topics[codename] = topic
            self._routes.clear()  # topic -> codenames, remade as messages come
            self._pending.setdefault(codename, collections.deque())
        if self._connected.is_set() and topic not in self._subscribed:
            self._subscribe([topic])

    # -- life cycle --------------------------------------------------------------------------

    def open(self) -> None:
        if self._client is not None:
            return
        client_id = self.client_id or b.default_client_id("reader", self.broker.describe(), self.mode,
                                                           *sorted(set(self._topics.values())))
        persistent = self.session_expiry_s > 0
        client = self.broker.client(client_id, persistent=persistent, manual_ack=self.buffered)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        try:
            self.broker.connect(client, self._connected, session_expiry_s=self.session_expiry_s,
                                receive_maximum=self.receive_maximum if self.buffered else None)
            self._wait_subscribed()
        except b.BrokerUnavailable:
            self._client = None
            client.loop_stop()
            raise
        log.info("mqtt reader connected to %s as %s (mode %s, %d topic(s))", self.broker.describe(), client_id,
                 self.mode, len(set(self._topics.values())))

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._acknowledge(client)  # the previous read's samples are in the spools by now
        self._connected.clear()  # before disconnecting: ours is no loss to warn about
        client.disconnect()
        client.loop_stop()
        with self._lock:  # not acknowledged: the broker sends them again in the next session
            for queue in self._pending.values():
                queue.clear()
        self._subscribed.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refusal = b.connection_refused(reason_code)
            log.warning("mqtt reader: %s", self._refusal)
            return
        self._refusal = ""
        if not flags.session_present:  # a new session: subscriptions are ours to make
            self._subscribed.clear()
        with self._lock:
            topics = sorted(set(self._topics.values()) - self._subscribed)
        if topics:
            self._subscribe(topics)
        self._connected.set()  # after subscribing: open() then waits for the SUBACKs

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set():
            log.warning("mqtt reader: lost the broker at %s (%s); reconnecting", self.broker.describe(), reason_code)
        self._connected.clear()

    def _subscribe(self, topics: list[str]) -> None:
        from paho.mqtt.subscribeoptions import SubscribeOptions

        client = self._client
        if client is None:
            return
        # Retained messages only for a new subscription: a resumed one already had them.
        options = SubscribeOptions(qos=self.qos, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB) \
            if self.broker.v5 else self.qos
        event = threading.Event()
        result, mid = client.subscribe([(topic, options) for topic in topics])
        if mid is not None:
            self._suback[mid] = event
        self._subscribed.update(topics)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error("mqtt reader: the broker refused a subscription: %s; check the broker's ACL for user %r",
                      ", ".join(refused), self.broker.username)
        event = self._suback.pop(mid, None)
        if event is not None:
            event.set()

    def _wait_subscribed(self) -> None:
        """Wait for the SUBACKs of the subscriptions made on connecting: messages published
        after ``open`` returned are then ours."""
        deadline = time.monotonic() + self.broker.connect_timeout_s
        for event in list(self._suback.values()):
            if not event.wait(max(0.0, deadline - time.monotonic())):
                raise b.BrokerUnavailable(f"the MQTT broker at {self.broker.describe()} did not acknowledge "
                                          f"the subscriptions within {self.broker.connect_timeout_s:g} s")

    def _on_message(self, client, userdata, message) -> None:
        from paho.mqtt.client import topic_matches_sub

        arrival = time.time()
        reading = self.format.decode(message.payload)
        topic = message.topic
        self.received += 1
        with self._lock:
            codenames = self._routes.get(topic)
            if codenames is None:  # a topic seen for the first time: match it once against every filter
                codenames = self._routes[topic] = [c for c, sub in self._topics.items()
                                                   if sub == topic or topic_matches_sub(sub, topic)]
                if len(self._routes) > self.max_topics:
                    self._routes.popitem(last=False)
            else:
                self._routes.move_to_end(topic)
            if not self.buffered:
                for codename in codenames:
                    self._latest[codename] = (reading, arrival)
                return
            if codenames:
                routed = _Message(message.mid, message.qos, len(codenames))
                for codename in codenames:
                    at = arrival if reading.time is None else reading.time
                    self._pending[codename].append((_sample(codename, reading, at), routed))
                return
        if message.qos:  # for no variable of ours (any more): nothing to keep it for
            client.ack(message.mid, message.qos)

    # -- reading -------------------------------------------------------------------------------

    def read(self, variables: Sequence[Variable]) -> list[Sample]:
        for variable in variables:
            if variable.codename not in self._topics:
                self.check_address(variable)
        if self.buffered:
            return self._read_every(variables)
        return self._read_latest(variables)

    def _read_latest(self, variables: Sequence[Variable]) -> list[Sample]:
        now = time.time()
        samples = []
        with self._lock:
            for variable in variables:
                topic = self._topics[variable.codename]
                latest = self._latest.get(variable.codename)
                if latest is None:
                    samples.append(Sample.failed(variable.codename, f"no message on topic {topic!r} yet", now))
                elif self.stale_s is not None and now - latest[1] > self.stale_s:
                    samples.append(Sample.failed(variable.codename, f"no message on topic {topic!r} for "
                                                 f"{now - latest[1]:.0f} s (stale_s = {self.stale_s:g})", now))
                else:
                    samples.append(_sample(variable.codename, latest[0], now))
        return samples

    def _read_every(self, variables: Sequence[Variable]) -> list[Sample]:
        self._acknowledge(self._client)
        samples: list[Sample] = []
        done: list[_Message] = []
        with self._lock:
            for variable in variables:
                queue = self._pending[variable.codename]
                while queue:
                    sample, message = queue.popleft()
                    samples.append(sample)
                    message.waiting -= 1
                    if not message.waiting:
                        done.append(message)
        samples.sort(key=lambda s: s.time)
        self._taken = done
        return samples

    def _acknowledge(self, client) -> None:
        taken, self._taken = self._taken, []
        if client is None:
            return
        for message in taken:
            if message.qos:
                client.ack(message.mid, message.qos)

    def pending(self) -> int:
        """Messages received and not yet returned by a read (mode "every")."""
        with self._lock:
            return sum(len(q) for q in self._pending.values())


def _sample(codename: str, reading: Reading, at: float) -> Sample:
    if reading.error is not None:
        return Sample(codename, at, None, reading.error)
    if reading.value is None:
        return Sample(codename, at, None, "the message has no value (null)")
    return Sample(codename, at, reading.value)
