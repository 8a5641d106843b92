"""Pagers of :class:`~lumbung_client.AsyncClient`: lists that follow cursors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from pydantic import BaseModel

from lumbung_client._models import Page
from lumbung_client._pagination import Cursor

__all__ = ["AsyncPager"]

M = TypeVar("M", bound=BaseModel)


class AsyncPager(Generic[M]):
    """The items of a list, fetched page by page while you iterate (``async for``)."""

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
        cursor = Cursor(self._start)
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
