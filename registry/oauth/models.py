"""OAuth clients of this node and the access tokens revoked before they expire."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from registry.db import timestamp_field, utcnow, uuid7


class OAuthClient(SQLModel, table=True):
    """A service account of a local publisher, the node's admin, or a peer node.

    Local clients authenticate with ``client_secret_basic`` and only the secret's
    hash is stored; peer nodes use ``private_key_jwt`` against their pinned JWKS.
    """

    __tablename__ = "oauth_clients"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    client_id: str = Field(max_length=64, unique=True)
    secret_hash: str | None = Field(default=None, max_length=200)
    name: str = Field(max_length=200)
    publisher_id: uuid.UUID | None = Field(default=None, foreign_key="publishers.id", index=True)
    scope: str = Field(max_length=500)
    auth_method: str = Field(default="client_secret_basic", max_length=32)
    jwks_uri: str | None = Field(default=None, max_length=2048)
    node_id: str | None = Field(default=None, max_length=2048)
    created_at: datetime = timestamp_field(default_factory=utcnow)
    revoked_at: datetime | None = timestamp_field(default=None)


class RevokedToken(SQLModel, table=True):
    """An access token revoked (RFC 7009) before its expiry; kept until it expires."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = timestamp_field(index=True)
