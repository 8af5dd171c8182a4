"""dahu's ``dahu.version``: the version of lab-dahu-compat, in dahu's forms."""

from __future__ import annotations

from collections import namedtuple

MAJOR, MINOR, MICRO = 1, 0, 0
RELEV, SERIAL = "final", 0
date = "2026-12-01"

_VersionInfo = namedtuple("_VersionInfo", ["major", "minor", "micro", "releaselevel", "serial"])
version_info = _VersionInfo(MAJOR, MINOR, MICRO, RELEV, SERIAL)
strictversion = version = debianversion = f"{MAJOR}.{MINOR}.{MICRO}"
hexversion = (MAJOR << 24) | (MINOR << 16) | (MICRO << 8) | (0xF << 4) | SERIAL
