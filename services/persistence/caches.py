"""Bounded caches that a Store owns, so two Stores (two databases, two test apps) never
share an entry: what one database deployed or imported is never served from another's."""
from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from cachetools import LRUCache


class LockedLRU:
    """A least-recently-used cache that request threads may share.

    cachetools' caches are not thread-safe: a lookup reorders the recency list, so even
    reads take the lock. Values are built outside it (compiling a model takes
    milliseconds); two threads that miss at once build the same value twice, harmlessly.
    """

    def __init__(self, capacity: int):
        self._entries: LRUCache = LRUCache(maxsize=capacity)
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
