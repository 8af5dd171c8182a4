"""DataCache: bounded LRU, shared or not; get() does not store the default."""

from __future__ import annotations

import threading
import uuid

import pytest

from lab_dahu import DataCache


def private(n=3):
    return DataCache(max_size=n, shared=False)


def test_holds_exactly_max_size_items():
    cache = private(3)
    for i in range(10):
        cache[i] = i * 10
        assert len(cache) == min(i + 1, 3)
    assert cache.keys() == [7, 8, 9]


def test_least_recently_used_goes_first():
    cache = private(3)
    cache["a"], cache["b"], cache["c"] = 1, 2, 3
    assert cache["a"] == 1  # a is now the most recently used
    cache["d"] = 4
    assert cache.keys() == ["c", "a", "d"]
    assert "b" not in cache
    cache["c"] = 30  # re-setting refreshes too
    cache["e"] = 5
    assert cache.keys() == ["d", "c", "e"]


def test_items_and_values_do_not_change_recency():
    cache = private(3)
    cache["a"], cache["b"] = 1, 2
    assert cache.items() == [("a", 1), ("b", 2)] and cache.values() == [1, 2]
    assert dict(cache) == {"a": 1, "b": 2}
    cache["c"], cache["d"] = 3, 4
    assert cache.keys() == ["b", "c", "d"]


def test_get_with_default_does_not_store_it():
    cache = private(2)
    assert cache.get("missing") is None
    assert cache.get("missing", 42) == 42
    assert "missing" not in cache and len(cache) == 0
    cache["x"] = 1
    cache["y"] = 2
    assert cache.get("x") == 1  # get refreshes
    cache["z"] = 3
    assert cache.keys() == ["x", "z"]


def test_pop_delete_contains_has_key_clear():
    cache = private(3)
    cache["a"] = 1
    assert cache.has_key("a") and "a" in cache
    assert cache.pop("a") == 1
    with pytest.raises(KeyError):
        cache.pop("a")
    assert cache.pop("a", None) is None
    cache["b"] = 2
    del cache["b"]
    with pytest.raises(KeyError):
        cache["b"]
    cache["c"] = 3
    cache.clear()
    assert len(cache) == 0 and list(cache) == []
    assert "DataCache(max_size=3" in repr(cache)


def test_shared_instances_see_the_same_items():
    name = f"shared-{uuid.uuid4().hex}"
    a = DataCache(max_size=4, shared=name)
    b = DataCache(shared=name)
    a["img"] = "data"
    assert b["img"] == "data" and b.max_size == 4
    a["x"], a["y"], a["z"] = 1, 2, 3
    c = DataCache(max_size=2, shared=name)  # a smaller size never shrinks what others filled
    assert len(c) == 4 and c.max_size == a.max_size == 4
    d = DataCache(max_size=6, shared=name)  # a larger one grows it
    assert a.max_size == d.max_size == 6
    c.resize(2)  # on purpose: the least recently used go
    assert list(b) == ["y", "z"]
    assert "img" not in DataCache(shared=False)


def test_default_is_the_shared_borg():
    key = uuid.uuid4().hex
    DataCache()[key] = 1
    try:
        assert DataCache()[key] == 1
    finally:
        DataCache().pop(key, None)


def test_bad_size_is_refused():
    with pytest.raises(ValueError):
        DataCache(max_size=0, shared=False)
    with pytest.raises(ValueError):
        private().resize(-1)


def test_thread_safe_under_contention():
    cache = private(50)

    def work(offset):
        for i in range(2000):
            cache[(offset, i % 80)] = i
            cache.get((offset, (i * 7) % 80))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 50 == len(cache.keys())
