"""Method families by name: a :class:`Registry` maps the name a user types to the small class or function that does it.

Every family of interchangeable methods (clusterers, decompositions, embeddings, indexing and phase
methods, reconstruction and adversarial losses, model families) keeps one registry beside its methods, so adding
a method is writing it and registering it in that one file; the command line, the flows and the
checks read the names from the registry, never from an ``if method == ...`` chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Names → methods of one family, in the order they were registered.

    Parameters
    ----------
    family
        What the methods are, for messages ("clustering method").

    Examples
    --------
    >>> LOSSES = Registry("loss")
    >>> @LOSSES.register("l1")
    ... def l1(a, b):
    ...     return abs(a - b)
    >>> LOSSES["l1"](1, 3), "l1" in LOSSES, LOSSES.names()
    (2, True, ('l1',))
    >>> LOSSES["l2"]
    Traceback (most recent call last):
    ...
    KeyError: "unknown loss 'l2'; known: l1"
    """

    def __init__(self, family: str):
        self.family = family
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the class or function under ``name`` (a name is registered once)."""

        def add(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise TypeError(f"{self.family} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown {self.family} {name!r}; known: {', '.join(self._items)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}: {', '.join(self._items)})"
