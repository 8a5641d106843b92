"""Sending a notice to a peer at once, for the one request that waits for the peer's
answer: a publisher asking for a partnership.

Talking to peers is the federation domain's, above this one, so it hands its sender
down at start-up (``registry.startup.start``). Notices that need not wait are
queued in the outbox instead (``registry.outbox``).
"""

from __future__ import annotations

from typing import Any, Protocol

from registry.oauth.keys import KeyStore
from registry.settings import Settings
from registry.slots import Slot


class NotDelivered(Exception):
    """The peer could not be reached, or did not take the notice."""


class Send(Protocol):
    def __call__(
        self,
        settings: Settings,
        keys: KeyStore,
        *,
        node_id: str,
        path: str,
        payload: dict[str, Any],
    ) -> None: ...


SEND: Slot[Send] = Slot("sending a notice to a peer", "registry.federation.outbox.send_now")


def send(
    settings: Settings, keys: KeyStore, *, node_id: str, path: str, payload: dict[str, Any]
) -> None:
    """POST a signed notice to ``node_id`` now; ``NotDelivered`` if it does not take it."""
    SEND.get()(settings, keys, node_id=node_id, path=path, payload=payload)
