"""``client.peers``: the nodes this node trusts (node admin only)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from lumbung_client._async._pagination import AsyncPager
from lumbung_client._common import object_id, parse, parse_peers, payload
from lumbung_client._models import Page, Peer, PeerCreate
from lumbung_client._routes import ROUTES

if TYPE_CHECKING:
    from lumbung_client._async._client import AsyncClient

__all__ = ["AsyncPeers", "PeerRef"]

#: A peer: the object or its id.
PeerRef = Peer | uuid.UUID | str


class AsyncPeers:
    """Nodes this node trusts (``/api/v1/peers``; node admin only)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def list(self) -> AsyncPager[Peer]:
        """Every peer, with its sync status."""
        url = ROUTES["peers.list"].format()
        transport = self._client._transport

        async def fetch(cursor: str | None) -> Page[Peer]:
            return parse_peers(await transport.request("GET", url))

        return AsyncPager(fetch)

    async def get(self, peer: PeerRef) -> Peer:
        """One peer by id."""
        url = ROUTES["peers.get"].format(peer_id=object_id(peer, "peer"))
        return parse(Peer, await self._client._transport.request("GET", url))

    async def create(self, data: Any = None, /, **fields: Any) -> Peer:
        """Trust a node: the node fetches its metadata and keys (see :class:`PeerCreate`)."""
        body = payload(PeerCreate, data, fields)
        response = await self._client._transport.request(
            "POST", ROUTES["peers.create"].format(), json_body=body
        )
        return parse(Peer, response)

    async def delete(self, peer: PeerRef) -> None:
        """Forget a peer and withdraw its mirrored items."""
        url = ROUTES["peers.delete"].format(peer_id=object_id(peer, "peer"))
        response = await self._client._transport.request("DELETE", url)
        await response.aclose()

    async def sync(self, peer: PeerRef) -> None:
        """Ask the node to pull this peer's changes soon."""
        url = ROUTES["peers.sync"].format(peer_id=object_id(peer, "peer"))
        # Asking twice for an early pull does no harm.
        response = await self._client._transport.request("POST", url, idempotent=True)
        await response.aclose()
