"""``connect_domains()``: where a higher domain hands a lower one what it needs.

Domains import one way only (``docs/architecture.md``). Each thing a lower domain
needs from a higher one is a slot (``registry.slots``), filled here: by ``create_app``
for the server and by ``registry.cli.main`` for the ``lumbung`` command. Besides
``registry.app``, ``registry.cli`` and ``registry.models``, the only module that
knows every domain it joins.
"""

from __future__ import annotations

from registry.catalog.access import READ_RULE
from registry.federation import client_auth, outbox
from registry.oauth.assertions import PEER_ASSERTIONS
from registry.sharing import delivery, visibility


def connect_domains() -> None:
    """Fill every slot; running it again changes nothing."""
    # The catalog's reads ask the one visibility rule, which needs partnerships.
    READ_RULE.fill(visibility)
    # The token endpoint checks a peer's client assertion against its pinned keys.
    PEER_ASSERTIONS.fill(client_auth)
    # A partnership request is sent to the partner's node while its publisher waits.
    delivery.SEND.fill(outbox.send_now)
