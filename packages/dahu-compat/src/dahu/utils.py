"""dahu's ``dahu.utils``: ISO times, the work directory, a JSON encoder for NumPy, names."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from lab_dahu.persistence import jsonable, workdir

__all__ = ["NumpyEncoder", "fully_qualified_name", "get_isotime", "get_workdir"]


def get_isotime(forceTime: float | None = None, for_path: bool = False) -> str:  # noqa: N803 - dahu's name
    """The local time (now, or ``forceTime``) as ISO 8601 with its UTC offset;
    ``for_path``: ``2026-12-01T10h32m05``, usable in a file name."""
    moment = time.localtime(time.time() if forceTime is None else forceTime)
    if for_path:
        return time.strftime("%Y-%m-%dT%Hh%Mm%S", moment)
    offset = moment.tm_gmtoff // 60
    sign = "+" if offset >= 0 else "-"
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


def get_workdir(basedir: str | None = None) -> str:
    """The directory jobs are written to (made if missing).

    Without ``basedir``: lab-dahu's work directory (``$DAHU_WORKDIR``…). With
    ``basedir``: as dahu, a ``dahu_<time>`` folder inside it (or ``basedir``
    itself if it is such a folder already)."""
    if basedir is None:
        path = str(workdir())
    elif os.path.basename(os.path.normpath(basedir)).startswith("dahu_"):
        path = os.path.abspath(basedir)
    else:
        path = os.path.join(basedir, f"dahu_{get_isotime(for_path=True)}")
    os.makedirs(path, exist_ok=True)
    return path


class NumpyEncoder(json.JSONEncoder):
    """``json.dumps(data, cls=NumpyEncoder)``: NumPy arrays and scalars become lists and numbers."""

    def default(self, obj: Any) -> Any:
        return jsonable(obj)


def fully_qualified_name(obj: Any) -> str:
    """``module.name`` of a class or function (of an instance: of its class), lower-cased, as dahu."""
    if not hasattr(obj, "__module__") or not hasattr(obj, "__name__"):
        obj = type(obj)
    return f"{obj.__module__}.{obj.__name__}".lower()
