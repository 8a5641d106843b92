"""Sharing and federation: adoptions, partnerships, peers, search and the change feed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from lumbung_client._common import (
    create_headers,
    if_match_header,
    object_id,
    page_params,
    parse,
    parse_page,
    payload,
)
from lumbung_client._models import (
    Adoption,
    AdoptionCreate,
    AdoptionUpdate,
    Change,
    ChangesPage,
    Page,
    Partnership,
    PartnershipCreate,
    PartnershipUpdate,
    Peer,
    PeerCreate,
    PeerUpdate,
    Resource,
    SearchHit,
    SearchResults,
)
from lumbung_client._pagination import AsyncPager, SyncPager
from lumbung_client._routes import ROUTES

if TYPE_CHECKING:
    from lumbung_client._client import AsyncClient, Client

__all__ = [
    "Adoptions",
    "AsyncAdoptions",
    "AsyncChangesPager",
    "AsyncPartnerships",
    "AsyncPeers",
    "AsyncSearchPager",
    "ChangesPager",
    "Partnerships",
    "Peers",
    "SearchPager",
]

M = TypeVar("M", bound=Resource)
Body = Any


class _Collection(Generic[M]):
    """A top-level collection with the five operations; subclasses name the routes."""

    _name: str
    _model: type[M]
    _create_model: type[Any]
    _update_model: type[Any]

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self, *, limit: int | None = None, cursor: str | None = None, **filters: str | None
    ) -> SyncPager[M]:
        """Every item the caller may see, filtered by the given query parameters."""
        url = ROUTES[f"{self._name}.list"].format()
        transport = self._client._transport

        def fetch(cursor: str | None) -> Page[M]:
            params = page_params(filters, limit, cursor)
            response = transport.request("GET", url, params=params)
            return parse_page(self._model, response)

        return SyncPager(fetch, cursor)

    def get(self, item: M | uuid.UUID | str) -> M:
        """One item by id."""
        url = ROUTES[f"{self._name}.get"].format(id=object_id(item, self._name))
        return parse(self._model, self._client._transport.request("GET", url))

    def create(
        self, data: Body = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> M:
        """Create an item; fields as the collection's ``*Create`` model describes."""
        body = payload(self._create_model, data, fields)
        response = self._client._transport.request(
            "POST",
            ROUTES[f"{self._name}.create"].format(),
            json_body=body,
            headers=create_headers(idempotency_key),
        )
        return parse(self._model, response)

    def update(
        self,
        item: M | uuid.UUID | str,
        data: Body = None,
        /,
        *,
        if_match: str | None = None,
        **fields: Any,
    ) -> M:
        """Change some fields of an item."""
        body = payload(self._update_model, data, fields)
        response = self._client._transport.request(
            "PATCH",
            ROUTES[f"{self._name}.update"].format(id=object_id(item, self._name)),
            json_body=body,
            headers=if_match_header(item, if_match),
        )
        return parse(self._model, response)

    def delete(self, item: M | uuid.UUID | str, *, if_match: str | None = None) -> None:
        """Remove an item."""
        response = self._client._transport.request(
            "DELETE",
            ROUTES[f"{self._name}.delete"].format(id=object_id(item, self._name)),
            headers=if_match_header(item, if_match),
        )
        response.close()


class _AsyncCollection(Generic[M]):
    """The async form of :class:`_Collection`."""

    _name: str
    _model: type[M]
    _create_model: type[Any]
    _update_model: type[Any]

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def list(
        self, *, limit: int | None = None, cursor: str | None = None, **filters: str | None
    ) -> AsyncPager[M]:
        """Every item the caller may see, filtered by the given query parameters."""
        url = ROUTES[f"{self._name}.list"].format()
        transport = self._client._transport

        async def fetch(cursor: str | None) -> Page[M]:
            params = page_params(filters, limit, cursor)
            response = await transport.request("GET", url, params=params)
            return parse_page(self._model, response)

        return AsyncPager(fetch, cursor)

    async def get(self, item: M | uuid.UUID | str) -> M:
        """One item by id."""
        url = ROUTES[f"{self._name}.get"].format(id=object_id(item, self._name))
        return parse(self._model, await self._client._transport.request("GET", url))

    async def create(
        self, data: Body = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> M:
        """Create an item; fields as the collection's ``*Create`` model describes."""
        body = payload(self._create_model, data, fields)
        response = await self._client._transport.request(
            "POST",
            ROUTES[f"{self._name}.create"].format(),
            json_body=body,
            headers=create_headers(idempotency_key),
        )
        return parse(self._model, response)

    async def update(
        self,
        item: M | uuid.UUID | str,
        data: Body = None,
        /,
        *,
        if_match: str | None = None,
        **fields: Any,
    ) -> M:
        """Change some fields of an item."""
        body = payload(self._update_model, data, fields)
        response = await self._client._transport.request(
            "PATCH",
            ROUTES[f"{self._name}.update"].format(id=object_id(item, self._name)),
            json_body=body,
            headers=if_match_header(item, if_match),
        )
        return parse(self._model, response)

    async def delete(self, item: M | uuid.UUID | str, *, if_match: str | None = None) -> None:
        """Remove an item."""
        response = await self._client._transport.request(
            "DELETE",
            ROUTES[f"{self._name}.delete"].format(id=object_id(item, self._name)),
            headers=if_match_header(item, if_match),
        )
        await response.aclose()


class Adoptions(_Collection[Adoption]):
    """Which publishers use which apps (``/api/v1/adoptions``)."""

    _name, _model = "adoptions", Adoption
    _create_model, _update_model = AdoptionCreate, AdoptionUpdate


class Partnerships(_Collection[Partnership]):
    """Agreements with publishers on peer nodes (``/api/v1/partnerships``)."""

    _name, _model = "partnerships", Partnership
    _create_model, _update_model = PartnershipCreate, PartnershipUpdate


class Peers(_Collection[Peer]):
    """Nodes this node trusts (``/api/v1/peers``; node admin only)."""

    _name, _model = "peers", Peer
    _create_model, _update_model = PeerCreate, PeerUpdate


class AsyncAdoptions(_AsyncCollection[Adoption]):
    """Which publishers use which apps (``/api/v1/adoptions``)."""

    _name, _model = "adoptions", Adoption
    _create_model, _update_model = AdoptionCreate, AdoptionUpdate


class AsyncPartnerships(_AsyncCollection[Partnership]):
    """Agreements with publishers on peer nodes (``/api/v1/partnerships``)."""

    _name, _model = "partnerships", Partnership
    _create_model, _update_model = PartnershipCreate, PartnershipUpdate


class AsyncPeers(_AsyncCollection[Peer]):
    """Nodes this node trusts (``/api/v1/peers``; node admin only)."""

    _name, _model = "peers", Peer
    _create_model, _update_model = PeerCreate, PeerUpdate


# --- search --------------------------------------------------------------------------


class SearchPager(SyncPager[SearchHit]):
    """Search hits, page by page; each page is a :class:`SearchResults` with facets."""

    def first_page(self) -> SearchResults:
        """The first page, with ``facets`` and ``total``."""
        return cast(SearchResults, super().first_page())

    def pages(self) -> Iterator[SearchResults]:
        """Every page in turn."""
        for page in super().pages():
            yield cast(SearchResults, page)


class AsyncSearchPager(AsyncPager[SearchHit]):
    """Search hits, page by page; each page is a :class:`SearchResults` with facets."""

    async def first_page(self) -> SearchResults:
        """The first page, with ``facets`` and ``total``."""
        return cast(SearchResults, await super().first_page())

    async def pages(self) -> AsyncIterator[SearchResults]:
        """Every page in turn."""
        async for page in super().pages():
            yield cast(SearchResults, page)


def _search_params(
    q: str | None, kind: str | None, filters: Mapping[str, str | None]
) -> dict[str, Any]:
    return {"q": q, "kind": kind, **filters}


def search(
    client: Client,
    q: str | None,
    *,
    kind: str | None,
    limit: int | None,
    cursor: str | None,
    filters: Mapping[str, str | None],
) -> SearchPager:
    """Run a search on ``client``'s node."""
    url = ROUTES["search"].format()
    base = _search_params(q, kind, filters)

    def fetch(cursor: str | None) -> Page[SearchHit]:
        response = client._transport.request("GET", url, params=page_params(base, limit, cursor))
        return SearchResults.model_validate(response.json())

    return SearchPager(fetch, cursor)


def asearch(
    client: AsyncClient,
    q: str | None,
    *,
    kind: str | None,
    limit: int | None,
    cursor: str | None,
    filters: Mapping[str, str | None],
) -> AsyncSearchPager:
    """Run a search on ``client``'s node (async)."""
    url = ROUTES["search"].format()
    base = _search_params(q, kind, filters)

    async def fetch(cursor: str | None) -> Page[SearchHit]:
        params = page_params(base, limit, cursor)
        response = await client._transport.request("GET", url, params=params)
        return SearchResults.model_validate(response.json())

    return AsyncSearchPager(fetch, cursor)


# --- change feed -----------------------------------------------------------------------


class ChangesPager(SyncPager[Change]):
    """The change feed, page by page until caught up. ``cursor`` is where to resume."""

    def first_page(self) -> ChangesPage:
        """The first page after the start cursor."""
        return cast(ChangesPage, super().first_page())

    def pages(self) -> Iterator[ChangesPage]:
        """Every page until the feed has no more."""
        for page in super().pages():
            yield cast(ChangesPage, page)


class AsyncChangesPager(AsyncPager[Change]):
    """The change feed, page by page until caught up. ``cursor`` is where to resume."""

    async def first_page(self) -> ChangesPage:
        """The first page after the start cursor."""
        return cast(ChangesPage, await super().first_page())

    async def pages(self) -> AsyncIterator[ChangesPage]:
        """Every page until the feed has no more."""
        async for page in super().pages():
            yield cast(ChangesPage, page)


def changes(client: Client, after: str | None, *, limit: int | None) -> ChangesPager:
    """Read ``client``'s node's change feed after cursor ``after``."""
    url = ROUTES["changes"].format()

    def fetch(cursor: str | None) -> Page[Change]:
        params = {"after": cursor, "limit": limit}
        response = client._transport.request("GET", url, params=params)
        return ChangesPage.model_validate(response.json())

    return ChangesPager(fetch, after)


def achanges(client: AsyncClient, after: str | None, *, limit: int | None) -> AsyncChangesPager:
    """Read ``client``'s node's change feed after cursor ``after`` (async)."""
    url = ROUTES["changes"].format()

    async def fetch(cursor: str | None) -> Page[Change]:
        params = {"after": cursor, "limit": limit}
        response = await client._transport.request("GET", url, params=params)
        return ChangesPage.model_validate(response.json())

    return AsyncChangesPager(fetch, after)
