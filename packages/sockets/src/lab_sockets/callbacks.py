"""Safe callbacks for ``callback_direct``: call only methods on an explicit allow-list.

PyExpLabSys's example looks the method name up with ``getattr(self, data.pop('method'))``,
which lets anyone on the network call *any* method (``stop``, ``__init__``…). Use this::

    dispatcher = allow_methods(laser, ["update_settings", "state"])
    DataPushSocket("laser control", action="callback_direct", callback=dispatcher)

``json_wn#{"method": "state", "state": "active"}`` then calls ``laser.state(state="active")``
and sends its return value back; any other method name, missing or wrong arguments
give ``EXCEP#`` with a message that says what is allowed.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

__all__ = ["DispatchError", "MethodDispatcher", "allow_methods"]


class DispatchError(ValueError):
    """The data set does not name an allowed method, or its arguments do not fit it."""


class MethodDispatcher:
    """A callable ``callback(data)``: pops ``data[key]`` (the method name), calls that method of
    ``target`` with the rest of ``data`` as keyword arguments, returns its result."""

    def __init__(self, target: Any, allowed: Iterable[str], key: str = "method"):
        if isinstance(allowed, str):
            raise ValueError(f"allowed must be a list of method names, not the string {allowed!r}")
        allowed = list(allowed)
        if not allowed:
            raise ValueError("allowed must be a non-empty list of method names")
        self._methods: dict[str, Any] = {}
        for name in allowed:
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
                raise ValueError(f"{name!r} cannot be allowed: only public method names (no leading _)")
            method = getattr(target, name, None)
            if not callable(method):
                raise ValueError(f"{type(target).__name__} has no method {name!r} to allow")
            self._methods[name] = method
        self.target = target
        self.key = key

    @property
    def allowed(self) -> list[str]:
        return list(self._methods)

    def __call__(self, data: dict[str, Any]) -> Any:
        if not isinstance(data, dict):
            raise DispatchError(f"expected a dict, got {type(data).__name__}")
        arguments = dict(data)
        if self.key not in arguments:
            raise DispatchError(
                f"the data set has no {self.key!r}; send e.g. {{\"{self.key}\": \"{self.allowed[0]}\", ...}} "
                f"with one of: {', '.join(self.allowed)}"
            )
        name = arguments.pop(self.key)
        method = self._methods.get(name) if isinstance(name, str) else None
        if method is None:
            raise DispatchError(f"method {name!r} is not allowed; allowed methods: {', '.join(self.allowed)}")
        try:
            inspect.signature(method).bind(**arguments)
        except TypeError as exc:
            raise DispatchError(f"wrong arguments for {name}: {exc}") from None
        except ValueError:  # no signature (a builtin): let the call decide
            pass
        return method(**arguments)

    def __repr__(self) -> str:
        return f"MethodDispatcher({type(self.target).__name__}, allowed={self.allowed})"


def allow_methods(target: Any, allowed: Iterable[str], key: str = "method") -> MethodDispatcher:
    """A ``callback_direct`` callback that calls only the ``allowed`` methods of ``target``."""
    return MethodDispatcher(target, allowed, key)
