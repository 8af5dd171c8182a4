"""lab-dahu: processing jobs and plugins, compatible with dahu.

::

    from lab_dahu import Job
    job = Job("example.square", {"x": 3}).start()
    job.join()
    assert job.output_data["result"] == 9

Names are imported on first use (PEP 562), so that loading lab-dahu's plugin
module (``lab plugins``, ``lab run``) costs next to nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "1.0.0"

_WHERE = {
    "Plugin": "base", "PluginFromFunction": "base", "function_plugin_class": "base", "plugin_from_function": "base",
    "DataCache": "cache",
    "DaskExecutor": "executors", "Executor": "executors", "ProcessExecutor": "executors",
    "ThreadExecutor": "executors", "get_default_executor": "executors", "make_executor": "executors",
    "set_default_executor": "executors",
    "Factory": "factory", "plugin_factory": "factory", "register": "factory",
    "Job": "job",
}

__all__ = ["__version__", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lab_dahu' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:  # for type checkers and IDEs
    from .base import Plugin, PluginFromFunction, function_plugin_class, plugin_from_function  # noqa: F401
    from .cache import DataCache  # noqa: F401
    from .executors import (  # noqa: F401
        DaskExecutor,
        Executor,
        ProcessExecutor,
        ThreadExecutor,
        get_default_executor,
        make_executor,
        set_default_executor,
    )
    from .factory import Factory, plugin_factory, register  # noqa: F401
    from .job import Job  # noqa: F401
