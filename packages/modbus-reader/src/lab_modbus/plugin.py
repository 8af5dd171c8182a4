"""lab-modbus's hook implementations: the ``modbus`` reader and the ``lab modbus`` commands.

Only names here: pymodbus is imported when a reader is made or a command runs.
"""

from lab_core import hookimpl


@hookimpl
def lab_readers():
    return {"modbus": "lab_modbus.reader:ModbusReader"}


@hookimpl
def lab_subcommands(subparsers):
    from .cli import add_subcommands

    add_subcommands(subparsers)
