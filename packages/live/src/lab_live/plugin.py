"""lab-live's hook implementations: the ``lab live`` sub-command (its code is imported only when run)."""

from lab_core import hookimpl


@hookimpl
def lab_subcommands(subparsers):
    from .cli import add_parser

    add_parser(subparsers)
