"""Fixtures for lab-dahu: a throwaway work directory, a small real UDP transport, a registry with it."""

from __future__ import annotations

import pytest
from dahu_udp_transport import TestTransports

import lab_core
import lab_dahu.persistence
from lab_core import Registry


@pytest.fixture
def registry():
    """A fresh registry of the installed plugins plus the ``test-udp`` transport."""
    reg = Registry()
    reg.register(TestTransports(), "dahu-test-transports")
    return reg


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    """Every test cleans its jobs into its own directory."""
    path = tmp_path / "dahu-work"
    monkeypatch.setattr(lab_dahu.persistence, "_workdir", path)
    return path


assert lab_core  # the package under test builds on it
