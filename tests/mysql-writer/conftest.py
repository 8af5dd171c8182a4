"""Fixtures for lab-mysql's tests (helpers live in mysql_helpers.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mysql_helpers import IN_CI, INSTALL_DB, MARIADBD, ThrowawayMariaDB, service_missing  # noqa: E402


@pytest.fixture(scope="session")
def _throwaway_server(tmp_path_factory):
    if not (MARIADBD and INSTALL_DB and os.access(MARIADBD, os.X_OK)):
        message = "mariadbd / mariadb-install-db are not installed (needed for a throwaway server)"
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing service is a failure)")
        service_missing(message)
    server = ThrowawayMariaDB(tmp_path_factory.mktemp("mariadb"))
    try:
        server.install()
        server.start()
    except Exception as exc:
        server.stop(kill=True)
        service_missing(f"a throwaway mariadbd ({exc})")
    yield server
    server.stop()


@pytest.fixture
def throwaway_mariadb(_throwaway_server):
    """This worker's private MariaDB server, running at the start of the test (tests may stop it)."""
    if not _throwaway_server.running:
        _throwaway_server.start()
    yield _throwaway_server
    if not _throwaway_server.running:
        _throwaway_server.start()
