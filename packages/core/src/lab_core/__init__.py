"""lab-core: the contracts of the lab ecosystem and the embedded defaults.

Everything a plugin author or a script needs is importable from here.
"""

import pluggy

__version__ = "1.0.0"
#: The plugin API generation: plugins declare ``lab-core>=1.0,<2`` in their dependencies.
API_VERSION = "1.0"

#: Marks a plugin module's hook implementations: ``@lab_core.hookimpl``.
hookimpl = pluggy.HookimplMarker("lab")

from .collector import Collector, DataCollectionListener, IntervalPolicy  # noqa: E402
from .contracts import DROP, JobPlugin, Processor, Reader, StreamProcessor, Transport, Writer  # noqa: E402
from .errors import (  # noqa: E402
    CollectorClosed,
    ConfigError,
    LabError,
    PluginConflict,
    PluginError,
    RejectedSamples,
    UnknownContext,
    UnknownPlugin,
)
from .model import Aggregate, Context, ContextState, Sample, Variable, check_codename  # noqa: E402
from .registry import Registry, default_registry  # noqa: E402
from .spool import DiskSpool, MemorySpool, Spool, make_spool  # noqa: E402

__all__ = [
    "API_VERSION", "DROP", "Aggregate", "JobPlugin", "StreamProcessor",
    "Collector", "CollectorClosed", "ConfigError", "Context", "ContextState",
    "DataCollectionListener", "DiskSpool", "IntervalPolicy", "LabError",
    "MemorySpool", "PluginConflict", "PluginError", "Processor", "Reader", "Registry",
    "RejectedSamples", "Sample", "Spool", "Transport", "UnknownContext", "UnknownPlugin",
    "Variable", "Writer", "__version__", "check_codename", "default_registry", "hookimpl",
    "make_spool",
]
