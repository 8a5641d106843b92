"""Lists that follow cursors: iterate items, or take one page at a time.

``client.apps.list(...)`` sends nothing until iterated. Iterating yields every item of
every page, fetching the next page when the previous one is used up; ``.pages()``
yields whole pages; ``.first_page()`` fetches just one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Generic, TypeVar

from pydantic import BaseModel

from lumbung_client._exceptions import LumbungError
from lumbung_client._models import Page

__all__ = ["AsyncPager", "SyncPager"]

M = TypeVar("M", bound=BaseModel)


class _Cursor:
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


class SyncPager(Generic[M]):
    """The items of a list, fetched page by page while you iterate."""

    def __init__(self, fetch: Callable[[str | None], Page[M]], cursor: str | None = None):
        self._fetch = fetch
        self._start = cursor
        self._cursor: str | None = cursor

    @property
    def cursor(self) -> str | None:
        """The cursor after the last page fetched (to resume later), or the start cursor."""
        return self._cursor

    def first_page(self) -> Page[M]:
        """Fetch only the first page."""
        page = self._fetch(self._start)
        self._cursor = page.next_cursor or self._start
        return page

    def pages(self) -> Iterator[Page[M]]:
        """Every page in turn."""
        cursor = _Cursor(self._start)
        while True:
            page = self._fetch(cursor.value)
            more = cursor.advance(page)
            self._cursor = cursor.value
            yield page
            if not more:
                return

    def __iter__(self) -> Iterator[M]:
        for page in self.pages():
            yield from page.items

    def all(self) -> list[M]:
        """Every item of every page, as a list."""
        return list(self)


class AsyncPager(Generic[M]):
    """The items of a list, fetched page by page while you ``async for`` over them."""

    def __init__(
        self, fetch: Callable[[str | None], Awaitable[Page[M]]], cursor: str | None = None
    ):
        self._fetch = fetch
        self._start = cursor
        self._cursor: str | None = cursor

    @property
    def cursor(self) -> str | None:
        """The cursor after the last page fetched (to resume later), or the start cursor."""
        return self._cursor

    async def first_page(self) -> Page[M]:
        """Fetch only the first page."""
        page = await self._fetch(self._start)
        self._cursor = page.next_cursor or self._start
        return page

    async def pages(self) -> AsyncIterator[Page[M]]:
        """Every page in turn."""
        cursor = _Cursor(self._start)
        while True:
            page = await self._fetch(cursor.value)
            more = cursor.advance(page)
            self._cursor = cursor.value
            yield page
            if not more:
                return

    async def __aiter__(self) -> AsyncIterator[M]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def all(self) -> list[M]:
        """Every item of every page, as a list."""
        return [item async for item in self]
