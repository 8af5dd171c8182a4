"""lab-scpi's hook implementations: the ``scpi`` and ``serial-line`` readers and the ``lab scpi`` commands.

Only names here: pyvisa and pyserial are imported when a reader is made or a command runs.
"""

from lab_core import hookimpl


@hookimpl
def lab_readers():
    return {"scpi": "lab_scpi.reader:ScpiReader", "serial-line": "lab_scpi.serial_line:SerialLineReader"}


@hookimpl
def lab_subcommands(subparsers):
    from .cli import add_subcommands

    add_subcommands(subparsers)
