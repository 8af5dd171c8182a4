"""lab-mysql's hook implementations: the ``mysql`` writer and the ``lab mysql`` commands.

Only names here: PyMySQL is imported when a writer is made or a command runs.
"""

from lab_core import hookimpl


@hookimpl
def lab_writers():
    return {"mysql": "lab_mysql.writer:MySQLWriter"}


@hookimpl
def lab_subcommands(subparsers):
    from .cli import add_commands  # argparse only; the commands import PyMySQL when they run

    add_commands(subparsers)
