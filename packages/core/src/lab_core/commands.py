"""lab-core's own sub-commands, added through the ``lab_subcommands`` hook like anyone's."""

from __future__ import annotations

import argparse
import json
import shlex


def add(subparsers) -> None:
    new = subparsers.add_parser("new", help="write a new plugin or bundle distribution from a template")
    kinds = new.add_subparsers(title="what", metavar="plugin|bundle", required=True)
    plugin = kinds.add_parser("plugin", help="a third-party plugin distribution (with contract tests)")
    plugin.add_argument("name", help="plugin name, e.g. thermo (distribution lab-thermo)")
    plugin.add_argument("--kind", required=True, choices=("reader", "writer", "processor", "job"),
                        help="processor: a stream processor of the collector; job: a dahu-style processing job")
    plugin.add_argument("--dir", help="where to write it (default: ./lab-NAME)")
    plugin.set_defaults(func=cmd_new_plugin)
    bundle = kinds.add_parser("bundle", help="a per-lab bundle: pinned plugins and a default configuration")
    bundle.add_argument("name", help="lab name, e.g. surface (distribution lab-surface-bundle)")
    bundle.add_argument("--with", dest="with_", action="append", default=[], metavar="DIST[==VERSION]",
                        help="a plugin distribution to pin (repeatable; installed version if none given)")
    bundle.add_argument("--dir", help="where to write it (default: ./lab-NAME-bundle)")
    bundle.set_defaults(func=cmd_new_bundle)

    doctor = subparsers.add_parser("doctor", help="check what would fail: plugins, bundles, writers, one read "
                                   "of every variable")
    doctor.add_argument("config", nargs="?", help="configuration to check (default: the bundle's, if any)")
    doctor.add_argument("--json", action="store_true", help="what was checked and found, as JSON")
    doctor.set_defaults(func=cmd_doctor)

    config = subparsers.add_parser("config", help="configuration files: a commented sample for the plugins you use")
    what = config.add_subparsers(title="what", metavar="sample", required=True)
    sample = what.add_parser("sample", help="print a commented configuration that uses these plugins "
                             "(e.g. lab config sample modbus mysql > lab.toml)")
    sample.add_argument("plugins", nargs="+", metavar="PLUGIN",
                        help="a plugin (modbus) or a reader, writer or processor (sqlite, deadband)")
    sample.set_defaults(func=cmd_config_sample)

    status = subparsers.add_parser("status", help="a running collector's health and counters (from its status "
                                                  "endpoint, [collector] status = \"HOST:PORT\")")
    status.add_argument("address", metavar="HOST:PORT", help="where the collector's status endpoint listens")
    status.add_argument("--json", action="store_true", help="the endpoint's /status JSON, for scripts")
    status.add_argument("--timeout", type=float, default=5.0, metavar="S", help="give up after S seconds (5)")
    status.set_defaults(func=cmd_status)

    from .data import add as add_data  # argparse only; the stores are imported when a command runs

    add_data(subparsers)


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import new_plugin

    root = new_plugin(args.name, args.kind, args.dir)
    print(f"wrote {root}/\n  next: pip install -e {shlex.quote(f'{root}[test]')} && pytest {shlex.quote(str(root))} "
          "&& lab plugins")
    return 0


def cmd_new_bundle(args: argparse.Namespace) -> int:
    from .scaffold import new_bundle

    root = new_bundle(args.name, args.with_, args.dir)
    print(f"wrote {root}/\n  next: edit {root}/src/*/lab.toml, then pip install {shlex.quote(str(root))} "
          "&& lab doctor && lab run")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose, report
    from .registry import default_registry

    diagnosis = diagnose(default_registry(), args.config)
    print(json.dumps(diagnosis.to_dict(), indent=2) if args.json else report(diagnosis))
    return diagnosis.exit_status()


def cmd_config_sample(args: argparse.Namespace) -> int:
    from .registry import default_registry
    from .sample import sample

    print(sample(default_registry(), args.plugins), end="")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 when the collector is ok or degraded, 1 when it is failing or cannot be reached."""
    import sys

    from .exitcodes import ExitCode
    from .status import FAILING, describe, fetch

    try:
        snapshot = fetch(args.address, args.timeout)
    except OSError as exc:
        print(f"lab status: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    print(json.dumps(snapshot, indent=2) if args.json else describe(snapshot, args.address))
    return ExitCode.FAILED if snapshot["health"]["status"] == FAILING else ExitCode.OK
