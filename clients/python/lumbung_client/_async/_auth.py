"""Access tokens for :class:`~lumbung_client.AsyncClient`: fetched when first needed,
shared by every request, renewed shortly before they expire."""

from __future__ import annotations

import time
from collections.abc import Callable

from lumbung_client._async._transport import AsyncTransport
from lumbung_client._auth import (
    METADATA_PATH,
    TOKEN_PATH,
    Credentials,
    Token,
    parse_token,
    refused,
    token_form,
    token_headers,
)
from lumbung_client._backends import AsyncLock, Lock
from lumbung_client._exceptions import APIError

__all__ = ["AsyncTokens"]


class AsyncTokens:
    """Access tokens for :class:`~lumbung_client.AsyncClient`, shared by its tasks."""

    def __init__(
        self,
        transport: AsyncTransport,
        credentials: Credentials,
        *,
        scope: str | None = None,
        token_url: str | None = None,
        audience: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._credentials = credentials
        self._scope = scope
        self._token_url = token_url or TOKEN_PATH
        self._audience = audience
        self._clock = clock
        # One fetch at a time; the others wait for its token.
        self._fetching = AsyncLock()
        # Guards the cached token itself, so a forgotten token never erases a new one.
        self._swap = Lock()
        self._current: Token | None = None
        #: How many tokens were fetched so far (for diagnostics and tests).
        self.fetches = 0

    async def token(self) -> str:
        """A valid access token; at most one caller fetches at a time."""
        current = self._current
        if current is not None and current.fresh(self._clock()):
            return current.value
        async with self._fetching:
            current = self._current
            if current is not None and current.fresh(self._clock()):
                return current.value
            current = await self._fetch()
            with self._swap:
                self._current = current
            return current.value

    def invalidate(self, token: str) -> None:
        """Forget ``token`` if it is still the cached one."""
        with self._swap:
            if self._current is not None and self._current.value == token:
                self._current = None

    async def _issuer(self) -> str | None:
        if not self._credentials.needs_issuer:
            return None
        if self._audience is None:
            response = await self._transport.request("GET", METADATA_PATH, auth=False)
            self._audience = str(response.json()["issuer"])
        return self._audience

    async def _fetch(self) -> Token:
        issuer = await self._issuer()
        credentials, scope = self._credentials, self._scope
        try:
            # A token request changes nothing on the node, so it may be retried
            # whatever happened to the first try.
            response = await self._transport.request(
                "POST",
                self._token_url,
                body=lambda: token_form(credentials, issuer, scope),
                headers=token_headers(credentials),
                auth=False,
                idempotent=True,
            )
        except APIError as exc:
            raise refused(exc) from None
        self.fetches += 1
        return parse_token(response, self._clock())

    def __repr__(self) -> str:
        return f"AsyncTokens(client_id={self._credentials.client_id!r})"
