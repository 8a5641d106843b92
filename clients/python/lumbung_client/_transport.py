"""Sending requests: retries with backoff, bearer tokens, and problem+json errors.

The rules are here; the loop that applies them is ``_async/_transport.py`` (and its
generated twin ``_sync/_transport.py``).

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

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from lumbung_client._exceptions import APIError, FieldError, error_class

__all__ = ["Retry", "parse_retry_after"]

log = logging.getLogger("lumbung_client")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# The node (or the proxy in front of it) declined the request without handling it.
RETRY_ALWAYS = frozenset({429, 503})
# A gateway failed; the node may or may not have handled the request.
RETRY_IF_IDEMPOTENT = frozenset({502, 504})
# Failures where the request never left this machine.
NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
# Failures after the request may have reached the node.
MAYBE_SENT = (
    httpx2.ReadError,
    httpx2.ReadTimeout,
    httpx2.WriteError,
    httpx2.WriteTimeout,
    httpx2.RemoteProtocolError,
    httpx2.CloseError,
)


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


def is_idempotent(method: str, headers: Mapping[str, str]) -> bool:
    return method in IDEMPOTENT_METHODS or any(k.lower() == "idempotency-key" for k in headers)


def exception_delay(
    exc: httpx2.TransportError, *, idempotent: bool, retry: Retry, attempt: int
) -> float | None:
    """How long to wait before retrying after ``exc``, or None to give up."""
    if attempt >= retry.attempts:
        return None
    if isinstance(exc, NOT_SENT) or (idempotent and isinstance(exc, MAYBE_SENT)):
        return retry.delay(attempt)
    return None


def status_delay(
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


def describe(exc: httpx2.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def _origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


class TransportBase:
    """What the sync and async transports share: the node's URL, retry policy, and how a
    request is prepared."""

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
            idempotent = is_idempotent(method, hdrs)
        return self.url(path), hdrs, json_content, idempotent


def clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
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
