"""lab-mysql's hook implementations: the ``mysql`` writer, its read-back store and the ``lab mysql`` commands.

Only names here: PyMySQL is imported when a writer is made or a command runs.
"""

from lab_core import hookimpl


@hookimpl
def lab_writers():
    return {"mysql": "lab_mysql.writer:MySQLWriter"}


@hookimpl
def lab_stores():
    return {"mysql": "lab_mysql.store:MySQLStore"}  # `lab data` reads what the mysql writer stored


@hookimpl
def lab_subcommands(subparsers):
    from .cli import add_commands  # argparse only; the commands import PyMySQL when they run

    add_commands(subparsers)
