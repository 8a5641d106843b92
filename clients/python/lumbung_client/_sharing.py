"""Sharing and federation: adoptions, partnerships, peers, search and the change feed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import httpx2

from lumbung_client._common import (
    AppRef,
    as_uuid,
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
    App,
    Change,
    ChangesPage,
    Page,
    Partnership,
    PartnershipCreate,
    Peer,
    PeerCreate,
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

Body = Any
AdoptionRef = Adoption | uuid.UUID | str
PartnershipRef = Partnership | uuid.UUID | str
PeerRef = Peer | uuid.UUID | str


def _id(item: Any, what: str) -> uuid.UUID:
    if isinstance(item, Adoption | Partnership | Peer):
        return item.id
    return object_id(item, what)


def _peer_page(response: httpx2.Response) -> Page[Peer]:
    # The node returns every peer at once, as a plain list.
    return Page[Peer](items=[Peer.model_validate(p) for p in response.json()], next_cursor=None)


# --- sync ---------------------------------------------------------------------------------


class Adoptions:
    """Which publishers use which apps (``/api/v1/adoptions``), across nodes."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self,
        *,
        app: AppRef | None = None,
        publisher: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> SyncPager[Adoption]:
        """Adoptions, optionally of one app, by one adopting publisher, or in one status."""
        app_id = self._client.apps.id_of(app) if app is not None else None
        filters = {"app_id": app_id, "publisher": publisher, "status": status}
        url = ROUTES["adoptions.list"].format()
        transport = self._client._transport

        def fetch(cursor: str | None) -> Page[Adoption]:
            response = transport.request("GET", url, params=page_params(filters, limit, cursor))
            return parse_page(Adoption, response)

        return SyncPager(fetch, cursor)

    def get(self, adoption: AdoptionRef) -> Adoption:
        """One adoption by id."""
        url = ROUTES["adoptions.get"].format(adoption_id=_id(adoption, "adoption"))
        return parse(Adoption, self._client._transport.request("GET", url))

    def create(
        self, data: Body = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> Adoption:
        """Record that your publisher uses an app. ``app_id`` may be the app object, its
        id or ``"publisher/slug"``; other fields: see :class:`AdoptionCreate`."""
        if isinstance(fields.get("app_id"), App | str) and as_uuid(fields["app_id"]) is None:
            fields["app_id"] = self._client.apps.id_of(fields["app_id"])
        body = payload(AdoptionCreate, data, fields)
        response = self._client._transport.request(
            "POST",
            ROUTES["adoptions.create"].format(),
            json_body=body,
            headers=create_headers(idempotency_key),
        )
        return parse(Adoption, response)

    def update(
        self,
        adoption: AdoptionRef,
        data: Body = None,
        /,
        *,
        if_match: str | None = None,
        **fields: Any,
    ) -> Adoption:
        """Change an adoption, e.g. ``status="production"``."""
        body = payload(AdoptionUpdate, data, fields)
        response = self._client._transport.request(
            "PATCH",
            ROUTES["adoptions.update"].format(adoption_id=_id(adoption, "adoption")),
            json_body=body,
            headers=if_match_header(adoption, if_match),
        )
        return parse(Adoption, response)

    def delete(self, adoption: AdoptionRef, *, if_match: str | None = None) -> None:
        """Withdraw an adoption."""
        self._client._transport.request(
            "DELETE",
            ROUTES["adoptions.delete"].format(adoption_id=_id(adoption, "adoption")),
            headers=if_match_header(adoption, if_match),
        ).close()


class Partnerships:
    """Agreements between your publisher and publishers on peer nodes."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> SyncPager[Partnership]:
        """Your publisher's partnerships (every one for the node admin)."""
        url = ROUTES["partnerships.list"].format()
        transport = self._client._transport

        def fetch(cursor: str | None) -> Page[Partnership]:
            params = page_params({"status": status}, limit, cursor)
            return parse_page(Partnership, transport.request("GET", url, params=params))

        return SyncPager(fetch, cursor)

    def get(self, partnership: PartnershipRef) -> Partnership:
        """One partnership by id."""
        url = ROUTES["partnerships.get"].format(partnership_id=_id(partnership, "partnership"))
        return parse(Partnership, self._client._transport.request("GET", url))

    def create(self, data: Body = None, /, **fields: Any) -> Partnership:
        """Ask a publisher on a peer node for a partnership (see :class:`PartnershipCreate`).

        The request is signed by this node and delivered to the peer at once.
        """
        body = payload(PartnershipCreate, data, fields)
        response = self._client._transport.request(
            "POST", ROUTES["partnerships.create"].format(), json_body=body
        )
        return parse(Partnership, response)

    def approve(self, partnership: PartnershipRef) -> Partnership:
        """Accept a partnership another node's publisher asked yours for."""
        return self._decide(partnership, "approve")

    def reject(self, partnership: PartnershipRef) -> Partnership:
        """Decline a partnership another node's publisher asked yours for."""
        return self._decide(partnership, "reject")

    def revoke(self, partnership: PartnershipRef) -> Partnership:
        """End an active partnership; the partner's node stops seeing partners-only items."""
        return self._decide(partnership, "revoke")

    def _decide(self, partnership: PartnershipRef, action: str) -> Partnership:
        url = ROUTES["partnerships.decide"].format(
            partnership_id=_id(partnership, "partnership"), action=action
        )
        return parse(Partnership, self._client._transport.request("POST", url))


class Peers:
    """Nodes this node trusts (``/api/v1/peers``; node admin only)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> SyncPager[Peer]:
        """Every peer, with its sync status."""
        url = ROUTES["peers.list"].format()
        transport = self._client._transport
        return SyncPager(lambda cursor: _peer_page(transport.request("GET", url)))

    def get(self, peer: PeerRef) -> Peer:
        """One peer by id."""
        url = ROUTES["peers.get"].format(peer_id=_id(peer, "peer"))
        return parse(Peer, self._client._transport.request("GET", url))

    def create(self, data: Body = None, /, **fields: Any) -> Peer:
        """Trust a node: the node fetches its metadata and keys (see :class:`PeerCreate`)."""
        body = payload(PeerCreate, data, fields)
        response = self._client._transport.request(
            "POST", ROUTES["peers.create"].format(), json_body=body
        )
        return parse(Peer, response)

    def delete(self, peer: PeerRef) -> None:
        """Forget a peer and withdraw its mirrored items."""
        url = ROUTES["peers.delete"].format(peer_id=_id(peer, "peer"))
        self._client._transport.request("DELETE", url).close()

    def sync(self, peer: PeerRef) -> None:
        """Ask the node to pull this peer's changes soon."""
        url = ROUTES["peers.sync"].format(peer_id=_id(peer, "peer"))
        self._client._transport.request("POST", url, idempotent=True).close()


# --- async --------------------------------------------------------------------------------


class AsyncAdoptions:
    """Which publishers use which apps (``/api/v1/adoptions``), across nodes."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def list(
        self,
        *,
        app: AppRef | None = None,
        publisher: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncPager[Adoption]:
        """Adoptions, optionally of one app, by one adopting publisher, or in one status."""
        url = ROUTES["adoptions.list"].format()
        transport = self._client._transport
        apps = self._client.apps

        async def fetch(cursor: str | None) -> Page[Adoption]:
            app_id = await apps.id_of(app) if app is not None else None
            filters = {"app_id": app_id, "publisher": publisher, "status": status}
            params = page_params(filters, limit, cursor)
            return parse_page(Adoption, await transport.request("GET", url, params=params))

        return AsyncPager(fetch, cursor)

    async def get(self, adoption: AdoptionRef) -> Adoption:
        """One adoption by id."""
        url = ROUTES["adoptions.get"].format(adoption_id=_id(adoption, "adoption"))
        return parse(Adoption, await self._client._transport.request("GET", url))

    async def create(
        self, data: Body = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> Adoption:
        """Record that your publisher uses an app; see :meth:`Adoptions.create`."""
        if isinstance(fields.get("app_id"), App | str) and as_uuid(fields["app_id"]) is None:
            fields["app_id"] = await self._client.apps.id_of(fields["app_id"])
        body = payload(AdoptionCreate, data, fields)
        response = await self._client._transport.request(
            "POST",
            ROUTES["adoptions.create"].format(),
            json_body=body,
            headers=create_headers(idempotency_key),
        )
        return parse(Adoption, response)

    async def update(
        self,
        adoption: AdoptionRef,
        data: Body = None,
        /,
        *,
        if_match: str | None = None,
        **fields: Any,
    ) -> Adoption:
        """Change an adoption, e.g. ``status="production"``."""
        body = payload(AdoptionUpdate, data, fields)
        response = await self._client._transport.request(
            "PATCH",
            ROUTES["adoptions.update"].format(adoption_id=_id(adoption, "adoption")),
            json_body=body,
            headers=if_match_header(adoption, if_match),
        )
        return parse(Adoption, response)

    async def delete(self, adoption: AdoptionRef, *, if_match: str | None = None) -> None:
        """Withdraw an adoption."""
        response = await self._client._transport.request(
            "DELETE",
            ROUTES["adoptions.delete"].format(adoption_id=_id(adoption, "adoption")),
            headers=if_match_header(adoption, if_match),
        )
        await response.aclose()


class AsyncPartnerships:
    """Agreements between your publisher and publishers on peer nodes."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def list(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> AsyncPager[Partnership]:
        """Your publisher's partnerships (every one for the node admin)."""
        url = ROUTES["partnerships.list"].format()
        transport = self._client._transport

        async def fetch(cursor: str | None) -> Page[Partnership]:
            params = page_params({"status": status}, limit, cursor)
            return parse_page(Partnership, await transport.request("GET", url, params=params))

        return AsyncPager(fetch, cursor)

    async def get(self, partnership: PartnershipRef) -> Partnership:
        """One partnership by id."""
        url = ROUTES["partnerships.get"].format(partnership_id=_id(partnership, "partnership"))
        return parse(Partnership, await self._client._transport.request("GET", url))

    async def create(self, data: Body = None, /, **fields: Any) -> Partnership:
        """Ask a publisher on a peer node for a partnership (see :class:`PartnershipCreate`)."""
        body = payload(PartnershipCreate, data, fields)
        response = await self._client._transport.request(
            "POST", ROUTES["partnerships.create"].format(), json_body=body
        )
        return parse(Partnership, response)

    async def approve(self, partnership: PartnershipRef) -> Partnership:
        """Accept a partnership another node's publisher asked yours for."""
        return await self._decide(partnership, "approve")

    async def reject(self, partnership: PartnershipRef) -> Partnership:
        """Decline a partnership another node's publisher asked yours for."""
        return await self._decide(partnership, "reject")

    async def revoke(self, partnership: PartnershipRef) -> Partnership:
        """End an active partnership."""
        return await self._decide(partnership, "revoke")

    async def _decide(self, partnership: PartnershipRef, action: str) -> Partnership:
        url = ROUTES["partnerships.decide"].format(
            partnership_id=_id(partnership, "partnership"), action=action
        )
        return parse(Partnership, await self._client._transport.request("POST", url))


class AsyncPeers:
    """Nodes this node trusts (``/api/v1/peers``; node admin only)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def list(self) -> AsyncPager[Peer]:
        """Every peer, with its sync status."""
        url = ROUTES["peers.list"].format()
        transport = self._client._transport

        async def fetch(cursor: str | None) -> Page[Peer]:
            return _peer_page(await transport.request("GET", url))

        return AsyncPager(fetch)

    async def get(self, peer: PeerRef) -> Peer:
        """One peer by id."""
        url = ROUTES["peers.get"].format(peer_id=_id(peer, "peer"))
        return parse(Peer, await self._client._transport.request("GET", url))

    async def create(self, data: Body = None, /, **fields: Any) -> Peer:
        """Trust a node: the node fetches its metadata and keys (see :class:`PeerCreate`)."""
        body = payload(PeerCreate, data, fields)
        response = await self._client._transport.request(
            "POST", ROUTES["peers.create"].format(), json_body=body
        )
        return parse(Peer, response)

    async def delete(self, peer: PeerRef) -> None:
        """Forget a peer and withdraw its mirrored items."""
        url = ROUTES["peers.delete"].format(peer_id=_id(peer, "peer"))
        await (await self._client._transport.request("DELETE", url)).aclose()

    async def sync(self, peer: PeerRef) -> None:
        """Ask the node to pull this peer's changes soon."""
        url = ROUTES["peers.sync"].format(peer_id=_id(peer, "peer"))
        await (await self._client._transport.request("POST", url, idempotent=True)).aclose()


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
    base = {"q": q, "kind": kind, **filters}

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
    base = {"q": q, "kind": kind, **filters}

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
