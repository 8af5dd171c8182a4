"""dahu's ``dahu.cache``: ``DataCache(max_size=10, borg=True)``, with dahu's habits.

* ``borg=True`` (the default): every such instance shares the same items (the
  same store as lab-dahu's ``DataCache()``); ``borg=False``: a private cache;
* the first ``DataCache(n)`` sets the size of the shared cache; later ones
  never change it (a ``DataCache(3)`` does not shrink what a ``DataCache(10)`` filled);
* ``get(key, default)`` stores ``default`` under ``key`` when it is missing and
  ``default`` is not None (dahu's plugins use it as ``setdefault``).
"""

from __future__ import annotations

from typing import Any

from lab_dahu import cache

__all__ = ["DataCache"]


class DataCache(cache.DataCache):
    """dahu's Borg: a bounded LRU mapping shared by every ``DataCache()`` (see the module)."""

    def __init__(self, max_size: int = 10, borg: bool = True):
        shared = bool(borg)
        super().__init__(None if shared and self.exists() else max_size, shared=shared)

    def get(self, key: Any, default: Any = None) -> Any:
        with self._store.lock:
            if key in self._store.data or default is None:
                return super().get(key, default)
            self[key] = default
            return default
