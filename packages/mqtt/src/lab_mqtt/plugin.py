"""lab-mqtt's hook implementations: the ``mqtt`` reader and writer and the ``lab mqtt`` commands.

Only names here: paho-mqtt is imported when a reader or writer is made or a command runs.
"""

from lab_core import hookimpl


@hookimpl
def lab_readers():
    return {"mqtt": "lab_mqtt.reader:MQTTReader"}


@hookimpl
def lab_writers():
    return {"mqtt": "lab_mqtt.writer:MQTTWriter"}


@hookimpl
def lab_subcommands(subparsers):
    from .cli import add_subcommands

    add_subcommands(subparsers)
