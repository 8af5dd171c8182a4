"""The udp and tcp transports, through the registry, and the socket classes on top of them."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import pytest
from sockets_helpers import HOST, udp

from lab_core import Registry, Transport, default_registry
from lab_sockets import DataPushSocket, DateDataPullSocket, PullClient, PushClient
from lab_sockets.transports import make_transport, transport_class
from lab_sockets.transports.tcp import TcpConnection, TcpTransport
from lab_sockets.transports.udp import UdpTransport


def echo(request, peer):
    return b"echo:" + request


def test_published_through_the_registry():
    assert Registry().get_class("transport", "udp") is UdpTransport
    assert Registry().get_class("transport", "tcp") is TcpTransport
    transport = default_registry().transport("tcp", echo, host=HOST, port=0)
    assert isinstance(transport, TcpTransport) and isinstance(transport, Transport)
    assert transport_class("udp") is UdpTransport
    with pytest.raises(TypeError, match="Transport"):
        transport_class(dict)


@pytest.mark.parametrize("name", ["udp", "tcp"])
def test_request_classmethod(serve, name):
    transport = serve(make_transport(name, echo, HOST, 0))
    cls = transport_class(name)
    assert cls.request(transport.address, b"hello", timeout=2) == b"echo:hello"
    assert cls.request(transport.address, b"", timeout=2) == b"echo:"
    with make_transport(name, echo, HOST, 0) as other:  # a context manager too
        assert cls.request(other.address, b"x", timeout=2) == b"echo:x"
    assert not other.running


@pytest.mark.parametrize("name", ["udp", "tcp"])
def test_request_timeout(serve, name):
    release = threading.Event()

    def never(request, peer):
        if name == "tcp":  # tcp always answers: block until the test ends
            release.wait(5)
            return b""
        return None

    silent = serve(make_transport(name, never, HOST, 0))
    try:
        with pytest.raises(TimeoutError, match="no reply"):
            transport_class(name).request(silent.address, b"x", timeout=0.2)
    finally:
        release.set()


def test_udp_reads_the_largest_datagram_whole(serve):
    transport = serve(UdpTransport(lambda request, peer: str(len(request)).encode(), HOST, 0))
    assert udp(transport.address, b"x" * 65507) == b"65507"


def test_udp_peer_replies_later(serve):
    def later(request, peer):
        threading.Timer(0.01, peer.reply, args=(b"later:" + request,)).start()
        return None

    transport = serve(UdpTransport(later, HOST, 0))
    assert udp(transport.address, b"a") == b"later:a"


def test_udp_handler_exception_keeps_serving(serve):
    def handler(request, peer):
        if request == b"boom":
            raise RuntimeError("boom")
        return b"ok"

    transport = serve(UdpTransport(handler, HOST, 0))
    with pytest.raises(TimeoutError):
        udp(transport.address, b"boom", timeout=0.2)
    assert udp(transport.address, b"fine") == b"ok"


def test_tcp_many_pairs_per_connection_and_raw_framing(serve):
    transport = serve(TcpTransport(echo, HOST, 0))
    with socket.create_connection(transport.address, timeout=2) as sock:
        for payload in (b"a", b"", "°".encode(), b"x" * 100_000):
            sock.sendall(struct.pack(">I", len(payload)) + payload)
            (size,) = struct.unpack(">I", _exactly(sock, 4))
            assert _exactly(sock, size) == b"echo:" + payload


def _closed(sock) -> bool:
    """The peer closed (an orderly end, or a reset when our data was left unread)."""
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True


def _exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk
        data += chunk
    return data


def test_tcp_oversized_frame_closes_the_connection(serve):
    transport = serve(TcpTransport(echo, HOST, 0, max_message=10))
    with socket.create_connection(transport.address, timeout=2) as sock:
        sock.sendall(struct.pack(">I", 11) + b"x" * 11)
        assert _closed(sock)
    assert TcpTransport.request(transport.address, b"short") == b"echo:short"


def test_tcp_max_connections_closes_the_longest_idle_one(serve):
    transport = serve(TcpTransport(echo, HOST, 0, max_connections=1))
    with TcpConnection(transport.address) as first:
        assert first.request(b"1") == b"echo:1"
        with TcpConnection(transport.address) as second:
            assert second.request(b"2") == b"echo:2"  # the idle first one made room
            assert transport.connections == 1
        assert first.request(b"3") == b"echo:3"  # the client reconnects once, by itself


def test_tcp_reconnects_after_the_server_closed(serve):
    transport = serve(TcpTransport(echo, HOST, 0))
    connection = TcpConnection(transport.address)
    assert connection.request(b"1") == b"echo:1"
    port = transport.address[1]
    transport.stop()
    transport.port = port
    transport.start()
    assert connection.request(b"2") == b"echo:2"
    connection.close()


def test_tcp_stop_closes_open_connections():
    transport = TcpTransport(echo, HOST, 0)
    transport.start()
    connection = socket.create_connection(transport.address, timeout=2)
    transport.stop()
    assert _closed(connection)
    connection.close()


def test_big_reply_over_tcp_and_an_error_over_udp(serve):
    codenames = [f"c{i:04d}" for i in range(3000)]
    for kind, transport in (("udp", "udp"), ("tcp", "tcp")):
        sock = serve(DateDataPullSocket("big", codenames, port=0, host=HOST, transport=transport))
        sock.set_batch({c: (1795245643.0003388, 123456.789) for c in codenames})
        if kind == "tcp":
            data = PullClient(HOST, sock.port, transport="tcp").json_wn()
            assert len(data) == 3000 and data["c2999"] == (1795245643.0003388, 123456.789)
        else:
            reply = udp(sock.address, b"json_wn")
            assert reply.startswith(b"ERROR#the reply of ") and b"use the tcp transport" in reply
            assert udp(sock.address, b"c0001#json") == b"[1795245643.0003388, 123456.789]"


def test_push_over_tcp(serve):
    sock = serve(DataPushSocket("p", port=0, host=HOST, transport="tcp", action="callback_direct",
                                callback=lambda data: sorted(data)))
    with PushClient(HOST, sock.port, transport="tcp") as client:
        for _ in range(3):
            assert client.push({"b": 1, "a": 2}).value == ["a", "b"]
        assert client.name() == "p"


class LoopbackTransport(Transport):
    """A third-party transport: no ``peer.reply``, so the socket must answer inline."""

    name = "loopback"
    instances: list[LoopbackTransport] = []

    def __init__(self, handler, host="0.0.0.0", port=0, **options):
        super().__init__(handler, host, port, **options)
        LoopbackTransport.instances.append(self)

    @property
    def address(self):
        return ("loopback", 1)

    def start(self):
        pass

    def stop(self):
        pass

    @classmethod
    def request(cls, address, payload, timeout=2.0):
        return cls.instances[-1].handler(payload, object())


def test_a_third_party_transport_class(serve):
    serve(DataPushSocket("p", port=0, transport=LoopbackTransport, action="callback_direct",
                                callback=lambda data: data["x"] * 2))
    assert LoopbackTransport.request(None, b'json_wn#{"x": 21}') == b"RET#42"
    assert json.loads(LoopbackTransport.request(None, b"status"))["socket_server_status"]["1/loopback"]["name"] == "p"
    with PushClient("loopback", 1, transport=LoopbackTransport) as client:
        assert client.push({"x": 2}).value == 4


@pytest.mark.parametrize("name", ["udp", "tcp"])
def test_a_handler_may_stop_its_own_transport(name):
    holder = {}

    def handler(request, peer):
        holder["transport"].stop()
        return b"bye"

    transport = holder["transport"] = make_transport(name, handler, HOST, 0)
    transport.start()
    address = transport.address
    if name == "udp":
        assert udp(address, b"stop") == b"bye"
    else:
        with pytest.raises(OSError):  # the connection is closed under the reply
            TcpConnection(address).request(b"stop")
    deadline = time.monotonic() + 5
    while transport.running:  # the client may see the close before stop() has returned
        assert time.monotonic() < deadline
        time.sleep(0.01)
    rebound = make_transport(name, echo, HOST, address[1])
    while True:  # the port comes free as soon as the serving thread has left
        try:
            rebound.start()
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    rebound.stop()


def test_transport_options_reach_the_transport(serve):
    sock = serve(DateDataPullSocket("n", ["a"], port=0, host=HOST, transport="tcp",
                                    transport_options={"max_message": 4}))
    assert sock._transport.max_message == 4
    assert TcpTransport.request(sock.address, b"name") == b"n"
    with pytest.raises(OSError):
        TcpTransport.request(sock.address, b"json_wn")  # longer than max_message: connection closed


def test_ipv6(serve):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    sock = serve(DateDataPullSocket("six", ["a"], port=0, host="::1"))
    assert PullClient("::1", sock.port).name() == "six"
