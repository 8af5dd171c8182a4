"""lab-dahu's hook implementations: its example processing plugins and its ``lab dahu`` commands."""

from lab_core import hookimpl


@hookimpl
def lab_jobs():
    return {
        "example.square": "lab_dahu.examples:Square",
        "example.cube": "lab_dahu.examples:Cube",
        "example.noop": "lab_dahu.examples:Noop",
        "example.sleep": "lab_dahu.examples:Sleep",
    }


@hookimpl
def lab_subcommands(subparsers):
    from .cli import add_subcommands

    add_subcommands(subparsers)
