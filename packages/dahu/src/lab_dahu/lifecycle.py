"""Running one plugin through its life cycle: setup → process (unless setup failed) → teardown (always).

Shared by the in-process executor and by the remote side of the process and
Dask executors (:func:`run_remote`, which needs only importable names).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import traceback
from typing import Any

from .base import function_plugin_class
from .factory import plugin_factory

log = logging.getLogger(__name__)


#: the class attribute naming each step's method (dahu's names)
STEP_ATTRIBUTES = {"setup": "DEFAULT_SET_UP", "process": "DEFAULT_PROCESS", "teardown": "DEFAULT_TEAR_DOWN",
                   "abort": "DEFAULT_ABORT"}
_method_names: dict[type, dict[str, str]] = {}


def method_name(plugin: Any, step: str) -> str:
    """The name of ``plugin``'s method for ``step`` (``DEFAULT_PROCESS`` etc. may rename it)."""
    klass = type(plugin)
    names = _method_names.get(klass)
    if names is None:
        names = {s: (getattr(klass, attr, None) or s) for s, attr in STEP_ATTRIBUTES.items()}
        _method_names[klass] = names
    return names[step]


def error_lines(message: str) -> list[str]:
    """``message`` followed by the current exception's traceback, as lines (dahu's ``output["error"]``)."""
    lines = [message]
    lines += traceback.format_exc(limit=10).rstrip("\n").splitlines()
    return lines


def run_lifecycle(plugin: Any, input_data: dict[str, Any]) -> list[str]:
    """Run ``plugin`` on ``input_data``; return the error lines (empty on success).

    ``setup`` is called without argument after the input was given to the plugin
    (as dahu does); ``process`` is skipped if ``setup`` failed or the plugin was
    aborted meanwhile; ``teardown`` always runs.
    """
    errors: list[str] = []
    plugin.input.update(input_data)
    names = _method_names.get(type(plugin)) or _names(plugin)
    if _step(plugin, names, "setup", errors) and not getattr(plugin, "is_aborted", False):
        _step(plugin, names, "process", errors)
    _step(plugin, names, "teardown", errors)
    return errors


def _names(plugin: Any) -> dict[str, str]:
    method_name(plugin, "setup")
    return _method_names[type(plugin)]


def _step(plugin: Any, names: dict[str, str], step: str, errors: list[str]) -> bool:
    try:
        getattr(plugin, names[step])()
    except AttributeError as exc:
        if getattr(plugin, names[step], None) is None:
            log.error("no method for %s in plugin class %s", step, type(plugin).__name__)
            return True
        errors.extend(error_lines(f"Error {type(exc).__name__}: {exc} while calling {type(plugin).__name__}.{step}"))
        return False
    except Exception as exc:
        errors.extend(error_lines(f"Error {type(exc).__name__}: {exc} while calling {type(plugin).__name__}.{step}"))
        return False
    return True


# -- remote side (process pool, Dask workers) --------------------------------------------


def plugin_reference(klass: type) -> dict[str, str]:
    """An importable description of ``klass`` for another process (no pickle of the class)."""
    if _importable_as(klass) is klass:
        return {"class": f"{klass.__module__}:{klass.__qualname__}"}
    function = getattr(klass, "_from_function", None)
    if function is not None and _importable(function):
        return {"function": f"{function.__module__}:{function.__qualname__}", "class_name": klass.__name__}
    return {}


def _resolve(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _importable(obj: Any) -> bool:
    return _importable_as(obj) is obj


def _importable_as(obj: Any) -> Any:
    """What ``obj``'s module and qualified name give in a fresh process (None: nothing importable)."""
    if "<locals>" in obj.__qualname__ or obj.__module__ == "__main__":
        return None
    try:
        return _resolve(f"{obj.__module__}:{obj.__qualname__}")
    except AttributeError:  # made at run time (e.g. by plugin_from_function): not a module attribute
        return None
    except Exception as exc:  # the module itself is broken: say so, the plugin is then sent by name
        log.warning("plugin module %s cannot be imported (%s: %s); a worker process will look the "
                    "plugin up by name instead", obj.__module__, type(exc).__name__, exc)
        return None


def load_plugin_class(payload: Any, name: str) -> type:
    """The plugin class described by ``payload`` (a class, a reference dict, or {} → by name)."""
    if isinstance(payload, type):
        return payload
    if payload.get("class"):
        return _resolve(payload["class"])
    if payload.get("function"):
        return function_plugin_class(_resolve(payload["function"]), payload.get("class_name"))
    return plugin_factory.get_class(name)


def run_remote(payload: Any, name: str, input_data: dict[str, Any], abort_name: str | None = None) -> dict[str, Any]:
    """Run plugin ``name`` in this (worker) process; return a plain dict the job applies.

    ``abort_name`` (Dask only) names a ``distributed.Event`` polled while the
    plugin runs: when the job is aborted, the plugin's ``abort()`` is called.
    """
    started = time.time()
    try:
        plugin = load_plugin_class(payload, name)()
    except Exception as exc:
        return {"output": {}, "errors": error_lines(f"plugin {name} failed to be instantiated: {exc}"),
                "aborted": False, "started": started, "finished": time.time()}
    done = threading.Event()
    if abort_name:
        try:  # made here: the worker's client is known in the task's thread only
            from distributed import Event, get_client

            event = Event(abort_name, client=get_client())
        except Exception:
            log.warning("job %s: no abort flag on this worker; an abort will not reach the plugin",
                        input_data.get("job_id"), exc_info=True)
        else:
            threading.Thread(target=_watch_abort, args=(event, plugin, done), daemon=True,
                             name=f"lab-dahu-abort-{abort_name}").start()
    try:
        errors = run_lifecycle(plugin, input_data)
    finally:
        done.set()
    return {"output": plugin.output, "errors": errors, "aborted": bool(getattr(plugin, "is_aborted", False)),
            "started": started, "finished": time.time()}


#: seconds between two looks at a Dask job's abort flag
ABORT_POLL_S = 0.25


def _watch_abort(event: Any, plugin: Any, done: threading.Event) -> None:
    try:
        while not done.is_set():
            if event.is_set():  # polled, not waited on: the scheduler keeps no waiter state
                log.info("job aborted: calling %s.abort()", type(plugin).__name__)
                plugin.abort()
                return
            done.wait(ABORT_POLL_S)
    except Exception:  # the watcher is best effort; the job itself goes on
        log.warning("job abort watcher %s stopped: an abort will not reach %s", getattr(event, "name", event),
                    type(plugin).__name__, exc_info=True)
