"""Render once, fill per message: a template rendered with slot markers where each
message's own values go (names, links), cut at the markers, filled by joining. One type
for text (share renders) and bytes (encoded digests), and one LRU cache for both."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T", str, bytes)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_TEXT = re.compile(r"%%slot:([a-z_]+)%%")
_BYTES = re.compile(rb"%%slot:([a-z_]+)%%")


def slot(name: str) -> str:
    return f"%%slot:{name}%%"


@dataclass(frozen=True)
class SlotTemplate(Generic[T]):
    """Literal pieces at even indexes, slot names at odd ones."""

    pieces: tuple[T, ...]

    @staticmethod
    def of(document: T) -> SlotTemplate[T]:
        if isinstance(document, bytes):
            return SlotTemplate(tuple(_BYTES.split(document)))
        return SlotTemplate(tuple(_TEXT.split(document)))

    @property
    def names(self) -> frozenset[T]:
        return frozenset(self.pieces[1::2])

    def fill(self, values: Mapping[T, T]) -> T:
        out = list(self.pieces)
        for i in range(1, len(out), 2):
            out[i] = values[out[i]]
        return out[0][:0].join(out)


class LruCache(Generic[K, V]):
    """The renders of the last `size` keys (articles, digest variants)."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._size = size
        self.misses = 0

    def get(self, key: K, make: Callable[[], V]) -> V:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        self.misses += 1
        made = self._items[key] = make()
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return made
