"""Broker settings shared by the reader, the writer and ``lab mqtt watch``, and the one place
where paho-mqtt clients are made (paho is imported here, when a client is made).

The option types below carry the one-line descriptions (``Annotated``) that the reader's
and the writer's signatures share, so each broker option is described once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Annotated, Any

import attrs

log = logging.getLogger(__name__)

PROTOCOLS = ("5", "3.1.1")

Host = Annotated[str, "broker host name or address"]
Port = Annotated[int, "broker TCP port (1883; usually 8883 with TLS)"]
Username = Annotated[str | None, "user name at the broker (none: anonymous)"]
Password = Annotated[str | None, "password at the broker; prefer password_env"]
PasswordEnv = Annotated[str | None, "environment variable that holds the password, e.g. LAB_MQTT_PASSWORD"]
ClientId = Annotated[str | None, "client id at the broker, unique per client (default: made from the host name)"]
Keepalive = Annotated[int, "seconds between keep-alive pings"]
Protocol = Annotated[str, 'MQTT version: "5" or "3.1.1"']
Tls = Annotated[bool, "connect with TLS"]
CaCerts = Annotated[str | None, "file of CA certificates to check the broker with (TLS; default: the system's)"]
CertFile = Annotated[str | None, "client certificate file (TLS client authentication)"]
KeyFile = Annotated[str | None, "client private key file (TLS client authentication)"]
TlsInsecure = Annotated[bool, "TLS without checking the broker's host name (tests only)"]
ConnectTimeout = Annotated[float, "seconds to wait for the broker when connecting"]
Qos = Annotated[int, "MQTT quality of service: 0 (at most once) or 1 (at least once)"]


class BrokerUnavailable(ConnectionError):
    """The broker cannot be reached, refused us, or did not acknowledge in time (try again later)."""


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"port must be a TCP port number (1-65535), got {value!r}")
    return value


def _positive(instance, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


def _protocol(instance, attribute, value) -> None:
    if value not in PROTOCOLS:
        raise ValueError(f'protocol must be "5" or "3.1.1", got {value!r}')


def check_qos(qos: Any) -> int:
    if qos not in (0, 1) or isinstance(qos, bool):
        raise ValueError(f"qos must be 0 (at most once) or 1 (at least once), got {qos!r}")
    return qos


def password_from(password: str | None, password_env: str | None) -> str | None:
    """The password given, or the one in environment variable ``password_env`` (as lab-mysql does)."""
    if password is None and password_env:
        if password_env not in os.environ:
            raise ValueError(f"password_env names {password_env!r}, but that environment variable is not set: "
                             f"export {password_env}=… before starting lab")
        password = os.environ[password_env]
    return password


def default_client_id(role: str, *parts: str) -> str:
    """A client id stable across restarts of the same configuration on the same machine."""
    import hashlib

    digest = hashlib.sha1("\n".join(parts).encode()).hexdigest()[:8]
    return f"lab-{role}-{socket.gethostname()}-{digest}"[:64]


@attrs.frozen
class Broker:
    """Where the broker is and how to log in; ``client()`` makes a paho client for it."""

    host: str = attrs.field(default="127.0.0.1", validator=attrs.validators.instance_of(str))
    port: int = attrs.field(default=1883, converter=_port)
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    keepalive: int = attrs.field(default=60, validator=_positive)
    protocol: str = attrs.field(default="5", converter=str, validator=_protocol)
    tls: bool = False
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    tls_insecure: bool = False
    connect_timeout_s: float = attrs.field(default=5.0, validator=_positive)

    @property
    def v5(self) -> bool:
        return self.protocol == "5"

    def describe(self) -> str:
        return f"mqtt{'s' if self.tls else ''}://{self.host}:{self.port}"

    def client(self, client_id: str, *, persistent: bool = False, manual_ack: bool = False):
        """A paho client (callback API 2), not connected. ``persistent``: MQTT 3.1.1's
        ``clean_session = False`` (for v5 the session is chosen in ``connect``)."""
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=None if self.v5 else not persistent,
                             protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311, manual_ack=manual_ack)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(ca_certs=self.ca_certs, certfile=self.certfile, keyfile=self.keyfile)
            client.tls_insecure_set(self.tls_insecure)
        client.reconnect_delay_set(1, 8)  # a broker back after a restart is found within 8 s
        return client

    def connect(self, client, connected: threading.Event, *, session_expiry_s: int = 0,
                receive_maximum: int | None = None) -> None:
        """Connect in the background (paho's network thread reconnects by itself) and wait up to
        ``connect_timeout_s`` for the broker's CONNACK; ``BrokerUnavailable`` if none came.

        ``session_expiry_s`` > 0 (MQTT 5) resumes and keeps the session: subscriptions and
        messages queued while away survive a disconnection."""
        kwargs: dict[str, Any] = {}
        if self.v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.CONNECT)
            if session_expiry_s:
                properties.SessionExpiryInterval = session_expiry_s
            if receive_maximum:
                properties.ReceiveMaximum = receive_maximum
            kwargs = {"clean_start": not session_expiry_s, "properties": properties}
        client.connect_async(self.host, self.port, self.keepalive, **kwargs)
        client.loop_start()
        if not connected.wait(self.connect_timeout_s):
            client.loop_stop()
            raise BrokerUnavailable(f"no answer from the MQTT broker at {self.describe()} within "
                                    f"{self.connect_timeout_s:g} s: is it running, and are host and port right?")


def broker_from_options(*, password: str | None = None, password_env: str | None = None, **options: Any) -> Broker:
    return Broker(password=password_from(password, password_env), **options)


def connection_refused(reason_code) -> str:
    """A CONNACK refusal, said with the fix where there is an obvious one."""
    name = str(reason_code)
    hint = {"Not authorized": "check username and password (password_env) and the broker's ACL",
            "Bad user name or password": "check username and password (password_env)"}.get(name, "")
    return f"the MQTT broker refused the connection: {name}" + (f"; {hint}" if hint else "")
