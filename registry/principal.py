"""Who is calling: the identity an access token stands for, and the scopes a token may carry.

A plain value type in core: every domain reads it; ``registry.oauth`` builds it from a
verified token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

# Scopes this node grants (DESIGN §3), with what each allows; the OpenAPI document
# lists them under the OAuth 2.0 security scheme.
SCOPES: dict[str, str] = {
    "catalog:write": "Create and change your own publisher's apps, releases and datasets",
    "sharing:write": "Manage your own publisher's partnerships and adoptions",
    "federation:read": "Peer nodes: read the change feed",
    "federation:write": "Peer nodes: send adoption notices and partnership requests",
    "admin": "Administer this node",
}


@dataclass(frozen=True)
class Principal:
    """The caller behind a valid access token.

    ``publisher_id`` is set for a publisher's service account; ``node_id`` for a peer
    node. The node's admin client has the ``admin`` scope and neither.
    """

    client_id: str
    scopes: frozenset[str]
    publisher_id: uuid.UUID | None = None
    node_id: str | None = None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def has_scope(self, scope: str) -> bool:
        # The admin may do anything a scope allows on this node.
        return scope in self.scopes or self.is_admin

    def acts_for(self, publisher_id: uuid.UUID) -> bool:
        """May this caller write on behalf of that publisher?"""
        return self.is_admin or self.publisher_id == publisher_id
