"""The embedded writers (csv, sqlite, console, null) and what the file writers share."""

from __future__ import annotations

import tempfile
from pathlib import Path


def check_file_target(path: Path, example: str) -> None:
    """Raise ``ValueError`` saying why this process cannot write the file ``path`` (as it is, or
    created with its missing parent directories); leave nothing behind. ``example``: a file name
    to suggest when ``path`` is a directory."""
    if path.is_dir():
        raise ValueError(f"path {path} is a directory; give the path of a file in it, e.g. {path / example}")
    if path.exists():
        try:
            with open(path, "ab"):
                pass
        except OSError as exc:
            raise ValueError(f"path {path} cannot be written ({exc.strerror}); fix its permissions "
                             f"or choose another path") from None
        return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:  # the writer makes missing directories here
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"path {path} cannot be created: {parent} is a file, not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".lab-check-"):
            pass
    except OSError as exc:
        raise ValueError(f"path {path} cannot be created: no file can be made in {parent} ({exc.strerror}); "
                         f"fix the directory's permissions or choose another path") from None


__all__ = ["check_file_target"]
