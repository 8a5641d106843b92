"""What a lower domain needs from a higher one, handed down at start-up.

Domains import one way only (``docs/architecture.md``). Where a lower domain needs
something only a higher one can do (the catalog's reads need the visibility rule,
which needs partnerships), the lower one declares a :class:`Slot` and calls it; the
higher one fills it in ``registry.startup.start``, which ``create_app`` and the
``lumbung`` command run. A slot left empty fails at its first use with an error that
says who should have filled it, and a test checks that every slot is filled.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

T = TypeVar("T")


class Slot(Generic[T]):
    """One thing a domain needs from above: ``slot.fill(value)`` at start-up,
    ``slot.get()`` at use."""

    every: ClassVar[list[Slot[Any]]] = []

    def __init__(self, what: str, provider: str) -> None:
        self.what = what
        self.provider = provider
        self._value: T | None = None
        Slot.every.append(self)

    def fill(self, value: T) -> None:
        self._value = value

    @property
    def filled(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        if self._value is None:
            raise RuntimeError(
                f"{self.what} is not registered: {self.provider} provides it, and "
                "registry.startup.start() registers it at start-up"
            )
        return self._value

    def __repr__(self) -> str:
        return f"Slot({self.what!r}, filled={self.filled})"
