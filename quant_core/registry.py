"""Explicit, read-only registries filled at import time.

A duplicate name raises, an unknown name raises and lists the sorted options, and readers get a
read-only view. This is the only module-level mutable state the project allows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from quant_core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Map names to objects of one interface.

    Parameters
    ----------
    kind
        What the registry holds, used in error messages ("strategy", "sample dataset").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Return a decorator that registers its argument under ``name``."""

        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name``; a name already taken raises ``ValueError``."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        """Return the object registered as ``name``; an unknown name lists the valid ones."""
        try:
            return self._items[name]
        except KeyError:
            options = ", ".join(sorted(self._items)) or "(none)"
            raise ConfigError(f"unknown {self.kind} {name!r}; valid: {options}") from None

    @property
    def items(self) -> Mapping[str, T]:
        """Return a read-only view of every registered name and object."""
        return MappingProxyType(self._items)

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._items)
