"""What the installed plugins offer, for people: ``lab plugins [NAME]`` and the README option tables.

Everything here comes from the plugins' own declarations: the components their hooks
return, the options their classes declare in ``__init__`` (``lab_core.options``), and the
sub-commands their ``lab_subcommands`` hook adds (found by calling the hook on a
throwaway parser, so nothing is written twice).
"""

from __future__ import annotations

import argparse
import inspect
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from .errors import LabError
from .options import Option, declared_options, default_text, describe_type, did_you_mean, markdown_row
from .optiontables import options_block
from .registry import KINDS, PluginInfo, Registry, resolve
from .tables import format_table

log = logging.getLogger(__name__)

#: Kinds whose classes take their options from a configuration table (or ``registry.make``).
OPTION_KINDS = ("reader", "writer", "processor", "transport")


@attrs.frozen
class Command:
    """A sub-command a plugin adds: ``"mysql init"`` and its one-line help."""

    name: str
    help: str = ""


@attrs.frozen
class Entry:
    """One component of a plugin: its kind, name and class (None if it failed to import)."""

    kind: str
    name: str
    cls: Any = None
    error: str = ""

    @property
    def options(self) -> tuple[Option, ...]:
        return declared_options(self.cls) if self.cls is not None and self.kind in OPTION_KINDS else ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "error": self.error,
                "options": [{"name": o.name, "type": describe_type(o.type), "required": o.required,
                             "default": None if o.required or o.default is None else default_text(o),
                             "description": o.description} for o in self.options]}

    @property
    def summary(self) -> str:
        doc = self.cls.__dict__.get("__doc__") if self.cls is not None else None  # its own, not a base's
        return inspect.cleandoc(doc).split("\n")[0] if isinstance(doc, str) else ""


# -- sub-commands -----------------------------------------------------------------------


def plugin_commands(registry: Registry) -> dict[str, list[Command]]:
    """``{plugin name: [Command, …]}``: what each plugin's ``lab_subcommands`` hook adds."""
    found: dict[str, list[Command]] = {}
    for impl in registry.hook.lab_subcommands.get_hookimpls():
        subparsers = argparse.ArgumentParser(prog="lab", add_help=False).add_subparsers()
        try:
            impl.function(subparsers=subparsers)
        except Exception as exc:  # `lab` already logged it when it built its parser
            log.debug("plugin %s: lab_subcommands raised %r", impl.plugin_name, exc)
            continue
        found.setdefault(impl.plugin_name, []).extend(_walk(subparsers))
    return found


def command_parser(registry: Registry, name: str) -> argparse.ArgumentParser:
    """The parser of the sub-command ``name`` (``"live"``, ``"mysql init"``), as its plugin builds it."""
    for impl in registry.hook.lab_subcommands.get_hookimpls():
        subparsers = argparse.ArgumentParser(prog="lab", add_help=False).add_subparsers()
        try:
            impl.function(subparsers=subparsers)
        except Exception:  # noqa: S112 - reported by plugin_commands and `lab` itself
            continue
        parser = _find(subparsers, name.split())
        if parser is not None:
            return parser
    known = [c.name for commands in plugin_commands(registry).values() for c in commands]
    close = did_you_mean(name, known)
    raise LabError(f"no command 'lab {name}'" + (f"; did you mean 'lab {close}'?" if close else "")
                   + " (`lab plugins` lists the commands each plugin adds)")


def _find(action: argparse._SubParsersAction, words: list[str]) -> argparse.ArgumentParser | None:
    parser = action.choices.get(words[0])
    if parser is None or len(words) == 1:
        return parser
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return _find(nested[0], words[1:]) if nested else None


def command_table(parser: argparse.ArgumentParser) -> str:
    """A command's options as a markdown table: option (with its value's name) and help."""
    rows = ["| option | description |", "|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        flags = ", ".join(action.option_strings) or action.metavar or action.dest
        value = f" {action.metavar or action.dest.upper()}" if action.option_strings and action.nargs != 0 else ""
        rows.append(markdown_row((f"`{flags}{value}`", action.help or "")))
    return "\n".join(rows) + "\n"


def _walk(action: argparse._SubParsersAction, prefix: str = "") -> Iterator[Command]:
    helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
    seen: set[int] = set()
    for name, parser in action.choices.items():
        if id(parser) in seen:  # an alias
            continue
        seen.add(id(parser))
        yield Command(prefix + name, helps.get(name, ""))
        for nested in parser._actions:
            if isinstance(nested, argparse._SubParsersAction):
                yield from _walk(nested, f"{prefix}{name} ")


# -- components -------------------------------------------------------------------------


def plugin_entries(registry: Registry, plugin: str, kinds: Sequence[str] = KINDS) -> list[Entry]:
    """The components ``plugin`` provides (of ``kinds``), each with its class imported."""
    entries = []
    for kind in kinds:
        for providers in registry.components(kind).values():
            entries += [_entry(c) for c in providers if c.plugin.name == plugin]
    return entries


def _entry(component: Any) -> Entry:
    try:
        return Entry(component.kind, component.name, resolve(component.target))
    except Exception as exc:  # a broken component must not hide the others
        return Entry(component.kind, component.name, error=f"failed to import {component.target}: "
                                                           f"{type(exc).__name__}: {exc}")


def find_plugin(registry: Registry, name: str) -> tuple[PluginInfo, list[Entry]]:
    """The plugin called ``name`` and all its components, or the plugin that provides a component
    called ``name`` and only those components; ``LabError`` with "did you mean" otherwise."""
    plugins = {info.name: info for info in registry.load()}
    if name in plugins:
        return plugins[name], plugin_entries(registry, name)
    for kind in KINDS:
        providers = registry.components(kind).get(name)
        if providers:
            plugin = providers[0].plugin
            return plugin, [e for e in plugin_entries(registry, plugin.name) if e.name == name]
    components = {n for kind in KINDS for n in registry.components(kind)}
    close = did_you_mean(name, [*plugins, *components])
    raise LabError(f"no plugin or component named '{name}'" + (f"; did you mean '{close}'?" if close else ".")
                   + f" The plugins are: {', '.join(sorted(plugins))} (`lab plugins` lists what each provides)")


# -- for people ---------------------------------------------------------------------------


def describe_plugin(info: PluginInfo, entries: Sequence[Entry], commands: Sequence[Command]) -> str:
    """``lab plugins NAME``: distribution, status, components with their options, commands."""
    lines = [f"plugin {info.name}: {info.distribution} {info.version}, {info.status.value}"]
    if info.error:
        lines.append(f"  {info.error}")
    if info.bundle:
        lines.append(f"  pinned by the bundle {info.bundle}")
    provides = "; ".join(f"{kind}: {', '.join(e.name for e in entries if e.kind == kind)}"
                         for kind in dict.fromkeys(e.kind for e in entries))
    lines.append(f"provides: {provides or 'nothing'}")
    if commands:
        width = max(len(c.name) for c in commands)
        lines += ["commands:", *(f"  lab {c.name:<{width}}  {c.help}".rstrip() for c in commands)]
    for entry in entries:
        lines += ["", f"{entry.kind} {entry.name}" + (f": {entry.summary}" if entry.summary else "")]
        if entry.error:
            lines.append(f"  {entry.error}")
        elif entry.options:
            table = format_table(("OPTION", "TYPE", "DEFAULT", "REQUIRED", "DESCRIPTION"),
                                 ((o.name, describe_type(o.type), "" if o.required else default_text(o),
                                   "yes" if o.required else "", o.description) for o in entry.options))
            lines += [f"  {line}" for line in table.splitlines()]
        elif entry.kind in OPTION_KINDS:
            lines.append("  no options")
    return "\n".join(lines)


def markdown(entries: Sequence[Entry]) -> str:
    """``lab plugins NAME --markdown``: each component's options table, marked as the READMEs hold it."""
    return "\n".join(options_block(e.name, e.kind, e.options) for e in entries if e.options)
