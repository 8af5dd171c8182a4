"""Fixtures for lab-sockets' tests: servers on 127.0.0.1, port 0, always stopped."""

from __future__ import annotations

import pytest


@pytest.fixture
def serve():
    """``serve(server)`` starts a socket server (or transport) and stops it after the test."""
    started = []

    def start(server):
        server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
