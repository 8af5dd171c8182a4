"""Who may feed and open the dashboard, and that no peer can squat its connections."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest
from live_helpers import RawSender, wait_until

from lab_live import LiveConfig


def _get(server, path: str = "/healthz", timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(f"{server.url.rstrip('/')}{path}", timeout=timeout) as reply:
        return reply.read()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_datagrams_from_outside_udp_allow_are_dropped(make_server):
    refused = make_server(udp_allow=["10.0.0.0/8"])
    sender = RawSender(refused.udp_address[1])
    sender.send({"temp": [1.0, 20.5]})
    allowed = make_server(udp_allow=["10.0.0.0/8", "127.0.0.1"])
    other = RawSender(allowed.udp_address[1])
    other.send({"temp": [1.0, 20.5]})
    try:
        wait_until(lambda: allowed.hub.snapshot(history=False)["channels"], what="the allowed datagram")
        time.sleep(0.1)
        assert not refused.hub.snapshot(history=False)["channels"]
        assert refused.receiver.refusals.total == 1
    finally:
        sender.close()
        other.close()


def test_the_page_is_refused_outside_http_allow(make_server):
    refused = make_server(http_allow=["192.168.9.0/24"])
    with pytest.raises(OSError):
        _get(refused)
    assert _get(make_server(http_allow=["127.0.0.0/8"])) == b"ok\n"


def test_idle_connections_of_one_peer_make_room_for_a_request_and_time_out(make_server):
    server = make_server()
    server.http.slots.max_per_peer = 4
    idle = [socket.create_connection(server.http_address) for _ in range(4)]
    try:
        wait_until(lambda: len(server.http.slots) == 4, what="four connections accepted")
        assert _get(server) == b"ok\n"  # a fifth one is served: the longest-idle made room for it
        assert _closed_within(idle[0], 2.0)
        server.http.request_timeout = 0.5
        late = socket.create_connection(server.http_address)
        idle.append(late)
        assert _closed_within(late, 5.0)  # no request within request_timeout
    finally:
        for sock in idle:
            sock.close()


def test_event_streams_are_never_closed_for_a_newcomer(make_server):
    server = make_server()
    server.http.slots.max_per_peer = 2
    streams = [urllib.request.urlopen(f"{server.url.rstrip('/')}/events", timeout=5) for _ in range(2)]
    try:
        wait_until(lambda: all(s.busy for s in server.http.slots.all()) and len(server.http.slots) == 2,
                   what="two event streams")
        with pytest.raises(OSError):
            _get(server)  # both slots of this peer are busy streaming: refused
        assert all(stream.readline() for stream in streams)  # and both streams still flow
    finally:
        for stream in streams:
            stream.close()


def test_a_bad_network_is_refused_when_configured():
    with pytest.raises(ValueError, match="allow: 'ten' is not a network or an address"):
        LiveConfig(udp_allow=["ten"])
