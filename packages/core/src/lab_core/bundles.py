"""Per-lab bundles (filled in by the bundle work): a bundle's default configuration."""

from __future__ import annotations

from pathlib import Path


def default_config() -> Path | None:
    return None
