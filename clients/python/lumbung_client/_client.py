"""``Client`` and ``AsyncClient``: the entry points of the SDK."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import httpx2

from lumbung_client._async_resources import (
    AsyncApps,
    AsyncDatasets,
    AsyncDistributions,
    AsyncPublishers,
    AsyncReleases,
)
from lumbung_client._auth import (
    METADATA_PATH,
    AsyncTokens,
    ClientSecret,
    Credentials,
    PrivateKey,
    PrivateKeyInput,
    SyncTokens,
    unverified_claims,
)
from lumbung_client._exceptions import APIError, LumbungError
from lumbung_client._resources import Apps, Datasets, Distributions, Publishers, Releases
from lumbung_client._sharing import (
    Adoptions,
    AsyncAdoptions,
    AsyncChangesPager,
    AsyncPartnerships,
    AsyncPeers,
    AsyncSearchPager,
    ChangesPager,
    Partnerships,
    Peers,
    SearchPager,
    achanges,
    asearch,
    changes,
    search,
)
from lumbung_client._transport import AsyncTransport, Retry, SyncTransport
from lumbung_client._version import __version__

__all__ = ["AsyncClient", "Client"]

DEFAULT_TIMEOUT = httpx2.Timeout(30.0, connect=10.0)
ENV_URL = "LUMBUNG_URL"
ENV_CLIENT_ID = "LUMBUNG_CLIENT_ID"
ENV_CLIENT_SECRET = "LUMBUNG_CLIENT_SECRET"


def normalise_base_url(base_url: str) -> str:
    """The node's root URL: no trailing slash, and ``/api/v1`` dropped if given."""
    url = str(base_url).strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, not {base_url!r}")
    return url


def make_credentials(
    client_id: str | None, client_secret: str | None, private_key: PrivateKeyInput | None
) -> Credentials | None:
    """The credentials the arguments describe, or None for anonymous access."""
    if client_secret is not None and private_key is not None:
        raise ValueError("pass either client_secret or private_key, not both")
    if client_secret is None and private_key is None:
        if client_id is not None:
            raise ValueError("client_id needs client_secret or private_key")
        return None
    if client_id is None:
        raise ValueError("client_id is required with client_secret or private_key")
    if client_secret is not None:
        return ClientSecret(client_id, client_secret)
    assert private_key is not None
    return PrivateKey(client_id, private_key)


def env_settings(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """``base_url``, ``client_id`` and ``client_secret`` from ``LUMBUNG_*`` variables."""
    env = os.environ if environ is None else environ
    base_url = env.get(ENV_URL)
    if not base_url:
        raise LumbungError(f"set {ENV_URL} to the node's URL, e.g. https://lumbung.example.go.id")
    return {
        "base_url": base_url,
        "client_id": env.get(ENV_CLIENT_ID) or None,
        "client_secret": env.get(ENV_CLIENT_SECRET) or None,
    }


def _retry(retry: Retry | int | None) -> Retry:
    if retry is None:
        return Retry()
    if isinstance(retry, int):
        return Retry(attempts=max(1, retry + 1))
    return retry


def _headers(extra: Mapping[str, str] | None) -> dict[str, str]:
    return {"User-Agent": f"lumbung-client/{__version__}", **(extra or {})}


class Client:
    """A connection to one Lumbung node.

    ``Client(base_url)`` reads anonymously (public items only). For writes, give a
    service account's ``client_id`` and ``client_secret`` (client_secret_basic), or its
    ``client_id`` and ``private_key`` (private_key_jwt: a JWK as dict or JSON, PEM text,
    or a path). Tokens are fetched when first needed and renewed before they expire.

    ``timeout`` is seconds (or an ``httpx2.Timeout``); ``retry`` is a :class:`Retry`, or
    the number of retries (0 turns them off). ``scope`` asks for fewer scopes than the
    client holds. ``transport`` swaps the HTTP transport (tests, proxies).

    Use it as a context manager, or call :meth:`close`.
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
        transport: httpx2.BaseTransport | None = None,
        token_url: str | None = None,
        audience: str | None = None,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        credentials = make_credentials(client_id, client_secret, private_key)
        self._http = httpx2.Client(
            timeout=timeout,
            headers=_headers(headers),
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )
        self._transport = SyncTransport(self._http, self.base_url, _retry(retry))
        self._tokens: SyncTokens | None = None
        if credentials is not None:
            self._tokens = SyncTokens(
                self._transport, credentials, scope=scope, token_url=token_url, audience=audience
            )
            self._transport.tokens = self._tokens
        self.client_id = credentials.client_id if credentials else None
        self._issuer: str | None = None

        #: Publishers hosted on the node.
        self.publishers = Publishers(self)
        #: Applications.
        self.apps = Apps(self)
        #: Releases of applications, with their artifacts.
        self.releases = Releases(self)
        #: Datasets.
        self.datasets = Datasets(self)
        #: Distributions of datasets.
        self.distributions = Distributions(self)
        #: Adoptions: which publishers use which apps.
        self.adoptions = Adoptions(self)
        #: Partnerships between publishers on different nodes.
        self.partnerships = Partnerships(self)
        #: Peer nodes this node trusts.
        self.peers = Peers(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Client:
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
    ) -> SearchPager:
        """Search apps and datasets, local and mirrored from peers.

        Returns a pager of :class:`SearchHit`; its ``first_page()`` also carries
        ``facets`` (value counts per field) and ``total``.
        """
        return search(self, q, kind=kind, limit=limit, cursor=cursor, filters=filters)

    def changes(self, after: str | None = None, *, limit: int | None = None) -> ChangesPager:
        """The node's change feed after cursor ``after`` (from the start when None).

        Iterating yields each :class:`Change` until the feed is caught up; the pager's
        ``cursor`` is where to resume next time.
        """
        return changes(self, after, limit=limit)

    def token(self) -> str | None:
        """The current access token (fetched if needed), or None for an anonymous client.

        Only for passing to other tools; the client attaches it to its own requests.
        """
        return self._tokens.token() if self._tokens else None

    def _own_publisher_id(self) -> uuid.UUID | None:
        """The publisher this client's service account acts for, from its token."""
        token = self.token()
        value = unverified_claims(token).get("publisher") if token else None
        try:
            return uuid.UUID(str(value)) if value else None
        except ValueError:
            return None

    def _node_issuer(self) -> str | None:
        """The node's own base URL as it names itself (its OAuth issuer), cached."""
        if self._issuer is None:
            try:
                response = self._transport.request("GET", METADATA_PATH, auth=False)
                self._issuer = str(response.json()["issuer"]).rstrip("/")
            except (APIError, KeyError, ValueError):
                self._issuer = ""
        return self._issuer or None

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        who = f", client_id={self.client_id!r}" if self.client_id else ""
        return f"Client({self.base_url!r}{who})"


class AsyncClient:
    """The asynchronous twin of :class:`Client`, with the same arguments and resources.

    Every method is a coroutine, except ``list`` (and ``search``/``changes``), which return
    a pager to ``async for`` over. Use ``async with``, or ``await client.aclose()``.
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
            headers=_headers(headers),
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )
        self._transport = AsyncTransport(self._http, self.base_url, _retry(retry))
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
        """Search apps and datasets; see :meth:`Client.search`."""
        return asearch(self, q, kind=kind, limit=limit, cursor=cursor, filters=filters)

    def changes(self, after: str | None = None, *, limit: int | None = None) -> AsyncChangesPager:
        """The node's change feed; see :meth:`Client.changes`."""
        return achanges(self, after, limit=limit)

    async def token(self) -> str | None:
        """The current access token (fetched if needed), or None for an anonymous client."""
        return await self._tokens.token() if self._tokens else None

    async def _own_publisher_id(self) -> uuid.UUID | None:
        """The publisher this client's service account acts for, from its token."""
        token = await self.token()
        value = unverified_claims(token).get("publisher") if token else None
        try:
            return uuid.UUID(str(value)) if value else None
        except ValueError:
            return None

    async def _node_issuer(self) -> str | None:
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
        return f"AsyncClient({self.base_url!r}{who})"
