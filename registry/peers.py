"""The peer nodes this node's admin chose to trust: the table that partnerships (in
``registry.sharing``) and sync (in ``registry.federation``) both read. Adding a peer
and talking to it is the federation domain's."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from registry.db import JSONDoc, timestamp_field, utcnow, uuid7


class Peer(SQLModel, table=True):
    """Another node this node's admin chose to trust, and where syncing it stands.

    ``jwks_uri`` is pinned to the peer's own origin when the peer is added; the keys
    fetched from it are cached in ``jwks`` (shared by every worker). ``cursor`` is the
    feed position, moved in the same transaction as the page it ends. The lease
    (``lease_holder`` until ``lease_expires_at``) lets one process sync the peer.
    """

    __tablename__ = "peers"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    node_id: str = Field(max_length=2048, unique=True)
    name: str = Field(max_length=200)
    software_version: str | None = Field(default=None, max_length=64)
    api_base: str = Field(max_length=2048)
    issuer: str = Field(max_length=2048)
    jwks_uri: str = Field(max_length=2048)
    feed_url: str = Field(max_length=2048)
    token_endpoint: str = Field(max_length=2048)
    publishers: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDoc)
    jwks: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    jwks_fetched_at: datetime | None = timestamp_field(default=None)
    created_at: datetime = timestamp_field(default_factory=utcnow)

    # Our OAuth client id on the peer, told to us when it approves a partnership.
    client_id: str | None = Field(default=None, max_length=64)
    cursor: str = Field(default="0", max_length=200)
    # "anonymous" or "token": a change of view restarts the feed from the beginning.
    feed_mode: str = Field(default="anonymous", max_length=16)
    items: int = Field(default=0, sa_type=sa.BigInteger)
    remaining: int = Field(default=0, sa_type=sa.BigInteger)
    last_attempt_at: datetime | None = timestamp_field(default=None)
    last_success_at: datetime | None = timestamp_field(default=None)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    last_error_at: datetime | None = timestamp_field(default=None)
    sync_requested_at: datetime | None = timestamp_field(default=None)
    lease_holder: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = timestamp_field(default=None)
