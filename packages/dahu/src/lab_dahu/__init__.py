"""lab-dahu: processing jobs and plugins, compatible with dahu.

::

    from lab_dahu import Job
    job = Job("example.square", {"x": 3}).start()
    job.join()
    assert job.output_data["result"] == 9
"""

__version__ = "1.0.0"

from .base import Plugin, PluginFromFunction, function_plugin_class, plugin_from_function  # noqa: E402
from .cache import DataCache  # noqa: E402
from .executors import (  # noqa: E402
    DaskExecutor,
    Executor,
    ProcessExecutor,
    ThreadExecutor,
    get_default_executor,
    make_executor,
    set_default_executor,
)
from .factory import Factory, plugin_factory, register  # noqa: E402
from .job import Job  # noqa: E402

__all__ = [
    "DaskExecutor", "DataCache", "Executor", "Factory", "Job", "Plugin", "PluginFromFunction",
    "ProcessExecutor", "ThreadExecutor", "__version__", "function_plugin_class", "get_default_executor",
    "make_executor", "plugin_factory", "plugin_from_function", "register", "set_default_executor",
]
