"""Access tokens for reading peers' feeds.

A token is asked for with a signed client assertion (``registry.federation.signing``)
and reused by later runs of this process until shortly before it expires, so a worker
that syncs every few seconds does not ask each time.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx2

from registry.federation import signing
from registry.federation.errors import SyncError
from registry.federation.transport import PeerError, request_json, retried
from registry.oauth.keys import KeyStore

log = logging.getLogger(__name__)

# (token endpoint, client id) -> (token, monotonic expiry).
_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}
_TOKENS_LOCK = threading.Lock()
TOKEN_MARGIN_SECONDS = 30.0


def peer_token(
    client: httpx2.Client,
    keys: KeyStore,
    client_id: str,
    node_id: str,
    token_endpoint: str,
    *,
    renew: bool = False,
) -> str | None:
    """An access token from the peer (cached), or None when it refuses this node one."""
    key = (token_endpoint, client_id)
    with _TOKENS_LOCK:
        cached = _TOKENS.pop(key, None)
        if cached is not None and not renew and cached[1] > time.monotonic():
            _TOKENS[key] = cached
            return cached[0]
    fetched = _fetch_token(client, keys, client_id, node_id, token_endpoint)
    if fetched is None:
        return None
    token, lifetime = fetched
    if lifetime > TOKEN_MARGIN_SECONDS:
        with _TOKENS_LOCK:
            _TOKENS[key] = (token, time.monotonic() + lifetime - TOKEN_MARGIN_SECONDS)
    return token


def _fetch_token(
    client: httpx2.Client, keys: KeyStore, client_id: str, node_id: str, token_endpoint: str
) -> tuple[str, float] | None:
    """A fresh access token and its lifetime in seconds, or None when the peer
    refuses this node one."""

    def ask() -> object:
        # A fresh assertion each try: the peer refuses one whose id it has seen.
        assertion = signing.client_assertion(keys, client_id=client_id, audience=node_id)
        _, payload = request_json(
            client,
            "POST",
            token_endpoint,
            data={
                "grant_type": "client_credentials",
                "scope": "federation:read",
                "client_assertion_type": signing.ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        return payload

    try:
        payload = retried(ask)
    except PeerError as exc:
        if exc.status in (400, 401, 403):
            log.info("%s refuses this node a token: %s", node_id, exc)
            return None
        raise SyncError(f"cannot get a token from {node_id}: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
        raise SyncError(f"{node_id}: the token response holds no access_token")
    expires_in = payload.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, int | float) else 0.0
    # Access tokens between nodes live at most 300 s (DESIGN §3), whatever a peer says.
    return str(payload["access_token"]), min(lifetime, 300.0)
