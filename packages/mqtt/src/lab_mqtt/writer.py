"""The ``mqtt`` writer: each sample becomes one JSON message on its codename's topic.

``write(batch)`` returns only when the broker acknowledged every message of the batch
(PUBACK at QoS 1; at QoS 0, when each was handed to the socket), so the core's spool
keeps a sample until the broker has it. Otherwise it raises and the delivery worker
gives the same batch again: messages of it still in flight (paho re-sends them by
itself after a reconnection) are not published a second time, only the rest are.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Annotated

from lab_core import RejectedSamples, Sample, Writer

from . import broker as b
from .payload import TopicTemplate, encode

log = logging.getLogger(__name__)


class MQTTWriter(Writer):
    """Publishes samples to an MQTT broker (``topic`` template, JSON payload, QoS 0 or 1)."""

    max_batch = 1000

    def __init__(self, host: b.Host = "127.0.0.1", port: b.Port = 1883, *,
                 topic: Annotated[str, "topic template; {codename} is replaced by the sample's codename"]
                 = "lab/{codename}",
                 qos: b.Qos = 1,
                 retain: Annotated[bool, "the broker keeps each topic's last message for new subscribers"] = False,
                 units: Annotated[dict[str, str] | None, "unit of each codename, e.g. {oven_t = \"degC\"}"] = None,
                 ack_timeout_s: Annotated[float, "seconds a batch may wait for the broker's acknowledgements"] = 10.0,
                 max_batch: Annotated[int, "most samples published (and waited for) at once"] = 1000,
                 username: b.Username = None, password: b.Password = None, password_env: b.PasswordEnv = None,
                 client_id: b.ClientId = None, keepalive: b.Keepalive = 60, protocol: b.Protocol = "5",
                 tls: b.Tls = False, ca_certs: b.CaCerts = None, certfile: b.CertFile = None,
                 keyfile: b.KeyFile = None, tls_insecure: b.TlsInsecure = False,
                 connect_timeout_s: b.ConnectTimeout = 5.0):
        self.broker = b.broker_from_options(
            host=host, port=port, username=username, password=password, password_env=password_env,
            keepalive=keepalive, protocol=protocol, tls=tls, ca_certs=ca_certs, certfile=certfile,
            keyfile=keyfile, tls_insecure=tls_insecure, connect_timeout_s=connect_timeout_s)
        self.topic = TopicTemplate(topic)
        self.qos = b.check_qos(qos)
        self.retain = bool(retain)
        self.units = dict(units or {})
        if isinstance(ack_timeout_s, bool) or not isinstance(ack_timeout_s, (int, float)) or ack_timeout_s <= 0:
            raise ValueError(f"ack_timeout_s must be a positive number of seconds, got {ack_timeout_s!r}")
        self.ack_timeout_s = float(ack_timeout_s)
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
        self.max_batch = max_batch
        self.client_id = client_id or b.default_client_id("writer", self.broker.describe(), topic)
        self.published = 0  # messages acknowledged since open (tests, benchmarks)
        self._client = None
        self._connected = threading.Event()
        self._refusal = ""  # why the broker refused the connection, if it did
        #: Messages published but not yet part of a written batch: sample -> paho's message info.
        self._in_flight: dict[Sample, object] = {}
        self._refused: dict[int, str] = {}  # mid -> the broker's failure reason code (MQTT 5)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MQTTWriter({self.broker.describe()}, topic={self.topic.template!r}, qos={self.qos})"

    # -- life cycle --------------------------------------------------------------------

    def open(self) -> None:
        if self._client is not None:
            return
        client = self.broker.client(self.client_id)
        client.max_inflight_messages_set(self.max_batch)  # a whole batch on the wire at once
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self.broker.connect(client, self._connected)
        self._client = client
        log.info("mqtt writer connected to %s as %s (topic %s, qos %d)", self.broker.describe(), self.client_id,
                 self.topic.template, self.qos)

    def close(self) -> None:
        client, self._client = self._client, None
        self._connected.clear()  # before disconnecting: ours is no loss to warn about
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self._in_flight.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refusal = b.connection_refused(reason_code)
            log.warning("mqtt writer: %s", self._refusal)
            return
        self._refusal = ""
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set():
            log.warning("mqtt writer: lost the broker at %s (%s); reconnecting", self.broker.describe(), reason_code)
        self._connected.clear()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if reason_code.is_failure:  # MQTT 5: e.g. "Not authorized" (the broker's ACL), "Quota exceeded"
            with self._lock:
                self._refused[mid] = str(reason_code)

    # -- writing -----------------------------------------------------------------------

    def write(self, batch: Sequence[Sample]) -> None:
        if self._client is None:
            self.open()
        messages = self._publish_all(batch)
        deadline = time.monotonic() + self.ack_timeout_s
        unacked = {i for i, (_, info) in enumerate(messages) if not self._wait(info, deadline)}
        refused = self._take_refused(messages)
        for i, (sample, info) in enumerate(messages):
            # Kept: QoS 1 messages still waiting for their PUBACK (paho re-sends them by itself).
            if not (self.qos and i in unacked and info.mid not in refused):
                self._in_flight.pop(sample, None)
        self.published += len(messages) - len(unacked) - len(refused)
        if refused:
            reasons = sorted(set(refused.values()))
            raise b.BrokerUnavailable(f"the broker refused {len(refused)} of {len(batch)} message(s): "
                                      f"{', '.join(reasons)}; check the broker's ACL for topic "
                                      f"{self.topic.template!r} and user {self.broker.username!r}")
        if unacked:
            state = "connected" if self._connected.is_set() else (self._refusal or "not connected")
            raise b.BrokerUnavailable(f"the broker at {self.broker.describe()} did not acknowledge {len(unacked)} of "
                                      f"{len(batch)} message(s) within {self.ack_timeout_s:g} s ({state}); "
                                      f"they stay in the spool and are sent again")

    def _publish_all(self, batch: Sequence[Sample]) -> list[tuple[Sample, object]]:
        messages, bad = [], []
        for sample in batch:
            info = self._in_flight.get(sample)
            if info is None:
                try:
                    topic = self.topic.render(sample.codename)
                except ValueError as exc:
                    bad.append((sample, str(exc)))
                    continue
                info = self._publish(topic, encode(sample, self._unit(sample)))
                self._in_flight[sample] = info
            messages.append((sample, info))
        if bad:
            raise RejectedSamples([s for s, _ in bad], bad[0][1])
        return messages

    def _publish(self, topic: str, payload: bytes):
        import paho.mqtt.client as mqtt

        info = self._client.publish(topic, payload, qos=self.qos, retain=self.retain)
        if info.rc == mqtt.MQTT_ERR_NO_CONN and self.qos:
            # paho keeps a QoS 1 message published while disconnected and sends it after
            # reconnecting; its info then reports the PUBACK like any other.
            info.rc = mqtt.MQTT_ERR_SUCCESS
        return info

    def _unit(self, sample: Sample) -> str | None:
        return getattr(sample, "unit", None) or self.units.get(sample.codename)

    @staticmethod
    def _wait(info, deadline: float) -> bool:
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            return info.is_published()
        except (RuntimeError, ValueError):  # QoS 0 while disconnected: never sent
            return False

    def _take_refused(self, messages: list[tuple[Sample, object]]) -> dict[int, str]:
        with self._lock:
            return {info.mid: self._refused.pop(info.mid) for _, info in messages if info.mid in self._refused}

