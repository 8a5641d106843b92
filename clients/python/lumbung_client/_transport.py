"""Sending requests: retries with backoff, bearer tokens, and problem+json errors.

What is retried, and why it is safe:

* A connection that could not be opened (refused, DNS, connect timeout): any request,
  since the node never saw it.
* A connection that broke after the request was sent (reset, read timeout, a response
  cut short): only requests that may safely run twice — GET, HEAD, PUT, DELETE, and a
  POST carrying an ``Idempotency-Key``. The client puts a fresh key on every create, so a
  create is retried with the *same* key and the node answers with the first result
  instead of creating a second object. PATCH is not retried here.
* 429 and 503: any request (the node declined to handle it), after the ``Retry-After``
  the node asks for, or an exponential backoff with jitter.
* 502 and 504 (a gateway in front of the node failed): like a broken connection.

A 401 on a request that carried a cached token drops that token and tries once more with
a fresh one, which covers a token revoked or signed by a key the node has rotated away.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2

from lumbung_client._exceptions import APIError, FieldError, TransportError, error_class

__all__ = ["Retry", "parse_retry_after"]

log = logging.getLogger("lumbung_client")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# The node (or the proxy in front of it) declined the request without handling it.
RETRY_ALWAYS = frozenset({429, 503})
# A gateway failed; the node may or may not have handled the request.
RETRY_IF_IDEMPOTENT = frozenset({502, 504})
# Failures where the request never left this machine.
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
# Failures after the request may have reached the node.
_MAYBE_SENT = (
    httpx2.ReadError,
    httpx2.ReadTimeout,
    httpx2.WriteError,
    httpx2.WriteTimeout,
    httpx2.RemoteProtocolError,
    httpx2.CloseError,
)

Body = Callable[[], bytes | Iterable[bytes]]
AsyncBody = Callable[[], bytes | AsyncIterable[bytes]]


@dataclass(frozen=True)
class Retry:
    """How the client retries requests that failed for a passing reason.

    ``attempts`` counts every try, the first included; ``Retry(attempts=1)`` turns
    retries off. Between tries the client waits ``backoff * 2**(n-1)`` seconds (at most
    ``max_backoff``), half of it randomised so many clients do not retry in step, or the
    ``Retry-After`` the node asked for. A ``Retry-After`` longer than
    ``max_retry_after`` is not waited for: the error is raised at once.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 20.0
    max_retry_after: float = 120.0

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry)."""
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (retry_number - 1))
        jittered = ceiling / 2 + random.uniform(0, ceiling / 2)  # not a secret: jitter only
        if retry_after is not None:
            return max(retry_after, jittered)
        return jittered


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def encode_json(data: Any) -> bytes:
    """The request body for ``data``: the same bytes on every retry."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def api_error(response: httpx2.Response) -> APIError:
    """The exception for an error response, from its problem+json body when it has one."""
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = response.text
    title = detail = type_ = None
    errors: list[FieldError] = []
    if isinstance(body, dict):
        title = _str_or_none(body.get("title"))
        detail = _str_or_none(body.get("detail"))
        type_ = _str_or_none(body.get("type"))
        # OAuth token endpoint errors (RFC 6749 section 5.2) are not problem+json.
        if title is None and "error" in body:
            title = _str_or_none(body.get("error"))
            detail = detail or _str_or_none(body.get("error_description"))
        for item in body.get("errors") or []:
            if isinstance(item, dict):
                loc = item.get("loc") or []
                errors.append(
                    FieldError(
                        [p if isinstance(p, int) else str(p) for p in loc]
                        if isinstance(loc, list)
                        else [str(loc)],
                        str(item.get("msg", "invalid")),
                    )
                )
    cls = error_class(response.status_code)
    return cls(
        response.status_code,
        title=title,
        detail=detail,
        type=type_,
        errors=errors,
        method=response.request.method,
        url=str(response.request.url),
        headers=dict(response.headers),
        body=body,
    )


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _is_idempotent(method: str, headers: Mapping[str, str]) -> bool:
    return method in IDEMPOTENT_METHODS or any(k.lower() == "idempotency-key" for k in headers)


def _exception_delay(
    exc: httpx2.TransportError, *, idempotent: bool, retry: Retry, attempt: int
) -> float | None:
    """How long to wait before retrying after ``exc``, or None to give up."""
    if attempt >= retry.attempts:
        return None
    if isinstance(exc, _NOT_SENT) or (idempotent and isinstance(exc, _MAYBE_SENT)):
        return retry.delay(attempt)
    return None


def _status_delay(
    response: httpx2.Response, *, idempotent: bool, retry: Retry, attempt: int
) -> float | None:
    """How long to wait before retrying after an error status, or None to give up."""
    status = response.status_code
    if attempt >= retry.attempts:
        return None
    if status in RETRY_ALWAYS or (idempotent and status in RETRY_IF_IDEMPOTENT):
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None and retry_after > retry.max_retry_after:
            return None
        return retry.delay(attempt, retry_after)
    return None


def _describe(exc: httpx2.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def _origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


class SyncTokenSource(Protocol):
    """Gives the bearer token for a request (sync)."""

    def token(self) -> str:
        """A valid access token, fetched if needed."""
        ...

    def invalidate(self, token: str) -> None:
        """Forget ``token``: the node refused it."""
        ...


class AsyncTokenSource(Protocol):
    """Gives the bearer token for a request (async)."""

    async def token(self) -> str:
        """A valid access token, fetched if needed."""
        ...

    def invalidate(self, token: str) -> None:
        """Forget ``token``: the node refused it."""
        ...


class _TransportBase:
    def __init__(self, base_url: str, retry: Retry) -> None:
        self.base_url = base_url
        self.retry = retry
        self._origin = _origin(httpx2.URL(base_url))

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.base_url + path_or_url

    def same_origin(self, url: str) -> bool:
        """Tokens go only to the node itself, never to a host an artifact URL names."""
        return _origin(httpx2.URL(url)) == self._origin

    def _prepare(
        self,
        method: str,
        path: str,
        json_body: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
    ) -> tuple[str, dict[str, str], Callable[[], bytes] | None, bool]:
        """What every try of a request shares: its URL and headers, the content of a
        JSON body (encoded once), and whether the request may run twice."""
        hdrs = dict(headers or {})
        json_content = None
        if json_body is not None:
            encoded = encode_json(json_body)
            hdrs.setdefault("Content-Type", "application/json")
            json_content = lambda: encoded  # noqa: E731 - a one-line factory
        if idempotent is None:
            idempotent = _is_idempotent(method, hdrs)
        return self.url(path), hdrs, json_content, idempotent


class SyncTransport(_TransportBase):
    """Sends requests for :class:`~lumbung_client.Client`."""

    def __init__(
        self,
        http: httpx2.Client,
        base_url: str,
        retry: Retry,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(base_url, retry)
        self.http = http
        self.tokens: SyncTokenSource | None = None
        self._sleep = sleep

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        body: Body | None = None,
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
        content_factory: Body | None = json_content or body
        send_token = auth and self.tokens is not None and self.same_origin(url)
        attempt, ambiguous, renewed = 1, False, False
        while True:
            token = self.tokens.token() if send_token and self.tokens else None
            attempt_headers = dict(hdrs)
            if token is not None:
                attempt_headers["Authorization"] = f"Bearer {token}"
            request = self.http.build_request(
                method,
                url,
                params=_clean_params(params),
                content=content_factory() if content_factory else None,
                headers=attempt_headers,
            )
            try:
                response = self.http.send(request, stream=stream, follow_redirects=follow_redirects)
            except httpx2.TransportError as exc:
                delay = _exception_delay(
                    exc, idempotent=idempotent, retry=self.retry, attempt=attempt
                )
                if delay is None:
                    raise TransportError(
                        f"{method} {url} failed: {_describe(exc)}", method=method, url=url
                    ) from exc
                ambiguous = ambiguous or isinstance(exc, _MAYBE_SENT)
                log.warning(
                    "%s %s failed (%s); retry %d in %.1fs",
                    method,
                    url,
                    _describe(exc),
                    attempt,
                    delay,
                )
                self._sleep(delay)
                attempt += 1
                continue

            status = response.status_code
            if status == 401 and token is not None and not renewed and self.tokens:
                response.close()
                self.tokens.invalidate(token)
                renewed = True
                continue
            if ambiguous and method == "DELETE" and status in (404, 410):
                # An earlier try whose answer was lost did the delete.
                return response
            if status >= 400:
                delay = _status_delay(
                    response, idempotent=idempotent, retry=self.retry, attempt=attempt
                )
                if delay is not None:
                    response.close()
                    ambiguous = ambiguous or status in RETRY_IF_IDEMPOTENT
                    log.warning(
                        "%s %s answered %d; retry %d in %.1fs", method, url, status, attempt, delay
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                if stream:
                    try:
                        response.read()
                    except httpx2.HTTPError:
                        pass
                    finally:
                        response.close()
                raise api_error(response)
            return response


class AsyncTransport(_TransportBase):
    """Sends requests for :class:`~lumbung_client.AsyncClient`."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        base_url: str,
        retry: Retry,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(base_url, retry)
        self.http = http
        self.tokens: AsyncTokenSource | None = None
        self._sleep = sleep

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
                params=_clean_params(params),
                content=content_factory() if content_factory else None,
                headers=attempt_headers,
            )
            try:
                response = await self.http.send(
                    request, stream=stream, follow_redirects=follow_redirects
                )
            except httpx2.TransportError as exc:
                delay = _exception_delay(
                    exc, idempotent=idempotent, retry=self.retry, attempt=attempt
                )
                if delay is None:
                    raise TransportError(
                        f"{method} {url} failed: {_describe(exc)}", method=method, url=url
                    ) from exc
                ambiguous = ambiguous or isinstance(exc, _MAYBE_SENT)
                log.warning(
                    "%s %s failed (%s); retry %d in %.1fs",
                    method,
                    url,
                    _describe(exc),
                    attempt,
                    delay,
                )
                await self._sleep(delay)
                attempt += 1
                continue

            status = response.status_code
            if status == 401 and token is not None and not renewed and self.tokens:
                await response.aclose()
                self.tokens.invalidate(token)
                renewed = True
                continue
            if ambiguous and method == "DELETE" and status in (404, 410):
                return response
            if status >= 400:
                delay = _status_delay(
                    response, idempotent=idempotent, retry=self.retry, attempt=attempt
                )
                if delay is not None:
                    await response.aclose()
                    ambiguous = ambiguous or status in RETRY_IF_IDEMPOTENT
                    log.warning(
                        "%s %s answered %d; retry %d in %.1fs", method, url, status, attempt, delay
                    )
                    await self._sleep(delay)
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


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drop unset filters and turn values into what a query string holds."""
    if not params:
        return None
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            clean[key] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            clean[key] = [str(v) for v in value]
        else:
            clean[key] = str(value)
    return clean
