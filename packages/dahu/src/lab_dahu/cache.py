"""DataCache: a bounded, thread-safe LRU mapping, shared by all instances by default (dahu's Borg).

Used by plugins to keep a few large objects (images, calibrations) between jobs::

    cache = DataCache(max_size=5)       # every DataCache() sees the same items
    cache["dark"] = dark_image
    dark = cache.get("dark")            # None if it was evicted; nothing is stored
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

_MISSING = object()
DEFAULT_MAX_SIZE = 10


class _Store:
    __slots__ = ("data", "lock", "max_size")

    def __init__(self, max_size: int):
        self.data: OrderedDict[Any, Any] = OrderedDict()  # least recently used first
        self.lock = threading.RLock()
        self.max_size = max_size


class DataCache(MutableMapping):
    """A mapping that keeps at most ``max_size`` items, forgetting the least recently used.

    ``shared=True`` (the default, as dahu's Borg): every instance made with
    ``shared=True`` uses the same items; ``shared="name"``: the instances made with
    that name share theirs; ``shared=False``: a private cache. ``max_size=None``
    keeps a shared cache's current size (10 for a new one); a number resizes it.

    Reading an item (``cache[k]``, ``get``) makes it the most recently used;
    ``in`` and iteration do not. ``get(k, default)`` never stores ``default``.
    """

    _shared: dict[Any, _Store] = {}
    _shared_lock = threading.Lock()

    def __init__(self, max_size: int | None = None, shared: bool | str = True):
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise ValueError(f"DataCache max_size must be an integer >= 1, not {max_size!r}")
        if shared is False:
            self._store = _Store(max_size or DEFAULT_MAX_SIZE)
        else:
            key = True if shared is True else str(shared)
            with DataCache._shared_lock:
                store = DataCache._shared.get(key)
                if store is None:
                    store = DataCache._shared[key] = _Store(max_size or DEFAULT_MAX_SIZE)
                    max_size = None
            self._store = store
        if max_size is not None and max_size > self._store.max_size:
            self.resize(max_size)

    @classmethod
    def exists(cls, shared: bool | str = True) -> bool:
        """True if the shared cache ``shared`` has been made already."""
        return (True if shared is True else str(shared)) in cls._shared

    @property
    def max_size(self) -> int:
        return self._store.max_size

    def resize(self, max_size: int) -> None:
        """Change the bound; the least recently used items beyond it are dropped."""
        if not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"DataCache max_size must be an integer >= 1, not {max_size!r}")
        with self._store.lock:
            self._store.max_size = max_size
            self._evict()

    def _evict(self) -> None:
        data = self._store.data
        while len(data) > self._store.max_size:
            key, _ = data.popitem(last=False)
            log.debug("DataCache: dropping least recently used %r", key)

    # -- the mapping ------------------------------------------------------------------

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._store.lock:
            data = self._store.data
            data[key] = value
            data.move_to_end(key)
            self._evict()

    def __getitem__(self, key: Any) -> Any:
        with self._store.lock:
            data = self._store.data
            value = data[key]
            data.move_to_end(key)
            return value

    def __delitem__(self, key: Any) -> None:
        with self._store.lock:
            del self._store.data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._store.data

    has_key = __contains__

    def __len__(self) -> int:
        return len(self._store.data)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def get(self, key: Any, default: Any = None) -> Any:
        """The value for ``key`` (now the most recently used), else ``default`` — which is not stored."""
        with self._store.lock:
            data = self._store.data
            if key in data:
                data.move_to_end(key)
                return data[key]
            return default

    def keys(self) -> list[Any]:  # type: ignore[override]
        """The keys, least recently used first (a copy)."""
        with self._store.lock:
            return list(self._store.data)

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        """``(key, value)`` pairs, least recently used first (a copy; recency unchanged)."""
        with self._store.lock:
            return list(self._store.data.items())

    def values(self) -> list[Any]:  # type: ignore[override]
        """The values, least recently used first (a copy; recency unchanged)."""
        with self._store.lock:
            return list(self._store.data.values())

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value; ``KeyError`` if absent and no default is given."""
        with self._store.lock:
            if key in self._store.data:
                return self._store.data.pop(key)
        if default is _MISSING:
            raise KeyError(key)
        return default

    def clear(self) -> None:
        with self._store.lock:
            self._store.data.clear()

    def __repr__(self) -> str:
        with self._store.lock:
            items = ", ".join(f"{k!r}: {v!r}" for k, v in self._store.data.items())
        return f"DataCache(max_size={self.max_size}, {{{items}}})"
