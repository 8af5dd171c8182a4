"""lab-core's own plugin: the embedded defaults, registered like any third party's."""

from . import hookimpl


@hookimpl
def lab_readers():
    return {"demo": "lab_core.readers.demo:DemoReader"}


@hookimpl
def lab_writers():
    return {
        "csv": "lab_core.writers.csv:CsvWriter",
        "sqlite": "lab_core.writers.sqlite:SqliteWriter",
        "console": "lab_core.writers.console:ConsoleWriter",
        "null": "lab_core.writers.console:NullWriter",
    }


@hookimpl
def lab_stores():
    return {"sqlite": "lab_core.stores.sqlite:SqliteStore"}


@hookimpl
def lab_stream_processors():
    return {
        "deadband": "lab_core.processors.deadband:Deadband",
        "window": "lab_core.processors.window:Window",
        "scale": "lab_core.processors.transforms:Scale",
        "convert": "lab_core.processors.transforms:Convert",
        "clamp": "lab_core.processors.transforms:Clamp",
        "cast": "lab_core.processors.transforms:Cast",
    }


@hookimpl
def lab_subcommands(subparsers):
    from .commands import add

    add(subparsers)
