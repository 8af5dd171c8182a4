"""``lab new plugin`` and ``lab new bundle``: write a complete distribution from templates."""

from __future__ import annotations

import re
import string
from importlib.resources import files
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from . import __version__
from .errors import LabError
from .registry import importlib_metadata

#: kind -> the hook that provides it ("processor": a stream processor; "job": a dahu-style job)
HOOKS = {"reader": "lab_readers", "writer": "lab_writers", "processor": "lab_stream_processors", "job": "lab_jobs"}
KINDS = tuple(HOOKS)
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise LabError(f"name {name!r} must start with a letter and hold only lower-case letters, digits "
                       f"and underscores (it becomes a Python package name)")


def _render(template: str, target: Path, values: dict[str, str]) -> None:
    text = files("lab_core.templates").joinpath(template).read_text(encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(string.Template(text).substitute(values), encoding="utf-8")


def _fresh(directory: Path) -> Path:
    if directory.exists() and any(directory.iterdir()):
        raise LabError(f"{directory} exists and is not empty; choose another --dir")
    return directory


def _core_range() -> tuple[str, str]:
    major = int(__version__.split(".")[0])
    return f"{major}.0", str(major + 1)


def new_plugin(name: str, kind: str, directory: str | Path | None = None) -> Path:
    """Write distribution ``lab-<name>`` providing a ``kind`` named ``name``; return its directory."""
    _check_name(name)
    if kind not in KINDS:
        raise LabError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    dist, package = f"lab-{name.replace('_', '-')}", f"lab_{name}"
    root = _fresh(Path(directory or dist))
    core_min, core_next = _core_range()
    title = name.replace("_", " ").title()
    usage = {
        "reader": f'In a configuration:\n\n    [readers.my_{name}]\n    plugin = "{name}"\n    gain = 1.0\n\n'
                  f'and variables with `reader = "my_{name}"`, `address = "channel:1"`.',
        "writer": f'In a configuration:\n\n    [writers.my_{name}]\n    plugin = "{name}"\n    path = "samples.jsonl"',
        "processor": f'In a configuration:\n\n    [processors.spikes]\n    plugin = "{name}"\n    max_step = 5.0\n\n'
                     f'and `processors = ["spikes"]` on a variable or a writer.',
        "job": f'As a processing job: `lab_core.default_registry().job("{name}")`, or with '
               f'lab-dahu: `Job("{name}", {{"values": [1, 2, 3]}})`.',
    }[kind]
    values = {"name": name, "dist": dist, "package": package, "kind": kind, "title": title, "hook": HOOKS[kind],
              "cls": title.replace(" ", "") + kind.title(), "core_min": core_min, "core_next": core_next,
              "usage": usage}
    _render("plugin/pyproject.toml", root / "pyproject.toml", values)
    _render("plugin/README.md", root / "README.md", values)
    (root / "src" / package).mkdir(parents=True)
    (root / "src" / package / "__init__.py").write_text(f'"""{title} {kind} for lab."""\n\n__version__ = "0.1.0"\n')
    _render("plugin/plugin.py", root / "src" / package / "plugin.py", values)
    _render(f"plugin/{kind}.py", root / "src" / package / f"{kind}.py", values)
    _render(f"plugin/test_{kind}.py", root / "tests" / f"test_{kind}.py", values)
    return root


def _pin(spec: str) -> str:
    try:
        req = Requirement(spec)
    except InvalidRequirement:
        raise LabError(f"--with {spec!r} is not a requirement like lab-modbus or lab-modbus==1.0.0") from None
    if req.specifier:
        return str(req)
    try:
        return f"{req.name}=={importlib_metadata.version(req.name)}"
    except importlib_metadata.PackageNotFoundError:
        raise LabError(f"{req.name} is not installed here, so its version cannot be pinned; "
                       f"give one: --with {req.name}==VERSION") from None


READER_EXAMPLES = {
    "lab-modbus": '\n# [readers.plc]\n# plugin = "modbus"\n# host = "192.168.1.10"\n',
    "lab-sockets": '\n# [readers.remote]\n# plugin = "socket"\n# host = "rasppi12"\n# port = 9000\n',
}
WRITER_EXAMPLES = {
    "lab-mysql": '\n# [writers.db]\n# plugin = "mysql"\n# host = "db.lab"\n# user = "lab"\n'
                 '# password = "..."\n# database = "cinfdata"\n# setup = "NAME"\n# spool = "disk"\n',
    "lab-sockets": '\n# [writers.network]\n# plugin = "socket"\n# port = 9000\n',
}


def new_bundle(name: str, with_: list[str], directory: str | Path | None = None) -> Path:
    """Write distribution ``lab-<name>-bundle`` pinning ``with_`` and lab-core; return its directory."""
    _check_name(name)
    pins = [f"lab-core=={__version__}"] + [_pin(spec) for spec in with_]
    dist, package = f"lab-{name.replace('_', '-')}-bundle", f"lab_{name}_bundle"
    root = _fresh(Path(directory or dist))
    names = {Requirement(p).name for p in pins}
    values = {"name": name, "dist": dist, "package": package, "title": name.replace("_", " ").title(),
              "pins": "\n".join(f'    "{p}",' for p in pins), "pin_list": "\n".join(f"* `{p}`" for p in pins),
              "reader_examples": "".join(v for k, v in READER_EXAMPLES.items() if k in names),
              "writer_examples": "".join(v for k, v in WRITER_EXAMPLES.items() if k in names)}
    _render("bundle/pyproject.toml", root / "pyproject.toml", values)
    _render("bundle/README.md", root / "README.md", values)
    (root / "src" / package).mkdir(parents=True)
    (root / "src" / package / "__init__.py").write_text(f'"""The {values["title"]} lab\'s bundle."""\n')
    _render("bundle/plugin.py", root / "src" / package / "plugin.py", values)
    _render("bundle/lab.toml", root / "src" / package / "lab.toml", values)
    return root
