"""``client.search(...)``: apps and datasets, local and mirrored from peers, with facets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, cast

from lumbung_client._async._pagination import AsyncPager
from lumbung_client._common import page_params
from lumbung_client._models import Page, SearchHit, SearchResults
from lumbung_client._routes import ROUTES

if TYPE_CHECKING:
    from lumbung_client._async._client import AsyncClient

__all__ = ["AsyncSearchPager", "search"]


class AsyncSearchPager(AsyncPager[SearchHit]):
    """Search hits, page by page; each page is a :class:`SearchResults` with facets."""

    async def first_page(self) -> SearchResults:
        """The first page, with ``facets`` and ``total``."""
        return cast(SearchResults, await super().first_page())

    async def pages(self) -> AsyncIterator[SearchResults]:
        """Every page in turn."""
        async for page in super().pages():
            yield cast(SearchResults, page)


def search(
    client: AsyncClient,
    q: str | None,
    *,
    kind: str | None,
    limit: int | None,
    cursor: str | None,
    filters: Mapping[str, str | None],
) -> AsyncSearchPager:
    """Run a search on ``client``'s node."""
    url = ROUTES["search"].format()
    base = {"q": q, "kind": kind, **filters}

    async def fetch(cursor: str | None) -> Page[SearchHit]:
        params = page_params(base, limit, cursor)
        response = await client._transport.request("GET", url, params=params)
        return SearchResults.model_validate(response.json())

    return AsyncSearchPager(fetch, cursor)
