"""``lab mysql …``: schema tooling.

``lab mysql init --setup NAME --codename CODE[:description] …`` creates what is
missing (``CREATE TABLE IF NOT EXISTS``: existing tables and their data are
never touched) and gives each codename an id in ``dateplots_descriptions``.
``--from-config lab.toml`` offers the configuration's variables too, with their
descriptions. ``lab mysql codenames`` lists the registered codenames.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from lab_core import LabError

from .connection import TLS_OPTIONS

PASSWORD_ENV = "LAB_MYSQL_PASSWORD"


def add_commands(subparsers) -> None:
    mysql = subparsers.add_parser("mysql", help="MySQL/MariaDB tables for the mysql writer (lab-mysql)")
    sub = mysql.add_subparsers(title="mysql commands", metavar="COMMAND")
    mysql.set_defaults(func=lambda args: (mysql.print_help(), 2)[1])

    init = sub.add_parser(
        "init", help="create the continuous (and data-set) tables of a setup and register codenames",
        description="Create dateplots_descriptions and dateplots_SETUP if they do not exist (existing tables "
                    "and their data are left as they are), and give each --codename an id.")
    _connection_arguments(init)
    init.add_argument("--setup", required=True, help="setup name: the tables are dateplots_SETUP etc.")
    init.add_argument("--codename", action="append", default=[], metavar="CODE[:DESCRIPTION]",
                      help="measurement codename to register (repeat for more)")
    init.add_argument("--from-config", metavar="CONFIG.toml",
                      help="also register the codenames of CONFIG's variables, with their descriptions "
                           "(a description given with --codename wins; existing rows are left as they are)")
    init.add_argument("--datasets", action="store_true",
                      help="also create measurements_SETUP and xy_values_SETUP (data sets)")
    init.add_argument("--time-type", choices=("timestamp", "datetime"), default="timestamp",
                      help="type of the time column of new tables (always with microseconds; default timestamp)")
    init.add_argument("--pyexplabsys", action="store_true",
                      help="tables that old PyExpLabSys writers also work with: MyISAM (its ContinuousLogger and "
                           "DataSetSaver never COMMIT), no unique key on (type, time) (its ContinuousDataSaver "
                           "retries a duplicate forever), DATETIME in the server's local time; see "
                           "docs/lab-admins.md, 'Migrating from PyExpLabSys'")
    init.add_argument("--json", action="store_true", help="print the result as JSON")
    init.set_defaults(func=cmd_init)

    names = sub.add_parser("codenames", help="list the codenames registered in dateplots_descriptions")
    _connection_arguments(names)
    names.add_argument("--json", action="store_true", help="print the result as JSON")
    names.set_defaults(func=cmd_codenames)


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--host", default="localhost")
    group.add_argument("--port", type=int, default=3306)
    group.add_argument("--socket", dest="unix_socket", help="unix socket path instead of host/port")
    group.add_argument("--user", default=None, help="default: your login name")
    group.add_argument("--password", default=None,
                       help=f"password (default: ${PASSWORD_ENV}, else none; -p to be asked)")
    group.add_argument("-p", "--ask-password", action="store_true", help="ask for the password")
    group.add_argument("--database", required=True, help="database name, e.g. cinfdata")
    for option in TLS_OPTIONS:
        flag = "--" + option.replace("_", "-")
        if option in ("ssl_verify_cert", "ssl_verify_identity", "ssl_disabled"):
            group.add_argument(flag, dest=option, action="store_true", default=None)
        else:
            group.add_argument(flag, dest=option, metavar="VALUE")


def _settings(args: argparse.Namespace):
    from .connection import ConnectionSettings

    password = args.password
    if args.ask_password:
        password = getpass.getpass(f"password for {args.user or getpass.getuser()}: ")
    elif password is None:
        password = os.environ.get(PASSWORD_ENV, "")
    tls = {k: getattr(args, k) for k in TLS_OPTIONS if getattr(args, k, None) is not None}
    try:
        return ConnectionSettings(database=args.database, user=args.user, password=password, host=args.host,
                                  port=args.port, unix_socket=args.unix_socket, tls=tls)
    except ValueError as exc:
        raise LabError(str(exc)) from None


def _connect(args: argparse.Namespace):
    import pymysql

    settings = _settings(args)
    try:
        return settings.connect()
    except (LabError, pymysql.err.MySQLError) as exc:
        raise LabError(f"cannot use {settings.describe()}: {exc}") from None


def _codename_arg(text: str) -> tuple[str, str | None]:
    from lab_core import check_codename

    codename, _, description = text.partition(":")
    try:
        check_codename(codename)
    except ValueError as exc:
        raise LabError(f"--codename {text!r}: {exc}") from None
    return codename, description or None


def _config_codenames(path: str) -> list[tuple[str, str | None]]:
    """``(codename, description)`` of every variable of the configuration at ``path``, once each."""
    from lab_core import config

    found: dict[str, str | None] = {}
    for context in config.parse_contexts(config.read_toml(path).get("contexts")):
        for variable in context.variables:
            found.setdefault(variable.codename, variable.description)
    return list(found.items())


def cmd_init(args: argparse.Namespace) -> int:
    import pymysql

    from . import schema

    try:
        setup = schema.check_setup(args.setup)
    except ValueError as exc:
        raise LabError(f"--setup: {exc}") from None
    codenames = [_codename_arg(c) for c in args.codename]
    if args.from_config:
        given = {c for c, _ in codenames}
        codenames += [(c, d) for c, d in _config_codenames(args.from_config) if c not in given]
    table = schema.continuous_table(setup)
    engine = "MyISAM" if args.pyexplabsys else "InnoDB"
    mark = schema.zone_mark(args.time_type, local=args.pyexplabsys)
    wanted = [(schema.DESCRIPTIONS, schema.descriptions_ddl()),
              (table, schema.continuous_ddl(table, args.time_type, unique=not args.pyexplabsys, engine=engine))]
    if args.datasets:
        measurements, xy_values = schema.dataset_tables(setup)
        wanted += [(measurements, schema.measurements_ddl(measurements, args.time_type, engine=engine, comment=mark)),
                   (xy_values, schema.xy_values_ddl(xy_values, engine=engine))]
    result: dict = {"database": args.database, "tables": {}, "codenames": {}, "notes": []}
    conn = _connect(args)
    try:
        with conn.cursor() as cursor:
            for name, ddl in wanted:
                existed = schema.table_exists(cursor, name)
                if not existed:
                    cursor.execute(ddl)
                result["tables"][name] = "exists (left as it is)" if existed else "created"
            info = schema.inspect_continuous(cursor, table)
        conn.commit()
        if info.precision == 0:
            result["notes"].append(f"{table}.time has 1-second resolution: sub-second times are cut to the second")
        if not info.unique and args.pyexplabsys:
            result["notes"].append(
                f"{table} is {info.engine} without a unique key on (type, time), so that old PyExpLabSys "
                "writers work: a batch lab sends again after a lost answer can be stored twice. Once the "
                f"last PyExpLabSys writer is gone: ALTER TABLE {table} ENGINE=InnoDB, "
                "ADD UNIQUE KEY type_time_unique (type, time)")
        elif not info.unique:
            alter = f"ALTER TABLE {table} "
            if info.precision == 0:
                alter += (f"MODIFY time {info.time_type.upper()}(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), ")
            result["notes"].append(
                f"{table} has no unique key on (type, time): lab-mysql still writes it, but see the README "
                f"('Limits') for when a point can be stored twice. To add one (after removing duplicates, "
                f"at a quiet moment: it rebuilds the table): {alter}ADD UNIQUE KEY type_time (type, time)")
        for codename, description in codenames:
            new_id, created = schema.register_codename(conn, codename, description)
            result["codenames"][codename] = {"id": new_id, "created": created}
    except pymysql.err.MySQLError as exc:
        raise LabError(f"lab mysql init failed: {exc}") from None
    finally:
        conn.close()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name, state in result["tables"].items():
        print(f"table {name}: {state}")
    for codename, item in result["codenames"].items():
        print(f"codename {codename}: id {item['id']} ({'registered' if item['created'] else 'already registered'})")
    for note in result["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return 0


def cmd_codenames(args: argparse.Namespace) -> int:
    import pymysql

    from . import schema

    conn = _connect(args)
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
