"""What ``Client`` and ``AsyncClient`` take alike: the node's URL, credentials, the
``LUMBUNG_*`` environment, retries and headers."""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx2

from lumbung_client._auth import ClientSecret, Credentials, PrivateKey, PrivateKeyInput
from lumbung_client._exceptions import LumbungError
from lumbung_client._transport import Retry
from lumbung_client._version import __version__

__all__ = ["DEFAULT_TIMEOUT", "env_settings", "make_credentials", "normalise_base_url"]

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


def retry_policy(retry: Retry | int | None) -> Retry:
    if retry is None:
        return Retry()
    if isinstance(retry, int):
        return Retry(attempts=max(1, retry + 1))
    return retry


def default_headers(extra: Mapping[str, str] | None) -> dict[str, str]:
    return {"User-Agent": f"lumbung-client/{__version__}", **(extra or {})}
