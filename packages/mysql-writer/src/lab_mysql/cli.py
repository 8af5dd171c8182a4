"""``lab mysql …``: schema tooling.

``lab mysql init --setup NAME --codename CODE[:description] …`` creates what is
missing (``CREATE TABLE IF NOT EXISTS``: existing tables and their data are
never touched) and gives each codename an id in ``dateplots_descriptions``.
``--config lab.toml`` does that for every mysql writer of a configuration, each
on its own server, database and tables, with the codenames of the contexts it
writes (and their descriptions; units too where the descriptions table has a
``unit`` column). ``--create-database`` creates a missing database first.
``lab mysql codenames`` lists the registered codenames.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import sys

import attrs

from lab_core import LabError

from .connection import PASSWORD_ENV, TLS_OPTIONS, ConnectionSettings, errno
from .errors import init_command

UNKNOWN_DATABASE = 1049


def add_commands(subparsers) -> None:
    mysql = subparsers.add_parser("mysql", help="MySQL/MariaDB tables for the mysql writer (lab-mysql)")
    sub = mysql.add_subparsers(title="mysql commands", metavar="COMMAND")
    mysql.set_defaults(func=lambda args: (mysql.print_help(), 2)[1])

    init = sub.add_parser(
        "init", help="create the continuous (and data-set) tables of a setup and register codenames",
        description="Create dateplots_descriptions and dateplots_SETUP if they do not exist (existing tables "
                    "and their data are left as they are), and give each --codename an id. With --config: "
                    "the same for every mysql writer of the configuration; flags given here win over the "
                    "writers' options (e.g. --user admin -p to register as an admin).")
    _connection_arguments(init, database_required=False)
    target = init.add_mutually_exclusive_group()
    target.add_argument("--setup", help="setup name: the tables are dateplots_SETUP etc.")
    target.add_argument("--table", help="continuous table of any name (instead of --setup)")
    init.add_argument("--descriptions-table", metavar="TABLE", help="codename to id table "
                      "(default: dateplots_descriptions)")
    init.add_argument("--codename", action="append", default=[], metavar="CODE[:DESCRIPTION]",
                      help="measurement codename to register (repeat for more)")
    init.add_argument("--config", "--from-config", metavar="CONFIG.toml",
                      help="register the codenames CONFIG's mysql writers write, each writer in its own "
                           "database and tables; a CONFIG without mysql writers: its variables' codenames, "
                           "with --database and --setup (a description given with --codename wins; "
                           "registered codenames keep their ids and texts, only empty ones are filled)")
    init.add_argument("--create-database", action="store_true", help="create the database if it does not exist")
    init.add_argument("--datasets", action="store_true",
                      help="also create measurements_SETUP and xy_values_SETUP (data sets)")
    init.add_argument("--time-type", choices=("timestamp", "datetime"),
                      help="type of the time column of new tables (always with microseconds; default timestamp, "
                           "or the writer's time_type)")
    init.add_argument("--pyexplabsys", action="store_true",
                      help="tables that old PyExpLabSys writers also work with: MyISAM (its ContinuousLogger and "
                           "DataSetSaver never COMMIT), no unique key on (type, time) (its ContinuousDataSaver "
                           "retries a duplicate forever), DATETIME in the server's local time; see "
                           "docs/lab-admins.md, 'Migrating from PyExpLabSys'")
    init.add_argument("--json", action="store_true", help="print the result as JSON")
    init.set_defaults(func=cmd_init, parser=init)

    names = sub.add_parser("codenames", help="list the codenames registered in dateplots_descriptions")
    _connection_arguments(names)
    names.add_argument("--json", action="store_true", help="print the result as JSON")
    names.set_defaults(func=cmd_codenames)


def _connection_arguments(parser: argparse.ArgumentParser, database_required: bool = True) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--host", help="default: localhost")
    group.add_argument("--port", type=int, help="default: 3306")
    group.add_argument("--socket", dest="unix_socket", help="unix socket path instead of host/port")
    group.add_argument("--user", default=None, help="default: your login name")
    group.add_argument("--password", default=None,
                       help=f"password (default: ${PASSWORD_ENV}, else none; -p to be asked)")
    group.add_argument("--password-env", metavar="VARIABLE", help="environment variable that holds the password")
    group.add_argument("-p", "--ask-password", action="store_true", help="ask for the password")
    group.add_argument("--database", required=database_required, help="database name, e.g. cinfdata")
    for option in TLS_OPTIONS:
        flag = "--" + option.replace("_", "-")
        if option in ("ssl_verify_cert", "ssl_verify_identity", "ssl_disabled"):
            group.add_argument(flag, dest=option, action="store_true", default=None)
        else:
            group.add_argument(flag, dest=option, metavar="VALUE")


def _password(args: argparse.Namespace) -> tuple[str, str | None] | None:
    """``(password, the variable it came from)`` as the flags give it; None when no flag gives one."""
    if not hasattr(args, "given_password"):  # asked for once
        args.given_password = _password_of_flags(args)
    return args.given_password


def _password_of_flags(args: argparse.Namespace) -> tuple[str, str | None] | None:
    if args.ask_password:
        return getpass.getpass(f"password for {args.user or getpass.getuser()}: "), None
    if args.password is not None:
        return args.password, None
    if args.password_env:
        if args.password_env not in os.environ:
            raise LabError(f"--password-env names {args.password_env}, but that environment variable is not set")
        return os.environ[args.password_env], args.password_env
    return None


def _overrides(args: argparse.Namespace) -> dict:
    """The connection settings the flags give (and only those)."""
    given = {k: getattr(args, k) for k in ("host", "port", "unix_socket", "user", "database")
             if getattr(args, k) is not None}
    password = _password(args)
    if password is None and args.user is not None:
        password = os.environ.get(PASSWORD_ENV, ""), None  # another user: not the writer's password
    if password is not None:
        given["password"], given["password_env"] = password
    tls = {k: getattr(args, k) for k in TLS_OPTIONS if getattr(args, k, None) is not None}
    return given | ({"tls": tls} if tls else {})


def _settings(args: argparse.Namespace, base: ConnectionSettings | None = None) -> ConnectionSettings:
    """``base`` (a writer's settings) with the flags given on top; without ``base``, the flags alone."""
    given = _overrides(args)
    try:
        if base is not None:
            tls = {**base.tls, **given.pop("tls", {})}
            return attrs.evolve(base, **given, tls=tls)
        given.setdefault("password", os.environ.get(PASSWORD_ENV, ""))
        return ConnectionSettings(**given)
    except (TypeError, ValueError) as exc:
        raise LabError(str(exc)) from None


def _connect(settings: ConnectionSettings, create: bool, fix: str):
    """A connection to ``settings``' database, made first with ``create``; else an error naming ``fix``."""
    import pymysql

    try:
        try:
            return settings.connect()
        except pymysql.err.OperationalError as exc:
            if errno(exc) != UNKNOWN_DATABASE:
                raise
            if not create:
                where = settings.unix_socket or f"{settings.host}:{settings.port}"
                raise LabError(f"database {settings.database} does not exist on {where}; create it "
                               f"(if the user may) with: {fix}") from None
        _create_database(settings)
        return settings.connect()
    except (pymysql.err.MySQLError, OSError) as exc:  # MySQLUnavailable is an OSError
        raise LabError(f"cannot use {settings.describe()}: {exc}") from None


def _create_database(settings: ConnectionSettings) -> None:
    import pymysql

    from . import schema

    try:
        name = schema.quote(settings.database)
    except ValueError as exc:
        raise LabError(f"--database: {exc}") from None
    conn = pymysql.connect(**{**settings.connect_kwargs(), "database": None})
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4")
    finally:
        conn.close()


def _codename_arg(text: str) -> tuple[str, str | None]:
    from lab_core import check_codename

    codename, _, description = text.partition(":")
    try:
        check_codename(codename)
    except ValueError as exc:
        raise LabError(f"--codename {text!r}: {exc}") from None
    return codename, description or None


@attrs.frozen
class Target:
    """One database and its tables to set up, and the codenames to register there."""

    name: str  # "writers.db" for a configuration's writer, else ""
    settings: ConnectionSettings
    table: str | None  # the continuous table (None: only the descriptions table)
    descriptions: str
    time_type: str
    codenames: dict[str, tuple[str | None, str | None]]  # codename -> (description, unit)


def _targets(args: argparse.Namespace) -> list[Target]:
    """What to set up: the configuration's mysql writers, or the one database the flags name."""
    from lab_core import config

    from . import schema

    given = {c: (d, None) for c, d in map(_codename_arg, args.codename)}
    data = config.read_toml(args.config) if args.config else {}
    try:
        contexts = config.parse_contexts(data.get("contexts")) if args.config else ()
    except LabError as exc:
        raise LabError(f"{args.config}: {exc}") from None
    writers = _config_writers(args, data)
    if writers:
        return [_writer_target(args, name, writer, contexts, given) for name, writer in writers.items()]
    if args.database is None:
        raise LabError((f"{args.config} has no mysql writer; " if args.config else "")
                       + "give --database (and --setup for the data tables), or --config naming a "
                       "configuration with mysql writers")
    codenames = dict(given)
    for context in contexts:
        for v in context.variables:
            codenames.setdefault(v.codename, (v.description, v.unit))
    try:
        table = args.table and schema.check_identifier(args.table, "--table")
        table = table or (schema.continuous_table(schema.check_setup(args.setup)) if args.setup else None)
        descriptions = schema.check_identifier(args.descriptions_table or schema.DESCRIPTIONS, "--descriptions-table")
    except ValueError as exc:
        raise LabError(str(exc)) from None
    return [Target("", _settings(args), table, descriptions, args.time_type or "timestamp", codenames)]


def _config_writers(args: argparse.Namespace, data: dict) -> dict:
    """``{name: MySQLWriter}`` of the configuration's mysql writers (made, not opened)."""
    from lab_core import ConfigError, config
    from lab_core.options import check_options

    from .writer import MySQLWriter

    reserved = {o.name for o in config.WRITER}
    writers = {}
    for name, table in (data.get("writers") or {}).items():
        if not isinstance(table, dict) or table.get("plugin", name) != "mysql":
            continue
        options = {k: v for k, v in table.items() if k not in reserved}
        if _password(args) is not None or args.user is not None:  # the flags' password replaces the writer's
            options = {k: v for k, v in options.items() if k not in ("password", "password_env")}
        try:
            check_options(MySQLWriter, options, f"writers.{name}", "the mysql writer")
            writers[name] = MySQLWriter(**options)
        except (ConfigError, TypeError, ValueError) as exc:
            raise LabError(f"{args.config}: {exc}" if isinstance(exc, ConfigError)
                           else f"{args.config}: writers.{name}: {exc}") from None
    return writers


def _writer_target(args, name: str, writer, contexts, given: dict) -> Target:
    """The writer's database and tables (flags given win), and the codenames of the contexts it writes."""
    from . import schema

    codenames = dict(given)
    for context in contexts:
        if context.writers is None or name in context.writers:
            for v in context.variables:
                codenames.setdefault(v.codename, (v.description, v.unit))
    for codename in writer.codenames:
        codenames.setdefault(codename, (None, None))
    try:
        table = args.table or (schema.continuous_table(args.setup) if args.setup else writer.table)
        descriptions = args.descriptions_table or writer.descriptions_table
        return Target(f"writers.{name}", _settings(args, writer.settings), schema.check_identifier(table),
                      schema.check_identifier(descriptions), args.time_type or writer.time_type, codenames)
    except ValueError as exc:
        raise LabError(str(exc)) from None


def _as_given(args: argparse.Namespace, *extra: str) -> str:
    """This ``lab mysql init`` command as it was given (a password asked for, never shown), plus ``extra``."""
    words = ["lab", "mysql", "init"]
    for action in args.parser._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.dest in ("help", "json") or value in (None, False, []):
            continue
        flag = next(o for o in action.option_strings if o.startswith("--"))
        if action.dest in ("password", "ask_password"):
            words.append("-p")
        elif isinstance(value, list):
            words += [w for item in value for w in (flag, item)]
        else:
            words += [flag] + ([] if value is True else [str(value)])
    return shlex.join([*words, *extra])


def cmd_init(args: argparse.Namespace) -> int:
    if args.datasets and not args.setup:
        raise LabError("--datasets needs --setup: the data-set tables are named after it")
    results = {target.name: _init(args, target) for target in _targets(args)}
    if args.json:
        print(json.dumps(results.get("", {"writers": results}), indent=2))
        return 0
    for name, result in results.items():
        if name:
            print(f"{name} ({result['server']}):")
        for table, state in result["tables"].items():
            print(f"table {table}: {state}")
        for codename, item in result["codenames"].items():
            filled = f"; its empty {' and '.join(item['filled'])} filled" if item["filled"] else ""
            print(f"codename {codename}: id {item['id']} "
                  f"({'registered' if item['created'] else 'already registered'}{filled})")
        for note in result["notes"]:
            print(f"note: {note}", file=sys.stderr)
    return 0


def _init(args: argparse.Namespace, target: Target) -> dict:
    """Create the database (when asked), the tables, and register the codenames of ``target``."""
    import pymysql

    from . import schema

    table, time_type = target.table, target.time_type
    engine = "MyISAM" if args.pyexplabsys else "InnoDB"
    mark = schema.zone_mark(time_type, local=args.pyexplabsys)
    wanted = [(target.descriptions, schema.descriptions_ddl(target.descriptions))]
    if table is not None:
        wanted.append((table, schema.continuous_ddl(table, time_type, unique=not args.pyexplabsys, engine=engine)))
    if args.datasets:
        measurements, xy_values = schema.dataset_tables(table.removeprefix("dateplots_"))
        wanted += [(measurements, schema.measurements_ddl(measurements, time_type, engine=engine, comment=mark)),
                   (xy_values, schema.xy_values_ddl(xy_values, engine=engine))]
    result: dict = {"database": target.settings.database, "server": target.settings.describe(), "tables": {},
                    "codenames": {}, "notes": []}
    conn = _connect(target.settings, args.create_database, _as_given(args, "--create-database"))
    try:
        with conn.cursor() as cursor:
            for name, ddl in wanted:
                existed = schema.table_exists(cursor, name)
                if not existed:
                    cursor.execute(ddl)
                result["tables"][name] = "exists (left as it is)" if existed else "created"
            info = schema.inspect_continuous(cursor, table) if table is not None else None
            has_unit = "unit" in schema.columns(cursor, target.descriptions)
        conn.commit()
        result["notes"] += _table_notes(info, args.pyexplabsys) if info is not None else []
        for codename, (description, unit) in target.codenames.items():
            unit = unit if has_unit else None
            new_id, created = schema.register_codename(conn, codename, description, target.descriptions, unit=unit)
            filled = [] if created else schema.fill_empty(conn, codename, {"description": description, "unit": unit},
                                                          target.descriptions)
            result["codenames"][codename] = {"id": new_id, "created": created, "filled": filled}
    except pymysql.err.MySQLError as exc:
        raise LabError(f"lab mysql init failed on {target.settings.describe()}: {exc}") from None
    finally:
        conn.close()
    return result


def _table_notes(info, pyexplabsys: bool) -> list[str]:
    """What an existing continuous table lacks, with the ALTER TABLE that would add it (never run here)."""
    table, notes = info.name, []
    if info.precision == 0:
        notes.append(f"{table}.time has 1-second resolution: sub-second times are cut to the second")
    if not info.unique and pyexplabsys:
        notes.append(
            f"{table} is {info.engine} without a unique key on (type, time), so that old PyExpLabSys "
            "writers work: a batch lab sends again after a lost answer can be stored twice. Once the "
            f"last PyExpLabSys writer is gone: ALTER TABLE {table} ENGINE=InnoDB, "
            "ADD UNIQUE KEY type_time_unique (type, time)")
    elif not info.unique:
        alter = f"ALTER TABLE {table} "
        if info.precision == 0:
            alter += f"MODIFY time {info.time_type.upper()}(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
        notes.append(
            f"{table} has no unique key on (type, time): lab-mysql still writes it, but see the README "
            f"('Limits') for when a point can be stored twice. To add one (after removing duplicates, "
            f"at a quiet moment: it rebuilds the table): {alter}ADD UNIQUE KEY type_time (type, time)")
    return notes


def cmd_codenames(args: argparse.Namespace) -> int:
    import pymysql

    from . import schema

    settings = _settings(args)
    conn = _connect(settings, False, init_command(*settings.command_flags(), "--create-database"))
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT id, codename, description FROM {schema.quote(schema.DESCRIPTIONS)} ORDER BY id")
            rows = cursor.fetchall()
    except pymysql.err.MySQLError as exc:
        raise LabError(f"cannot read {schema.DESCRIPTIONS}: {exc}") from None
    finally:
        conn.close()
    if args.json:
        print(json.dumps([{"id": i, "codename": c, "description": d} for i, c, d in rows], indent=2))
    else:
        for i, c, d in rows:
            print(f"{i:>5}  {c}" + (f"  ({d})" if d else ""))
    return 0
