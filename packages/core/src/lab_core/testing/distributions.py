"""Throwaway installed distributions for tests: a real ``.dist-info`` in a directory on sys.path."""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_distribution(root: str | Path, name: str, *, version: str = "1.0", plugin: str | None = None,
                      module: str | None = None, source: str = "", requires: tuple[str, ...] = ()) -> Path:
    """Write distribution ``name`` into ``root`` (put ``root`` on sys.path to install it).

    ``plugin`` names its ``lab`` entry point (default: ``name``), which points at
    ``module`` (default: ``<name>_plugin``) whose code is ``source``. ``requires``
    are Requires-Dist lines, e.g. ``("lab-core>=2",)``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    plugin = plugin or name
    module = module or f"{name.replace('-', '_')}_plugin"
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(metadata) + "\n")
    (info / "entry_points.txt").write_text(f"[lab]\n{plugin} = {module}\n")
    return info
