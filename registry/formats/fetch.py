"""Fetching a document a caller names by URL (a publiccode.yml, a CKAN page): http(s)
only, public addresses only (see ``registry.netguard``), redirects followed by hand
so each hop is checked too, a size cap and a deadline for the whole transfer."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urljoin

import httpx2

from registry import __version__
from registry.errors import ValidationFailed
from registry.netguard import check_url, guarded_transport
from registry.settings import Settings

MAX_REDIRECTS = 5


class FetchFailed(ValidationFailed):
    code, title = "fetch-failed", "Could not fetch the document"


def new_client(settings: Settings) -> httpx2.Client:
    return httpx2.Client(
        timeout=httpx2.Timeout(settings.fetch_timeout, connect=min(5.0, settings.fetch_timeout)),
        headers={"User-Agent": f"lumbung/{__version__}"},
        follow_redirects=False,
        transport=guarded_transport(settings.fetch_allow),
    )


def fetch(
    settings: Settings,
    url: str,
    *,
    cap: int | None = None,
    params: dict[str, Any] | None = None,
    client: httpx2.Client | None = None,
) -> bytes:
    """The body of a 200 answer to GET ``url``, at most ``cap`` bytes."""
    cap = cap or settings.fetch_max_bytes
    own = client is None
    client = client or new_client(settings)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, settings.fetch_allow)
            status, location, body = _get(client, url, cap, settings.fetch_timeout, params)
            if status in (301, 302, 303, 307, 308) and location:
                url, params = urljoin(url, location), None
                continue
            if status != 200:
                raise FetchFailed(f"{url}: answered HTTP {status}")
            return body
        raise FetchFailed(f"{url}: more than {MAX_REDIRECTS} redirects")
    finally:
        if own:
            client.close()


def _get(
    client: httpx2.Client, url: str, cap: int, deadline: float, params: dict[str, Any] | None
) -> tuple[int, str | None, bytes]:
    started = time.monotonic()
    try:
        with client.stream("GET", url, params=params) as response:
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > cap:
                raise FetchFailed(f"{url}: {declared} bytes, over the limit of {cap}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise FetchFailed(f"{url}: over the limit of {cap} bytes")
                if time.monotonic() - started > deadline:
                    raise FetchFailed(f"{url}: took over {deadline:.0f} s")
            return response.status_code, response.headers.get("location"), bytes(body)
    except httpx2.TimeoutException:
        raise FetchFailed(f"{url}: timed out") from None
    except httpx2.HTTPError as exc:
        raise FetchFailed(f"{url}: {type(exc).__name__}: {exc}") from None
