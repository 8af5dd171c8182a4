"""``lab doctor``: check what would fail, and say how to fix each problem.

The installed set (plugins that fail to import, plugins made for another lab-core,
name conflicts, bundles and their pins) and a configuration: it must load; every
writer passes its start-up checks (``Writer.check``, ``Writer.check_context``:
an unwritable path, codenames a database lacks) and opens (a database that
cannot be reached is a warning: the spool keeps the samples); every variable is
read once through the real readers (a dead device, a bad or refused address:
one finding per variable). Nothing is written.
"""

from __future__ import annotations

import shlex
import threading
from pathlib import Path
from typing import Any

import attrs

from .errors import LabError
from .exitcodes import ExitCode
from .registry import DISABLE_ENV, KINDS, Registry, Status, bundle_requirements, importlib_metadata

OPEN_TIMEOUT_S = 10.0


@attrs.frozen
class Finding:
    level: str  # "error" or "warning"
    subject: str
    problem: str
    fix: str


@attrs.define
class Diagnosis:
    """What ``lab doctor`` checked and found."""

    findings: list[Finding] = attrs.field(factory=list)
    checked: list[str] = attrs.field(factory=list)  # "7 plugins", "2 readers, 14 variables, 3 writers"…
    config_error: bool = False  # the configuration could not be read or checked at all

    @property
    def errors(self) -> int:
        return sum(f.level == "error" for f in self.findings)

    def exit_status(self) -> ExitCode:
        if self.config_error:
            return ExitCode.CONFIG
        return ExitCode.FAILED if self.errors else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "findings": [attrs.asdict(f) for f in self.findings]}


def diagnose(registry: Registry, config: str | Path | None = None) -> Diagnosis:
    """Check the installed plugins and bundles and, with ``config`` (default: the one bundle's), a
    configuration: writers' start-up checks and opens, one trial read of every variable."""
    result = Diagnosis(_plugins(registry) + _conflicts(registry))
    result.checked.append(f"{len(registry.load())} plugins")
    bundles = registry.bundles()
    result.findings += _bundles(registry, bundles, config)
    result.checked.append(f"{len(bundles)} bundle{'s' if len(bundles) != 1 else ''}")
    if config is None and len(bundles) == 1:
        (_, config), = bundles.values()
    if config is not None:
        _configuration(registry, config, result)
    return result


def _plugins(registry: Registry) -> list[Finding]:
    findings = []
    for info in registry.load():
        subject = f"plugin {info.name} ({info.distribution} {info.version})"
        if info.status is Status.FAILED:
            findings.append(Finding("error", subject, info.error,
                                    f"pip install --force-reinstall {shlex.quote(info.distribution)} (a missing "
                                    f"dependency?), or leave it out: "
                                    f"{DISABLE_ENV}={shlex.quote(info.name)} lab doctor"))
        elif info.status is Status.INCOMPATIBLE:
            findings.append(Finding("error", subject, info.error,
                                    f"pip install --upgrade {shlex.quote(info.distribution)} (for a version made "
                                    f"for this lab-core), or a lab-core that fits: "
                                    f"pip install {shlex.quote(f'lab-core{info.requires_core}')}"))
        elif info.status is Status.DISABLED:
            findings.append(Finding("warning", subject, "disabled", f"remove it from {DISABLE_ENV} or the "
                                    "configuration's disabled_plugins to use it"))
    return findings


def _conflicts(registry: Registry) -> list[Finding]:
    findings = []
    for kind in KINDS:
        for name, providers in registry.components(kind).items():
            if len(providers) > 1:
                who = " and ".join(f"{c.plugin.distribution} {c.plugin.version}" for c in providers)
                findings.append(Finding("error", f"{kind} {name!r}", f"provided by both {who}",
                                        f"pip uninstall {shlex.quote(providers[-1].plugin.distribution)}, or leave "
                                        f"one out: {DISABLE_ENV}="
                                        + shlex.quote(",".join(c.plugin.name for c in providers[1:])) + " lab doctor"))
    return findings


def _bundles(registry: Registry, bundles: dict, config: str | Path | None) -> list[Finding]:
    findings = []
    if len(bundles) > 1:
        names = ", ".join(sorted(bundles))
        # with a file given, lab run does not need to choose: only a warning
        findings.append(Finding("warning" if config else "error", "bundles",
                                f"several bundles are installed ({names}): `lab run` without a file "
                                "does not know whose configuration to use",
                                f"uninstall all but one (pip uninstall {shlex.quote(sorted(bundles)[-1])}), or "
                                "give the configuration file: lab run CONFIG.toml"))
    for dist, (info, path) in bundles.items():
        for req in bundle_requirements(info):
            try:
                installed = importlib_metadata.version(req.name)
            except importlib_metadata.PackageNotFoundError:
                findings.append(Finding("error", f"bundle {dist}", f"pins {req} but {req.name} is not installed",
                                        f"pip install {shlex.quote(str(req))}"))
                continue
            if req.specifier and not req.specifier.contains(installed, prereleases=True):
                findings.append(Finding("error", f"bundle {dist}", f"pins {req} but {req.name} {installed} is "
                                        "installed", f"pip install {shlex.quote(str(req))} (or release a bundle "
                                        "with the new pin)"))
        if not Path(path).is_file():
            findings.append(Finding("error", f"bundle {dist}", f"its configuration {path} is missing",
                                    f"pip install --force-reinstall {shlex.quote(dist)}"))
    return findings


def _configuration(registry: Registry, path: str | Path, result: Diagnosis) -> None:
    from .config import load

    try:
        plan = load(path, registry, check_only=True)
    except LabError as exc:
        result.config_error = True
        result.findings.append(Finding("error", f"configuration {path}", str(exc), "edit the key it names"))
        return
    variables = [v for context in plan.contexts for v in context.variables]
    result.findings += _writers(plan, path) + _trial_reads(plan, variables, path)
    codenames = len({v.codename for v in variables})
    result.checked.append(f"configuration {path}: {len(plan.readers)} reader{'s' * (len(plan.readers) != 1)}, "
                          f"{codenames} variable{'s' * (codenames != 1)} (one trial read each), "
                          f"{len(plan.writers)} writer{'s' * (len(plan.writers) != 1)}")


def _writers(plan, path: str | Path) -> list[Finding]:
    """Each writer's start-up checks, as ``lab run`` makes them, then a trial open."""
    findings = []
    for name, writer in plan.writers.items():
        subject = f"writers.{name} in {path}"
        try:
            writer.check()
            for context in plan.contexts:
                if context.writers is None or name in context.writers:
                    writer.check_context(context)
        except (ValueError, OSError) as exc:
            findings.append(Finding("error", subject, str(exc), getattr(exc, "fix", None)
                                    or f"edit [writers.{name}] in {path}, or what it points at"))
            continue
        error = _try_open(writer)
        if isinstance(error, (ConnectionError, TimeoutError)):
            findings.append(Finding("warning", subject, f"cannot be reached now: {_reason(error)}",
                                    "start the service it names, or check its host and port; meanwhile "
                                    "`lab run` keeps its samples in the spool"))
        elif error is not None:
            findings.append(Finding("error", subject, f"cannot open: {_reason(error)}", getattr(error, "fix", None)
                                    or f"check the options of [writers.{name}] (host, port, credentials, path)"))
    return findings


def _trial_reads(plan, variables, path: str | Path) -> list[Finding]:
    from .trial import read_once

    findings = []
    for reading in read_once(plan.readers, variables):
        if reading.error is not None:
            v = reading.variable
            findings.append(Finding("error", f"variable {v.codename} (reader {v.reader}, address {v.address}) "
                                    f"in {path}", reading.error,
                                    f"check that the device is on and reachable, the options of "
                                    f"[readers.{v.reader}] (host, port) and the variable's address"))
    return findings


def _try_open(instance: Any) -> BaseException | None:
    """Open and close ``instance`` as ``lab run`` would; the exception it raised, or None."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            instance.open()
            instance.close()
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(OPEN_TIMEOUT_S)
    return outcome[0] if outcome else TimeoutError(f"no answer within {OPEN_TIMEOUT_S:g} s")


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def report(diagnosis: Diagnosis) -> str:
    lines = [f"checked {item}" for item in diagnosis.checked]
    for f in diagnosis.findings:
        lines += [f"{f.level.upper()}: {f.subject}: {f.problem}", f"    fix: {f.fix}"]
    if not diagnosis.findings:
        lines.append("no problems found")
    else:
        lines.append(f"{diagnosis.errors} error(s), {len(diagnosis.findings) - diagnosis.errors} warning(s)")
    return "\n".join(lines)
