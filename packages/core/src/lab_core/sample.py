"""``lab config sample PLUGIN…``: a commented configuration built from the plugins' declarations.

Each option is shown with its one-line description (``## …``). Required options, and
options without a default that declare an ``Example``, are set; every other option is
commented out at its default (``# port = 502``), so the sample loads as printed and
``lab doctor`` checks it. A sample without a reader reads the ``demo`` reader; one
without a writer writes the embedded ``sqlite`` store.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .catalog import Entry, plugin_entries
from .config import COLLECTOR, CONTEXT, PROCESSOR, READER, VARIABLE, WRITER
from .errors import LabError
from .options import NO_DEFAULT, Option, describe_type, did_you_mean, in_toml, toml_value
from .registry import Registry

#: Kinds a configuration file makes instances of, and the section of each.
SAMPLED = {"reader": "readers", "writer": "writers", "processor": "processors"}
RESERVED = {"reader": READER, "writer": WRITER, "processor": PROCESSOR}
FALLBACK = {"reader": "demo", "writer": "sqlite"}


def pick(registry: Registry, names: Sequence[str]) -> list[Entry]:
    """The readers, writers and processors ``names`` stand for: components of that name, or
    else every one the plugin of that name provides."""
    picked: dict[tuple[str, str], Entry] = {}
    for name in names:
        found = [_entry(registry, kind, name) for kind in SAMPLED if name in registry.components(kind)]
        found = found or plugin_entries(registry, name, tuple(SAMPLED))
        if not found:
            _unknown(registry, name)
        picked.update(((e.kind, e.name), e) for e in found)
    for kind, fallback in FALLBACK.items():
        if not any(e.kind == kind for e in picked.values()):
            picked[(kind, fallback)] = _entry(registry, kind, fallback)
    return sorted(picked.values(), key=lambda e: list(SAMPLED).index(e.kind))


def _entry(registry: Registry, kind: str, name: str) -> Entry:
    return Entry(kind, name, registry.get_class(kind, name))


def _unknown(registry: Registry, name: str) -> None:
    plugins = {info.name for info in registry.load()}
    components = {n for kind in SAMPLED for n in registry.components(kind)}
    if name in plugins:
        raise LabError(f"plugin '{name}' provides no reader, writer or processor, so it has nothing to put in "
                       f"a configuration (`lab plugins {name}` shows what it adds)")
    close = did_you_mean(name, plugins | components)
    raise LabError(f"no plugin, reader, writer or processor named '{name}'"
                   + (f"; did you mean '{close}'?" if close else ".")
                   + f" Try one of: {', '.join(sorted(plugins | components))}")


def sample(registry: Registry, names: Sequence[str]) -> str:
    """The commented TOML configuration for ``names`` (see the module docstring)."""
    entries = pick(registry, names)
    readers = [e for e in entries if e.kind == "reader"]
    lines = [f"# A lab configuration, written by `lab config sample {' '.join(names)}`.",
             "# \"## …\" says what an option is; \"# key = value\" is an option left at its default.",
             "# Fill in the values, then check it: lab doctor THIS_FILE (the format: docs/config.md of lab-core)",
             "", "[collector]", *_options(COLLECTOR)]
    for entry in entries:
        lines += ["", f"[{SAMPLED[entry.kind]}.{entry.name}]"]
        lines += _options(RESERVED[entry.kind], plugin=entry.name) + _options(entry.options)
    lines += ["", "[[contexts]]", *_options([o for o in CONTEXT if o.name != "variables"])]
    for number, reader in enumerate(readers, 1):
        lines += ["", "[[contexts.variables]]", *_options(VARIABLE, **_variable(number, reader))]
    return "\n".join(lines) + "\n"


def _variable(number: int, reader: Entry) -> dict[str, object]:
    address = getattr(reader.cls, "example_address", "") or "ADDRESS"
    return {"id": number, "codename": f"{re.sub(r'[^A-Za-z0-9_]', '_', reader.name)}_{number}",
            "reader": reader.name, "address": address}


def _options(options: Sequence[Option], **values: object) -> list[str]:
    """``## description`` and ``key = value`` (set) or ``# key = default`` lines for ``options``;
    ``values`` are set whatever the declaration says."""
    lines = []
    for o in options:
        if not in_toml(o.type):
            continue
        about = " — ".join(filter(None, (o.description, describe_type(o.type))))
        if o.name in values:
            lines += [f"## {about}", f"{o.name} = {toml_value(values[o.name])}"]
        elif o.required or (o.default is None and o.example is not NO_DEFAULT):
            lines += [f"## {about}", f"{o.name} = {toml_value(o.sample_value)}"]
        elif o.default is None:
            lines += [f"## {about} (not set by default)", f"# {o.name} = {toml_value(o.sample_value)}"]
        else:
            lines += [f"## {about}", f"# {o.name} = {toml_value(o.default)}"]
    return lines
