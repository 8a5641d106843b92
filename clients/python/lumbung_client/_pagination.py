"""Lists that follow cursors: iterate items, or take one page at a time.

``client.apps.list(...)`` sends nothing until iterated. Iterating yields every item of
every page, fetching the next page when the previous one is used up; ``.pages()``
yields whole pages; ``.first_page()`` fetches just one. The pagers are in
``_async/_pagination.py`` and its generated twin.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from lumbung_client._exceptions import LumbungError
from lumbung_client._models import Page

__all__ = ["Cursor"]

M = TypeVar("M", bound=BaseModel)


class Cursor:
    """Remembers where a listing is, and stops one that would go round in circles."""

    def __init__(self, start: str | None) -> None:
        self.value = start
        self._seen: set[str] = set()

    def advance(self, page: Page[M]) -> bool:
        """Move past ``page``; False when it was the last one."""
        if page.next_cursor is not None:
            if page.next_cursor in self._seen:
                raise LumbungError(f"the node returned cursor {page.next_cursor!r} twice")
            self._seen.add(page.next_cursor)
            self.value = page.next_cursor
        return page.has_next and page.next_cursor is not None
