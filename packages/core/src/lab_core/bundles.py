"""Per-lab bundles: a distribution that pins a curated set of plugin distributions and ships
the lab's default configuration (through the ``lab_bundle_config`` hook)."""

from __future__ import annotations

from pathlib import Path

from .errors import LabError
from .registry import Registry, default_registry


def default_config(registry: Registry | None = None) -> Path | None:
    """The installed bundle's default configuration; None without a bundle.

    Two bundles in one environment is an error: say which to use.
    """
    bundles = (registry or default_registry()).bundles()
    if not bundles:
        return None
    if len(bundles) > 1:
        names = ", ".join(sorted(bundles))
        raise LabError(f"several bundles are installed ({names}); give the configuration file: lab run CONFIG.toml")
    (_, path), = bundles.values()
    return Path(path)
