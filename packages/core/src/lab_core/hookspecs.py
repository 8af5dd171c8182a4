"""The hooks of the lab ecosystem — a table of contents of what a plugin can add.

A distribution publishes one plugin module through the entry-point group
``lab`` (``[project.entry-points.lab] myname = "my_pkg.plugin"``); that module
holds ``@lab_core.hookimpl`` functions with the names below. Core's own
embedded readers and writers are registered the same way.

The component hooks return a mapping ``name -> class``; the class may also be
given as a ``"package.module:ClassName"`` string so that its module (and its
heavy dependencies) is imported only when an instance is made.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("lab")

# -- components -------------------------------------------------------------


@hookspec
def lab_readers():
    """Readers this plugin provides.

    Called once when the registry first needs readers. Receives nothing.
    Returns ``{name: Reader subclass or "module:Class"}``. The class is built with
    the reader's configuration options as keyword arguments.
    """


@hookspec
def lab_writers():
    """Writers this plugin provides.

    Called once when the registry first needs writers. Receives nothing.
    Returns ``{name: Writer subclass or "module:Class"}``; built with the writer's
    configuration options as keyword arguments.
    """


@hookspec
def lab_transports():
    """Transports (request/reply carriers for servers) this plugin provides.

    Receives nothing. Returns ``{name: Transport subclass or "module:Class"}``;
    built as ``cls(handler, host=…, port=…, **options)``.
    """


@hookspec
def lab_stream_processors():
    """Stream processors this plugin provides: the collector's stage between readers and writers.

    Receives nothing. Returns ``{name: StreamProcessor subclass or "module:Class"}``. A
    ``[processors.NAME]`` table names one with ``plugin = "…"``; the collector builds one
    instance per variable stream (and per writer where a writer lists it) with the table's
    other keys as keyword arguments.
    """


@hookspec
def lab_jobs():
    """Processing jobs (dahu-style plugins: setup → process → teardown) this plugin provides.

    Receives nothing. Returns ``{dotted.name: JobPlugin subclass or "module:Class"}``;
    names are matched case-insensitively.
    """


@hookspec
def lab_processors():
    """Deprecated name of :func:`lab_jobs` (until lab-core 1.1 it named jobs); still read, with a warning."""


@hookspec
def lab_stores():
    """Stores this plugin reads samples back from (``lab data``): what one of its writers stored.

    Receives nothing. Returns ``{writer name: lab_core.stores.Store subclass or "module:Class"}``,
    keyed by the writer plugin whose data the store reads: ``lab data CONFIG`` reads back the
    configuration's writers of that plugin (``Store.from_writer``); ``lab data PATH`` and
    ``lab data SCHEME://…`` ask each store class (``opens_path``, ``schemes``, ``from_address``).
    """


# -- the command line --------------------------------------------------------


@hookspec
def lab_subcommands(subparsers):
    """Add sub-commands to the ``lab`` command line.

    Called once while ``lab`` builds its parser. Receives the ``argparse``
    sub-parsers action: call ``subparsers.add_parser(name, help=…)`` and set
    ``parser.set_defaults(func=callable)``; the callable gets the parsed
    ``argparse.Namespace`` and returns an exit code (or None for 0).
    Returns nothing.
    """


# -- per-lab bundles ------------------------------------------------------------


@hookspec
def lab_bundle_config():
    """The default configuration a per-lab bundle ships.

    Implemented by bundle distributions only (those that pin a curated set of
    plugin distributions). Receives nothing. Returns the path of a TOML
    configuration file; ``lab run`` uses it when no file is given.
    """


# -- collector life cycle (variables_collector's listener events) -----------


@hookspec
def lab_before_start(collector, context):
    """A context is about to start. Receives the collector and the ``Context``. Returns nothing."""


@hookspec
def lab_after_start(collector, context):
    """A context started; ``context`` is the running copy (state, start date). Returns nothing."""


@hookspec
def lab_before_stop(collector, context):
    """A context is about to stop (asked, or its duration ran out). Returns nothing."""


@hookspec
def lab_after_stop(collector, context):
    """A context stopped; ``context`` carries its end date. Returns nothing."""


@hookspec
def lab_before_close(collector):
    """The collector is about to stop every context and close its readers and writers."""


@hookspec
def lab_after_close(collector):
    """The collector closed; its writers were flushed as far as they would go."""
