"""Fixtures for lab-live: a running dashboard on free ports (UDP and HTTP port 0), raw senders."""

from __future__ import annotations

import pytest
from live_helpers import RawPullSocket, RawSender, SseClient


@pytest.fixture
def make_server():
    """``make_server(**LiveConfig options)`` -> a started LiveServer on 127.0.0.1, ports 0; stopped after."""
    from lab_live import LiveServer

    servers = []

    def make(**options):
        options = {"udp_host": "127.0.0.1", "udp_port": 0, "http_port": 0, **options}
        server = LiveServer(**options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def sender(server):
    s = RawSender(server.udp_address[1])
    yield s
    s.close()


@pytest.fixture
def pull_socket():
    """``pull_socket(points, silent=False)`` -> a RawPullSocket on 127.0.0.1; closed after."""
    made = []

    def make(points=None, silent=False):
        sock = RawPullSocket(points, silent)
        made.append(sock)
        return sock

    yield make
    for sock in made:
        sock.close()


@pytest.fixture
def sse():
    """``sse(server, read=True)`` -> an SseClient on the server's /events; closed after."""
    made = []

    def make(server, read=True):
        client = SseClient(server.http_address, read=read)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
