"""``client.adoptions``: which publishers use which apps, across nodes."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from lumbung_client._async._pagination import AsyncPager
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
from lumbung_client._models import Adoption, AdoptionCreate, AdoptionUpdate, App, Page
from lumbung_client._routes import ROUTES

if TYPE_CHECKING:
    from lumbung_client._async._client import AsyncClient

__all__ = ["AdoptionRef", "AsyncAdoptions"]

#: An adoption: the object or its id.
AdoptionRef = Adoption | uuid.UUID | str


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
            # An app given as "publisher/slug" is looked up when the first page is fetched.
            app_id = await apps.id_of(app) if app is not None else None
            filters = {"app_id": app_id, "publisher": publisher, "status": status}
            params = page_params(filters, limit, cursor)
            return parse_page(Adoption, await transport.request("GET", url, params=params))

        return AsyncPager(fetch, cursor)

    async def get(self, adoption: AdoptionRef) -> Adoption:
        """One adoption by id."""
        url = ROUTES["adoptions.get"].format(adoption_id=object_id(adoption, "adoption"))
        return parse(Adoption, await self._client._transport.request("GET", url))

    async def create(
        self, data: Any = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> Adoption:
        """Record that your publisher uses an app. ``app_id`` may be the app object, its
        id or ``"publisher/slug"``; other fields: see :class:`AdoptionCreate`."""
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
        data: Any = None,
        /,
        *,
        if_match: str | None = None,
        **fields: Any,
    ) -> Adoption:
        """Change an adoption, e.g. ``status="production"``."""
        body = payload(AdoptionUpdate, data, fields)
        response = await self._client._transport.request(
            "PATCH",
            ROUTES["adoptions.update"].format(adoption_id=object_id(adoption, "adoption")),
            json_body=body,
            headers=if_match_header(adoption, if_match),
        )
        return parse(Adoption, response)

    async def delete(self, adoption: AdoptionRef, *, if_match: str | None = None) -> None:
        """Withdraw an adoption."""
        response = await self._client._transport.request(
            "DELETE",
            ROUTES["adoptions.delete"].format(adoption_id=object_id(adoption, "adoption")),
            headers=if_match_header(adoption, if_match),
        )
        await response.aclose()
