"""Talking to peers over HTTP: bounded, timed-out requests that read at most a given
number of bytes, so a hostile or broken peer cannot exhaust this node's memory or
hold a worker forever."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypedDict, TypeVar, Unpack

import httpx2

from registry import __version__
from registry.netguard import UnsafeAddress, guarded_transport

USER_AGENT = f"lumbung/{__version__}"
# Connect and per-read timeouts, and a ceiling on the whole response.
TIMEOUT = httpx2.Timeout(10.0, connect=5.0)
DEADLINE_SECONDS = 60.0
# Metadata and JWKS documents are small; a feed page of 1000 entries well under this.
SMALL_CAP = 256 * 1024
PAGE_CAP = 32 * 1024 * 1024
# A request that failed in a way that may pass is tried this often in all, waiting
# BACKOFF_SECONDS before the second try and twice as long before each next one.
RETRIES = 3
BACKOFF_SECONDS = 1.0

T = TypeVar("T")


class PeerError(Exception):
    """A peer could not be reached or answered something this node refuses."""

    def __init__(self, message: str, *, status: int | None = None, retry: bool = True) -> None:
        super().__init__(message)
        self.status = status
        # False when trying again will not help (the peer said no, or sent garbage).
        self.retry = retry


@cache
def _tls() -> ssl.SSLContext:
    # Loading the system's CA certificates takes tens of milliseconds; every client
    # of this process shares one context instead of building its own.
    return httpx2.create_ssl_context()


def retried(call: Callable[[], T]) -> T:
    """``call()``, tried again after a pause while it fails with a ``PeerError`` that
    may pass (``retry``); the last error is raised."""
    attempt = 1
    while True:
        try:
            return call()
        except PeerError as exc:
            if not exc.retry or attempt == RETRIES:
                raise
        time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        attempt += 1


def new_client(allow: Sequence[str]) -> httpx2.Client:
    """A client whose connections are kept alive and reused across its requests, and
    go only to addresses a peer's URL may have (``registry.netguard``; ``allow``: the
    operator's ``LUMBUNG_FETCH_ALLOW``)."""
    return httpx2.Client(
        timeout=TIMEOUT,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        transport=guarded_transport(allow, verify=_tls()),
    )


class Request(TypedDict, total=False):
    """What a request may carry besides its method and URL (see ``request_bytes``)."""

    cap: int
    headers: dict[str, str] | None
    content: bytes | None
    data: dict[str, str] | None
    params: dict[str, Any] | None


def request_json(
    client: httpx2.Client,
    method: str,
    url: str,
    *,
    accept: tuple[int, ...] = (200,),
    **request: Unpack[Request],
) -> tuple[int, Any]:
    """Send a request and parse its JSON answer, reading no more than ``cap`` bytes
    and taking no longer than ``DEADLINE_SECONDS`` in all."""
    status, body = request_bytes(client, method, url, **request)
    try:
        payload = json.loads(body) if body else None
    except ValueError as exc:
        raise not_json(url, status) from exc
    check_status(url, status, payload, accept)
    return status, payload


def not_json(url: str, status: int) -> PeerError:
    return PeerError(
        f"{url}: answered {status} with a body that is not JSON", status=status, retry=False
    )


def check_status(url: str, status: int, payload: Any, accept: tuple[int, ...] = (200,)) -> None:
    """Raise the ``PeerError`` an unexpected status deserves, with the peer's detail."""
    if status in accept:
        return
    detail = ""
    if isinstance(payload, dict):
        detail = str(payload.get("detail") or payload.get("error_description") or "")[:300]
    raise PeerError(
        f"{url}: answered {status}{': ' + detail if detail else ''}",
        status=status,
        retry=status >= 500 or status == 429,
    )


def request_bytes(
    client: httpx2.Client,
    method: str,
    url: str,
    *,
    cap: int = SMALL_CAP,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    data: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[int, bytes]:
    """Send a request and return its status and body, reading no more than ``cap``
    bytes and taking no longer than ``DEADLINE_SECONDS`` in all."""
    started = time.monotonic()
    try:
        with client.stream(
            method, url, headers=headers, content=content, data=data, params=params
        ) as response:
            body = bytearray()
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > cap:
                raise PeerError(
                    f"{url}: the response is {declared} bytes, over the limit of {cap}",
                    retry=False,
                )
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise PeerError(
                        f"{url}: the response is over the limit of {cap} bytes", retry=False
                    )
                if time.monotonic() - started > DEADLINE_SECONDS:
                    raise PeerError(f"{url}: the response took over {DEADLINE_SECONDS:.0f} s")
            status = response.status_code
    except UnsafeAddress as exc:
        raise PeerError(f"{url}: {exc}", retry=False) from exc
    except httpx2.TimeoutException as exc:
        raise PeerError(f"{url}: timed out ({type(exc).__name__})") from exc
    except httpx2.HTTPError as exc:
        raise PeerError(f"{url}: {type(exc).__name__}: {exc}") from exc
    return status, bytes(body)
