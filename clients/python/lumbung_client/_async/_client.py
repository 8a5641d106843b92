"""``AsyncClient``: the entry point of the SDK (and, generated from it, ``Client``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import httpx2

from lumbung_client._async._adoptions import AsyncAdoptions
from lumbung_client._async._auth import AsyncTokens
from lumbung_client._async._catalog import (
    AsyncApps,
    AsyncDatasets,
    AsyncDistributions,
    AsyncPublishers,
    AsyncReleases,
)
from lumbung_client._async._changes import AsyncChangesPager, changes
from lumbung_client._async._partnerships import AsyncPartnerships
from lumbung_client._async._peers import AsyncPeers
from lumbung_client._async._search import AsyncSearchPager, search
from lumbung_client._async._transport import AsyncTransport
from lumbung_client._auth import METADATA_PATH, PrivateKeyInput, token_publisher
from lumbung_client._config import (
    DEFAULT_TIMEOUT,
    default_headers,
    env_settings,
    make_credentials,
    normalise_base_url,
    retry_policy,
)
from lumbung_client._exceptions import APIError
from lumbung_client._transport import Retry

__all__ = ["AsyncClient"]


class AsyncClient:
    """A connection to one Lumbung node.

    ``AsyncClient(base_url)`` reads anonymously (public items only). For writes, give a
    service account's ``client_id`` and ``client_secret`` (client_secret_basic), or its
    ``client_id`` and ``private_key`` (private_key_jwt: a JWK as dict or JSON, PEM text,
    or a path). Tokens are fetched when first needed and renewed before they expire.

    ``timeout`` is seconds (or an ``httpx2.Timeout``); ``retry`` is a :class:`Retry`, or
    the number of retries (0 turns them off). ``scope`` asks for fewer scopes than the
    client holds. ``transport`` swaps the HTTP transport (tests, proxies).

    ``list`` (and ``search``, ``changes``) return a pager to iterate over
    (``async for``); the other methods return the result. Use it as a context manager
    (``async with``), or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        private_key: PrivateKeyInput | None = None,
        scope: str | None = None,
        timeout: float | httpx2.Timeout = DEFAULT_TIMEOUT,
        retry: Retry | int | None = None,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
        transport: httpx2.AsyncBaseTransport | None = None,
        token_url: str | None = None,
        audience: str | None = None,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        credentials = make_credentials(client_id, client_secret, private_key)
        self._http = httpx2.AsyncClient(
            timeout=timeout,
            headers=default_headers(headers),
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )
        self._transport = AsyncTransport(self._http, self.base_url, retry_policy(retry))
        self._tokens: AsyncTokens | None = None
        if credentials is not None:
            self._tokens = AsyncTokens(
                self._transport, credentials, scope=scope, token_url=token_url, audience=audience
            )
            self._transport.tokens = self._tokens
        self.client_id = credentials.client_id if credentials else None
        self._issuer: str | None = None

        #: Publishers hosted on the node.
        self.publishers = AsyncPublishers(self)
        #: Applications.
        self.apps = AsyncApps(self)
        #: Releases of applications, with their artifacts.
        self.releases = AsyncReleases(self)
        #: Datasets.
        self.datasets = AsyncDatasets(self)
        #: Distributions of datasets.
        self.distributions = AsyncDistributions(self)
        #: Adoptions: which publishers use which apps.
        self.adoptions = AsyncAdoptions(self)
        #: Partnerships between publishers on different nodes.
        self.partnerships = AsyncPartnerships(self)
        #: Peer nodes this node trusts.
        self.peers = AsyncPeers(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> AsyncClient:
        """A client configured from ``LUMBUNG_URL``, ``LUMBUNG_CLIENT_ID`` and
        ``LUMBUNG_CLIENT_SECRET`` (anonymous when the last two are unset)."""
        settings = env_settings(environ)
        base_url = str(settings.pop("base_url"))
        return cls(base_url, **{**settings, **kwargs})

    def search(
        self,
        q: str | None = None,
        *,
        kind: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        **filters: str | None,
    ) -> AsyncSearchPager:
        """Search apps and datasets, local and mirrored from peers.

        Returns a pager of :class:`SearchHit`; its ``first_page()`` also carries
        ``facets`` (value counts per field) and ``total``.
        """
        return search(self, q, kind=kind, limit=limit, cursor=cursor, filters=filters)

    def changes(self, after: str | None = None, *, limit: int | None = None) -> AsyncChangesPager:
        """The node's change feed after cursor ``after`` (from the start when None).

        Iterating yields each :class:`Change` until the feed is caught up; the pager's
        ``cursor`` is where to resume next time.
        """
        return changes(self, after, limit=limit)

    async def token(self) -> str | None:
        """The current access token (fetched if needed), or None for an anonymous client.

        Only for passing to other tools; the client attaches it to its own requests.
        """
        return await self._tokens.token() if self._tokens else None

    async def _own_publisher_id(self) -> uuid.UUID | None:
        """The publisher this client's service account acts for, from its token."""
        token = await self.token()
        return token_publisher(token) if token else None

    async def _node_issuer(self) -> str | None:
        """The node's own base URL as it names itself (its OAuth issuer), cached."""
        if self._issuer is None:
            try:
                response = await self._transport.request("GET", METADATA_PATH, auth=False)
                self._issuer = str(response.json()["issuer"]).rstrip("/")
            except (APIError, KeyError, ValueError):
                self._issuer = ""
        return self._issuer or None

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        who = f", client_id={self.client_id!r}" if self.client_id else ""
        return f"{type(self).__name__}({self.base_url!r}{who})"
