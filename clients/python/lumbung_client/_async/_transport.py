"""The request loop of :class:`~lumbung_client.AsyncClient`: send, and retry what
:mod:`lumbung_client._transport` says is safe to retry."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import Any, Protocol

import httpx2

from lumbung_client._backends import AsyncBackend
from lumbung_client._exceptions import TransportError
from lumbung_client._transport import (
    MAYBE_SENT,
    RETRY_IF_IDEMPOTENT,
    Retry,
    TransportBase,
    api_error,
    clean_params,
    describe,
    exception_delay,
    status_delay,
)

__all__ = ["AsyncBody", "AsyncTokenSource", "AsyncTransport"]

log = logging.getLogger("lumbung_client")

#: Builds a request's content afresh for each try (a file is read again).
AsyncBody = Callable[[], bytes | AsyncIterable[bytes]]


class AsyncTokenSource(Protocol):
    """Gives the bearer token for a request."""

    async def token(self) -> str:
        """A valid access token, fetched if needed."""
        ...

    def invalidate(self, token: str) -> None:
        """Forget ``token``: the node refused it."""
        ...


class AsyncTransport(TransportBase):
    """Sends requests for :class:`~lumbung_client.AsyncClient`."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        base_url: str,
        retry: Retry,
        sleep: Callable[[float], Awaitable[None]] = AsyncBackend.sleep,
    ) -> None:
        super().__init__(base_url, retry)
        self.http = http
        self.tokens: AsyncTokenSource | None = None
        #: Waits between tries (tests pass one that does not).
        self.sleep = sleep

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        body: AsyncBody | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        stream: bool = False,
        follow_redirects: bool = False,
        idempotent: bool | None = None,
    ) -> httpx2.Response:
        """Send with retries; raise :class:`APIError` for error statuses.

        ``body`` builds the request content afresh for each try (a file is re-read).
        With ``stream=True`` the caller must close the response. ``idempotent``
        overrides the method's own answer to "may this run twice?".
        """
        url, hdrs, json_content, idempotent = self._prepare(
            method, path, json_body, headers, idempotent
        )
        content_factory: AsyncBody | None = json_content or body
        send_token = auth and self.tokens is not None and self.same_origin(url)
        attempt, ambiguous, renewed = 1, False, False
        while True:
            token = await self.tokens.token() if send_token and self.tokens else None
            attempt_headers = dict(hdrs)
            if token is not None:
                attempt_headers["Authorization"] = f"Bearer {token}"
            request = self.http.build_request(
                method,
                url,
                params=clean_params(params),
                content=content_factory() if content_factory else None,
                headers=attempt_headers,
            )
            try:
                response = await self.http.send(
                    request, stream=stream, follow_redirects=follow_redirects
                )
            except httpx2.TransportError as exc:
                delay = exception_delay(
                    exc, idempotent=idempotent, retry=self.retry, attempt=attempt
                )
                if delay is None:
                    raise TransportError(
                        f"{method} {url} failed: {describe(exc)}", method=method, url=url
                    ) from exc
                ambiguous = ambiguous or isinstance(exc, MAYBE_SENT)
                log.warning(
                    "%s %s failed (%s); retry %d in %.1fs",
                    method,
                    url,
                    describe(exc),
                    attempt,
                    delay,
                )
                await self.sleep(delay)
                attempt += 1
                continue

            status = response.status_code
            if status == 401 and token is not None and not renewed and self.tokens:
                await response.aclose()
                self.tokens.invalidate(token)
                renewed = True
                continue
            if ambiguous and method == "DELETE" and status in (404, 410):
                # An earlier try whose answer was lost did the delete.
                return response
            if status >= 400:
                delay = status_delay(
                    response, idempotent=idempotent, retry=self.retry, attempt=attempt
                )
                if delay is not None:
                    await response.aclose()
                    ambiguous = ambiguous or status in RETRY_IF_IDEMPOTENT
                    log.warning(
                        "%s %s answered %d; retry %d in %.1fs", method, url, status, attempt, delay
                    )
                    await self.sleep(delay)
                    attempt += 1
                    continue
                if stream:
                    try:
                        await response.aread()
                    except httpx2.HTTPError:
                        pass
                    finally:
                        await response.aclose()
                raise api_error(response)
            return response
