"""``lab data tail|export|codenames CONFIG|STORE``: read stored samples back by codename and time range.

The argument is a configuration (``*.toml``: a writer of it that can be read back is the store;
``--writer NAME`` picks one) or a store itself: a file (the sqlite writer's) or an address
(``mysql://USER@HOST/DATABASE`` with lab-mysql). Stores come from the ``lab_stores`` hook, so
lab-core reads MySQL without importing lab-mysql. Output streams to stdout (a table for
people, CSV, JSON or JSON lines), oldest point first; times are UTC.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import difflib
import fnmatch
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from .errors import ConfigError, LabError, PluginError
from .exitcodes import ExitCode
from .registry import Registry, default_registry
from .stores import NoSuchTable, Point, Store, StoreError, StoreUnavailable

FORMATS = ("table", "csv", "json", "jsonl")
EPILOG = """\
WHEN (--since, --until) is an ISO time (2026-12-02T06:00; UTC unless it carries an offset such
as +01:00 or Z), a unix time (1764655200), or an age: 90s, 15m, 1h, 2d, 1w ago. --since is
inclusive, --until exclusive. --codename takes globs (--codename 'plc_*'), repeatable.
"""


def add(subparsers) -> None:
    data = subparsers.add_parser("data", help="read stored samples back by codename and time range "
                                              "(tail, export, codenames)")
    sub = data.add_subparsers(title="data commands", metavar="COMMAND")
    data.set_defaults(func=lambda args: (data.print_help(), ExitCode.CONFIG)[1])

    tail = sub.add_parser("tail", help="the last points stored (a table by default); -f follows new ones",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _source_arguments(tail)
    tail.add_argument("-n", "--lines", type=_positive, default=10, metavar="N", help="the last N points (10)")
    tail.add_argument("-f", "--follow", action="store_true", help="then print points as they are stored, "
                                                                  "until Ctrl-C")
    tail.add_argument("--interval", type=float, default=1.0, metavar="S",
                      help="with --follow: look for new points every S seconds (1)")
    tail.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv, json, jsonl")
    tail.set_defaults(func=cmd_tail, command="tail")

    export = sub.add_parser("export", help="every point in a time range, streamed (CSV by default)",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _source_arguments(export)
    export.add_argument("--format", choices=FORMATS, default="csv", help="csv (default), table, json, jsonl")
    export.set_defaults(func=cmd_export, command="export")

    names = sub.add_parser("codenames", help="the codenames a store knows (id, codename, description)")
    _source_arguments(names, selection=False)
    names.add_argument("--json", action="store_true", help="as JSON, for scripts")
    names.set_defaults(func=cmd_codenames, command="codenames")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of points, got {text}")
    return value


def _source_arguments(parser: argparse.ArgumentParser, selection: bool = True) -> None:
    parser.add_argument("source", metavar="CONFIG|STORE",
                        help="a configuration (.toml), an SQLite file, or an address such as mysql://USER@HOST/DB")
    parser.add_argument("--writer", metavar="NAME", help="with a configuration: which [writers.NAME] to read")
    parser.add_argument("--setup", metavar="NAME", help="with a store: read dateplots_NAME")
    parser.add_argument("--table", metavar="NAME", help="with a store: read this table (instead of --setup)")
    if selection:
        parser.add_argument("--codename", action="append", default=[], metavar="PATTERN",
                            help="only these codenames (globs allowed; repeatable; default: all)")
        parser.add_argument("--since", metavar="WHEN", help="from this time on (inclusive)")
        parser.add_argument("--until", metavar="WHEN", help="up to this time (exclusive)")


# -- finding the store --------------------------------------------------------------------

#: Keys of a [writers.NAME] table that are the collector's, not the writer plugin's options.
COLLECTOR_KEYS = ("plugin", "spool", "processors")


@attrs.frozen
class Source:
    """The store named on the command line, and how a person sets its table."""

    store: Store
    command: str  # the command as typed, up to the source: "lab data tail lab.sqlite"
    config: str | None = None
    writer: str | None = None

    def codenames_command(self) -> str:
        source = shlex.quote(self.config) + f" --writer {self.writer}" if self.config else self.command.split(" ", 3)[3]
        return f"lab data codenames {source}"

    def table_hint(self, found: Sequence[str]) -> str:
        if self.config is not None:
            return (f"the table comes from [writers.{self.writer}] (setup or table) in {self.config}; "
                    f"nothing is stored until the collector ran: lab run {shlex.quote(self.config)}")
        if not found:
            return "nothing was written to it yet"
        setup = found[0].removeprefix("dateplots_")
        flag = f"--setup {setup}" if setup != found[0] else f"--table {found[0]}"
        return f"read one with: {self.command} {flag}"


def open_source(args: argparse.Namespace, registry: Registry | None = None) -> Source:
    registry = registry or default_registry()
    command = f"lab data {args.command} {shlex.quote(args.source)}"
    if args.source.lower().endswith(".toml"):
        if args.setup or args.table:
            raise ConfigError(f"--setup/--table: {args.source} is a configuration, whose writer names its "
                              "table; pick the writer with --writer NAME")
        writer = _pick_writer(args.source, args.writer, registry, command)
        return Source(_config_store(args.source, writer, registry), command, args.source, writer[0])
    if args.writer:
        raise ConfigError(f"--writer: {args.source} is a store, not a configuration (.toml)")
    return Source(_address_store(args.source, args.setup, args.table, registry), command)


def _pick_writer(path: str, wanted: str | None, registry: Registry, command: str) -> tuple[str, str, dict]:
    """``(name, plugin, options)`` of the configuration's writer to read back."""
    from .config import read_toml
    from .options import did_you_mean

    writers = read_toml(path).get("writers")
    if not isinstance(writers, dict) or not writers:
        raise ConfigError(f"{path} has no [writers.NAME] tables: nothing is stored through it")
    stores = registry.components("store")
    plugins = {n: (t.get("plugin", n) if isinstance(t, dict) else None) for n, t in writers.items()}
    readable = [n for n, plugin in plugins.items() if plugin in stores]
    if wanted is None:
        if len(readable) == 1:
            wanted = readable[0]
        elif not readable:
            raise ConfigError(f"{path}: none of its writers ({', '.join(writers)}) can be read back; lab data "
                              f"reads writers of the plugins {', '.join(sorted(stores))}")
        else:
            raise ConfigError(f"{path} has {len(readable)} writers that can be read back "
                              f"({', '.join(readable)}); pick one: {command} --writer {readable[0]}")
    if wanted not in writers:
        close = did_you_mean(wanted, writers)
        raise ConfigError(f"--writer {wanted}: {path} has no [writers.{wanted}]"
                          + (f"; did you mean {close}?" if close else "") + f" Its writers: {', '.join(writers)}")
    if wanted not in readable:
        raise ConfigError(f"--writer {wanted}: its plugin {plugins[wanted]} cannot be read back; lab data reads "
                          f"writers of the plugins {', '.join(sorted(stores))}"
                          + (f" ({path}'s: {', '.join(readable)})" if readable else ""))
    options = {k: v for k, v in writers[wanted].items() if k not in COLLECTOR_KEYS}
    return wanted, plugins[wanted], options


def _config_store(path: str, writer: tuple[str, str, dict], registry: Registry) -> Store:
    name, plugin, options = writer
    try:
        made = registry.make("writer", plugin, **options)  # checks the options; opens nothing
        return registry.get_class("store", plugin).from_writer(made)
    except LabError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (TypeError, ValueError, OSError) as exc:  # the writer's own checks of its values
        raise ConfigError(f"{path}: writers.{name}: {exc}") from None


def _store_classes(registry: Registry) -> tuple[list[type[Store]], list[str]]:
    """The installed store classes, and what kept others from loading."""
    classes, broken = [], []
    for name in registry.components("store"):
        try:
            classes.append(registry.get_class("store", name))
        except PluginError as exc:
            broken.append(str(exc))
    return classes, broken


def _address_store(address: str, setup: str | None, table: str | None, registry: Registry) -> Store:
    classes, broken = _store_classes(registry)
    schemes = sorted(s for cls in classes for s in cls.schemes)
    kinds = "a configuration (.toml), an SQLite file the sqlite writer wrote" + "".join(
        f", or an address {s}://…" for s in schemes)
    also = "".join(f"\n  {problem}" for problem in broken)
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", address)
    if match:
        scheme = match[1].lower()
        for cls in classes:
            if scheme in cls.schemes:
                return cls.from_address(address, setup=setup, table=table)
        raise ConfigError(f"no installed store reads {scheme}:// addresses; give {kinds}. Is the distribution "
                          f"that reads them installed (`lab plugins`)?{also}")
    path = Path(address)
    if not path.is_file():
        raise ConfigError(f"no file {address}" + (" (it is a directory)" if path.is_dir() else "")
                          + f"; give {kinds}")
    for cls in classes:
        if cls.opens_path(path):
            return cls.from_address(address, setup=setup, table=table)
    raise ConfigError(f"{address} is not a store lab can read; give {kinds}{also}")


def _open(source: Source, table: bool = True) -> Store:
    try:
        source.store.open(table)
    except NoSuchTable as exc:
        source.store.close()
        raise StoreError(f"{exc}; {source.table_hint(exc.found)}") from None
    return source.store


# -- choosing codenames and times --------------------------------------------------------


def select_codenames(store: Store, patterns: Sequence[str], source: Source) -> tuple[dict[int, str], list[int] | None]:
    """``({id: codename} to show, ids to ask for or None for all)``; an unknown codename is an error
    naming the near matches."""
    names = {row_id: codename for row_id, codename, _ in store.codenames()}
    if not patterns:
        return names, None
    chosen: dict[int, str] = {}
    for pattern in patterns:
        hits = {i: c for i, c in names.items() if fnmatch.fnmatchcase(c, pattern)}
        if not hits:
            raise StoreError(_unknown_codename(pattern, sorted(set(names.values())), store, source))
        chosen.update(hits)
    return chosen, sorted(chosen)


def _unknown_codename(pattern: str, known: list[str], store: Store, source: Source) -> str:
    bare = pattern.strip("*?[]").lower()
    near = difflib.get_close_matches(pattern, known, n=5, cutoff=0.7)
    near += [c for c in known if bare and bare in c.lower() and c not in near][:5 - len(near)]
    what = "matches no codename" if any(ch in pattern for ch in "*?[") else "is not a codename"
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return (f"--codename {pattern} {what} of {store.describe()}{hint} "
            f"It knows {len(known)} codename(s): {source.codenames_command()}")


_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, option: str, now: float | None = None) -> float:
    """A unix time from an ISO time (UTC unless it has an offset), a unix time or an age (``15m``)."""
    text = text.strip()
    age = _AGE.match(text)
    if age:
        return (time.time() if now is None else now) - float(age[1]) * _UNITS[age[2]]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" and text else text)
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a time; give an ISO time (2026-12-02T06:00, UTC unless "
                          "it has an offset), a unix time, or an age such as 90s, 15m, 1h, 2d") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


def time_range(args: argparse.Namespace) -> tuple[float | None, float | None]:
    now = time.time()
    since = None if args.since is None else parse_when(args.since, "--since", now)
    until = None if args.until is None else parse_when(args.until, "--until", now)
    if since is not None and until is not None and since >= until:
        raise ConfigError(f"--since {args.since} is not before --until {args.until}: the range is empty")
    return since, until


# -- output ----------------------------------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1)


def unix_time(when: dt.datetime) -> float:
    return (when - _EPOCH).total_seconds()


def iso_time(when: dt.datetime) -> str:
    """As the csv writer's ``iso_time`` column: ``2026-12-02T06:00:00.250000+00:00``."""
    return when.isoformat(timespec="microseconds") + "+00:00"


def _record(point: Point, codename: str) -> dict[str, Any]:
    return {"time": unix_time(point.time), "iso_time": iso_time(point.time), "codename": codename,
            "value": point.value}


class Output:
    """Writes points to ``out`` in one format: ``start()``, ``row()`` per point, ``end()``."""

    def __init__(self, out: TextIO, codenames: Iterable[str]):
        self.out = out
        self.width = max([len("CODENAME"), *(len(c) for c in codenames)])

    def start(self) -> None:
        pass

    def row(self, point: Point, codename: str) -> None:
        raise NotImplementedError

    def end(self) -> None:
        pass


class TableOutput(Output):
    def start(self) -> None:
        self.out.write(f"{'TIME (UTC)':<26}  {'CODENAME':<{self.width}}  VALUE\n")

    def row(self, point: Point, codename: str) -> None:
        value = "" if point.value is None else repr(point.value)
        self.out.write(f"{point.time.isoformat(' ', 'microseconds')}  {codename:<{self.width}}  {value}\n")


class CsvOutput(Output):
    """The csv writer's columns (``time,iso_time,codename,value``), less ``error``: stored points have none."""

    def start(self) -> None:
        self.csv = csv.writer(self.out, lineterminator="\n")
        self.csv.writerow(("time", "iso_time", "codename", "value"))

    def row(self, point: Point, codename: str) -> None:
        self.csv.writerow((repr(unix_time(point.time)), iso_time(point.time), codename,
                           "" if point.value is None else repr(point.value)))


class JsonOutput(Output):
    """One JSON array, written as the points come."""

    def start(self) -> None:
        self.first = True

    def row(self, point: Point, codename: str) -> None:
        self.out.write(("[\n" if self.first else ",\n") + json.dumps(_record(point, codename)))
        self.first = False

    def end(self) -> None:
        self.out.write("[]\n" if self.first else "\n]\n")


class JsonLinesOutput(Output):
    def row(self, point: Point, codename: str) -> None:
        self.out.write(json.dumps(_record(point, codename)) + "\n")


OUTPUTS = {"table": TableOutput, "csv": CsvOutput, "json": JsonOutput, "jsonl": JsonLinesOutput}


def with_progress(points: Iterable[Point], stream: TextIO) -> Iterator[Point]:
    """``points``, counted on ``stream`` (stderr) every half second and at the end, when it is a terminal."""
    if not stream.isatty():
        yield from points
        return
    start = shown = time.monotonic()
    count = 0
    for count, point in enumerate(points, 1):
        yield point
        if not count % 4096 and time.monotonic() - shown >= 0.5:
            shown = time.monotonic()
            stream.write(f"\r{count:,} points ({count / (shown - start):,.0f}/s)…")
            stream.flush()
    stream.write(f"\r{count:,} points in {time.monotonic() - start:.1f} s\n")


class Printer:
    """Names points and hands them to an ``Output``; asks the store again for codenames registered since."""

    def __init__(self, store: Store, names: dict[int, str], output: Output, everything: bool):
        self.store, self.names, self.output, self.everything = store, names, output, everything
        self.last_id = 0

    def print(self, points: Iterable[Point]) -> None:
        names, row, point = self.names, self.output.row, None
        for point in points:
            row(point, names.get(point.type) or self._name(point.type))
        if point is not None:  # following reads by id: its last point has the highest
            self.last_id = max(self.last_id, point.row_id)

    def _name(self, type_id: int) -> str:
        if self.everything:  # a codename registered while we read
            self.names.update({i: c for i, c, _ in self.store.codenames()})
        return self.names.setdefault(type_id, f"#{type_id}")  # a row whose id has no codename


# -- the commands -------------------------------------------------------------------------


def _guarded(command):
    """Exit 1 when the store cannot be reached; a closed pipe (``| head``) ends the output quietly."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except StoreUnavailable as exc:
            print(f"lab data: {exc}", file=sys.stderr)
            return ExitCode.FAILED
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's final flush stays quiet
            return ExitCode.OK

    run.__doc__ = command.__doc__
    return run


def _read(args: argparse.Namespace, newest: int | None) -> int:
    source = open_source(args)
    if getattr(args, "follow", False) and args.format == "json":
        raise ConfigError("--follow with --format json: a JSON array never ends while following; "
                          "use --format jsonl (one JSON object per line)")
    if getattr(args, "follow", False) and args.until is not None:
        raise ConfigError("--follow with --until: following prints points as they come; leave out --until")
    since, until = time_range(args)
    store = _open(source)
    try:
        names, types = select_codenames(store, args.codename, source)
        output = OUTPUTS[args.format](sys.stdout, names.values())
        printer = Printer(store, names, output, types is None)
        upto = store.last_id() if getattr(args, "follow", False) else None
        points = store.points(types, since, until, newest=newest, upto_id=upto)
        output.start()
        printer.print(points if newest is not None else with_progress(points, sys.stderr))
        if upto is not None:
            _follow(store, printer, types, since, upto, args.interval)
        output.end()
        sys.stdout.flush()
    finally:
        store.close()
    return ExitCode.OK


def _follow(store: Store, printer: Printer, types, since, after: int, interval: float) -> None:
    """Print new rows (by id) until Ctrl-C, which is how following ends (exit 0)."""
    try:
        while True:
            sys.stdout.flush()
            time.sleep(max(interval, 0.05))
            printer.print(store.points(types, since, None, after_id=after))
            after = max(after, printer.last_id)
    except KeyboardInterrupt:
        pass


@_guarded
def cmd_tail(args: argparse.Namespace) -> int:
    return _read(args, newest=args.lines)


@_guarded
def cmd_export(args: argparse.Namespace) -> int:
    return _read(args, newest=None)


@_guarded
def cmd_codenames(args: argparse.Namespace) -> int:
    from .tables import format_table

    store = _open(open_source(args), table=False)
    try:
        rows = store.codenames()
    finally:
        store.close()
    if args.json:
        print(json.dumps([{"id": i, "codename": c, "description": d} for i, c, d in rows], indent=2))
    else:
        print(format_table(("ID", "CODENAME", "DESCRIPTION"), rows))
    return ExitCode.OK
