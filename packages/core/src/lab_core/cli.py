"""The ``lab`` command: ``lab --version``, ``lab plugins``, ``lab run CONFIG`` and what plugins add."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

import attrs

from . import API_VERSION, __version__
from .errors import LabError
from .exitcodes import ExitCode
from .registry import DISABLE_ENV, KINDS, Registry, Status, default_registry
from .tables import format_table

log = logging.getLogger("lab")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --disable is honoured before any plugin is imported (plugins add sub-commands to the parser)
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--disable", action="append", default=[])
    disabled = early.parse_known_args(argv)[0].disable
    registry = default_registry()
    registry.disabled.update(name for names in disabled for name in names.split(","))
    parser = make_parser(registry)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not hasattr(args, "func"):
        parser.print_help()
        return ExitCode.CONFIG
    try:
        return args.func(args) or ExitCode.OK
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


def make_parser(registry: Registry) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description="Laboratory data acquisition: read, serve, log, process.")
    parser.add_argument("--version", action="version", version=f"lab-core {__version__} (plugin API {API_VERSION})")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--disable", action="append", default=[], metavar="PLUGIN",
                        help=f"leave a plugin out without uninstalling it (repeatable; also {DISABLE_ENV}=a,b)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    plugins = sub.add_parser("plugins", help="list installed plugins (what they provide, distribution, version, "
                                             "status, commands); with NAME: one plugin's options and commands")
    plugins.add_argument("name", nargs="?", help="a plugin (modbus) or a component (sqlite): show it in detail")
    plugins.add_argument("--json", action="store_true", help="JSON for scripts instead of a table")
    plugins.add_argument("--markdown", action="store_true", help="with NAME: the options tables as markdown, "
                                                                 "as the READMEs hold them")
    plugins.set_defaults(func=cmd_plugins)

    run = sub.add_parser("run", help="run a collector from a TOML configuration until Ctrl-C")
    run.add_argument("config", nargs="?", help="configuration file (default: the installed bundle's)")
    run.add_argument("--duration", type=float, metavar="S", help="stop cleanly after S seconds")
    run.add_argument("--once", action="store_true",
                     help="read every variable once, print a table, write nothing (exit 1 if one failed)")
    run.add_argument("--json", action="store_true", help="with --once: the readings as JSON")
    run.add_argument("--show", action=argparse.BooleanOptionalAction, default=None,
                     help="print values as they are read (default: on when stdout is a terminal and no "
                          "console writer is configured)")
    run.set_defaults(func=cmd_run)

    registry.call_each("lab_subcommands", subparsers=sub)  # a broken plugin must not take `lab` down
    return parser


# -- lab plugins ----------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    from .catalog import plugin_commands

    registry = default_registry()
    infos = registry.load()
    for kind in KINDS:
        registry.components(kind)  # fills PluginInfo.provides
    registry.bundles()  # fills PluginInfo.bundle
    if args.markdown and not args.name:
        raise LabError("--markdown prints one plugin's options tables; name it: lab plugins modbus --markdown")
    commands = plugin_commands(registry)
    if args.name:
        return _plugin_detail(registry, args, commands)
    if args.json:
        print(json.dumps([{**i.to_dict(), "commands": [c.name for c in commands.get(i.name, ())]} for i in infos],
                         indent=2))
        return 0
    rows = []
    for info in sorted(infos, key=lambda i: i.name):
        provides = "; ".join(f"{k}: {', '.join(v)}" for k, v in info.provides.items()) or "-"
        dist = f"{info.distribution} (via {info.bundle})" if info.bundle else info.distribution
        added = ", ".join(c.name for c in commands.get(info.name, ()) if " " not in c.name) or "-"
        rows.append((info.name, provides, dist, info.version, info.status.value, added))
    print(format_table(("PLUGIN", "PROVIDES", "DISTRIBUTION", "VERSION", "STATUS", "COMMANDS"), rows))
    for info in infos:
        if info.status not in (Status.LOADED, Status.FOUND):
            print(f"\n{info.name} ({info.distribution}) is {info.status.value}: {info.error}")
    return 0


def _plugin_detail(registry: Registry, args: argparse.Namespace, commands: dict) -> int:
    from .catalog import describe_plugin, find_plugin, markdown

    info, entries = find_plugin(registry, args.name)
    if args.markdown:
        print(markdown(entries) or f"<!-- {args.name} has no options -->")
    elif args.json:
        print(json.dumps({**info.to_dict(), "commands": [attrs.asdict(c) for c in commands.get(info.name, ())],
                          "components": [e.to_dict() for e in entries]}, indent=2))
    else:
        print(describe_plugin(info, entries, commands.get(info.name, ())))
    return 0


# -- lab run --------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import Runner, try_once

    config = args.config or _bundle_config()
    if args.once:
        return try_once(config, as_json=args.json)
    return Runner(config, duration_s=args.duration, show=args.show).run()


def _bundle_config() -> str:
    from .bundles import default_config

    path = default_config()
    if path is None:
        raise LabError("no configuration given and no installed bundle provides one: lab run CONFIG.toml")
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
