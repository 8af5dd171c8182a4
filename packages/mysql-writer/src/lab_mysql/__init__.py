"""lab-mysql: PyExpLabSys-compatible MySQL/MariaDB writer, ContinuousLogger, ContinuousDataSaver, DataSetSaver.

Importing this package does not import PyMySQL; the classes below are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "1.0.0"

_LAZY = {
    "MySQLWriter": "lab_mysql.writer",
    "ContinuousLogger": "lab_mysql.logger",
    "ContinuousDataSaver": "lab_mysql.logger",
    "StartupException": "lab_mysql.logger",
    "DataSetSaver": "lab_mysql.datasets",
    "CustomColumn": "lab_mysql.datasets",
    "XYWriter": "lab_mysql.datasets",
    "ConnectionSettings": "lab_mysql.connection",
    "MySQLSetupError": "lab_mysql.errors",
    "MySQLUnavailable": "lab_mysql.errors",
    "SchemaError": "lab_mysql.errors",
    "UnknownCodenames": "lab_mysql.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lab_mysql' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
