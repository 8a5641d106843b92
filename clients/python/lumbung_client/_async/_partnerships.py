"""``client.partnerships``: agreements between your publisher and publishers on peer
nodes, which let ``partners`` items flow between them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from lumbung_client._async._pagination import AsyncPager
from lumbung_client._common import object_id, page_params, parse, parse_page, payload
from lumbung_client._models import Page, Partnership, PartnershipCreate
from lumbung_client._routes import ROUTES

if TYPE_CHECKING:
    from lumbung_client._async._client import AsyncClient

__all__ = ["AsyncPartnerships", "PartnershipRef"]

#: A partnership: the object or its id.
PartnershipRef = Partnership | uuid.UUID | str


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
        partnership_id = object_id(partnership, "partnership")
        url = ROUTES["partnerships.get"].format(partnership_id=partnership_id)
        return parse(Partnership, await self._client._transport.request("GET", url))

    async def create(self, data: Any = None, /, **fields: Any) -> Partnership:
        """Ask a publisher on a peer node for a partnership (see :class:`PartnershipCreate`).

        The request is signed by this node and delivered to the peer at once.
        """
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

    async def withdraw(self, partnership: PartnershipRef) -> Partnership:
        """Take back a request your publisher made, before the other node decides it."""
        return await self._decide(partnership, "withdraw")

    async def revoke(self, partnership: PartnershipRef) -> Partnership:
        """End an active partnership; the partner's node stops seeing partners-only items."""
        return await self._decide(partnership, "revoke")

    async def _decide(self, partnership: PartnershipRef, action: str) -> Partnership:
        # No Idempotency-Key: a decision whose answer was lost is not sent again.
        url = ROUTES["partnerships.decide"].format(
            partnership_id=object_id(partnership, "partnership"), action=action
        )
        return parse(Partnership, await self._client._transport.request("POST", url))
