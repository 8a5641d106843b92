"""Peers, their sync state and lease, the outbox of signed notices, and the
assertion ids already seen."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from registry.catalog.models import App, Dataset, Distribution, Publisher, Release
from registry.db import JSONDoc, timestamp_field, utcnow, uuid7
from registry.sharing.models import Adoption


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


class OutboxMessage(SQLModel, table=True):
    """A signed notice waiting to reach a peer (an adoption, a partnership's new
    status). Retried with backoff until the peer accepts it; a newer message with the
    same ``dedupe_key`` replaces one not yet sent."""

    __tablename__ = "federation_outbox"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    node_id: str = Field(max_length=2048, index=True)
    path: str = Field(max_length=500)
    payload: dict[str, Any] = Field(sa_type=JSONDoc)
    dedupe_key: str = Field(max_length=200, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = timestamp_field(default_factory=utcnow, index=True)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = timestamp_field(default_factory=utcnow)
    delivered_at: datetime | None = timestamp_field(default=None)


class SeenAssertion(SQLModel, table=True):
    """A signed assertion (client assertion or federation request) already used,
    kept until it expires so that it is accepted once, across every worker."""

    __tablename__ = "seen_assertions"

    key: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = timestamp_field(index=True)


# The entities a feed carries, by kind, parents before children: a page lists them in
# this order when they share a change, and a mirror applies them in it.
KINDS: dict[str, Any] = {
    "publisher": Publisher,
    "app": App,
    "dataset": Dataset,
    "release": Release,
    "distribution": Distribution,
    "adoption": Adoption,
}
MIRROR_MODELS = tuple(KINDS.values())
