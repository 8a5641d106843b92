"""``client.changes(...)``: the node's change feed, the stream peers sync from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

from lumbung_client._async._pagination import AsyncPager
from lumbung_client._models import Change, ChangesPage, Page
from lumbung_client._routes import ROUTES

if TYPE_CHECKING:
    from lumbung_client._async._client import AsyncClient

__all__ = ["AsyncChangesPager", "changes"]


class AsyncChangesPager(AsyncPager[Change]):
    """The change feed, page by page until caught up. ``cursor`` is where to resume."""

    async def first_page(self) -> ChangesPage:
        """The first page after the start cursor."""
        return cast(ChangesPage, await super().first_page())

    async def pages(self) -> AsyncIterator[ChangesPage]:
        """Every page until the feed has no more."""
        async for page in super().pages():
            yield cast(ChangesPage, page)


def changes(client: AsyncClient, after: str | None, *, limit: int | None) -> AsyncChangesPager:
    """Read ``client``'s node's change feed after cursor ``after``."""
    url = ROUTES["changes"].format()

    async def fetch(cursor: str | None) -> Page[Change]:
        params = {"after": cursor, "limit": limit}
        response = await client._transport.request("GET", url, params=params)
        return ChangesPage.model_validate(response.json())

    return AsyncChangesPager(fetch, after)
