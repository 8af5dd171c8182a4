"""Helpers of the lab-mqtt tests."""

from __future__ import annotations

import time


def read_until(reader, variables, count, timeout=30.0):
    """Samples from repeated reads until ``count`` were returned (buffered reader) or ``timeout``."""
    samples = []
    deadline = time.monotonic() + timeout
    while len(samples) < count and time.monotonic() < deadline:
        samples += reader.read(variables)
        time.sleep(0.05)
    return samples
