"""Client assertions of peer nodes (``private_key_jwt``, RFC 7523) at the token endpoint.

Checking one needs the peer's pinned keys, which are the federation domain's, above
this one: ``registry.federation.client_auth`` does it and is registered here at
start-up (``registry.startup.start``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlmodel import Session

from registry.db import Bind
from registry.oauth.models import OAuthClient
from registry.settings import Settings
from registry.slots import Slot


class PeerAssertions(Protocol):
    def authenticate_assertion(
        self, session: Session, settings: Settings, form: Mapping[str, str]
    ) -> OAuthClient | None: ...

    def refresh_assertion_keys(
        self, bind: Bind, settings: Settings, form: Mapping[str, str]
    ) -> None: ...


PEER_ASSERTIONS: Slot[PeerAssertions] = Slot(
    "the token endpoint's check of peer client assertions", "registry.federation.client_auth"
)
