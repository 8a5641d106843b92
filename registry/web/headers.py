"""Reading the request headers that weigh their choices (``Accept``, ``Accept-Language``)."""

from __future__ import annotations

from collections.abc import Iterator


def weighted(header: str | None) -> Iterator[tuple[str, float]]:
    """Each choice of a header such as ``text/html;q=0.9, */*;q=0.8`` with its weight,
    in the header's order: the value lowercased, and ``q`` (1 when not given, 0 when
    unreadable, so a garbled weight never wins)."""
    for part in (header or "").split(","):
        value, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, number = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(number)
                except ValueError:
                    q = 0.0
        yield value.strip().lower(), q
