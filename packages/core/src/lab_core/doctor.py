"""``lab doctor``: check the installed set and a configuration, and say how to fix each problem."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import attrs

from .errors import LabError
from .registry import DISABLE_ENV, KINDS, Registry, Status, bundle_requirements, importlib_metadata

OPEN_TIMEOUT_S = 10.0


@attrs.frozen
class Finding:
    level: str  # "error" or "warning"
    subject: str
    problem: str
    fix: str


def diagnose(registry: Registry, config: str | Path | None = None) -> list[Finding]:
    findings = _plugins(registry) + _conflicts(registry) + _bundles(registry)
    if config is not None:
        findings += _configuration(registry, config)
    return findings


def _plugins(registry: Registry) -> list[Finding]:
    findings = []
    for info in registry.load():
        subject = f"plugin {info.name} ({info.distribution} {info.version})"
        if info.status is Status.FAILED:
            findings.append(Finding("error", subject, info.error,
                                    f"reinstall or upgrade {info.distribution} (a missing dependency?), "
                                    f"or disable it: {DISABLE_ENV}={info.name}"))
        elif info.status is Status.INCOMPATIBLE:
            findings.append(Finding("error", subject, info.error,
                                    f"pip install '{info.distribution}' in a version made for this lab-core, "
                                    f"or install a lab-core that fits: 'lab-core{info.requires_core}'"))
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
                                        f"uninstall one of them, or disable one plugin with {DISABLE_ENV}="
                                        + ",".join(c.plugin.name for c in providers[1:])))
    return findings


def _bundles(registry: Registry) -> list[Finding]:
    findings = []
    for dist, (info, config) in registry.bundles().items():
        for req in bundle_requirements(info):
            try:
                installed = importlib_metadata.version(req.name)
            except importlib_metadata.PackageNotFoundError:
                findings.append(Finding("error", f"bundle {dist}", f"pins {req} but {req.name} is not installed",
                                        f"pip install '{req}'"))
                continue
            if req.specifier and not req.specifier.contains(installed, prereleases=True):
                findings.append(Finding("error", f"bundle {dist}", f"pins {req} but {req.name} {installed} is "
                                        "installed", f"pip install '{req}' (or release a bundle with the new pin)"))
        if not Path(config).is_file():
            findings.append(Finding("error", f"bundle {dist}", f"its configuration {config} is missing",
                                    f"reinstall {dist}"))
    return findings


def _configuration(registry: Registry, path: str | Path) -> list[Finding]:
    from .config import load

    try:
        plan = load(path, registry, check_only=True)
    except LabError as exc:
        return [Finding("error", f"configuration {path}", str(exc), "edit the key it names")]
    findings = []
    for kind, instances in (("readers", plan.readers), ("writers", plan.writers)):
        for name, instance in instances.items():
            error = _try_open(instance)
            if error:
                findings.append(Finding("error", f"{kind}.{name} in {path}", f"cannot open: {error}",
                                        f"check that the service it names is running and reachable, and the "
                                        f"options of [{kind}.{name}] (host, port, credentials, path)"))
    return findings


def _try_open(instance: Any) -> str:
    """Open and close ``instance`` as ``lab run`` would; the error, or ""."""
    outcome: list[str] = []

    def attempt() -> None:
        try:
            instance.open()
            instance.close()
            outcome.append("")
        except Exception as exc:
            outcome.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(OPEN_TIMEOUT_S)
    return outcome[0] if outcome else f"no answer within {OPEN_TIMEOUT_S:g} s"


def report(findings: list[Finding]) -> str:
    if not findings:
        return "no problems found"
    lines = []
    for f in findings:
        lines += [f"{f.level.upper()}: {f.subject}: {f.problem}", f"    fix: {f.fix}"]
    errors = sum(f.level == "error" for f in findings)
    lines.append(f"{errors} error(s), {len(findings) - errors} warning(s)")
    return "\n".join(lines)
