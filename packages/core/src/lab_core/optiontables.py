"""The options tables of the READMEs and docs/config.md, generated from the declarations.

A document marks each table it holds::

    <!-- options: modbus reader -->
    | option | type | default | description |
    …
    <!-- /options -->

``NAME KIND`` is a component (``modbus reader``, ``sqlite writer``, ``deadband processor``),
a section of the configuration file (``collector section``, ``variables section``; see
``lab_core.config.SECTIONS``) or a sub-command's options (``live command``, ``mysql.init
command``). Between the markers goes ``markdown_table`` of its options,
never a hand-made copy. From the workspace root::

    python -m lab_core.optiontables            # rewrite the tables of every README and docs/*.md
    python -m lab_core.optiontables --check    # exit 1, naming the files, if one is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import LabError
from .options import Option, markdown_table
from .registry import KINDS, Registry

BLOCK = re.compile(r"^<!-- options: (?P<name>\S+) (?P<kind>\S+) -->\n(?P<table>.*?)^<!-- /options -->\n", re.S | re.M)
#: Where the tables are, relative to the workspace root.
DOCUMENTS = ("README.md", "docs/*.md", "packages/*/README.md")
COMMAND = "python -m lab_core.optiontables"


def options_of(registry: Registry, name: str, kind: str) -> Sequence[Option]:
    """The options a marker ``NAME KIND`` stands for."""
    if kind == "section":
        from .config import SECTIONS

        if name not in SECTIONS:
            raise LabError(f"no configuration section '{name}' (sections: {', '.join(SECTIONS)})")
        return SECTIONS[name]
    if kind not in KINDS:
        raise LabError(f"'{kind}' is not a plugin kind (kinds: {', '.join(KINDS)}, or 'section', 'command')")
    from .options import declared_options

    return declared_options(registry.get_class(kind, name))


def table_of(registry: Registry, name: str, kind: str) -> str:
    """The markdown table a marker ``NAME KIND`` stands for; ``lab live`` is ``live command``
    (its command-line options), ``lab mysql init`` is ``mysql.init command``."""
    if kind == "command":
        from .catalog import command_parser, command_table

        return command_table(command_parser(registry, name.replace(".", " ")))
    return markdown_table(options_of(registry, name, kind))


def refresh(text: str, registry: Registry) -> str:
    """``text`` with every marked table replaced by the one its declaration gives."""
    return BLOCK.sub(lambda m: marked(m["name"], m["kind"], table_of(registry, m["name"], m["kind"])), text)


def options_block(name: str, kind: str, options: Sequence[Option]) -> str:
    """A marked options table, as a document holds it."""
    return marked(name, kind, markdown_table(options))


def marked(name: str, kind: str, table: str) -> str:
    return f"<!-- options: {name} {kind} -->\n{table}<!-- /options -->\n"


def documents(root: Path) -> list[Path]:
    return sorted({path for pattern in DOCUMENTS for path in root.glob(pattern)})


def stale(paths: Iterable[Path], registry: Registry) -> list[Path]:
    """The files whose marked tables differ from the declarations."""
    return [path for path in paths if refresh(path.read_text(), registry) != path.read_text()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Rewrite the options tables of the docs "
                                     "from the plugins' declarations.")
    parser.add_argument("files", nargs="*", type=Path, help=f"documents (default: {', '.join(DOCUMENTS)} "
                        "under the current directory)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is out of date")
    args = parser.parse_args(argv)
    registry = Registry()
    paths = args.files or documents(Path.cwd())
    try:
        out_of_date = stale(paths, registry)
        if not args.check:
            for path in out_of_date:
                path.write_text(refresh(path.read_text(), registry))
    except LabError as exc:
        print(f"{COMMAND}: error: {exc}", file=sys.stderr)
        return 2
    for path in out_of_date:
        print(f"{path}: {'out of date' if args.check else 'rewritten'}")
    return 1 if args.check and out_of_date else 0


if __name__ == "__main__":
    sys.exit(main())
