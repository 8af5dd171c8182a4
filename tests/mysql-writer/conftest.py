"""Fixtures for lab-mysql's tests (helpers live in mysql_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from services import throwaway_mariadb  # noqa: E402


@pytest.fixture(scope="session")
def _throwaway_server(tmp_path_factory):
    server = throwaway_mariadb(tmp_path_factory.mktemp("mariadb"))
    yield server
    server.stop()


@pytest.fixture(name="throwaway_mariadb")
def throwaway_mariadb_fixture(_throwaway_server):
    """This worker's private MariaDB server, running at the start of the test (tests may stop it)."""
    if not _throwaway_server.running:
        _throwaway_server.start()
    yield _throwaway_server
    if not _throwaway_server.running:
        _throwaway_server.start()
